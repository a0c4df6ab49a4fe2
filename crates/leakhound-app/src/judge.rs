//! Judging a run or a CSV file: which series get a verdict by default, each under the policy
//! with the run's workload counters as covariates, then what explains the leaks
//! ([`crate::causes`]).

use leakhound_analysis::frames::Runtime;
use leakhound_analysis::sites::{SiteSeries, SitesJudged, SitesNote};
use leakhound_analysis::{analyze_with, Counter, Verdict};
use leakhound_report::html::ReportMeta;
use leakhound_report::AnalysisOutput;
use leakhound_store::SeriesKind;

use crate::causes::explain_causes;
use crate::error::user;
use crate::input::{Input, SeriesData};
use crate::judged::series_output;
pub use crate::judged::Judged;
use crate::policy::Policy;

/// Series never judged by default: they count things whose growth is not a leak. Python's
/// GC generation counts are the collector's pending work, bounded by its thresholds (kept for
/// plots and export). The JVM's heap in use is a sawtooth read before and after each
/// collection, and its committed size the collector's sizing: `java.heap_after_gc` speaks for
/// the JVM's heap.
const SKIP_BY_DEFAULT: &[&str] = &[
    "processes",
    "java.heap_used",
    "java.heap_committed",
    "python.gc.gen0",
    "python.gc.gen1",
    "python.gc.gen2",
];

/// Counters of the runtimes themselves: garbage collections and allocations follow the heap,
/// they do not drive it (Node's and Python's GC counts, Go's allocation totals, and Go's
/// Prometheus collector scraped).
const RUNTIME_COUNTERS: &[&str] = &[
    "node.gc.",
    "python.gc.",
    "go.",
    "java.",
    "go_gc_",
    "go_memstats_",
];

/// Counters that are workload, not effects of allocation.
fn is_workload_counter(name: &str) -> bool {
    !RUNTIME_COUNTERS.iter().any(|p| name.starts_with(p))
}

/// The workload counters of `input`: covariates of the working set, and what attribution
/// credits a leak to.
pub fn workload_counters(input: &Input) -> Vec<Counter<'_>> {
    input
        .series
        .iter()
        .filter(|s| s.kind == SeriesKind::Counter && is_workload_counter(&s.name))
        .map(|s| Counter {
            name: &s.name,
            t: &s.t,
            v: &s.v,
        })
        .collect()
}

/// Whether `s` is named by `name` (its plain or labelled name).
fn named(s: &SeriesData, name: &str) -> bool {
    s.name == name || s.display_name() == name
}

/// Judges the series `names` of `input` or, with none named, every gauge but those skipped by
/// default. Memory series are judged with the workload counters as covariates.
pub fn judge(input: &Input, names: &[String], policy: &Policy) -> anyhow::Result<Vec<Judged>> {
    if let Some(n) = names
        .iter()
        .find(|n| !input.series.iter().any(|s| named(s, n)))
    {
        let known: Vec<String> = input.series.iter().map(|s| s.display_name()).collect();
        return Err(user(format!(
            "no series {n:?}; available: {}",
            known.join(", ")
        )));
    }
    let counters = workload_counters(input);
    let mut out = Vec::new();
    for s in &input.series {
        let wanted = if names.is_empty() {
            s.kind == SeriesKind::Gauge && !SKIP_BY_DEFAULT.contains(&s.name.as_str())
        } else {
            names.iter().any(|n| named(s, n))
        };
        if !wanted {
            continue;
        }
        let cfg = policy.config(&s.v, s.is_bytes(), input.limit, &input.restarts);
        let covariates = if s.is_bytes() { &counters[..] } else { &[] };
        let finding = analyze_with(&s.t, &s.v, &cfg, covariates)
            .map_err(|e| user(format!("series {}: {e}", s.display_name())))?;
        out.push(Judged {
            series: s.clone(),
            finding,
        });
    }
    if out.is_empty() {
        return Err(user("no memory series to analyse (counters are not analysed on their own; name one with --series)"));
    }
    explain_causes(&counters, &mut out);
    Ok(out)
}

