//! Where in the code, as the outputs say it: allocating functions first (the sum of their
//! stacks, judged once), with their stacks under them; the headline's clause; and why sites
//! could not be judged when they could not.

use leakhound_analysis::sites::{
    flame, FunctionFinding, SiteFinding, SitesJudged, SitesNote, MIN_PROFILES,
};
use leakhound_analysis::{Finding, Verdict};
use leakhound_wire::Schedule;

use crate::markup::{escape, sparkline_svg};
use crate::terminal::sparkline;
use crate::units::{format_amount, format_duration, format_range};

/// Frames of a stack shown before the rest is folded away.
const FRAMES_SHOWN: usize = 4;

/// The stack of `function` that grows fastest.
fn top_stack<'a>(j: &'a SitesJudged, function: &FunctionFinding) -> Option<&'a SiteFinding> {
    let key = function.stacks.first()?;
    j.sites.iter().find(|s| &s.key == key)
}

/// The frames of `s` from its allocating frame outwards (allocator and runtime frames above
/// it left out), at most `n`.
fn from_allocating(s: &SiteFinding, n: usize) -> Vec<&str> {
    s.frames[s.allocating..]
        .iter()
        .take(n)
        .map(String::as_str)
        .collect()
}

/// Where a function allocates: its line and its caller, and what it allocates when the
/// profiler says (a JVM class).
fn place_parts(j: &SitesJudged, f: &FunctionFinding) -> (Vec<String>, Option<String>) {
    let Some(s) = top_stack(j, f) else {
        return (vec![f.function.clone()], None);
    };
    let class = s.frames[..s.allocating]
        .iter()
        .find_map(|f| f.strip_prefix("[class] "))
        .map(str::to_string);
    let frames = from_allocating(s, 2)
        .into_iter()
        .map(String::from)
        .collect();
    (frames, class)
}

/// Where a function allocates, as a person reads it: its line and its caller, e.g.
/// `rememberVisitor (server.js:12) <- onRequest (server.js:40)`, with what it allocates when
/// the profiler says (`Leak.remember (Leak.java:54) <- Leak.serve (Leak.java:70) [Leak$Session]`).
pub fn place(j: &SitesJudged, f: &FunctionFinding) -> String {
    let (frames, class) = place_parts(j, f);
    let mut out = frames.join(" <- ");
    if let Some(c) = class {
        out.push_str(&format!(" [{c}]"));
    }
    out
}

fn stacks_note(f: &FunctionFinding) -> String {
    match f.stacks.len() {
        0 | 1 => String::new(),
        n => format!(", over {n} stacks"),
    }
}

/// The site clause of the headline, for the top function when it leaks: "93% of the growth
/// is allocated in `rememberVisitor (server.js:12)` <- `onRequest (server.js:40)` (leak, 9.34
/// GiB/day, over 5 stacks)".
pub fn clause(j: &SitesJudged) -> Option<String> {
    let top = j
        .functions
        .first()
        .filter(|f| f.finding.verdict == Verdict::Leak)?;
    let rate = top.finding.rate_per_day?;
    let (frames, class) = place_parts(j, top);
    let shown: Vec<String> = frames.iter().map(|f| format!("`{f}`")).collect();
    let what = class.map(|c| format!(" ({c})")).unwrap_or_default();
    Some(format!(
        "{:.0}% of the growth is allocated in {}{what} (leak, {}/day{})",
        100.0 * top.share_of_growth,
        shown.join(" <- "),
        format_amount(rate, "bytes"),
        stacks_note(top)
    ))
}

