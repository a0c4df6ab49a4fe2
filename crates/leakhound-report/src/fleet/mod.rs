//! The output of `fleet`: every series of a TSDB ranked, led by what the fleet says together
//! (how many instances leak, bytes per event among them, which labels separate them from the
//! others, groups by a label), as a table, JSON, or an HTML page in the report's look.

use std::collections::BTreeMap;

use leakhound_analysis::fleet::{GroupRate, LabelSplit, MixedAttribution, Within};
use leakhound_analysis::{Attribution, Finding, RateRatio, Verdict};
use serde::Serialize;

use crate::json::SeriesJson;
use crate::sentence::ratio_sentence;
use crate::units::{format_amount, format_bytes, format_duration, format_range};

/// p-value at or above which the instances that do not leak are said to be flat.
const FLAT: f64 = 0.05;

/// One instance's series.
#[derive(Debug, Clone, Copy)]
pub struct FleetRow<'a> {
    /// Short name: the labels that tell instances apart (`instance=api-03`).
    pub instance: &'a str,
    /// All labels of the series, `__name__` included when the TSDB gave it.
    pub labels: &'a BTreeMap<String, String>,
    /// Its finding.
    pub finding: &'a Finding,
}

/// `fleet --group-by`: the groups' mean rates and their ratios to the slowest growing group.
#[derive(Debug, Clone, Copy)]
pub struct FleetGroups<'a> {
    /// The label grouped by.
    pub label: &'a str,
    /// One entry per value of the label.
    pub rates: &'a [GroupRate],
    /// Ratio of each group (aligned with `rates`) to the slowest growing group; `None` for a
    /// group that does not grow.
    pub ratios: &'a [Option<RateRatio>],
}

/// The ranked fleet and what its instances say together.
#[derive(Debug, Clone, Default)]
pub struct FleetOutput<'a> {
    /// The selector the series came from (their name when the TSDB gave none).
    pub query: &'a str,
    /// Series, worst first.
    pub rows: Vec<FleetRow<'a>>,
    /// Leak rate against event rate across all instances (JSON only: diluted in a mixed fleet).
    pub attribution: Option<&'a Attribution>,
    /// The counter query (`--counter`).
    pub counter: Option<&'a str>,
    /// Bytes per event among the leaking instances.
    pub leakers: Option<&'a MixedAttribution>,
    /// p-value of "the instances that do not leak have a rate of zero".
    pub others_flat_p: Option<f64>,
    /// How many of the instances that do not leak are known to be within their tolerance.
    pub others_within: Option<Within>,
    /// Label values that separate leaking from other instances, most surprising first (empty:
    /// none does; `None`: not examined, the fleet is not mixed or too small to tell).
    pub separating: Option<&'a [LabelSplit]>,
    /// `--group-by`.
    pub groups: Option<FleetGroups<'a>>,
}

/// Bytes per event across the fleet, in the JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct FleetAttributionJson {
    /// The counter query.
    pub counter: String,
    /// Leak per event.
    pub bytes_per_event: f64,
    /// 95% interval.
    pub bytes_per_event_ci95: [f64; 2],
    /// Share of the spread of leak rates the event rates explain (R²).
    pub explained: f64,
}

/// Bytes per event among the leaking instances, in the JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct LeakersJson {
    /// The counter query.
    pub counter: String,
    /// Leaking instances with a counter: the points of the fit.
    pub instances: usize,
    /// Leak per event.
    pub bytes_per_event: f64,
    /// 95% interval.
    pub bytes_per_event_ci95: [f64; 2],
    /// Share of the leakers' spread of rates their event rates explain (R² through zero).
    pub explained: f64,
}

/// One group of `--group-by`, in the JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct GroupJson {
    /// The label's value.
    pub value: String,
    /// Instances in the group.
    pub instances: usize,
    /// Those that leak.
    pub leaking: usize,
    /// Mean leak rate of its instances.
    pub rate_bytes_per_day: f64,
    /// 95% interval of the mean.
    pub rate_ci95_bytes_per_day: [f64; 2],
    /// Whether the mean is above zero with 95% confidence.
    pub grows: bool,
    /// Times the rate of the slowest growing group (`null` when it does not grow).
    pub ratio: Option<f64>,
    /// 95% interval of the ratio.
    pub ratio_ci95: Option<[f64; 2]>,
}