/// The allocation sites of `input` and their allocating functions, judged and ranked (leaks
/// first by their rate): each held to the tolerance of the first memory
/// series judged, scaled by its share of the live bytes, under the same load assumption and
/// with the workload counters.
pub fn judge_sites(input: &Input, policy: &Policy, judged: &[Judged]) -> SitesJudged {
    if input.sites.is_empty() {
        return SitesJudged::default();
    }
    // The process's tolerance, from the policy and the first memory series judged.
    let process = judged.iter().find(|j| j.series.is_bytes());
    let values = process.map_or(&[][..], |j| &j.series.v[..]);
    let cfg = policy.config(values, true, None, &input.restarts);
    let series: Vec<SiteSeries> = input
        .sites
        .iter()
        .map(|s| SiteSeries {
            key: &s.hash,
            source: &s.source,
            frames: &s.frames,
            t: &s.t,
            bytes: &s.bytes,
        })
        .collect();
    leakhound_analysis::sites::judge_sites(&series, &cfg, &workload_counters(input))
}

/// Everything judged in one input: its series and its allocation sites.
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    /// Judged series, in the input's order.
    pub series: Vec<Judged>,
    /// Judged allocation sites and functions, ranked.
    pub sites: SitesJudged,
    /// What holds the memory that leaks (`--retainers`), largest first.
    pub holders: Vec<leakhound_analysis::retainers::Holder>,
}

/// [`judge`] and, when no series is named, the allocation sites too ([`judge_sites`]).
pub fn judge_all(input: &Input, names: &[String], policy: &Policy) -> anyhow::Result<Verdicts> {
    let series = judge(input, names, policy)?;
    let mut sites = if names.is_empty() {
        judge_sites(input, policy, &series)
    } else {
        SitesJudged::default()
    };
    // Never silent: when the process leaks and the sites were collected but name no leaking
    // function, say so (and what would help) rather than print a table of non-leaks.
    let leaking = series
        .iter()
        .find(|j| j.series.is_bytes() && j.finding.verdict == Verdict::Leak);
    let site_leaks = sites
        .functions
        .iter()
        .any(|f| f.finding.verdict == Verdict::Leak);
    if let Some(j) = leaking.filter(|_| !input.sites.is_empty() && !site_leaks) {
        sites.notes.push(SitesNote::NoLeakingSite {
            series: j.series.display_name(),
            profiles: sites.profiles,
            jvm: input
                .sites
                .iter()
                .any(|s| Runtime::of(&s.source) == Runtime::Jvm),
        });
    }
    Ok(Verdicts {
        series,
        sites,
        holders: input.holders.clone(),
    })
}

/// The verdicts as `analyze` prints them.
pub fn output(v: &Verdicts) -> AnalysisOutput<'_> {
    AnalysisOutput {
        series: v.series.iter().map(Judged::output).collect(),
        sites: &v.sites,
        holders: &v.holders,
    }
}

/// The verdicts with the input's counters beside them, as the report shows them.
pub fn report_output<'a>(input: &'a Input, v: &'a Verdicts) -> AnalysisOutput<'a> {
    let mut out = output(v);
    out.series.extend(
        input
            .series
            .iter()
            .filter(|s| s.kind == SeriesKind::Counter)
            .map(|s| series_output(s, None)),
    );
    out
}

