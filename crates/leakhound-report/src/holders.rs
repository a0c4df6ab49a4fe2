//! What holds the memory that leaks (`--retainers`), in each output: the headline's clause,
//! the terminal's list, the report's card row and its retainer-path view. The JSON carries
//! the holders as they are (`holders`: `path`, `bytes`, `objects`, `source`, `pid`).

use leakhound_analysis::retainers::Holder;

use crate::html::escape;
use crate::units::format_bytes;

/// Steps of a path the headline names.
const CLAUSE_STEPS: usize = 3;

fn objects(n: f64) -> String {
    let n = n.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "held by `visitors (Array)` (41.0 MiB in 41,000 new objects) <- `module server.js`": the
/// largest holder, when there is one.
pub fn holder_clause(holders: &[Holder]) -> Option<String> {
    let top = holders.first().filter(|h| !h.path.is_empty())?;
    let mut s = format!(
        "held by `{}` ({} in {} new objects that survived)",
        top.path[0],
        format_bytes(top.bytes),
        objects(top.objects)
    );
    for step in top.path.iter().skip(1).take(CLAUSE_STEPS - 1) {
        s.push_str(&format!(" <- `{step}`"));
    }
    Some(s)
}

/// The terminal's list: each holder's bytes, objects and path.
pub fn holders_text(holders: &[Holder]) -> String {
    // Node's come from heap snapshots, the JVM's from its old-object samples, Python's from
    // the agent's looks at its collector.
    let how = if holders.iter().all(|h| h.source == "node") {
        "heap snapshots, --retainers"
    } else {
        "--retainers"
    };
    let mut out = format!("  what holds the new objects that survived ({how})\n");
    out.push_str(&format!(
        "  {:>10}  {:>9}  path (holder first, toward a root)\n",
        "bytes", "objects"
    ));
    for h in holders {
        out.push_str(&format!(
            "  {:>10}  {:>9}  {}\n",
            format_bytes(h.bytes),
            objects(h.objects),
            h.path.join(" <- ")
        ));
    }
    out
}

/// The report's retainer-path view: one row per holder, its path drawn from the holder up to
/// the root, with a bar for its share of the new bytes.
pub fn holders_html(holders: &[Holder]) -> String {
    let total: f64 = holders.iter().map(|h| h.bytes).sum::<f64>().max(1.0);
    let mut out = String::from(
        "<section id=\"holders\"><h2>What holds it</h2><p>Objects allocated between the first two heap snapshots and still alive at the last, grouped by their shortest retainer path from a GC root (weak references excluded), the holder first.</p><table class=\"others holders\"><tr><th>bytes</th><th>objects</th><th>share</th><th>retainer path</th></tr>",
    );
    for h in holders {
        let share = h.bytes / total;
        let steps: Vec<String> = h
            .path
            .iter()
            .map(|s| format!("<code>{}</code>", escape(s)))
            .collect();
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><svg width=\"60\" height=\"10\"><rect width=\"{:.1}\" height=\"10\" fill=\"#c81e1e\"/></svg> {:.0}%</td><td>{}</td></tr>",
            escape(&format_bytes(h.bytes)),
            objects(h.objects),
            60.0 * share,
            100.0 * share,
            steps.join(" &larr; ")
        ));
    }
    out.push_str("</table></section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> Vec<Holder> {
        vec![
            Holder {
                path: vec![
                    "visitors (Array)".into(),
                    "module server.js".into(),
                    "x".into(),
                    "y".into(),
                ],
                bytes: 43e6,
                objects: 41_000.0,
                source: "node".into(),
                pid: Some(7),
            },
            Holder {
                path: vec!["cache (Map)".into(), "module <lib>.js".into()],
                bytes: 1e5,
                objects: 10.0,
                source: "node".into(),
                pid: Some(7),
            },
        ]
    }

    #[test]
    fn clause_text_and_view_name_the_holder() {
        let h = held();
        let c = holder_clause(&h).unwrap();
        assert_eq!(
            c,
            "held by `visitors (Array)` (41.0 MiB in 41,000 new objects that survived) <- `module server.js` <- `x`"
        );
        assert!(holder_clause(&[]).is_none());
        let t = holders_text(&h);
        assert!(
            t.contains("visitors (Array) <- module server.js <- x <- y"),
            "{t}"
        );
        let page = holders_html(&h);
        assert!(
            page.contains("<code>module &lt;lib&gt;.js</code>"),
            "{page}"
        );
        assert!(page.contains("100%") || page.contains(" 99%"), "{page}");
        let json = serde_json::to_value(&h[0]).unwrap();
        assert_eq!(json["path"][0], "visitors (Array)");
        assert_eq!(json["objects"], 41000.0);
    }
}
