//! What the database holds, as values: runs, series, allocation sites, events, and what a
//! writer creates with them.

use std::collections::BTreeMap;

/// Id of a run.
pub type RunId = i64;
/// Id of a series.
pub type SeriesId = i64;

/// Gauge (a level: bytes, counts) or counter (cumulative events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeriesKind {
    /// A level that goes up and down.
    Gauge,
    /// A cumulative count of events.
    Counter,
}

impl SeriesKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Gauge => "gauge",
            SeriesKind::Counter => "counter",
        }
    }
    pub(crate) fn parse(s: &str) -> SeriesKind {
        if s == "counter" {
            SeriesKind::Counter
        } else {
            SeriesKind::Gauge
        }
    }
}

/// An allocation site: a call stack whose live bytes are the series `site.bytes` with label
/// `site` = its hash.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SiteInfo {
    /// 16 hex digits.
    pub hash: String,
    /// Where the stack came from: `node`, `native`, `go`, `python`, `jvm`.
    pub source: String,
    /// Frames, innermost (allocating) first, e.g. `handleRequest (server.js:42)`.
    pub frames: Vec<String>,
}

/// The stable hash of a stack: FNV-1a over its frames, as 16 hex digits. The same stack gets
/// the same hash in every run, so sites can be compared across runs.
pub fn site_hash(frames: &[String]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in frames {
        for b in f.bytes().chain(std::iter::once(0u8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// What is known when a run starts.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// `run`, `watch` or `import`.
    pub kind: String,
    /// What is measured: the command line, pids, pattern, cgroup or file.
    pub target: String,
    /// Host name.
    pub host: String,
    /// Unix seconds.
    pub started_at: f64,
    /// Sampling interval in seconds, if regular.
    pub interval_s: Option<f64>,
    /// Memory limit that applies, bytes.
    pub limit_bytes: Option<u64>,
    /// Version of leakhound writing the run.
    pub version: String,
}

/// A stored run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunInfo {
    /// Id.
    pub id: RunId,
    /// `run`, `watch` or `import`.
    pub kind: String,
    /// What was measured.
    pub target: String,
    /// Host name.
    pub host: String,
    /// Unix seconds.
    pub started_at: f64,
    /// Unix seconds; `None` while running or if the writer died.
    pub ended_at: Option<f64>,
    /// Sampling interval in seconds.
    pub interval_s: Option<f64>,
    /// Memory limit, bytes.
    pub limit_bytes: Option<u64>,
    /// leakhound version that wrote it.
    pub version: String,
    /// `running`, `finished`, `interrupted`, `failed`.
    pub status: String,
    /// Exit code of the command, for `run`.
    pub exit_code: Option<i32>,
    /// Last verdict sentence stored by an analysis.
    pub last_verdict: Option<String>,
    /// Number of samples over all series.
    pub samples: u64,
    /// Time of the last sample, unix seconds.
    pub last_sample_at: Option<f64>,
    /// Of `samples`, those older than the retention, kept only as floor summaries.
    pub summarized_samples: u64,
    /// About how many bytes of the file its samples and events take (rows not compacted yet
    /// at their measured cost, chunks as stored).
    pub size_bytes: u64,
}

/// A stored series.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeriesInfo {
    /// Id.
    pub id: SeriesId,
    /// Name, e.g. `rss`.
    pub name: String,
    /// Labels, e.g. `{"pid": "123"}`.
    pub labels: BTreeMap<String, String>,
    /// Gauge or counter.
    pub kind: SeriesKind,
    /// `bytes` or `count`.
    pub unit: String,
}

/// Something that happened during a run at a moment: a start, a restart, a warning.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    /// Unix seconds.
    pub t: f64,
    /// `start`, `restart`, `exit`, `warning`, `instance`.
    pub kind: String,
    /// Free text.
    pub detail: String,
}

/// A series to create in the same transaction as the first samples that use it. Until then
/// its samples name it by `alias`, a negative id the caller chose.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSeries {
    /// The negative id its samples carry until it exists.
    pub alias: SeriesId,
    /// Name, e.g. `node.heap_used`.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Gauge or counter.
    pub kind: SeriesKind,
    /// `bytes` or `count`.
    pub unit: String,
}

/// An allocation site to name in the same transaction as an interval (see [`Store::site`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSite {
    /// The stack's hash ([`site_hash`]).
    pub hash: String,
    /// Where the stack came from.
    pub source: String,
    /// Frames, innermost first.
    pub frames: Vec<String>,
}
