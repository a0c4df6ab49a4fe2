//! The `analyze` JSON contract (shared/DESIGN.md): one object with a `series` array.

use std::collections::BTreeMap;

use leakhound_analysis::Finding;
use serde::Serialize;

use crate::sentence::explain;

/// One entry of the `series` array. Field names and meanings are a contract; new fields may be
/// added at the end.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesJson {
    /// Series name.
    pub name: String,
    /// Samples analysed.
    pub samples: usize,
    /// Seconds from first to last sample.
    pub span_seconds: f64,
    /// `leak`, `no_leak`, `inconclusive`.
    pub verdict: &'static str,
    /// Pattern name.
    pub pattern: &'static str,
    /// Growth of the floor per day (bytes, or counts for count series).
    pub rate_bytes_per_day: Option<f64>,
    /// 95% interval of the rate.
    pub rate_ci95_bytes_per_day: Option<[f64; 2]>,
    /// Tolerance used.
    pub tolerance_bytes_per_day: f64,
    /// Rate these data would call a leak 80% of the time.
    pub detectable_rate_bytes_per_day: Option<f64>,
    /// How much longer to watch when inconclusive.
    pub time_to_verdict_seconds: Option<f64>,
    /// Memory limit used.
    pub limit_bytes: Option<f64>,
    /// Time until peaks reach the limit, for leaks.
    pub time_to_limit_seconds: Option<f64>,
    /// The verdict as a sentence.
    pub explanation: String,
    /// `bytes` or `count`.
    pub unit: String,
    /// Floor level at the end.
    pub level_now: Option<f64>,
    /// Unix seconds from which the rate was estimated.
    pub rate_from: f64,
    /// Times (unix seconds) of up-jumps in the floor.
    pub jumps: Vec<f64>,
    /// Times (unix seconds) of restarts.
    pub restarts: Vec<f64>,
    /// Time of the warm-up knee.
    pub knee: Option<f64>,
    /// Qualifying notes.
    pub notes: Vec<leakhound_analysis::Note>,
    /// Workload counters that explain the growth, best first (leaks only).
    pub attribution: Vec<AttributionJson>,
    /// Time explains the growth at least as well as any counter.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub attribution_time_explains_better: bool,
    /// Counter pairs that move too closely together to tell apart.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attribution_inseparable: Vec<(String, String)>,
    /// `native`, `js_heap`, `buffers`, `go_heap`, `python_objects` or `java_heap`, when a
    /// runtime's own series are known.
    pub memory_kind: Option<leakhound_analysis::MemoryKind>,
    /// Labels of the series (empty for CSV columns and plain runs).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The load the verdict assumed: `constant` or `cyclic` (what `--load auto` decided).
    pub load: &'static str,
    /// The workload counter whose event rate carried the load, if one did.
    pub load_counter: Option<String>,
    /// Confidence level of the interval and the verdict (0.95, higher at sequential looks).
    pub confidence: f64,
    /// For `leak`: the growth outlasted any warm-up levelling off within this many seconds.
    pub warmup_ruled_out_seconds: Option<f64>,
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

impl SeriesJson {
    /// The contract entry for finding `f` of series `name` in `unit`.
    pub fn new(name: &str, unit: &str, f: &Finding) -> SeriesJson {
        SeriesJson {
            name: name.to_string(),
            samples: f.samples,
            span_seconds: f.span_seconds,
            verdict: f.verdict.as_str(),
            pattern: f.pattern.as_str(),
            rate_bytes_per_day: finite(f.rate_per_day),
            rate_ci95_bytes_per_day: f
                .rate_ci_per_day
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .map(|(a, b)| [a, b]),
            tolerance_bytes_per_day: f.tolerance_per_day,
            detectable_rate_bytes_per_day: finite(f.detectable_rate_per_day),
            time_to_verdict_seconds: finite(f.time_to_verdict_seconds),
            limit_bytes: f.limit,
            time_to_limit_seconds: finite(f.time_to_limit_seconds),
            explanation: explain(name, f, unit),
            unit: unit.to_string(),
            level_now: f.level_now,
            rate_from: f.rate_from,
            jumps: f.jumps.iter().map(|j| j.t).collect(),
            restarts: f.restarts.clone(),
            knee: f.knee,
            notes: f.notes.clone(),
            attribution: f
                .attribution
                .iter()
                .flat_map(|r| &r.items)
                .map(|a| AttributionJson {
                    counter: a.counter.clone(),
                    bytes_per_event: a.bytes_per_event,
                    bytes_per_event_ci95: [a.bytes_per_event_ci95.0, a.bytes_per_event_ci95.1],
                    explained: a.explained,
                    events: a.events,
                })
                .collect(),
            attribution_time_explains_better: f
                .attribution
                .as_ref()
                .is_some_and(|r| r.time_explains_better),
            attribution_inseparable: f
                .attribution
                .as_ref()
                .map(|r| r.inseparable.clone())
                .unwrap_or_default(),
            memory_kind: f.memory_kind,
            labels: BTreeMap::new(),
            load: f.load.as_str(),
            load_counter: f.load_counter.clone(),
            confidence: f.confidence,
            warmup_ruled_out_seconds: finite(f.warmup_ruled_out_seconds),
        }
    }
}

