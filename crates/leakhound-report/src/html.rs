//! The HTML report: one self-contained file (inline SVG and CSS, no network) that opens from a
//! file:// URL and prints well.

use leakhound_analysis::{Finding, Verdict};

use crate::chart::{counter_svg, daily_profile_svg, memory_svg, ChartSeries};
use crate::sentence::explain;
use crate::units::{format_amount, format_duration, format_range, format_rfc3339};

/// What the report says about where the data came from.
#[derive(Debug, Clone, Default)]
pub struct ReportMeta {
    /// `run 3` or the CSV file name.
    pub source: String,
    /// What was measured (command line, pids, file).
    pub target: String,
    /// `run`, `watch`, `import` or `csv`.
    pub kind: String,
    /// Host name, when known.
    pub host: Option<String>,
    /// Sampling interval, seconds.
    pub interval_s: Option<f64>,
    /// Memory limit used, bytes.
    pub limit: Option<f64>,
    /// leakhound version that made the report.
    pub version: String,
}

/// A series in the report: memory series carry a finding, counters do not.
#[derive(Debug, Clone)]
pub struct ReportSeries<'a> {
    /// Display name.
    pub name: String,
    /// `bytes` or `count`.
    pub unit: String,
    /// Times, unix seconds.
    pub t: &'a [f64],
    /// Values.
    pub v: &'a [f64],
    /// The verdict on it, for judged series.
    pub finding: Option<&'a Finding>,
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What to do next, after the verdict sentence.
pub fn next_step(f: &Finding, unit: &str) -> String {
    match f.verdict {
        Verdict::Leak => "Next: find what holds it. Compare uss with rss (private memory or shared?), \
             reproduce it in a soak with `leakhound run --until-verdict -- CMD`, and bisect the change that \
             brought it."
            .into(),
        Verdict::NoLeak => "Nothing to do: the floor stays within the tolerance.".into(),
        Verdict::Inconclusive => match (f.time_to_verdict_seconds, f.detectable_rate_per_day) {
            (Some(wait), Some(d)) => format!(
                "Next: keep watching for about {} more; these data would already reveal a leak of {}/day or more.",
                format_duration(wait),
                format_amount(d, unit)
            ),
            (Some(wait), None) => format!("Next: keep watching for at least {} more.", format_duration(wait)),
            _ => "Next: keep watching.".into(),
        },
    }
}

fn numbers_table(f: &Finding, unit: &str) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("verdict", f.verdict.as_str().to_string()),
        ("pattern", f.pattern.as_str().to_string()),
    ];
    if let (Some(r), Some((lo, hi))) = (f.rate_per_day, f.rate_ci_per_day) {
        rows.push((
            "rate of the floor",
            format!("{}/day", format_amount(r, unit)),
        ));
        rows.push((
            "95% interval",
            format!("{}/day", format_range(lo, hi, unit)),
        ));
    }
    rows.push((
        "tolerance",
        format!("{}/day", format_amount(f.tolerance_per_day, unit)),
    ));
    if let Some(d) = f.detectable_rate_per_day.filter(|d| d.is_finite()) {
        rows.push(("detectable from", format!("{}/day", format_amount(d, unit))));
    }
    if let Some(l) = f.level_now {
        rows.push(("floor now", format_amount(l, unit)));
    }
    if let Some(s) = f.time_to_limit_seconds.filter(|s| s.is_finite()) {
        rows.push(("time to the limit", format_duration(s)));
    }
    if let Some(s) = f.time_to_verdict_seconds {
        rows.push(("watch more", format_duration(s)));
    }
    rows.push(("samples", f.samples.to_string()));
    rows.push(("span", format_duration(f.span_seconds)));
    if !f.restarts.is_empty() {
        rows.push(("restarts", f.restarts.len().to_string()));
    }
    let body: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v)))
        .collect();
    format!("<table class=\"numbers\">{body}</table>")
}

