//! The HTML report: one self-contained file (inline SVG and CSS, no network) that opens from a
//! file:// URL and prints well.

use leakhound_analysis::sites::SitesJudged;

pub use crate::markup::escape;
use leakhound_analysis::{Finding, Verdict};

use crate::chart::{counter_svg, daily_profile_svg, memory_svg_tagged, ChartSeries};
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
    /// Show times in UTC, not the viewer's time zone.
    pub utc: bool,
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
            "interval",
            format!(
                "{}/day ({})",
                format_range(lo, hi, unit),
                crate::sentence::confidence_pct(f.confidence)
            ),
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
.card { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .6rem 0 1rem; padding: .6rem 1rem; border: 1px solid #e3e3e3; border-radius: 6px; }
.card dt { font-weight: 600; color: #555; }
.card dd { margin: 0; }
.caption { color: #555; font-size: .9rem; }
.sites tr.leak td:first-child { color: #c81e1e; font-weight: 600; }
svg.flame text { pointer-events: none; }
footer { margin-top: 2rem; color: #777; font-size: .85rem; }
@media print { body { margin: 0; max-width: none; } section { break-inside: avoid; } }
";

/// What a browser runs on load: times (chart labels and the run's table, written in UTC and
/// tagged with `data-t`) in the viewer's time zone with UTC in a hover title, unless the page
/// asks for UTC; and each chart records the size it was laid out at, so a headless browser test
/// can see that charts really rendered.
const SCRIPT: &str = "
(function () {
  var utc = document.body.hasAttribute('data-utc');
  var two = function (n) { return (n < 10 ? '0' : '') + n; };
  document.querySelectorAll('[data-t]').forEach(function (e) {
    var d = new Date(Number(e.getAttribute('data-t')) * 1000);
    var was = e.textContent;
    var local;
    if (e.tagName.toLowerCase() === 'time') local = d.toLocaleString();
    else if (was.indexOf('-') >= 0) local = two(d.getMonth() + 1) + '-' + two(d.getDate()) + ' ' + two(d.getHours()) + ':' + two(d.getMinutes());
    else local = two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
    var hover = 'UTC ' + d.toISOString().replace('.000Z', 'Z');
    if (e.namespaceURI === 'http://www.w3.org/2000/svg') {
      var t = document.createElementNS('http://www.w3.org/2000/svg', 'title');
      t.textContent = hover;
      e.appendChild(t);
    } else {
      e.setAttribute('title', hover);
    }
    if (!utc) e.firstChild.nodeValue = local;
  });
  if (!utc) {
    document.querySelectorAll('figure svg text').forEach(function (e) {
      if (e.textContent === 'time (UTC)') e.textContent = 'time (your time zone; hover for UTC)';
    });
  }
  document.querySelectorAll('figure[data-chart]').forEach(function (f) {
    var s = f.querySelector('svg');
    var r = s ? s.getBoundingClientRect() : { width: 0, height: 0 };
    f.setAttribute('data-rendered', Math.round(r.width) + 'x' + Math.round(r.height));
  });
})();
";

/// The whole report, led by the headline the terminal prints (computed from the series).
pub fn html(meta: &ReportMeta, series: &[ReportSeries]) -> Result<String, String> {
    page(meta, series, None, &SitesJudged::default(), &[])
}

/// One line of the diagnosis card.
fn card_row(out: &mut String, what: &str, value: &str) {
    out.push_str(&format!(
        "<dt>{}</dt><dd>{}</dd>",
        escape(what),
        escape(value)
    ));
}

/// The diagnosis card under the headline: what leaks, how fast, in which memory, tracking which
/// counter, until when, where in the code, what to do next; one screen.
fn card(
    lead: &ReportSeries,
    f: &Finding,
    sites: &SitesJudged,
    holders: &[leakhound_analysis::retainers::Holder],
) -> String {
    let mut out = String::from("<dl class=\"card\">");
    card_row(&mut out, "series", &lead.name);
    card_row(
        &mut out,
        "verdict",
        &format!("{} ({})", f.verdict.as_str(), f.pattern.as_str()),
    );
    if let (Some(r), Some((lo, hi))) = (f.rate_per_day, f.rate_ci_per_day) {
        card_row(
            &mut out,
            "how fast",
            &format!(
                "{}/day ({} {}/day)",
                format_amount(r, &lead.unit),
                crate::sentence::ci_label(f.confidence),
                format_range(lo, hi, &lead.unit)
            ),
        );
    }
    if let Some(k) = f.memory_kind {
        card_row(&mut out, "which memory", k.phrase());
    }
    if let Some(c) = crate::sentence::cause_clause(f, &lead.unit) {
        card_row(&mut out, "tracking", &c);
    }
    let load = match &f.load_counter {
        Some(c) => format!("follows {c}"),
        None => f.load.as_str().to_string(),
    };
    card_row(&mut out, "load assumed", &load);
    if let (Some(s), Some(l)) = (f.time_to_limit_seconds.filter(|s| s.is_finite()), f.limit) {
        card_row(
            &mut out,
            "until",
            &format!(
                "the {} limit in {}",
                format_amount(l, &lead.unit),
                format_duration(s)
            ),
        );
    }
    if let Some(c) = crate::sites::clause(sites) {
        card_row(&mut out, "where", &c);
    }
    if let Some(c) = crate::holders::holder_clause(holders) {
        card_row(&mut out, "held by", c.trim_start_matches("held by "));
    }
    card_row(&mut out, "next", &next_step(f, &lead.unit));
    out.push_str("</dl>");
    out
}

/// The whole report: the headline (`lead`: index among judged series and sentence; computed
/// when `None`), the diagnosis card, the sites, then the charts.
pub fn page(
    meta: &ReportMeta,
    series: &[ReportSeries],
    lead: Option<(usize, String)>,
    sites: &SitesJudged,
    holders: &[leakhound_analysis::retainers::Holder],
) -> Result<String, String> {
    let judged: Vec<&ReportSeries> = series.iter().filter(|s| s.finding.is_some()).collect();
    let lead = lead.or_else(|| {
        let js: Vec<crate::headline::Judged> = judged
            .iter()
            .map(|s| crate::headline::Judged {
                name: &s.name,
                unit: &s.unit,
                finding: s.finding.expect("judged"),
            })
            .collect();
        crate::headline::headline(&js, sites)
    });
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
    out.push_str(&format!(
        "<style>{CSS}</style></head><body{}>",
        if meta.utc { " data-utc" } else { "" }
    ));
    out.push_str(&format!(
        "<h1>leakhound report: {}</h1>",
        escape(&meta.source)
    ));
    if let Some((i, line)) = &lead {
        let s = judged[*i];
        let f = s.finding.expect("judged");
        out.push_str(&format!(
            "<p class=\"verdict {}\" id=\"verdict\">{}</p>",
            f.verdict.as_str(),
            escape(line),
        ));
        out.push_str(&card(s, f, sites, holders));
    }
    if !sites.sites.is_empty() || !sites.notes.is_empty() {
        out.push_str(&crate::sites::html_section(sites));
    }
    if !holders.is_empty() {
        out.push_str(&crate::holders::holders_html(holders));
    }
    if judged.len() > 1 {
        out.push_str(&format!(
            "<table class=\"others\"><tr><th>series</th><th>verdict</th><th>pattern</th><th>{}</th></tr>",
            crate::sentence::rate_column(judged.iter().filter_map(|s| s.finding))
        ));
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
            memory_svg_tagged(&cs, f, limit, (960, 420))?
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
    /// A cell of the run's table: text, or a time shown in the viewer's time zone.
    enum Cell {
        Text(String),
        Time(f64),
    }
    let mut meta_rows: Vec<(&str, Cell)> = vec![
        ("source", Cell::Text(meta.source.clone())),
        ("target", Cell::Text(meta.target.clone())),
    ];
    meta_rows.push(("kind", Cell::Text(meta.kind.clone())));
    if let Some(h) = &meta.host {
        meta_rows.push(("host", Cell::Text(h.clone())));
    }
    if t1 > t0 {
        meta_rows.push(("from", Cell::Time(t0)));
        meta_rows.push(("to", Cell::Time(t1)));
        meta_rows.push(("span", Cell::Text(format_duration(t1 - t0))));
    }
    if let Some(i) = meta.interval_s {
        meta_rows.push(("interval", Cell::Text(format_duration(i))));
    }
    let samples: usize = series.iter().map(|s| s.t.len()).sum();
    meta_rows.push(("samples (all series)", Cell::Text(samples.to_string())));
    if let Some(l) = meta.limit {
        meta_rows.push(("memory limit", Cell::Text(format_amount(l, "bytes"))));
    }
    for (k, v) in meta_rows {
        let cell = match v {
            // <time data-t="UNIX">UTC</time>, shown in the viewer's time zone.
            Cell::Time(t) => {
                let utc = escape(&format_rfc3339(t));
                format!("<time datetime=\"{utc}\" data-t=\"{t:.0}\">{utc}</time>")
            }
            Cell::Text(v) => escape(&v),
        };
        out.push_str(&format!("<tr><th>{}</th><td>{cell}</td></tr>", escape(k)));
    }
    out.push_str("</table></section>");
    out.push_str(&format!(
        "<footer>Made by leakhound {}. {} Charts show every sample as a min-max band, the floor \
         (memory just after garbage collection), and the fitted trend with its interval over the stretch it was fitted on.</footer>",
        escape(&meta.version),
        if meta.utc {
            "Times are UTC."
        } else {
            "Times are in your time zone (hover one for UTC; <code>report --utc</code> keeps UTC)."
        }
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

/// The `fleet --report` page: the headline the terminal prints (`lead`: its colour and
/// sentence), a card of the fleet's findings (`card`: what, sentence), then a row per series
/// (`rows` as (instance name, finding), worst first), in the report's look.
pub fn fleet_html(
    query: &str,
    lead: (Verdict, &str),
    card: &[(String, String)],
    rows: &[(&str, &Finding)],
) -> String {
    let mut out = String::with_capacity(256 + rows.len() * 256);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str(&format!(
        "<title>leakhound fleet: {}</title><style>{CSS}{FLEET_CSS}</style></head><body>",
        escape(query)
    ));
    out.push_str(&format!("<h1>leakhound fleet: {}</h1>", escape(query)));
    out.push_str(&format!(
        "<p class=\"verdict {}\" id=\"verdict\">{}</p>",
        lead.0.as_str(),
        escape(lead.1)
    ));
    if !card.is_empty() {
        out.push_str("<dl class=\"card\">");
        for (what, text) in card {
            card_row(&mut out, what, text);
        }
        out.push_str("</dl>");
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
