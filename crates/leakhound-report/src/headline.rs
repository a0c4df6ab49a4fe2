//! The first line: the strongest conclusive finding, in one sentence, wherever it was found.
//!
//! The process total (rss) is the usual lead, but it is the noisiest view of memory: the
//! runtime's own series (Buffers, the JS heap) or a cgroup may already be conclusive while it
//! is not. Then the line leads with that series and says why the total is not conclusive yet,
//! and how long until it may be. A leaking allocation site, when sites were collected, adds
//! where in the code the growth is allocated.

use leakhound_analysis::sites::SitesJudged;
use leakhound_analysis::{Finding, Note, Verdict};

use crate::sentence::{event_noun, explain};
use crate::units::{format_amount, format_duration, format_range};

/// A judged series as the headline sees it.
#[derive(Debug, Clone, Copy)]
pub struct Judged<'a> {
    /// Its display name.
    pub name: &'a str,
    /// `bytes` or `count`.
    pub unit: &'a str,
    /// Its finding.
    pub finding: &'a Finding,
}

/// What each kind of series is, in the words of the headline.
fn what(name: &str) -> Option<&'static str> {
    Some(match name {
        "node.external" => "Buffers and other memory bound to JS objects",
        "node.array_buffers" => "ArrayBuffers and Buffers",
        "node.heap_used" => "the JS heap",
        _ => return None,
    })
}

/// The index of the series to lead with: the first one if it is conclusive (or nothing else
/// is), else the memory series that leaks with the highest lower bound of its rate.
pub fn lead(series: &[Judged]) -> Option<usize> {
    let first = series.first()?;
    if first.finding.verdict != Verdict::Inconclusive {
        return Some(0);
    }
    let lower = |j: &Judged| j.finding.rate_ci_per_day.map_or(f64::NEG_INFINITY, |c| c.0);
    series
        .iter()
        .enumerate()
        .filter(|(_, j)| j.finding.verdict == Verdict::Leak && j.unit == "bytes")
        .max_by(|a, b| lower(a.1).total_cmp(&lower(b.1)))
        .map(|(i, _)| i)
        .or(Some(0))
}

/// Why a finding is not conclusive, in a few words.
fn why_not_yet(f: &Finding) -> &'static str {
    if f.notes.contains(&Note::TooFewSamples) {
        "too few samples"
    } else if f.notes.contains(&Note::WarmupNotRuledOut) {
        "a warm-up is not ruled out"
    } else if f.notes.contains(&Note::StepNotRuledOut) {
        "one step up is not ruled out"
    } else if f.notes.contains(&Note::DailyCycleNotResolved) {
        "a daily cycle is not ruled out"
    } else if f.notes.contains(&Note::GrowthStopped) {
        "it has not grown lately"
    } else if f.notes.contains(&Note::ChanceAmongMany) {
        "among the many sites judged, a rise this clear can be chance"
    } else {
        "its floor is noisier"
    }
}

/// When the total leads and tracks a counter, what a leaking runtime series tracking the same
/// counter keeps per event: "of that, node.external (Buffers ...) keeps 4.00 KiB/request (95% CI
/// ...)". The total also grows with heap capacity and allocator overhead, so its bytes per
/// event run above what the program itself retains; the runtime's own figure is the one to
/// compare with the code.
fn runtime_share_clause(series: &[Judged]) -> Option<String> {
    let total = series.first()?;
    if total.finding.verdict != Verdict::Leak {
        return None;
    }
    let tracked = total.finding.attribution.as_ref()?;
    if tracked.time_explains_better {
        return None;
    }
    let counter = &tracked.items.first()?.counter;
    let same = |c: &String| {
        c == counter
            || tracked
                .groups
                .iter()
                .any(|g| g.contains(c) && g.contains(counter))
    };
    series[1..].iter().find_map(|j| {
        let w = what(j.name)?;
        if j.finding.verdict != Verdict::Leak || j.unit != "bytes" {
            return None;
        }
        let r = j.finding.attribution.as_ref()?;
        let best = r
            .items
            .first()
            .filter(|b| !r.time_explains_better && same(&b.counter))?;
        Some(format!(
            "of that, {} ({w}) keeps {}/{} (95% CI {})",
            j.name,
            format_amount(best.bytes_per_event, j.unit),
            event_noun(&best.counter),
            format_range(
                best.bytes_per_event_ci95.0,
                best.bytes_per_event_ci95.1,
                j.unit
            )
        ))
    })
}

