//! Series to analyse, from a stored run or a CSV file.

use std::collections::BTreeMap;
use std::path::Path;

use leakhound_store::{csv, RunId, SeriesKind, Store};

use crate::error::user;
use crate::kinds::EventKind;
use crate::kinds::{csv_kind, csv_unit, Unit};
use crate::sampling::sites::{SITE_BYTES, SITE_LABEL, SITE_OBJECTS};

/// One series with its samples.
#[derive(Debug, Clone)]
pub struct SeriesData {
    /// Series name (`rss`, `node.heap_used`, a CSV column).
    pub name: String,
    /// Labels (`target` when a run has several).
    pub labels: BTreeMap<String, String>,
    /// `bytes` or `count`.
    pub unit: Unit,
    /// Gauge or counter.
    pub kind: SeriesKind,
    /// Times, unix seconds, increasing.
    pub t: Vec<f64>,
    /// Values.
    pub v: Vec<f64>,
}

impl SeriesData {
    /// `name` or `name{k="v",...}` when labelled.
    pub fn display_name(&self) -> String {
        leakhound_report::display_name(&self.name, &self.labels)
    }

    /// Whether it measures memory.
    pub fn is_bytes(&self) -> bool {
        self.unit == Unit::Bytes
    }
}

/// An allocation site's live memory over a run.
#[derive(Debug, Clone)]
pub struct SiteData {
    /// Hash of its stack (or `other`, the remainder).
    pub hash: String,
    /// The profiler that saw it: `node`, `native`, `go`, `python`, `jvm`.
    pub source: String,
    /// Frames, innermost (allocating) first; empty for the remainder.
    pub frames: Vec<String>,
    /// Labels besides the site's (`target` when a run has several).
    pub labels: BTreeMap<String, String>,
    /// Times, unix seconds.
    pub t: Vec<f64>,
    /// Live bytes.
    pub bytes: Vec<f64>,
    /// Live objects, at the same times when known.
    pub objects: Vec<f64>,
}

/// Everything an analysis of one source needs.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// Its series (allocation sites apart).
    pub series: Vec<SeriesData>,
    /// Allocation sites, when the run collected them.
    pub sites: Vec<SiteData>,
    /// The memory limit recorded with it, bytes.
    pub limit: Option<f64>,
    /// Restarts recorded while sampling, unix seconds.
    pub restarts: Vec<f64>,
    /// What holds the memory that leaks, when the run compared heap snapshots
    /// (`--retainers`).
    pub holders: Vec<leakhound_analysis::retainers::Holder>,
    /// Where it came from, for reports.
    pub about: About,
}

/// Description of a source: `run 3` or a file.
#[derive(Debug, Clone, Default)]
pub struct About {
    /// `run 3` or the file name.
    pub source: String,
    /// What was measured.
    pub target: String,
    /// `run`, `watch`, `ab`, `import` or `csv`.
    pub kind: String,
    /// Host it was measured on.
    pub host: Option<String>,
    /// Sampling interval, seconds.
    pub interval_s: Option<f64>,
    /// The load the session that recorded it assumed (a soak's `constant`), if recorded.
    pub load: Option<leakhound_analysis::Load>,
}

/// The input named on a command line: a run id, a CSV file, or (none) the latest run in the
/// database at `db`.
pub fn resolve(db: &Path, arg: Option<&str>) -> anyhow::Result<Input> {
    match arg {
        Some(s) if Path::new(s).is_file() || s.ends_with(".csv") => from_csv(Path::new(s)),
        Some(s) => {
            let id: i64 = s.parse().map_err(|_| {
                user(format!(
                    "{s:?} is neither a run id nor an existing CSV file"
                ))
            })?;
            from_run(&crate::database::open_ro(db)?, id)
        }
        None => {
            let store = crate::database::open_ro(db)?;
            let id = store
                .latest_run()?
                .ok_or_else(|| user(format!("no runs in {} yet", db.display())))?;
            from_run(&store, id)
        }
    }
}

/// Every column of a CSV file (the contract in DESIGN.md) as a series.
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
                unit: csv_unit(name),
                kind: csv_kind(name),
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
            kind: EventKind::Csv.as_str().into(),
            ..About::default()
        },
        ..Input::default()
    })
}

/// Every series of a stored run.
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
    let mut site_series = Vec::new();
    for s in store.series_of(run)? {
        if names.is_some_and(|n| !n.contains(&s.name.as_str())) {
            continue;
        }
        if s.name == SITE_BYTES || s.name == SITE_OBJECTS {
            site_series.push(s);
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
            unit: Unit::parse(&s.unit),
            kind: s.kind,
            t,
            v,
        });
    }
    let sites = if site_series.is_empty() {
        Vec::new()
    } else {
        load_sites(store, run, site_series)?
    };
    // Only the events needed, and for a bounded read no more restarts than points: a watch of
    // recycled workers records one per worker.
    let restarts = store.event_times(run, EventKind::Restart.as_str(), max_points)?;
    let load = store
        .last_event(run, crate::database::LOAD_EVENT)?
        .and_then(|e| e.detail.parse().ok());
    let holders = if max_points.is_some() {
        Vec::new()
    } else {
        crate::database::holders_of(&store.events(run)?)
    };
    Ok(Input {
        series,
        sites,
        limit: info.limit_bytes.map(|l| l as f64),
        restarts,
        holders,
        about: About {
            source: format!("run {run}"),
            target: info.target,
            kind: info.kind,
            host: Some(info.host),
            interval_s: info.interval_s,
            load,
        },
    })
}

/// The site series of a run, with the stacks the run named.
fn load_sites(
    store: &Store,
    run: RunId,
    series: Vec<leakhound_store::SeriesInfo>,
) -> anyhow::Result<Vec<SiteData>> {
    let named: BTreeMap<String, leakhound_store::SiteInfo> = store
        .sites_of(run)?
        .into_iter()
        .map(|s| (s.hash.clone(), s))
        .collect();
    let mut sites: BTreeMap<BTreeMap<String, String>, SiteData> = BTreeMap::new();
    // Each site's objects series: its labels, times and counts.
    type Objects = (BTreeMap<String, String>, Vec<f64>, Vec<f64>);
    let mut objects: Vec<Objects> = Vec::new();
    for s in series {
        let (t, v) = store.samples(s.id)?;
        if s.name == SITE_OBJECTS {
            objects.push((s.labels, t, v));
            continue;
        }
        let mut labels = s.labels.clone();
        let hash = labels.remove(SITE_LABEL).unwrap_or_default();
        let info = named.get(&hash);
        sites.insert(
            s.labels,
            SiteData {
                source: info.map(|i| i.source.clone()).unwrap_or_default(),
                frames: info.map(|i| i.frames.clone()).unwrap_or_default(),
                hash,
                labels,
                t,
                bytes: v,
                objects: Vec::new(),
            },
        );
    }
    for (labels, t, v) in objects {
        if let Some(site) = sites.get_mut(&labels) {
            if t == site.t {
                site.objects = v;
            }
        }
    }
    Ok(sites.into_values().collect())
}