/// `--group-by`, in the JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct GroupsJson {
    /// The label.
    pub label: String,
    /// One entry per value.
    pub groups: Vec<GroupJson>,
    /// The comparison as a sentence, as in the text.
    pub explanation: String,
}

/// The `fleet --format json` document: the `analyze` contract's `series`, plus what the fleet
/// says together.
#[derive(Debug, Clone, Serialize)]
pub struct FleetJson {
    /// The strongest finding, as the text's first line.
    pub headline: String,
    /// Instances (series) judged.
    pub instances: usize,
    /// Those that leak.
    pub leaking: usize,
    /// One entry per series, worst first.
    pub series: Vec<SeriesJson>,
    /// Leak rate against event rate across all instances, leaking or not: present when
    /// `--counter` was given and enough instances had it. Diluted when only some leak; see
    /// `leakers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<[FleetAttributionJson; 1]>,
    /// Bytes per event among the leaking instances (with `--counter`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leakers: Option<LeakersJson>,
    /// p-value of "the instances that do not leak have a rate of zero" (χ²); absent when all
    /// leak.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub others_flat_p: Option<f64>,
    /// How many of the instances that do not leak are known to grow slower than their
    /// tolerance (the upper end of the rate's interval below it); absent when all leak. A
    /// bounded pattern grows a little without leaking: not flat, and within the tolerance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub others_within_tolerance: Option<usize>,
    /// Label values that separate leaking from other instances (Fisher's exact test,
    /// Bonferroni-adjusted `p` below 0.01), most surprising first; empty when none does;
    /// absent unless some instances leak and some do not, and enough of them for a label to
    /// separate them with confidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub separating_labels: Option<Vec<LabelSplit>>,
    /// `--group-by`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupsJson>,
}

/// "8.00 MiB (7.50 MiB to 8.50 MiB)", or "-" without a rate.
fn rate_with_interval(f: &Finding) -> String {
    match (f.rate_per_day, f.rate_ci_per_day) {
        (Some(r), Some((lo, hi))) => format!(
            "{} ({})",
            format_amount(r, "bytes"),
            format_range(lo, hi, "bytes")
        ),
        _ => "-".into(),
    }
}

/// Bytes per event keep three significant digits below 1 KiB ("4.02 B", not "4 B").
fn per_event(v: f64) -> String {
    if v.abs() >= 1024.0 {
        return format_bytes(v);
    }
    format!("{v:.*} B", small_digits(v.abs()))
}

/// The interval of bytes per event, as [`per_event`] writes it.
fn per_event_range(lo: f64, hi: f64) -> String {
    let big = lo.abs().max(hi.abs());
    if big >= 1024.0 {
        return format_range(lo, hi, "bytes");
    }
    let d = small_digits(big);
    format!("{lo:.d$} to {hi:.d$} B")
}

fn small_digits(v: f64) -> usize {
    if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    }
}

/// What one event of a counter query is called: `http_requests_total{job="api"}` counts
/// requests; anything but a plain metric name counts events.
fn event_noun(counter: &str) -> String {
    let name = counter.split('{').next().unwrap_or("").trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.'))
    {
        return "event".into();
    }
    let mut base = name;
    for suffix in ["_total", "_count", "_seconds", "_bytes"] {
        base = base.strip_suffix(suffix).unwrap_or(base);
    }
    let last = base.rsplit(['_', '.', ':']).next().unwrap_or("");
    let noun = last.strip_suffix('s').unwrap_or(last);
    if noun.is_empty() || noun.chars().all(|c| c.is_ascii_digit()) {
        "event".into()
    } else {
        noun.to_string()
    }
}