/// Why sites could not be judged, as sentences that say what would help.
pub fn notes(j: &SitesJudged) -> Vec<String> {
    j.notes
        .iter()
        .filter_map(|n| match n {
            SitesNote::TooFewProfiles {
                profiles,
                span_seconds,
            } => Some(format!(
                "allocation sites: {profiles} profile{} in {}, fewer than the {MIN_PROFILES} a \
                 site needs to be judged; soak longer (at the default schedule, {} gives \
                 {MIN_PROFILES}) or take profiles more often (--sites-interval 2s)",
                if *profiles == 1 { "" } else { "s" },
                format_duration(*span_seconds),
                format_duration(Schedule::thinning().time_of(MIN_PROFILES) as f64 / 1000.0),
            )),
            SitesNote::Unjudged {
                stacks,
                share_of_bytes,
            } if *share_of_bytes >= 0.1 => Some(format!(
                "allocation sites: {stacks} stack{} holding {:.0}% of the sampled live bytes \
                 at the end came and went between profiles and could not be judged; a longer \
                 soak, or finer sampling (--sites-sampling, --native-sampling), judges them",
                if *stacks == 1 { "" } else { "s" },
                100.0 * share_of_bytes
            )),
            SitesNote::Unjudged { .. } => None,
            SitesNote::NoLeakingSite {
                series,
                profiles,
                jvm,
            } => Some(format!(
                "allocation sites: {series} leaks, but no allocating function is a conclusive \
                 leak yet ({profiles} profiles): a longer soak narrows the sites' intervals; \
                 for native code, finer sampling (--native-sampling 64KiB) sees more of a \
                 small leak{}",
                if *jvm {
                    "; a JVM started with -XX:FlightRecorderOptions:old-object-queue-size=4096 \
                     (as `run --jvm` starts it) keeps enough old-object samples for a short soak"
                } else {
                    ""
                }
            )),
        })
        .collect()
}

/// Least share of the growth for a function that does not leak to get a row.
const MIN_SHARE_SHOWN: f64 = 0.01;

/// Whether a function is worth a row: it leaks, or holds a visible part of the growth, or,
/// not judged yet (too few profiles), a visible part of the live bytes.
fn shown(j: &SitesJudged, f: &FunctionFinding) -> bool {
    let live = |f: &FunctionFinding| f.finding.level_now.unwrap_or(0.0).max(0.0);
    let total: f64 = j.functions.iter().map(live).sum();
    f.finding.verdict == Verdict::Leak
        || f.share_of_growth >= MIN_SHARE_SHOWN
        || (f.finding.rate_per_day.is_none() && live(f) >= MIN_SHARE_SHOWN * total)
}

fn rate_text(f: &Finding) -> String {
    match (f.rate_per_day, f.rate_ci_per_day) {
        (Some(v), Some((lo, hi))) => {
            format!(
                "{} ({})",
                format_amount(v, "bytes"),
                format_range(lo, hi, "bytes")
            )
        }
        _ => "-".into(),
    }
}

/// The top `n` allocating functions as a terminal table: verdict, rate with its interval,
/// share of the growth, sparkline of the floor, and where (line and caller, how many stacks);
/// functions that do not grow are counted, not listed. Then the notes.
pub fn text_table(j: &SitesJudged, n: usize) -> String {
    let mut out = String::new();
    let rows: Vec<&FunctionFinding> = j.functions.iter().filter(|f| shown(j, f)).take(n).collect();
    if !rows.is_empty() {
        out.push_str(&format!(
            "  where it grows: {} of {} allocating functions ({} stacks), leaks by their rate\n  {:<12}  {:>34}  {:>6}  {:<12}  function (line) <- caller\n",
            rows.len(),
            j.functions.len(),
            j.sites.len(),
            "verdict",
            crate::sentence::rate_column(rows.iter().map(|f| &f.finding)),
            "share",
            "floor"
        ));
        for f in &rows {
            out.push_str(&format!(
                "  {:<12}  {:>34}  {:>5.0}%  {:<12}  {}{}\n",
                f.finding.verdict.as_str(),
                rate_text(&f.finding),
                100.0 * f.share_of_growth,
                sparkline(&f.finding.floor.v, 12),
                place(j, f),
                stacks_note(f)
            ));
        }
        let quiet = j.functions.iter().filter(|f| !shown(j, f)).count();
        if quiet > 0 {
            out.push_str(&format!(
                "  ({quiet} more functions do not leak and hold under 1% of the growth)\n"
            ));
        }
    }
    for note in notes(j) {
        out.push_str(&format!("  note: {note}\n"));
    }
    out
}

