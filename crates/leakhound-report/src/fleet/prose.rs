//! The fleet in words: the headline, the findings, the groups, and the text table.

use leakhound_analysis::fleet::{GroupRate, LabelSplit, Within};
use leakhound_analysis::{Finding, RateRatio, Verdict};

use super::{Flatness, FleetGroups, FleetOutput};
use crate::sentence::{event_noun, ratio_sentence};
use crate::units::{format_amount, format_bytes, format_duration, format_range};

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
pub(super) fn per_event(v: f64) -> String {
    if v.abs() >= 1024.0 {
        return format_bytes(v);
    }
    format!("{v:.*} B", small_digits(v.abs()))
}

/// The interval of bytes per event, as [`per_event`] writes it.
pub(super) fn per_event_range(lo: f64, hi: f64) -> String {
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

/// A p-value as people read them: "0.003", "1.4e-6".
pub(super) fn p_value(p: f64) -> String {
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
        if let Some(f) = self.others_flat.filter(|_| others > 0) {
            s.push_str(&format!("; {the_others} {}", self.others_clause(f, others)));
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
        if let Some(Flatness { p, flat }) = self.others_flat.filter(|_| leaking > 0) {
            let verdict = if flat {
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
                None => {
                    "too few instances for any label to separate the leaking ones with confidence"
                        .to_string()
                }
                Some([]) => format!(
                    "no label separates the leaking instances from the others (Fisher's exact \
                     test, adjusted p < {})",
                    self.separation_level
                ),
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
            "series",
            "verdict",
            crate::sentence::rate_column(self.rows.iter().map(|r| r.finding)),
            "to limit"
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
}

impl FleetOutput<'_> {
    /// What the `others` instances that do not leak are, given the test of their fitting a
    /// rate of zero and how many are known to be within the tolerance: "are flat, within the
    /// tolerance", "grow a little, within the tolerance (not all flat, p 0.003)".
    fn others_clause(&self, Flatness { p, flat }: Flatness, others: usize) -> String {
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
pub(super) fn groups_sentence(g: &FleetGroups) -> String {
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