const CSS: &str = "
body { font-family: system-ui, -apple-system, 'DejaVu Sans', sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin-bottom: .3rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.verdict { font-size: 1.15rem; padding: .8rem 1rem; border-radius: 6px; margin: 1rem 0 .4rem; }
.verdict.leak { background: #fde8e8; border-left: 6px solid #c81e1e; }
.verdict.no_leak { background: #e6f6ea; border-left: 6px solid #2a9641; }
.verdict.inconclusive { background: #fff6db; border-left: 6px solid #d99a00; }
.next { margin: 0 0 1rem; color: #444; }
figure { margin: .5rem 0; }
figure svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { text-align: left; padding: .15rem .8rem .15rem 0; vertical-align: top; }
th { font-weight: 600; color: #555; }
.others td, .others th { border-bottom: 1px solid #eee; }
footer { margin-top: 2rem; color: #777; font-size: .85rem; }
@media print { body { margin: 0; max-width: none; } section { break-inside: avoid; } }
";

/// A small check a browser runs on load: each chart records the size it was laid out at, so a
/// headless browser test can see that charts really rendered.
const SCRIPT: &str = "
document.querySelectorAll('figure[data-chart]').forEach(function (f) {
  var s = f.querySelector('svg');
  var r = s ? s.getBoundingClientRect() : { width: 0, height: 0 };
  f.setAttribute('data-rendered', Math.round(r.width) + 'x' + Math.round(r.height));
});
";

/// The whole report.
pub fn html(meta: &ReportMeta, series: &[ReportSeries]) -> Result<String, String> {
    let judged: Vec<&ReportSeries> = series.iter().filter(|s| s.finding.is_some()).collect();
    let (t0, t1) = series
        .iter()
        .filter(|s| !s.t.is_empty())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), s| {
            (a.min(s.t[0]), b.max(s.t[s.t.len() - 1]))
        });
    let mut out = String::with_capacity(256 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str(&format!(
        "<title>leakhound: {}</title>",
        escape(&meta.source)
    ));
    out.push_str(&format!("<style>{CSS}</style></head><body>"));
    out.push_str(&format!(
        "<h1>leakhound report: {}</h1>",
        escape(&meta.source)
    ));
    if let Some(first) = judged.first() {
        let f = first.finding.expect("judged");
        out.push_str(&format!(
            "<p class=\"verdict {}\" id=\"verdict\">{}</p><p class=\"next\">{}</p>",
            f.verdict.as_str(),
            escape(&explain(&first.name, f, &first.unit)),
            escape(&next_step(f, &first.unit))
        ));
    }
    if judged.len() > 1 {
        out.push_str("<table class=\"others\"><tr><th>series</th><th>verdict</th><th>pattern</th><th>rate/day (95% CI)</th></tr>");
        for s in &judged {
            let f = s.finding.expect("judged");
            let rate = match (f.rate_per_day, f.rate_ci_per_day) {
                (Some(r), Some((lo, hi))) => {
                    format!(
                        "{} ({})",
                        format_amount(r, &s.unit),
                        format_range(lo, hi, &s.unit)
                    )
                }
                _ => "-".into(),
            };
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&s.name),
                f.verdict.as_str(),
                f.pattern.as_str(),
                escape(&rate)
            ));
        }
        out.push_str("</table>");
    }
    for s in &judged {
        let f = s.finding.expect("judged");
        // Series that never moved (swap 0, shmem 0) get their row above but no chart.
        if s.v.iter().all(|v| *v == s.v[0]) {
            continue;
        }
        let cs = ChartSeries {
            name: &s.name,
            unit: &s.unit,
            t: s.t,
            v: s.v,
        };
        let limit = if s.unit == "bytes" {
            f.limit.or(meta.limit)
        } else {
            None
        };
        out.push_str(&format!("<section><h2>{}</h2>", escape(&s.name)));
        out.push_str(&format!(
            "<figure data-chart=\"{}\">{}</figure>",
            escape(&s.name),
            memory_svg(&cs, f, limit, (960, 420))?
        ));
        out.push_str(&numbers_table(f, &s.unit));
        if let Some(p) = &f.daily_profile {
            out.push_str(&format!(
                "<figure data-chart=\"{} daily\">{}</figure>",
                escape(&s.name),
                daily_profile_svg(p, &s.unit, (960, 240))?
            ));
        }
        out.push_str("</section>");
    }
    let counters: Vec<&ReportSeries> = series.iter().filter(|s| s.finding.is_none()).collect();
    if !counters.is_empty() && t1 > t0 {
        out.push_str("<section><h2>Counters</h2>");
        for s in counters {
            let cs = ChartSeries {
                name: &s.name,
                unit: &s.unit,
                t: s.t,
                v: s.v,
            };
            out.push_str(&format!(
                "<figure data-chart=\"{}\">{}</figure>",
                escape(&s.name),
                counter_svg(&cs, (t0, t1), (960, 200))?
            ));
        }
        out.push_str("</section>");
    }
    out.push_str("<section><h2>Run</h2><table>");
    let mut meta_rows: Vec<(&str, String)> = vec![
        ("source", meta.source.clone()),
        ("target", meta.target.clone()),
    ];
    meta_rows.push(("kind", meta.kind.clone()));
    if let Some(h) = &meta.host {
        meta_rows.push(("host", h.clone()));
    }
    if t1 > t0 {
        meta_rows.push(("from", format_rfc3339(t0)));
        meta_rows.push(("to", format_rfc3339(t1)));
        meta_rows.push(("span", format_duration(t1 - t0)));
    }
    if let Some(i) = meta.interval_s {
        meta_rows.push(("interval", format_duration(i)));
    }
    let samples: usize = series.iter().map(|s| s.t.len()).sum();
    meta_rows.push(("samples (all series)", samples.to_string()));
    if let Some(l) = meta.limit {
        meta_rows.push(("memory limit", format_amount(l, "bytes")));
    }
    for (k, v) in meta_rows {
        out.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(k),
            escape(&v)
        ));
    }
    out.push_str("</table></section>");
    out.push_str(&format!(
        "<footer>Made by leakhound {}. Times are UTC. Charts show every sample as a min-max band, the floor \
         (memory just after garbage collection), and the fitted trend with its 95% band.</footer>",
        escape(&meta.version)
    ));
    out.push_str(&format!("<script>{SCRIPT}</script></body></html>\n"));
    Ok(out)
}

/// What the fleet page adds to the report's style: the verdict column in the verdict's colour.
const FLEET_CSS: &str = "
td:first-child { white-space: nowrap; }
tr.leak td:nth-child(2) { color: #c81e1e; font-weight: 600; }
tr.no_leak td:nth-child(2) { color: #2a9641; }
tr.inconclusive td:nth-child(2) { color: #a87400; }
";

/// The `fleet --report` page: a row per series (`rows` as (instance name, finding), worst
/// first) under the fleet-wide attribution, in the report's look.
pub fn fleet_html(query: &str, attribution: Option<&str>, rows: &[(&str, &Finding)]) -> String {
    let mut out = String::with_capacity(256 + rows.len() * 256);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str(&format!(
        "<title>leakhound fleet: {}</title><style>{CSS}{FLEET_CSS}</style></head><body>",
        escape(query)
    ));
    out.push_str(&format!("<h1>leakhound fleet: {}</h1>", escape(query)));
    if let Some(a) = attribution {
        out.push_str(&format!("<p class=\"next\">{}</p>", escape(a)));
    }
    out.push_str(
        "<table class=\"others\"><tr><th>series</th><th>verdict</th><th>explanation</th></tr>",
    );
    for (name, f) in rows {
        let v = f.verdict.as_str();
        out.push_str(&format!(
            "<tr class=\"{v}\"><td>{}</td><td>{v}</td><td>{}</td></tr>",
            escape(name),
            escape(&explain("memory", f, "bytes"))
        ));
    }
    out.push_str("</table>");
    out.push_str(&format!(
        "<footer>Made by leakhound. {} series; the worst first: leaks by rate, then inconclusive, then the rest.</footer>",
        rows.len()
    ));
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_analysis::{analyze, Config};

    #[test]
    fn report_has_verdict_charts_and_escapes_text() {
        let t: Vec<f64> = (0..2000).map(|i| 1.7e9 + i as f64 * 60.0).collect();
        let y: Vec<f64> = t
            .iter()
            .map(|t| 250e6 + 8e6 * (t - 1.7e9) / 86400.0)
            .collect();
        let c: Vec<f64> = (0..2000).map(|i| i as f64 * 5.0).collect();
        let f = analyze(&t, &y, &Config::with_tolerance(2e6)).unwrap();
        let meta = ReportMeta {
            source: "run 1".into(),
            target: "node app.js --x '<script>'".into(),
            kind: "run".into(),
            version: "0.1.0".into(),
            ..ReportMeta::default()
        };
        let series = [
            ReportSeries {
                name: "rss".into(),
                unit: "bytes".into(),
                t: &t,
                v: &y,
                finding: Some(&f),
            },
            ReportSeries {
                name: "requests".into(),
                unit: "count".into(),
                t: &t,
                v: &c,
                finding: None,
            },
        ];
        let page = html(&meta, &series).unwrap();
        assert!(page.contains("class=\"verdict leak\""));
        assert!(page.contains("leak: rss floor grows"));
        assert_eq!(page.matches("<figure data-chart").count(), 2);
        assert!(!page.contains("'<script>'"), "user text is escaped");
        assert!(page.contains("&lt;script&gt;"));
        // Self-contained: nothing is fetched (the SVG namespace URI is a name, not a fetch).
        assert!(!page.contains("src=") && !page.contains("href=") && !page.contains("@import"));
    }
}