/// One stack under its function in the report: share, rate, and its frames from the
/// allocating one, the rest on demand.
fn stack_item(s: &SiteFinding) -> String {
    let frames = &s.frames[s.allocating..];
    let head: Vec<String> = frames
        .iter()
        .take(FRAMES_SHOWN)
        .map(|f| escape(f))
        .collect();
    let mut item = format!(
        "<li><span class=\"share\">{:.0}%</span> {} &middot; <code>{}</code>",
        100.0 * s.share_of_growth,
        escape(&rate_text(&s.finding)),
        head.join(" &lt;- ")
    );
    let hidden = s.allocating + frames.len().saturating_sub(FRAMES_SHOWN);
    if hidden > 0 {
        item.push_str(&format!(
            "<details><summary>whole stack ({} frames)</summary><code>{}</code></details>",
            s.frames.len(),
            s.frames
                .iter()
                .map(|f| escape(f))
                .collect::<Vec<_>>()
                .join("<br>")
        ));
    }
    item.push_str("</li>");
    item
}

/// The report's sites section: the growth flame graph and the top functions, each with its
/// stacks on demand; functions that do not grow folded away.
pub fn html_section(j: &SitesJudged) -> String {
    let mut out = String::from("<section id=\"sites\"><h2>Where it grows</h2>");
    if let Some(svg) = crate::flame::flame_svg(&flame(j)) {
        out.push_str(&format!(
            "<p class=\"caption\">Growth flame graph: a frame's width is the leak rate of the allocation stacks above it (bytes/day), not their size; each stack ends at its allocating function; red leaks, amber is not conclusive, grey does not leak. Hover a frame for its numbers.</p><figure data-chart=\"flame\">{svg}</figure>"
        ));
    }
    for note in notes(j) {
        out.push_str(&format!("<p class=\"note\">{}</p>", escape(&note)));
    }
    out.push_str(&format!(
        "<table class=\"others sites\"><tr><th>verdict</th><th>{}</th><th>share</th><th>floor</th><th>function (line) &lt;- caller, and its stacks</th></tr>",
        crate::sentence::rate_column(j.functions.iter().map(|f| &f.finding))
    ));
    for f in j.functions.iter().filter(|f| shown(j, f)).take(20) {
        let stacks: Vec<String> = f
            .stacks
            .iter()
            .filter_map(|k| j.sites.iter().find(|s| &s.key == k))
            .map(stack_item)
            .collect();
        out.push_str(&format!(
            "<tr class=\"{v}\"><td>{v}</td><td>{}</td><td>{:.0}%</td><td>{}</td><td class=\"function\"><details><summary>{}{}</summary><ul class=\"stacks\">{}</ul></details></td></tr>",
            escape(&rate_text(&f.finding)),
            100.0 * f.share_of_growth,
            sparkline_svg(&f.finding.floor.v),
            escape(&place(j, f)),
            escape(&stacks_note(f)),
            stacks.join(""),
            v = f.finding.verdict.as_str(),
        ));
    }
    out.push_str("</table>");
    let quiet = j.functions.iter().filter(|f| !shown(j, f)).count();
    if quiet > 0 {
        out.push_str(&format!(
            "<p class=\"caption\">{quiet} more allocating functions do not leak and hold under 1% of the growth; they are not listed.</p>"
        ));
    }
    out.push_str("</section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_analysis::sites::{judge_sites, SiteSeries, OTHER};
    use leakhound_analysis::{Config, Load};

    /// A leak over two stacks (one through a builtin), a flat neighbour and three flat
    /// internals, profiled every 5 s for 70 s.
    fn judged() -> SitesJudged {
        let t: Vec<f64> = (0..15).map(|i| 1.8e9 + 5.0 * i as f64).collect();
        let ramp = |k: f64| -> Vec<f64> {
            (0..15)
                .map(|i| k * 1e6 * i as f64 + 2e4 * ((i * 7) % 5) as f64)
                .collect()
        };
        let flat = |v: f64| -> Vec<f64> { (0..15).map(|i| v + ((i * 3) % 4) as f64).collect() };
        let s = |f: &[&str]| -> Vec<String> { f.iter().map(|x| x.to_string()).collect() };
        let stacks = [
            (
                s(&["repeat", "remember (app.js:3)", "serve (app.js:9)"]),
                ramp(1.0),
            ),
            (s(&["remember (app.js:3)", "admin (app.js:20)"]), ramp(0.5)),
            (
                s(&["[class] Leak$Session", "Leak.keep (Leak.java:5)"]),
                ramp(0.2),
            ),
            (s(&["parse (app.js:30)", "serve (app.js:9)"]), flat(3e6)),
            (s(&["(V8 API)"]), flat(1e3)),
            (s(&["(program)"]), flat(2e3)),
            (s(&["(garbage collector)"]), flat(1e3)),
        ];
        let keys: Vec<String> = (0..stacks.len()).map(|i| format!("k{i}")).collect();
        let other = flat(1e6);
        let none: Vec<String> = Vec::new();
        let mut series: Vec<SiteSeries> = stacks
            .iter()
            .zip(&keys)
            .map(|((frames, bytes), key)| SiteSeries {
                key,
                source: if frames[0].starts_with("[class]") {
                    "jvm"
                } else {
                    "node"
                },
                frames,
                t: &t,
                bytes,
            })
            .collect();
        series.push(SiteSeries {
            key: OTHER,
            source: "node",
            frames: &none,
            t: &t,
            bytes: &other,
        });
        let mut cfg = Config::with_tolerance(1048576.0);
        cfg.load = Load::Constant;
        judge_sites(&series, &cfg, &[])
    }

    #[test]
    fn the_clause_names_the_function_its_line_caller_and_stacks() {
        let j = judged();
        let c = clause(&j).expect("the top function leaks");
        assert!(
            c.contains(
                "of the growth is allocated in `remember (app.js:3)` <- `serve (app.js:9)` (leak, "
            ),
            "{c}"
        );
        assert!(c.ends_with("/day, over 2 stacks)"), "{c}");
        let jvm = j
            .functions
            .iter()
            .find(|f| f.function == "Leak.keep (Leak.java)")
            .unwrap();
        assert_eq!(place(&j, jvm), "Leak.keep (Leak.java:5) [Leak$Session]");
    }

    #[test]
    fn the_table_leads_with_functions_and_folds_what_does_not_grow() {
        let j = judged();
        let text = text_table(&j, 10);
        assert!(text.starts_with("  where it grows: "), "{text}");
        let rows: Vec<&str> = text.lines().skip(2).collect();
        assert!(
            rows[0].contains("remember (app.js:3) <- serve (app.js:9), over 2 stacks"),
            "{text}"
        );
        assert!(
            !text.contains("(V8 API)"),
            "flat internals are folded: {text}"
        );
        assert!(text.contains("more functions do not leak"), "{text}");
        let html = html_section(&j);
        assert!(
            html.contains("<details><summary>remember (app.js:3)"),
            "{html}"
        );
        assert!(html.contains("whole stack (3 frames)"), "{html}");
    }

    #[test]
    fn notes_say_why_sites_were_not_judged_and_what_helps() {
        let j = SitesJudged {
            notes: vec![
                SitesNote::TooFewProfiles {
                    profiles: 4,
                    span_seconds: 12.0,
                },
                SitesNote::Unjudged {
                    stacks: 3,
                    share_of_bytes: 0.02,
                },
                SitesNote::NoLeakingSite {
                    series: "rss".into(),
                    profiles: 14,
                    jvm: true,
                },
            ],
            ..SitesJudged::default()
        };
        let n = notes(&j);
        assert_eq!(
            n.len(),
            2,
            "a small unjudged share is not worth a note: {n:?}"
        );
        assert!(
            n[0].starts_with("allocation sites: 4 profiles in 12 s, fewer than the 10"),
            "{}",
            n[0]
        );
        assert!(n[0].contains("--sites-interval 2s"), "{}", n[0]);
        assert!(
            n[1].contains("rss leaks, but no allocating function"),
            "{}",
            n[1]
        );
        assert!(n[1].contains("--native-sampling"), "{}", n[1]);
        assert!(n[1].contains("old-object-queue-size=4096"), "{}", n[1]);
    }
}
