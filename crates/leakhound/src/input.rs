//! Series to analyse, from a stored run or a CSV file.

use std::collections::BTreeMap;
use std::path::Path;

use leakhound_store::{csv, RunId, SeriesKind, Store};

use crate::error::user;

/// One series with its samples.
#[derive(Debug, Clone)]
pub struct SeriesData {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub unit: String,
    pub kind: SeriesKind,
    pub t: Vec<f64>,
    pub v: Vec<f64>,
}

impl SeriesData {
    /// `name` or `name{k="v",...}` when labelled.
    pub fn display_name(&self) -> String {
        if self.labels.is_empty() {
            self.name.clone()
        } else {
            let l: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            format!("{}{{{}}}", self.name, l.join(","))
        }
    }
}

/// Everything an analysis of one source needs.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub series: Vec<SeriesData>,
    pub limit: Option<f64>,
    pub restarts: Vec<f64>,
    /// Where it came from, for reports.
    pub about: About,
}

/// Description of a source: `run 3` or a file.
#[derive(Debug, Clone, Default)]
pub struct About {
    pub source: String,
    pub target: String,
    pub kind: String,
    pub host: Option<String>,
    pub interval_s: Option<f64>,
}

/// The input named on a command line: a run id, a CSV file, or (none) the latest run.
pub fn resolve(db: &Option<std::path::PathBuf>, arg: Option<&str>) -> anyhow::Result<Input> {
    match arg {
        Some(s) if Path::new(s).is_file() || s.ends_with(".csv") => from_csv(Path::new(s)),
        Some(s) => {
            let id: i64 = s.parse().map_err(|_| {
                user(format!(
                    "{s:?} is neither a run id nor an existing CSV file"
                ))
            })?;
            let (store, _) = crate::dbpath::open_ro(db)?;
            from_run(&store, id)
        }
        None => {
            let (store, path) = crate::dbpath::open_ro(db)?;
            let id = store
                .latest_run()?
                .ok_or_else(|| user(format!("no runs in {} yet", path.display())))?;
            from_run(&store, id)
        }
    }
}

/// Whether a CSV column is a counter, by the naming conventions of Prometheus and of
/// leakhound's agents (`_total`, `.requests`, `_count`, ...).
pub fn looks_like_counter(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with("_total")
        || n.ends_with(".total")
        || n.ends_with("_count")
        || n.ends_with(".count")
        || n.ends_with("requests")
        || n.ends_with("events")
}

/// Unit of a CSV column by name: counts for fds/threads/processes and counters, else bytes.
pub fn unit_of(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    if looks_like_counter(&n)
        || ["fds", "threads", "processes", "handles"]
            .iter()
            .any(|k| n.ends_with(k))
    {
        "count"
    } else {
        "bytes"
    }
}

pub fn from_csv(path: &Path) -> anyhow::Result<Input> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| user(format!("cannot read {}: {e}", path.display())))?;
    let table = csv::parse(&path.display().to_string(), &text).map_err(|e| user(e.to_string()))?;
    let series = table
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (t, v) = table.series(i);
            SeriesData {
                name: name.clone(),
                labels: BTreeMap::new(),
                unit: unit_of(name).to_string(),
                kind: if looks_like_counter(name) {
                    SeriesKind::Counter
                } else {
                    SeriesKind::Gauge
                },
                t,
                v,
            }
        })
        .collect();
    Ok(Input {
        series,
        about: About {
            source: path.display().to_string(),
            target: path.display().to_string(),
            kind: "csv".into(),
            ..About::default()
        },
        ..Input::default()
    })
}

pub fn from_run(store: &Store, run: RunId) -> anyhow::Result<Input> {
    load_run(store, run, None, None)
}

/// Series `names` of a stored run, each cut to at most `max_points` (lowest value per span of
/// time): what a look during sampling needs, in memory that does not grow with the run.
pub fn from_run_bounded(
    store: &Store,
    run: RunId,
    names: &[&str],
    max_points: usize,
) -> anyhow::Result<Input> {
    load_run(store, run, Some(names), Some(max_points))
}

fn load_run(
    store: &Store,
    run: RunId,
    names: Option<&[&str]>,
    max_points: Option<usize>,
) -> anyhow::Result<Input> {
    let info = store.run(run).map_err(|e| user(e.to_string()))?;
    let mut series = Vec::new();
    for s in store.series_of(run)? {
        if names.is_some_and(|n| !n.contains(&s.name.as_str())) {
            continue;
        }
        let (t, v) = match max_points {
            Some(m) => store.samples_bounded(s.id, m)?,
            None => store.samples(s.id)?,
        };
        if t.is_empty() {
            continue;
        }
        series.push(SeriesData {
            name: s.name,
            labels: s.labels,
            unit: s.unit,
            kind: s.kind,
            t,
            v,
        });
    }
    let restarts = store
        .events(run)?
        .into_iter()
        .filter(|e| e.kind == "restart")
        .map(|e| e.t)
        .collect();
    Ok(Input {
        series,
        limit: info.limit_bytes.map(|l| l as f64),
        restarts,
        about: About {
            source: format!("run {run}"),
            target: info.target,
            kind: info.kind,
            host: Some(info.host),
            interval_s: info.interval_s,
        },
    })
}