/// A p-value as people read them: "0.003", "1.4e-6".
fn p_value(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// "all 8 leaking instances have version=2.3.1; none of the 16 others do".
fn split_sentence(s: &LabelSplit) -> String {
    let lv = format!("{}={}", s.key, s.value);
    let leakers = match s.leaking_with {
        a if a == s.leaking && a > 1 => format!("all {a} leaking instances have {lv}"),
        a if a == s.leaking => format!("the leaking instance has {lv}"),
        0 => format!("none of the {} leaking instances has {lv}", s.leaking),
        a => format!("{a} of the {} leaking instances have {lv}", s.leaking),
    };
    let others = match s.others_with {
        b if b == s.others && b > 1 => format!("all {b} others do"),
        b if b == s.others => "the other one does".to_string(),
        0 if s.others == 1 => "the other one does not".to_string(),
        0 => format!("none of the {} others do", s.others),
        b => format!("{b} of the {} others do", s.others),
    };
    format!("{leakers}; {others} (Fisher p {})", p_value(s.p))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl FleetOutput<'_> {
    fn counts(&self) -> (usize, usize) {
        let leaking = self
            .rows
            .iter()
            .filter(|r| r.finding.verdict == Verdict::Leak)
            .count();
        (self.rows.len(), leaking)
    }

    /// The first line: how many instances leak, bytes per event among them, whether the others
    /// are flat, and what separates the two.
    pub fn headline(&self) -> String {
        let (n, leaking) = self.counts();
        if leaking == 0 {
            let open = self
                .rows
                .iter()
                .filter(|r| r.finding.verdict == Verdict::Inconclusive)
                .count();
            return match (n, open) {
                (0, _) => "no series to judge".into(),
                (_, 0) => format!("none of the {n} series leaks"),
                (_, k) if k == n => format!("none of the {n} series is conclusive yet"),
                _ => format!("none of the {n} series leaks; {open} are not conclusive yet"),
            };
        }
        let mut s = if leaking == n {
            format!("all {n} instances leak")
        } else if leaking == 1 {
            format!("1 of {n} instances leaks")
        } else {
            format!("{leaking} of {n} instances leak")
        };
        if leaking == 1 && n == 1 {
            s = "the one instance leaks".into();
        }
        match (self.leakers, self.counter) {
            (Some(m), Some(c)) => {
                s.push_str(&format!(
                    " {} per {} (95% CI {})",
                    per_event(m.bytes_per_event),
                    event_noun(c),
                    per_event_range(m.bytes_per_event_ci95.0, m.bytes_per_event_ci95.1)
                ));
                if m.leaking < leaking {
                    s.push_str(&format!(", from the {} with a counter", m.leaking));
                }
            }
            _ => {
                let rates: Vec<f64> = self
                    .rows
                    .iter()
                    .filter(|r| r.finding.verdict == Verdict::Leak)
                    .filter_map(|r| r.finding.rate_per_day)
                    .collect();
                let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if rates.len() > 1 {
                    s.push_str(&format!(", {}/day each", format_range(lo, hi, "bytes")));
                } else if let Some(r) = rates.first() {
                    s.push_str(&format!(", {}/day", format_amount(*r, "bytes")));
                }
            }
        }
        let others = n - leaking;
        let the_others = if others == 1 {
            "the other one".to_string()
        } else {
            format!("the other {others}")
        };
        if let Some(p) = self.others_flat_p.filter(|_| others > 0) {
            s.push_str(&format!("; {the_others} {}", self.others_clause(p, others)));
        }
        s.push('.');
        match self.separating.map(|s| s.first()) {
            Some(Some(split)) => s.push_str(&format!(" {}.", capitalize(&split_sentence(split)))),
            Some(None) => s.push_str(" No label separates the leaking instances from the others."),
            None => {}
        }
        s
    }

    /// The findings under the ranking, as (what, sentence): bytes per event among the
    /// leakers, the others, the labels that separate them.
    pub fn findings(&self) -> Vec<(String, String)> {
        let (n, leaking) = self.counts();
        let mut out = Vec::new();
        if let (Some(m), Some(c)) = (self.leakers, self.counter) {
            out.push((
                "among the leakers".to_string(),
                format!(
                    "leak rate tracks {c} at {}/{} (95% CI {}), R² {:.2}, over {} leaking instances with a counter",
                    per_event(m.bytes_per_event),
                    event_noun(c),
                    per_event_range(m.bytes_per_event_ci95.0, m.bytes_per_event_ci95.1),
                    m.explained,
                    m.leaking
                ),
            ));
        } else if let Some(c) = self.counter.filter(|_| leaking > 0) {
            out.push((
                "among the leakers".to_string(),
                format!("too few leaking instances have {c} to relate their leak to it"),
            ));
        }
        if let Some(p) = self.others_flat_p.filter(|_| leaking > 0) {
            let verdict = if p >= FLAT {
                "fit a rate of zero"
            } else {
                "do not all fit a rate of zero"
            };
            let within = match self.others_within {
                Some(w) if w.within == w.others => "; all are within the tolerance".to_string(),
                Some(w) => format!(
                    "; {} of {} are known to be within the tolerance, the rest not yet",
                    w.within, w.others
                ),
                None => String::new(),
            };
            out.push((
                "the others".to_string(),
                format!("{} {verdict} (χ² p {}){within}", n - leaking, p_value(p)),
            ));
        }
        if leaking > 0 && leaking < n {
            let text = match self.separating {
                None => "too few instances for any label to separate the leaking ones with confidence"
                    .to_string(),
                Some([]) => "no label separates the leaking instances from the others (Fisher's exact test, adjusted p < 0.01)".to_string(),
                Some(splits) => {
                    // The most surprising value of each label: the other values of a label
                    // are mostly its mirror image (version=2.3.0 when the leakers have 2.3.1).
                    let mut seen = Vec::new();
                    splits
                        .iter()
                        .filter(|s| {
                            let first = !seen.contains(&&s.key);
                            seen.push(&s.key);
                            first
                        })
                        .take(5)
                        .map(split_sentence)
                        .collect::<Vec<_>>()
                        .join("; and ")
                }
            };
            out.push(("what separates them".to_string(), text));
        }
        if let Some(g) = &self.groups {
            out.push((format!("by {}", g.label), groups_sentence(g)));
        }
        out
    }

    /// One line per group of `--group-by`, as (group, sentence).
    pub fn group_rows(&self) -> Vec<(String, String)> {
        let Some(g) = &self.groups else {
            return Vec::new();
        };
        let base = g
            .rates
            .iter()
            .zip(g.ratios)
            .filter(|(_, x)| x.is_some())
            .min_by(|a, b| a.0.rate.total_cmp(&b.0.rate))
            .map(|(r, _)| r.value.as_str());
        let growing = g.ratios.iter().filter(|x| x.is_some()).count();
        g.rates
            .iter()
            .zip(g.ratios)
            .map(|(r, ratio)| {
                let mut s = format!(
                    "{} instance{}, {} leak{}; mean {}/day (95% CI {}/day)",
                    r.instances,
                    if r.instances == 1 { "" } else { "s" },
                    r.leaking,
                    if r.leaking == 1 { "s" } else { "" },
                    format_amount(r.rate, "bytes"),
                    format_range(r.ci95.0, r.ci95.1, "bytes")
                );
                match ratio {
                    Some(_) if growing == 1 => {}
                    Some(_) if base == Some(r.value.as_str()) => {
                        s.push_str("; the slowest growing group")
                    }
                    Some(x) => s.push_str(&format!(
                        "; {:.2} ± {:.2} times the slowest growing group (95% CI {:.2} to {:.2})",
                        x.ratio, x.se, x.ci95.0, x.ci95.1
                    )),
                    None => s.push_str("; does not grow"),
                }
                (format!("{}={}", g.label, r.value), s)
            })
            .collect()
    }

    /// The headline, the ranking, then the findings.
    pub fn text(&self) -> String {
        let mut out = format!("{}\n\n", self.headline());
        out.push_str(&format!(
            "{:<40}  {:<12}  {:>30}  {:>12}\n",
            "series", "verdict", "rate/day (95% CI)", "to limit"
        ));
        for r in &self.rows {
            let f = r.finding;
            let ttl = f
                .time_to_limit_seconds
                .filter(|s| s.is_finite())
                .map(format_duration)
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "{:<40}  {:<12}  {:>30}  {:>12}\n",
                r.instance,
                f.verdict.as_str(),
                rate_with_interval(f),
                ttl
            ));
        }
        let findings = self.findings();
        if !findings.is_empty() {
            out.push('\n');
        }
        for (what, text) in findings {
            out.push_str(&format!("{what}: {text}\n"));
        }
        for (group, text) in self.group_rows() {
            out.push_str(&format!("  {group}: {text}\n"));
        }
        out
    }

    /// The JSON document.
    pub fn json(&self) -> FleetJson {
        let (n, leaking) = self.counts();
        let series = self
            .rows
            .iter()
            .map(|r| {
                let name = r.labels.get("__name__").map_or(self.query, String::as_str);
                let mut s = SeriesJson::new(name, "bytes", r.finding);
                s.labels = r
                    .labels
                    .iter()
                    .filter(|(k, _)| k.as_str() != "__name__")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                s
            })
            .collect();
        let groups = self.groups.as_ref().map(|g| GroupsJson {
            label: g.label.to_string(),
            groups: g
                .rates
                .iter()
                .zip(g.ratios)
                .map(|(r, x)| GroupJson {
                    value: r.value.clone(),
                    instances: r.instances,
                    leaking: r.leaking,
                    rate_bytes_per_day: r.rate,
                    rate_ci95_bytes_per_day: [r.ci95.0, r.ci95.1],
                    grows: r.grows(),
                    ratio: x.as_ref().map(|x| x.ratio),
                    ratio_ci95: x.as_ref().map(|x| [x.ci95.0, x.ci95.1]),
                })
                .collect(),
            explanation: groups_sentence(g),
        });
        FleetJson {
            headline: self.headline(),
            instances: n,
            leaking,
            series,
            attribution: self.attribution.map(|a| {
                [FleetAttributionJson {
                    counter: a.counter.clone(),
                    bytes_per_event: a.bytes_per_event,
                    bytes_per_event_ci95: [a.bytes_per_event_ci95.0, a.bytes_per_event_ci95.1],
                    explained: a.explained,
                }]
            }),
            leakers: self.leakers.zip(self.counter).map(|(m, c)| LeakersJson {
                counter: c.to_string(),
                instances: m.leaking,
                bytes_per_event: m.bytes_per_event,
                bytes_per_event_ci95: [m.bytes_per_event_ci95.0, m.bytes_per_event_ci95.1],
                explained: m.explained,
            }),
            others_flat_p: self.others_flat_p.filter(|_| leaking < n),
            others_within_tolerance: self.others_within.filter(|_| leaking < n).map(|w| w.within),
            separating_labels: self.separating.map(<[LabelSplit]>::to_vec),
            groups,
        }
    }

    /// The JSON document as printed.
    pub fn json_text(&self) -> String {
        crate::json::sorted_pretty(&self.json())
    }

    /// The ranking as an HTML page in the report's look, under the same headline and findings.
    pub fn html(&self) -> String {
        let rows: Vec<(&str, &Finding)> =
            self.rows.iter().map(|r| (r.instance, r.finding)).collect();
        let (_, leaking) = self.counts();
        let verdict = if leaking > 0 {
            Verdict::Leak
        } else if self
            .rows
            .iter()
            .any(|r| r.finding.verdict == Verdict::Inconclusive)
        {
            Verdict::Inconclusive
        } else {
            Verdict::NoLeak
        };
        let mut card = self.findings();
        card.extend(self.group_rows());
        crate::html::fleet_html(self.query, (verdict, &self.headline()), &card, &rows)
    }
}