/// Where the input came from, as the report says it.
pub fn report_meta(input: &Input) -> ReportMeta {
    ReportMeta {
        source: input.about.source.clone(),
        target: input.about.target.clone(),
        kind: input.about.kind.clone(),
        host: input.about.host.clone(),
        interval_s: input.about.interval_s,
        limit: input.limit,
        version: env!("CARGO_PKG_VERSION").into(),
        utc: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_analysis::{MemoryKind, Verdict};
    use std::collections::BTreeMap;

    fn series(name: &str, unit: &str, kind: SeriesKind, t: &[f64], v: Vec<f64>) -> SeriesData {
        SeriesData {
            name: name.into(),
            labels: BTreeMap::new(),
            unit: crate::kinds::Unit::parse(unit),
            kind,
            t: t.to_vec(),
            v,
        }
    }

    /// Two days at 60 s of a Node.js process whose RSS leaks 20 MB/day native memory (the JS
    /// heap is flat) while it serves requests.
    fn node_run() -> Input {
        let t: Vec<f64> = (0..2880).map(|i| 1.7e9 + i as f64 * 60.0).collect();
        let day = |t: f64| (t - 1.7e9) / 86400.0;
        let saw = |i: usize| (i % 6) as f64 * 1e6;
        let g = SeriesKind::Gauge;
        Input {
            series: vec![
                series(
                    "rss",
                    "bytes",
                    g,
                    &t,
                    t.iter()
                        .enumerate()
                        .map(|(i, t)| 3e8 + 2e7 * day(*t) + saw(i))
                        .collect(),
                ),
                series(
                    "node.heap_used",
                    "bytes",
                    g,
                    &t,
                    (0..t.len()).map(|i| 8e7 + saw(i)).collect(),
                ),
                series("node.external", "bytes", g, &t, vec![4e6; t.len()]),
                series("fds", "count", g, &t, vec![40.0; t.len()]),
                series("processes", "count", g, &t, vec![1.0; t.len()]),
                series(
                    "node.http.client.requests",
                    "count",
                    SeriesKind::Counter,
                    &t,
                    (0..t.len()).map(|i| i as f64 * 50.0).collect(),
                ),
                series(
                    "node.gc.count",
                    "count",
                    SeriesKind::Counter,
                    &t,
                    (0..t.len()).map(|i| i as f64).collect(),
                ),
            ],
            limit: Some(4e9),
            ..Input::default()
        }
    }

    #[test]
    fn default_selection_judges_gauges_but_processes() {
        let judged = judge(&node_run(), &[], &Policy::default()).unwrap();
        let names: Vec<&str> = judged.iter().map(|j| j.series.name.as_str()).collect();
        assert_eq!(names, ["rss", "node.heap_used", "node.external", "fds"]);
        let rss = &judged[0].finding;
        assert_eq!(rss.verdict, Verdict::Leak);
        assert_eq!(rss.limit, Some(4e9), "memory takes the recorded limit");
        assert_eq!(judged[3].finding.limit, None, "counts take none");
        assert_eq!(judged[3].finding.tolerance_per_day, 1.0);
    }

    #[test]
    fn a_native_leak_is_attributed_to_requests_not_gc() {
        let judged = judge(&node_run(), &[], &Policy::default()).unwrap();
        let rss = &judged[0].finding;
        assert_eq!(rss.memory_kind, Some(MemoryKind::Native));
        let report = rss
            .attribution
            .as_ref()
            .expect("a leak with counters is attributed");
        let counters: Vec<&str> = report.items.iter().map(|a| a.counter.as_str()).collect();
        assert!(
            counters.contains(&"node.http.client.requests"),
            "{counters:?}"
        );
        assert!(
            !counters.contains(&"node.gc.count"),
            "GC counts are not workload"
        );
    }

    #[test]
    fn named_series_and_their_errors() {
        let input = node_run();
        let judged = judge(&input, &["processes".into()], &Policy::default()).unwrap();
        assert_eq!(
            judged.len(),
            1,
            "a series skipped by default is judged when named"
        );
        let e = judge(&input, &["heap".into()], &Policy::default()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("no series \"heap\"; available: rss, node.heap_used"),
            "{e}"
        );
        let only_counters = Input {
            series: input.series[5..].to_vec(),
            ..Input::default()
        };
        let e = judge(&only_counters, &[], &Policy::default()).unwrap_err();
        assert!(
            e.to_string().starts_with("no memory series to analyse"),
            "{e}"
        );
    }

    #[test]
    fn the_policy_reaches_the_finding() {
        let policy = Policy {
            tolerance: Some(5e7),
            limit: Some(1e9),
            ..Policy::with_load(leakhound_analysis::Load::Constant)
        }
        .at_confidence(0.99);
        let judged = judge(&node_run(), &["rss".into()], &policy).unwrap();
        let f = &judged[0].finding;
        assert_eq!(f.tolerance_per_day, 5e7);
        assert_eq!(f.limit, Some(1e9));
        assert_eq!(f.confidence, 0.99);
        assert_eq!(f.load, leakhound_analysis::Load::Constant);
        assert_ne!(
            f.verdict,
            Verdict::Leak,
            "20 MB/day is within a 50 MB/day tolerance"
        );
    }
}