/// One counter's share of the growth.
#[derive(Debug, Clone, Serialize)]
pub struct AttributionJson {
    /// Counter name.
    pub counter: String,
    /// Floor growth per event.
    pub bytes_per_event: f64,
    /// 95% interval.
    pub bytes_per_event_ci95: [f64; 2],
    /// Share of the floor's variance explained (R²).
    pub explained: f64,
    /// Events over the span.
    pub events: f64,
}

/// The whole `analyze` document.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisJson {
    /// The strongest conclusive finding as one sentence, as the terminal's first line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    /// One entry per analysed series.
    pub series: Vec<SeriesJson>,
    /// Allocation sites, ranked: leaks first by their rate (when collected).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<SiteJson>,
    /// Allocating functions (each the sum of its stacks), ranked like the sites.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<FunctionJson>,
    /// Why sites could not be judged, or not all of them, and what would help.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sites_notes: Vec<String>,
    /// What holds the memory that leaks (`--retainers`): each holder's retainer path (the
    /// holder first, toward a GC root), the bytes and number of new objects it holds, the
    /// runtime and process.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holders: Vec<leakhound_analysis::retainers::Holder>,
}

/// One entry of the `functions` list: an allocating function judged on the sum of its stacks.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionJson {
    /// `name (file)`.
    pub function: String,
    /// Its allocating frames with their lines, the fastest growing stack's first.
    pub lines: Vec<String>,
    /// `leak`, `no_leak`, `inconclusive`.
    pub verdict: &'static str,
    /// Growth of its live bytes per day.
    pub rate_bytes_per_day: Option<f64>,
    /// Interval of the rate (at `confidence`).
    pub rate_ci95_bytes_per_day: Option<[f64; 2]>,
    /// Its share of the growth of all functions.
    pub share_of_growth: f64,
    /// Pattern name.
    pub pattern: &'static str,
    /// Live bytes at the end (floor).
    pub bytes_now: Option<f64>,
    /// Tolerance it was held to.
    pub tolerance_bytes_per_day: f64,
    /// Its stacks (frames innermost first), the fastest growing first.
    pub stacks: Vec<Vec<String>>,
    /// The verdict as a sentence.
    pub explanation: String,
}

impl FunctionJson {
    /// The entry of a judged function, with its stacks from `all`.
    pub fn new(
        f: &leakhound_analysis::sites::FunctionFinding,
        all: &leakhound_analysis::sites::SitesJudged,
    ) -> FunctionJson {
        let g = &f.finding;
        FunctionJson {
            function: f.function.clone(),
            lines: f.lines.clone(),
            verdict: g.verdict.as_str(),
            rate_bytes_per_day: finite(g.rate_per_day),
            rate_ci95_bytes_per_day: g
                .rate_ci_per_day
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .map(|(a, b)| [a, b]),
            share_of_growth: f.share_of_growth,
            pattern: g.pattern.as_str(),
            bytes_now: g.level_now,
            tolerance_bytes_per_day: g.tolerance_per_day,
            stacks: f
                .stacks
                .iter()
                .filter_map(|k| all.sites.iter().find(|s| &s.key == k))
                .map(|s| s.frames.clone())
                .collect(),
            explanation: explain(&f.function, g, "bytes"),
        }
    }
}

/// One entry of the `sites` list (shared/DESIGN.md).
#[derive(Debug, Clone, Serialize)]
pub struct SiteJson {
    /// Frames, innermost (allocating) first.
    pub stack: Vec<String>,
    /// Its allocating function, `name (file)`: the first frame of the user's code.
    pub function: String,
    /// `leak`, `no_leak`, `inconclusive`.
    pub verdict: &'static str,
    /// Growth of the site's live bytes per day.
    pub rate_bytes_per_day: Option<f64>,
    /// Interval of the rate (at `confidence`).
    pub rate_ci95_bytes_per_day: Option<[f64; 2]>,
    /// Its share of the growth of all sites.
    pub share_of_growth: f64,
    /// Pattern name.
    pub pattern: &'static str,
    /// Live bytes at the end (floor).
    pub bytes_now: Option<f64>,
    /// Tolerance it was held to (the process tolerance scaled by its share of live bytes).
    pub tolerance_bytes_per_day: f64,
    /// The verdict as a sentence.
    pub explanation: String,
}

impl SiteJson {
    /// The contract entry of a judged site.
    pub fn new(s: &leakhound_analysis::sites::SiteFinding) -> SiteJson {
        let f = &s.finding;
        let name = s
            .frames
            .first()
            .cloned()
            .unwrap_or_else(|| "(other sites)".into());
        SiteJson {
            stack: s.frames.clone(),
            function: s.function.clone(),
            verdict: f.verdict.as_str(),
            rate_bytes_per_day: finite(f.rate_per_day),
            rate_ci95_bytes_per_day: f
                .rate_ci_per_day
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .map(|(a, b)| [a, b]),
            share_of_growth: s.share_of_growth,
            pattern: f.pattern.as_str(),
            bytes_now: f.level_now,
            tolerance_bytes_per_day: f.tolerance_per_day,
            explanation: explain(&name, f, "bytes"),
        }
    }
}

/// Pretty JSON with every object's keys in alphabetical order: the order `compare` and `fleet`
/// have always printed (they built their documents as `serde_json::Value`s, whose maps sort).
pub fn sorted_pretty<T: Serialize>(doc: &T) -> String {
    let value = serde_json::to_value(doc).expect("output models serialise");
    serde_json::to_string_pretty(&value).expect("a JSON value serialises")
}