impl FleetOutput<'_> {
    /// What the `others` instances that do not leak are, given the p-value `p` of their fitting
    /// a rate of zero and how many are known to be within the tolerance: "are flat, within the
    /// tolerance", "grow a little, within the tolerance (not all flat, p 0.003)".
    fn others_clause(&self, p: f64, others: usize) -> String {
        let flat = p >= FLAT;
        let shape = if flat {
            format!("{} flat", are(others))
        } else {
            format!("{} not all flat (p {})", are(others), p_value(p))
        };
        match self.others_within {
            None => shape,
            Some(w) if w.within == others && flat => format!("{shape}, within the tolerance"),
            Some(w) if w.within == others => format!(
                "{} a little, within the tolerance (not all flat, p {})",
                if others == 1 { "grows" } else { "grow" },
                p_value(p)
            ),
            Some(Within { within: 0, .. }) => {
                format!("{shape}; none is known to be within the tolerance yet")
            }
            Some(w) => format!(
                "{shape}; {} of them {} known to be within the tolerance",
                w.within,
                are(w.within)
            ),
        }
    }
}

fn are(n: usize) -> &'static str {
    if n == 1 {
        "is"
    } else {
        "are"
    }
}

/// The groups compared: the fastest growing group against the slowest, or which group alone
/// grows, or that none does.
fn groups_sentence(g: &FleetGroups) -> String {
    let name = |r: &GroupRate| format!("{}={}", g.label, r.value);
    let growing: Vec<(&GroupRate, &RateRatio)> = g
        .rates
        .iter()
        .zip(g.ratios)
        .filter_map(|(r, x)| Some((r, x.as_ref()?)))
        .collect();
    let flat: Vec<String> = g.rates.iter().filter(|r| !r.grows()).map(&name).collect();
    let flat_clause = match flat.len() {
        0 => String::new(),
        1 => format!("; {} does not grow", flat[0]),
        _ => format!("; {} do not grow", flat.join(", ")),
    };
    let slowest = growing.iter().min_by(|a, b| a.0.rate.total_cmp(&b.0.rate));
    let fastest = growing.iter().max_by(|a, b| a.0.rate.total_cmp(&b.0.rate));
    match (slowest, fastest) {
        (Some(s), Some(f)) if growing.len() > 1 => format!(
            "{}{flat_clause}",
            ratio_sentence(&name(s.0), &name(f.0), f.1, "bytes")
        ),
        (Some(s), _) => format!(
            "only {} grows: {}/day per instance on average (95% CI {}/day){flat_clause}",
            name(s.0),
            format_amount(s.0.rate, "bytes"),
            format_range(s.0.ci95.0, s.0.ci95.1, "bytes")
        ),
        _ => format!("no value of {} grows on average", g.label),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::finding;

    fn labels(instance: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "__name__".to_string(),
                "process_resident_memory_bytes".to_string(),
            ),
            ("instance".to_string(), instance.to_string()),
        ])
    }

    #[test]
    fn table_json_and_page_list_the_same_rows() {
        let (leak, flat) = (finding(5e7), finding(0.0));
        let l1 = labels("api-01");
        let l2 = BTreeMap::from([("instance".to_string(), "<api-02>".to_string())]);
        let attribution = Attribution {
            counter: "http_requests_total".into(),
            bytes_per_event: 300.0,
            bytes_per_event_ci95: (250.0, 350.0),
            explained: 0.9,
            events: 1e6,
            beyond_time: 0.0,
        };
        let out = FleetOutput {
            query: "up",
            rows: vec![
                FleetRow {
                    instance: "instance=api-01",
                    labels: &l1,
                    finding: &leak,
                },
                FleetRow {
                    instance: "instance=<api-02>",
                    labels: &l2,
                    finding: &flat,
                },
            ],
            attribution: Some(&attribution),
            counter: Some("http_requests_total"),
            ..FleetOutput::default()
        };
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], out.headline(), "{text}");
        assert!(
            lines[0].starts_with("1 of 2 instances leaks, 47.7 MiB/day"),
            "{text}"
        );
        assert!(lines[2].starts_with("series") && lines[2].contains("to limit"));
        let cells: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(cells[..2], ["instance=api-01", "leak"], "{text}");
        assert!(lines[4].starts_with("instance=<api-02>"));
        assert!(
            !text.contains("300 B"),
            "the whole-fleet regression stays out of the text: {text}"
        );
        assert!(
            text.contains("among the leakers: too few leaking instances have http_requests_total"),
            "{text}"
        );

        let j: serde_json::Value = serde_json::from_str(&out.json_text()).unwrap();
        assert_eq!(j["headline"], lines[0]);
        assert_eq!(
            (j["instances"].as_u64(), j["leaking"].as_u64()),
            (Some(2), Some(1))
        );
        assert_eq!(j["series"][0]["name"], "process_resident_memory_bytes");
        assert_eq!(
            j["series"][1]["name"], "up",
            "no __name__: the query names it"
        );
        assert!(j["series"][0]["labels"].get("__name__").is_none());
        assert_eq!(j["series"][0]["verdict"], "leak");
        assert_eq!(j["attribution"][0]["bytes_per_event_ci95"][1], 350.0);
        assert!(
            j.get("leakers").is_none() && j.get("groups").is_none(),
            "{j:#}"
        );

        let page = out.html();
        assert_eq!(page.matches("<tr class=").count(), 2);
        assert!(page.contains("&lt;api-02&gt;") && !page.contains("<api-02>"));
        assert!(page.contains("<p class=\"verdict leak\" id=\"verdict\">1 of 2 instances leaks"));
    }

    /// Three instances leaking about 4 B per request, five flat, the leakers all on 2.3.1.
    fn mixed() -> (
        Vec<Finding>,
        Vec<BTreeMap<String, String>>,
        MixedAttribution,
        LabelSplit,
    ) {
        let findings = (0..8)
            .map(|k| finding(if k < 3 { 4e7 * (k + 1) as f64 } else { 0.0 }))
            .collect();
        let labels = (0..8).map(|k| labels(&format!("api-{k}"))).collect();
        let m = MixedAttribution {
            leaking: 3,
            others: 5,
            bytes_per_event: 4.02,
            bytes_per_event_ci95: (3.9, 4.1),
            explained: 0.99,
            others_flat_p: 0.4,
        };
        let split = LabelSplit {
            key: "version".into(),
            value: "2.3.1".into(),
            leaking_with: 3,
            leaking: 3,
            others_with: 0,
            others: 5,
            p: 0.0179,
        };
        (findings, labels, m, split)
    }

    fn rows<'a>(f: &'a [Finding], l: &'a [BTreeMap<String, String>]) -> Vec<FleetRow<'a>> {
        f.iter()
            .zip(l)
            .map(|(finding, labels)| FleetRow {
                instance: &labels["instance"],
                labels,
                finding,
            })
            .collect()
    }

    #[test]
    fn a_mixed_fleet_leads_with_the_leakers_bytes_per_event_and_what_separates_them() {
        let (f, l, m, split) = mixed();
        // Its mirror image, as a two-valued label gives it: as surprising, saying nothing more.
        let mirror = LabelSplit {
            value: "2.3.0".into(),
            leaking_with: 0,
            others_with: 5,
            ..split.clone()
        };
        let splits = [split, mirror];
        let out = FleetOutput {
            query: "rss",
            rows: rows(&f, &l),
            counter: Some("http_requests_total{job=\"api\"}"),
            leakers: Some(&m),
            others_flat_p: Some(0.4),
            separating: Some(&splits),
            ..FleetOutput::default()
        };
        assert_eq!(
            out.headline(),
            "3 of 8 instances leak 4.02 B per request (95% CI 3.90 to 4.10 B); the other 5 are flat. \
             All 3 leaking instances have version=2.3.1; none of the 5 others do (Fisher p 0.018)."
        );
        let text = out.text();
        assert!(text.contains("among the leakers: leak rate tracks http_requests_total{job=\"api\"} at 4.02 B/request (95% CI 3.90 to 4.10 B), R² 0.99, over 3 leaking"), "{text}");
        assert!(
            text.contains("the others: 5 fit a rate of zero (χ² p 0.400)"),
            "{text}"
        );
        assert!(
            text.contains("what separates them: all 3 leaking instances have version=2.3.1"),
            "{text}"
        );
        assert!(!text.contains("version=2.3.0"), "{text}");
        let j = out.json();
        let l = j.leakers.as_ref().unwrap();
        assert_eq!((l.instances, l.bytes_per_event), (3, 4.02));
        assert_eq!(j.separating_labels.as_ref().unwrap()[0].value, "2.3.1");
        assert_eq!(j.others_flat_p, Some(0.4));
        let page = out.html();
        assert!(
            page.contains("<dt>what separates them</dt><dd>all 3 leaking"),
            "{page}"
        );

        // Others that grow a little, and no label that separates.
        let out = FleetOutput {
            others_flat_p: Some(0.0031),
            separating: Some(&[]),
            ..out
        };
        assert!(out.headline().ends_with(
            "; the other 5 are not all flat (p 0.003). No label separates the leaking instances from the others."
        ), "{}", out.headline());
        // ... within the tolerance: a bounded pattern grows a little and does not leak.
        let within = |k: usize| FleetOutput {
            others_within: Some(Within {
                within: k,
                others: 5,
            }),
            ..out.clone()
        };
        assert!(
            within(5).headline().contains(
                "; the other 5 grow a little, within the tolerance (not all flat, p 0.003)."
            ),
            "{}",
            within(5).headline()
        );
        assert!(within(5)
            .text()
            .contains("the others: 5 do not all fit a rate of zero (χ² p 0.003); all are within the tolerance"));
        assert!(within(3)
            .headline()
            .contains("; 3 of them are known to be within the tolerance."));
        assert_eq!(within(3).json().others_within_tolerance, Some(3));
        let flat = FleetOutput {
            others_flat_p: Some(0.4),
            ..within(5)
        };
        assert!(flat
            .headline()
            .contains("; the other 5 are flat, within the tolerance."));
        assert_eq!(
            out.json().separating_labels.unwrap().len(),
            0,
            "present and empty"
        );
    }

    #[test]
    fn groups_compare_like_compare_and_a_flat_group_gets_no_ratio() {
        let group = |value: &str, rate: f64, se: f64| GroupRate {
            value: value.into(),
            instances: 4,
            leaking: if rate > 1e6 { 4 } else { 0 },
            rate,
            se,
            ci95: (rate - 3.0 * se, rate + 3.0 * se),
        };
        let rates = [group("2.3.0", 1e4, 1e5), group("2.3.1", 4e7, 1e6)];
        let ratios = [None, leakhound_analysis::rate_ratio(4e7, 1e6, 4e7, 1e6)];
        let (f, l, _, _) = mixed();
        let out = FleetOutput {
            rows: rows(&f, &l),
            groups: Some(FleetGroups {
                label: "version",
                rates: &rates,
                ratios: &ratios,
            }),
            ..FleetOutput::default()
        };
        let text = out.text();
        assert!(text.contains("by version: only version=2.3.1 grows: 38.1 MiB/day per instance on average (95% CI 35.3 to 41.0 MiB/day); version=2.3.0 does not grow"), "{text}");
        assert!(
            text.contains("  version=2.3.0: 4 instances, 0 leak; mean 9.77 KiB/day"),
            "{text}"
        );
        let j = out.json().groups.unwrap();
        assert_eq!((j.groups[0].grows, j.groups[0].ratio), (false, None));

        let rates = [group("a", 2e7, 5e5), group("b", 4e7, 1e6)];
        let ratios = [
            leakhound_analysis::rate_ratio(2e7, 5e5, 2e7, 5e5),
            leakhound_analysis::rate_ratio(2e7, 5e5, 4e7, 1e6),
        ];
        let out = FleetOutput {
            groups: Some(FleetGroups {
                label: "version",
                rates: &rates,
                ratios: &ratios,
            }),
            ..out
        };
        assert!(
            out.text()
                .contains("by version: version=b leaks 2.00 ± 0.07 times faster than version=a (95% CI 1.87 to 2.14)"),
            "{}",
            out.text()
        );
    }

    #[test]
    fn events_are_named_after_the_counter() {
        for (counter, noun) in [
            ("http_requests_total{job=\"api\"}", "request"),
            ("http_client_request_duration_seconds_count", "duration"),
            ("node.http.client.requests", "request"),
            ("sum(rate(x[5m]))", "event"),
            ("jobs_total", "job"),
        ] {
            assert_eq!(event_noun(counter), noun, "{counter}");
        }
        assert_eq!(per_event(4.0234), "4.02 B");
        assert_eq!(per_event(300.4), "300 B");
        assert_eq!(per_event(5000.0), "4.88 KiB");
        assert_eq!(per_event_range(3.91, 12.2), "3.9 to 12.2 B");
        assert_eq!(p_value(1.3597e-6), "1.4e-6");
    }

    #[test]
    fn a_clean_fleet_says_so() {
        let f = finding(0.0);
        let labels = BTreeMap::new();
        let out = FleetOutput {
            query: "up",
            rows: vec![FleetRow {
                instance: "up",
                labels: &labels,
                finding: &f,
            }],
            ..FleetOutput::default()
        };
        let j: serde_json::Value = serde_json::from_str(&out.json_text()).unwrap();
        assert!(j.get("attribution").is_none(), "{j:#}");
        assert!(j.get("separating_labels").is_none(), "{j:#}");
        assert_eq!(out.headline(), "none of the 1 series leaks");
        assert_eq!(out.text().lines().count(), 4);
    }
}
