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

/// Where a function allocates, as a person reads it: its line and its caller, e.g.
/// `rememberVisitor (server.js:12) <- onRequest (server.js:40)`.
pub fn place(j: &SitesJudged, f: &FunctionFinding) -> String {
    match top_stack(j, f) {
        Some(s) => from_allocating(s, 2).join(" <- "),
        None => f.function.clone(),
    }
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
    let shown: Vec<String> = place(j, top)
        .split(" <- ")
        .map(|f| format!("`{f}`"))
        .collect();
    Some(format!(
        "{:.0}% of the growth is allocated in {} (leak, {}/day{})",
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
            SitesNote::NoLeakingSite { series, profiles } => Some(format!(
                "allocation sites: {series} leaks, but no allocating function is a conclusive \
                 leak yet ({profiles} profiles): a longer soak narrows the sites' intervals; \
                 for native code, finer sampling (--native-sampling 64KiB) sees more of a \
                 small leak"
            )),
        })
        .collect()
}

/// Least share of the growth for a function that does not leak to get a row.
const MIN_SHARE_SHOWN: f64 = 0.01;

/// Whether a function is worth a row: it leaks, or holds a visible part of the growth.
fn shown(f: &FunctionFinding) -> bool {
    f.finding.verdict == Verdict::Leak || f.share_of_growth >= MIN_SHARE_SHOWN
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
    let rows: Vec<&FunctionFinding> = j.functions.iter().filter(|f| shown(f)).take(n).collect();
    if !rows.is_empty() {
        out.push_str(&format!(
            "  where it grows: {} of {} allocating functions ({} stacks), by the lower bound of the leak rate\n  {:<12}  {:>34}  {:>6}  {:<12}  function (line) <- caller\n",
            rows.len(),
            j.functions.len(),
            j.sites.len(),
            "verdict",
            "rate/day (95% CI)",
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
        let quiet = j.functions.iter().filter(|f| !shown(f)).count();
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
    out.push_str("<table class=\"others sites\"><tr><th>verdict</th><th>rate/day (95% CI)</th><th>share</th><th>floor</th><th>function (line) &lt;- caller, and its stacks</th></tr>");
    for f in j.functions.iter().filter(|f| shown(f)).take(20) {
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
    let quiet = j.functions.iter().filter(|f| !shown(f)).count();
    if quiet > 0 {
        out.push_str(&format!(
            "<p class=\"caption\">{quiet} more allocating functions do not leak and hold under 1% of the growth; they are not listed.</p>"
        ));
    }
    out.push_str("</section>");
    out
}