/// The headline sentence and the index of the series it leads with.
pub fn headline(series: &[Judged], sites: &SitesJudged) -> Option<(usize, String)> {
    let i = lead(series)?;
    let l = series[i];
    let mut s = explain(l.name, l.finding, l.unit);
    if i != 0 {
        if let Some(w) = what(l.name) {
            s = s.replacen(l.name, &format!("{} ({w})", l.name), 1);
        }
        let first = series[0];
        let wait = first
            .finding
            .time_to_verdict_seconds
            .map(|w| format!(": watch about {} more", format_duration(w)))
            .unwrap_or_default();
        s.push_str(&format!(
            "; {} is not conclusive yet ({}){wait}",
            first.name,
            why_not_yet(first.finding)
        ));
    }
    if i == 0 {
        if let Some(c) = runtime_share_clause(series) {
            s.push_str("; ");
            s.push_str(&c);
        }
    }
    if let Some(c) = crate::sites::clause(sites) {
        s.push_str("; ");
        s.push_str(&c);
    }
    Some((i, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{finding, series};
    use leakhound_analysis::{analyze, Config};

    #[test]
    fn a_conclusive_runtime_series_leads_when_the_total_is_not() {
        let leak = finding(5e7);
        // rss: a few noisy samples, inconclusive.
        let (t, _) = series(5e7);
        let noisy: Vec<f64> = (0..t.len())
            .map(|i| 3e8 + ((i * 7919) % 101) as f64 * 4e6)
            .collect();
        let rss = analyze(&t, &noisy, &Config::with_tolerance(1e6)).unwrap();
        assert_eq!(rss.verdict, Verdict::Inconclusive);
        let judged = [
            Judged {
                name: "rss",
                unit: "bytes",
                finding: &rss,
            },
            Judged {
                name: "node.external",
                unit: "bytes",
                finding: &leak,
            },
        ];
        let (i, s) = headline(&judged, &SitesJudged::default()).unwrap();
        assert_eq!(i, 1);
        assert!(s.starts_with("leak: node.external (Buffers"), "{s}");
        assert!(s.contains("; rss is not conclusive yet ("), "{s}");
        // A conclusive total leads.
        let (i, _) = headline(&judged[1..], &SitesJudged::default()).unwrap();
        assert_eq!(i, 0);
    }

    fn pair<'a>(rss: &'a Finding, runtime: &'a Finding) -> [Judged<'a>; 2] {
        [
            Judged {
                name: "rss",
                unit: "bytes",
                finding: rss,
            },
            Judged {
                name: "node.external",
                unit: "bytes",
                finding: runtime,
            },
        ]
    }

    fn tracking(bytes: f64, counter: &str, group: &[&str]) -> Finding {
        use leakhound_analysis::attribution::{Attribution, AttributionReport};
        let mut f = finding(5e7);
        f.attribution = Some(AttributionReport {
            items: vec![Attribution {
                counter: counter.into(),
                bytes_per_event: bytes,
                bytes_per_event_ci95: (bytes * 0.9, bytes * 1.1),
                explained: 0.9,
                events: 1e5,
                beyond_time: 10.0,
            }],
            groups: if group.is_empty() {
                vec![]
            } else {
                vec![group.iter().map(|s| s.to_string()).collect()]
            },
            ..Default::default()
        });
        f
    }

    #[test]
    fn a_leading_total_says_what_the_runtime_keeps_per_event_of_the_same_counter() {
        let rss = tracking(
            5160.0,
            "node.http.server.requests",
            &["node.http.server.requests", "node.http.client.requests"],
        );
        let ext = tracking(4096.0, "node.http.client.requests", &[]);
        let other = tracking(100.0, "app.ticks", &[]);
        let (i, s) = headline(&pair(&rss, &ext), &SitesJudged::default()).unwrap();
        assert_eq!(i, 0);
        assert!(s.starts_with("leak: rss "), "{s}");
        assert!(
            s.contains("; of that, node.external (Buffers and other memory bound to JS objects) keeps 4.00 KiB/request (95% CI "),
            "{s}"
        );
        // A runtime series tracking another counter says nothing about this one's cost.
        let (_, s) = headline(&pair(&rss, &other), &SitesJudged::default()).unwrap();
        assert!(!s.contains("of that"), "{s}");
    }
}
