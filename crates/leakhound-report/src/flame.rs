//! The growth flame graph: an inline SVG where a frame's width is the leak rate (bytes/day) of
//! the allocation stacks beneath it, not their size, so the widest tower is where memory grows.
//! Colour by verdict (red `leak`, amber `inconclusive`, grey `no_leak`), a hover title on every
//! frame, no scripts and no external assets.
//!
//! Written here rather than with `inferno`: inferno lays out integer sample counts and colours
//! frames by a palette over their names; this graph needs widths from rates and a colour per
//! verdict, in about a hundred lines, with no dependency.

use leakhound_analysis::sites::FlameNode;
use leakhound_analysis::Verdict;

use crate::markup::escape;
use crate::units::format_amount;

const ROW: f64 = 18.0;
const WIDTH: f64 = 1000.0;
/// Frames narrower than this many pixels are not drawn (their width still counts above).
const MIN_WIDTH: f64 = 0.5;

fn colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Leak => "#e0523f",
        Verdict::Inconclusive => "#f0b13c",
        Verdict::NoLeak => "#b9bec5",
    }
}

fn depth(n: &FlameNode) -> usize {
    1 + n.children.iter().map(depth).max().unwrap_or(0)
}

/// The flame graph of `root` as an `<svg>` element; `None` when nothing grows.
pub fn flame_svg(root: &FlameNode) -> Option<String> {
    if root.rate <= 0.0 {
        return None;
    }
    let rows = depth(root);
    let height = rows as f64 * ROW + 4.0;
    let mut out = format!(
        "<svg class=\"flame\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"100%\" role=\"img\" aria-label=\"growth flame graph: frame widths are leak rates\" \
         font-family=\"system-ui,sans-serif\" font-size=\"11\">"
    );
    let scale = WIDTH / root.rate;
    draw(&mut out, root, 0.0, 0, rows, scale, root.rate);
    out.push_str("</svg>");
    Some(out)
}

fn draw(
    out: &mut String,
    n: &FlameNode,
    x: f64,
    level: usize,
    rows: usize,
    scale: f64,
    total: f64,
) {
    let w = n.rate * scale;
    if w < MIN_WIDTH {
        return;
    }
    // Root at the bottom, callees above, as flame graphs are read.
    let y = (rows - 1 - level) as f64 * ROW + 2.0;
    let title = format!(
        "{} — {}/day, {:.1}% of the growth, mostly {}",
        n.frame,
        format_amount(n.rate, "bytes"),
        100.0 * n.rate / total,
        n.verdict.as_str()
    );
    out.push_str(&format!(
        "<g class=\"frame {}\"><title>{}</title><rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"{:.2}\" height=\"{:.2}\" rx=\"2\" fill=\"{}\" stroke=\"#fff\" stroke-width=\"0.5\"/>",
        n.verdict.as_str(),
        escape(&title),
        w,
        ROW - 1.0,
        colour(n.verdict)
    ));
    // A label where it fits: about 6.2 px per character at 11 px.
    let chars = ((w - 6.0) / 6.2).floor();
    if chars >= 3.0 {
        let text: String = if n.frame.chars().count() as f64 <= chars {
            n.frame.clone()
        } else {
            let keep = (chars as usize).saturating_sub(1);
            n.frame
                .chars()
                .take(keep)
                .chain(std::iter::once('…'))
                .collect()
        };
        out.push_str(&format!(
            "<text x=\"{:.2}\" y=\"{:.2}\">{}</text>",
            x + 3.0,
            y + ROW - 5.5,
            escape(&text)
        ));
    }
    out.push_str("</g>");
    let mut cx = x;
    for c in &n.children {
        draw(out, c, cx, level + 1, rows, scale, total);
        cx += c.rate * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(frame: &str, rate: f64, verdict: Verdict, children: Vec<FlameNode>) -> FlameNode {
        FlameNode {
            frame: frame.into(),
            rate,
            verdict,
            children,
        }
    }

    #[test]
    fn widths_are_rates_and_colours_are_verdicts() {
        let g = node(
            "all",
            10e6,
            Verdict::Leak,
            vec![node(
                "onRequest (server.js:40)",
                10e6,
                Verdict::Leak,
                vec![
                    node("remember (server.js:12)", 9e6, Verdict::Leak, vec![]),
                    node(
                        "parse <&> (server.js:20)",
                        1e6,
                        Verdict::Inconclusive,
                        vec![],
                    ),
                ],
            )],
        );
        let svg = flame_svg(&g).unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("width=\"900.00\""), "{svg}");
        assert!(svg.contains("width=\"100.00\""));
        assert!(svg.contains("<title>remember (server.js:12) — 8.58 MiB/day, 90.0% of the growth, mostly leak</title>"), "{svg}");
        assert!(svg.contains("parse &lt;&amp;&gt;"), "names are escaped");
        assert_eq!(svg.matches("<g class=\"frame").count(), 4);
        assert!(flame_svg(&node("all", 0.0, Verdict::NoLeak, vec![])).is_none());
    }
}
