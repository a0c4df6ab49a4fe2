//! The sampling loop shared by `run` and `watch`: read every target, write the interval's
//! samples and events in one transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use leakhound_net::exporter::{Exposition, Scraper};
use leakhound_net::replay::ReplayStats;
use leakhound_net::Uri;
use leakhound_probe::agent::{gauges, AgentListener};
use leakhound_probe::exposition;
use leakhound_probe::{
    descendants, CgroupReader, MemoryReading, NameMatcher, ProbeError, ProcInfo, ProcKey,
    ProcessReader,
};
use leakhound_store::{Event, RunId, SeriesId, SeriesKind, Store};

/// Wall-clock time that never jumps: the start's wall time plus monotonic time elapsed, so a
/// clock change during a run does not break the series.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall0: f64,
    mono0: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        let wall0 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Clock {
            wall0,
            mono0: Instant::now(),
        }
    }
    pub fn now(&self) -> f64 {
        self.wall0 + self.mono0.elapsed().as_secs_f64()
    }
    pub fn start_time(&self) -> f64 {
        self.wall0
    }
    pub fn elapsed(&self) -> f64 {
        self.mono0.elapsed().as_secs_f64()
    }
}

/// What one target is.
#[derive(Debug)]
pub enum TargetSpec {
    /// A process and all its descendants (the command of `run`, or `watch --pid`).
    Tree(ProcKey),
    /// Every process matching a pattern; instances come and go.
    Name(NameMatcher),
    /// A cgroup v2.
    Cgroup(CgroupReader),
}

/// A target with its series and the process instances seen.
#[derive(Debug)]
pub struct Target {
    pub label: String,
    spec: TargetSpec,
    series: HashMap<String, SeriesId>,
    labels: BTreeMap<String, String>,
    /// Every pid of this target seen so far, for summing agent counters.
    pids_seen: std::collections::HashSet<i32>,
    /// The tree found by the last walk, reused between walks.
    tree: Vec<ProcInfo>,
    /// Intervals since the last walk of the tree.
    since_walk: u64,
    instances: BTreeSet<ProcKey>,
    exits_since_start: u32,
    /// The target is gone for good (a `Tree` whose root exited).
    pub done: bool,
}

impl Target {
    pub fn new(label: String, spec: TargetSpec) -> Target {
        Target {
            label,
            spec,
            series: HashMap::new(),
            labels: BTreeMap::new(),
            pids_seen: std::collections::HashSet::new(),
            tree: Vec::new(),
            since_walk: 0,
            instances: BTreeSet::new(),
            exits_since_start: 0,
            done: false,
        }
    }
}

/// What a tick saw, for the live display.
#[derive(Debug, Clone, Default)]
pub struct TickSummary {
    /// RSS (or memory.current) of the first target, bytes.
    pub primary: Option<f64>,
    /// Processes read in this tick.
    pub processes: usize,
}

/// Samples targets into a run.
pub struct Sampler {
    pub store: Store,
    pub run: RunId,
    pub targets: Vec<Target>,
    reader: ProcessReader,
    pub clock: Clock,
    pub samples_written: u64,
    warned: BTreeSet<String>,
    /// Reports of Node.js agents in the targets, when injected.
    pub agent: Option<AgentListener>,
    /// Requests sent by `run --replay`, stored as the counter `replay.requests` of the first
    /// target.
    pub replay: Option<Arc<ReplayStats>>,
    /// Endpoints read each interval (`--scrape`), and the series they fed.
    scrapes: Vec<Uri>,
    scraper: Option<Scraper>,
    scraped: HashMap<String, SeriesId>,
    /// `/metrics` text kept current for `watch --listen`.
    pub exposition: Option<Exposition>,
    /// Latest value of each (target, series).
    latest: BTreeMap<(String, String), f64>,
    names: HashMap<SeriesId, (String, String)>,
    /// Latest verdicts per (target, series), for the exporter.
    pub verdicts: Vec<leakhound_net::metrics::VerdictMetrics>,
    /// Intervals read but not stored yet, oldest first: the database refused them (disk full,
    /// I/O error) and they are retried every interval.
    held: VecDeque<Interval>,
    held_samples: usize,
    /// Samples of held intervals given up because too many were held.
    dropped_samples: u64,
    /// When the database first refused a write, while it still does.
    failing_since: Option<f64>,
}

/// One interval's rows and events, as written in one transaction.
#[derive(Debug)]
struct Interval {
    rows: Vec<(SeriesId, f64, f64)>,
    events: Vec<Event>,
}

/// Most samples held in memory while the database refuses writes (24 bytes each: 24 MB; at
/// 100 processes every second, about a quarter of an hour). Beyond it the oldest are dropped,
/// so that leakhound never becomes the process that fills the memory.
const MAX_HELD_SAMPLES: usize = 1_000_000;

fn new_series_failed(store: &Store, name: &str, e: &leakhound_store::StoreError) -> String {
    format!(
        "cannot add series {name} to {}: {e}; its samples are skipped until it can be",
        store.path()
    )
}

/// SQLite page cache of a sampling session, KiB: room for the pages appended to and for a look
/// (20,000 samples of one series, about 120 pages), without holding the whole run's pages.
const SAMPLER_CACHE_KIB: u32 = 512;

/// Most series one run takes from `--scrape` endpoints.
const MAX_SCRAPED_SERIES: usize = 5000;

/// A process tree is walked for new members every this many intervals (and at once after a
/// member vanished).
const TREE_WALK_EVERY: u64 = 5;

/// Series written for process targets, with their units.
const PROCESS_SERIES: &[(&str, &str)] = &[
    ("rss", "bytes"),
    ("pss", "bytes"),
    ("uss", "bytes"),
    ("anon", "bytes"),
    ("file", "bytes"),
    ("shmem", "bytes"),
    ("swap", "bytes"),
    ("threads", "count"),
    ("fds", "count"),
    ("processes", "count"),
];

const CGROUP_SERIES: &[(&str, &str)] = &[
    ("memory.current", "bytes"),
    ("anon", "bytes"),
    ("file", "bytes"),
    ("shmem", "bytes"),
    ("swap", "bytes"),
    ("processes", "count"),
];

fn process_values(r: &MemoryReading, n: usize) -> [(&'static str, Option<u64>); 10] {
    [
        ("rss", Some(r.rss)),
        ("pss", r.pss),
        ("uss", r.uss),
        ("anon", r.anon),
        ("file", r.file),
        ("shmem", r.shmem),
        ("swap", r.swap),
        ("threads", Some(r.threads)),
        ("fds", r.fds),
        ("processes", Some(n as u64)),
    ]
}

impl Sampler {
    pub fn new(
        store: Store,
        run: RunId,
        mut targets: Vec<Target>,
        clock: Clock,
        smaps: bool,
    ) -> anyhow::Result<Sampler> {
        store.limit_cache(SAMPLER_CACHE_KIB)?;
        let many = targets.len() > 1;
        let mut names = HashMap::new();
        for t in &mut targets {
            if many {
                t.labels.insert("target".into(), t.label.clone());
            }
            let series_names = match t.spec {
                TargetSpec::Cgroup(_) => CGROUP_SERIES,
                _ => PROCESS_SERIES,
            };
            for (name, unit) in series_names {
                let id = store.series(run, name, &t.labels, SeriesKind::Gauge, unit)?;
                t.series.insert(name.to_string(), id);
                names.insert(id, (t.label.clone(), name.to_string()));
            }
        }
        Ok(Sampler {
            store,
            run,
            targets,
            reader: ProcessReader::new(smaps),
            clock,
            samples_written: 0,
            warned: BTreeSet::new(),
            agent: None,
            replay: None,
            scrapes: Vec::new(),
            scraper: None,
            scraped: HashMap::new(),
            exposition: None,
            latest: BTreeMap::new(),
            names,
            verdicts: Vec::new(),
            held: VecDeque::new(),
            held_samples: 0,
            dropped_samples: 0,
            failing_since: None,
        })
    }

    /// Reads these endpoints each interval too.
    pub fn scrape(&mut self, urls: Vec<Uri>) -> anyhow::Result<()> {
        if !urls.is_empty() {
            self.scraper = Some(Scraper::new(std::time::Duration::from_secs(2))?);
        }
        self.scrapes = urls;
        Ok(())
    }

    fn scrape_all(
        &mut self,
        now: f64,
        rows: &mut Vec<(SeriesId, f64, f64)>,
        events: &mut Vec<Event>,
    ) -> anyhow::Result<()> {
        let Some(scraper) = &self.scraper else {
            return Ok(());
        };
        let mut warnings = Vec::new();
        for url in &self.scrapes {
            let samples = match scraper
                .fetch(url)
                .map_err(|e| e.to_string())
                .and_then(|t| exposition::parse(&t).map_err(|e| e.to_string()))
            {
                Ok(s) => s,
                Err(e) => {
                    warnings.push(format!("scrape {url}: {e}"));
                    continue;
                }
            };
            for s in samples.into_iter().filter(|s| s.value.is_finite()) {
                let mut labels = s.labels.clone();
                labels.insert("source".into(), url.to_string());
                let key = format!(
                    "{}{}",
                    s.name,
                    serde_json::to_string(&labels).unwrap_or_default()
                );
                let id = match self.scraped.get(&key) {
                    Some(id) => *id,
                    None => {
                        if self.scraped.len() >= MAX_SCRAPED_SERIES {
                            warnings.push(format!("scrape {url}: more than {MAX_SCRAPED_SERIES} series; the rest are skipped"));
                            break;
                        }
                        let kind = if s.kind == exposition::MetricType::Counter {
                            SeriesKind::Counter
                        } else {
                            SeriesKind::Gauge
                        };
                        let unit = if s.name.ends_with("_bytes") {
                            "bytes"
                        } else {
                            "count"
                        };
                        match self.store.series(self.run, &s.name, &labels, kind, unit) {
                            Ok(id) => {
                                self.scraped.insert(key, id);
                                id
                            }
                            Err(e) => {
                                warnings.push(new_series_failed(&self.store, &s.name, &e));
                                continue;
                            }
                        }
                    }
                };
                rows.push((id, now, s.value));
            }
        }
        for w in warnings {
            self.warn_once(w, events, now);
        }
        Ok(())
    }

    /// The id of series `name` of `target`, created on first use. When the database cannot
    /// create it (disk full), the reason goes to `failed` and this interval skips the series;
    /// the next interval tries again.
    fn series_id(
        store: &Store,
        run: RunId,
        target: &mut Target,
        (name, kind, unit): (&str, SeriesKind, &str),
        failed: &mut Vec<String>,
    ) -> Option<SeriesId> {
        if let Some(id) = target.series.get(name) {
            return Some(*id);
        }
        match store.series(run, name, &target.labels, kind, unit) {
            Ok(id) => {
                target.series.insert(name.to_string(), id);
                Some(id)
            }
            Err(e) => {
                failed.push(new_series_failed(store, name, &e));
                None
            }
        }
    }

    fn warn_once(&mut self, key: String, events: &mut Vec<Event>, now: f64) {
        if self.warned.insert(key.clone()) {
            eprintln!("leakhound: warning: {key}");
            events.push(Event {
                t: now,
                kind: "warning".into(),
                detail: key,
            });
        }
    }

    /// Reads every target once and stores the interval atomically.
    pub fn tick(&mut self) -> anyhow::Result<TickSummary> {
        self.reader.next_tick();
        let now = self.clock.now();
        let mut rows: Vec<(SeriesId, f64, f64)> = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        let mut summary = TickSummary::default();
        let mut live_keys: Vec<ProcKey> = Vec::new();
        let mut failed: Vec<String> = Vec::new();
        let mut targets = std::mem::take(&mut self.targets);
        for (ti, target) in targets.iter_mut().enumerate() {
            if target.done {
                continue;
            }
            let procs: Vec<ProcInfo> = match &mut target.spec {
                TargetSpec::Cgroup(reader) => {
                    match reader.read() {
                        Ok(c) => {
                            let vals = [
                                ("memory.current", Some(c.current)),
                                ("anon", c.anon),
                                ("file", c.file),
                                ("shmem", c.shmem),
                                ("swap", c.swap),
                                ("processes", Some(c.processes)),
                            ];
                            for (name, v) in vals {
                                if let Some(v) = v {
                                    rows.push((target.series[name], now, v as f64));
                                }
                            }
                            if ti == 0 {
                                summary.primary = Some(c.current as f64);
                            }
                        }
                        Err(e) => {
                            let msg = format!("cgroup {}: {e}", target.label);
                            self.warn_once(msg, &mut events, now);
                        }
                    }
                    continue;
                }
                TargetSpec::Tree(root) => {
                    // Walking the tree reads two files per process; a tree rarely changes, so
                    // it is walked every few intervals, and at once when a member vanished.
                    target.since_walk += 1;
                    if target.tree.is_empty() || target.since_walk >= TREE_WALK_EVERY {
                        target.tree = descendants(*root);
                        target.since_walk = 0;
                    }
                    let tree = target.tree.clone();
                    if tree.is_empty() {
                        target.done = true;
                        events.push(Event {
                            t: now,
                            kind: "exit".into(),
                            detail: format!("pid={} target={}", root.pid, target.label),
                        });
                        continue;
                    }
                    tree
                }
                TargetSpec::Name(matcher) => match matcher.matching() {
                    Ok(p) => p,
                    Err(e) => {
                        // The targets are out of `self` during the loop: note and go on.
                        failed.push(format!("listing processes for {}: {e}", target.label));
                        continue;
                    }
                },
            };
            // Instances: each root-level match (or the tree root) is one incarnation.
            let current: BTreeSet<ProcKey> = match &target.spec {
                TargetSpec::Tree(root) => BTreeSet::from([*root]),
                _ => procs.iter().map(|p| p.key).collect(),
            };
            for gone in target.instances.difference(&current) {
                target.exits_since_start += 1;
                events.push(Event {
                    t: now,
                    kind: "exit".into(),
                    detail: format!(
                        "pid={} start={} target={}",
                        gone.pid, gone.start_ticks, target.label
                    ),
                });
            }
            for new in current.difference(&target.instances) {
                let restart = target.exits_since_start > 0;
                events.push(Event {
                    t: now,
                    kind: if restart { "restart" } else { "instance" }.into(),
                    detail: format!(
                        "pid={} start={} target={}",
                        new.pid, new.start_ticks, target.label
                    ),
                });
            }
            if current.difference(&target.instances).next().is_some() {
                target.exits_since_start = 0;
            }
            target.instances = current;

            let mut total = MemoryReading::zero();
            let mut read = 0usize;
            for p in &procs {
                match self.reader.read(p.key) {
                    Ok(r) => {
                        total.add(&r);
                        read += 1;
                        live_keys.push(p.key);
                    }
                    Err(ProbeError::Gone { pid }) => {
                        if let TargetSpec::Name(m) = &mut target.spec {
                            m.forget(pid);
                        }
                        // Walk again next interval: something changed.
                        target.since_walk = TREE_WALK_EVERY;
                    }
                    Err(e) => {
                        let msg = format!("skipping pid {} ({}): {e}", p.key.pid, p.comm);
                        self.warn_once(msg, &mut events, now);
                    }
                }
            }
            if self.reader.take_denied_warning() {
                let msg = format!(
                    "PSS/USS of some processes of {} are not readable by this user; they are left out",
                    target.label
                );
                self.warn_once(msg, &mut events, now);
            }
            summary.processes += read;
            if read == 0 {
                continue;
            }
            for (name, v) in process_values(&total, read) {
                if let Some(v) = v {
                    rows.push((target.series[name], now, v as f64));
                }
            }
            if let Some(agent) = &self.agent {
                let pids: Vec<i32> = procs.iter().map(|p| p.key.pid).collect();
                target.pids_seen.extend(&pids);
                let reports = agent.latest(&pids);
                if !reports.is_empty() {
                    let refs: Vec<&_> = reports.iter().collect();
                    for (name, v) in gauges(&refs) {
                        let unit = if name.ends_with("_ms")
                            || name.ends_with("contexts")
                            || name.ends_with("handles")
                        {
                            "count"
                        } else {
                            "bytes"
                        };
                        let key = (name, SeriesKind::Gauge, unit);
                        if let Some(id) =
                            Self::series_id(&self.store, self.run, target, key, &mut failed)
                        {
                            rows.push((id, now, v));
                        }
                    }
                }
                for (name, v) in agent.counters(&target.pids_seen) {
                    let key = (name.as_str(), SeriesKind::Counter, "count");
                    if let Some(id) =
                        Self::series_id(&self.store, self.run, target, key, &mut failed)
                    {
                        rows.push((id, now, v));
                    }
                }
            }
            if ti == 0 {
                summary.primary = Some(total.rss as f64);
            }
        }
        if let (Some(r), Some(first)) = (&self.replay, targets.first_mut()) {
            let sent = r.sent.load(std::sync::atomic::Ordering::Relaxed) as f64;
            let key = ("replay.requests", SeriesKind::Counter, "count");
            if let Some(id) = Self::series_id(&self.store, self.run, first, key, &mut failed) {
                rows.push((id, now, sent));
            }
        }
        self.targets = targets;
        for f in failed {
            self.warn_once(f, &mut events, now);
        }
        self.reader.retain(&live_keys);
        self.scrape_all(now, &mut rows, &mut events)?;
        if self.exposition.is_some() {
            for (id, _, v) in &rows {
                if let Some(k) = self.names.get(id) {
                    self.latest.insert(k.clone(), *v);
                }
            }
            self.publish();
        }
        self.store_interval(Interval { rows, events }, now);
        Ok(summary)
    }

    /// Stores this interval after any held ones; when the database refuses, holds it in memory
    /// and says so once. Nothing read is lost while the database recovers within the bound.
    fn store_interval(&mut self, interval: Interval, now: f64) {
        self.held_samples += interval.rows.len();
        self.held.push_back(interval);
        if let Some(since) = self.failing_since {
            if self.write_db().is_ok() {
                let detail = format!(
                    "database writes failed for {:.0} s; the intervals read meanwhile were held in memory and stored late{}",
                    now - since,
                    if self.dropped_samples > 0 {
                        format!(", except the oldest {} samples", self.dropped_samples)
                    } else {
                        String::new()
                    }
                );
                eprintln!(
                    "leakhound: {} is writable again: {detail}",
                    self.store.path()
                );
                let _ = self.store.write_batch(
                    self.run,
                    &[],
                    &[Event {
                        t: now,
                        kind: "warning".into(),
                        detail,
                    }],
                );
                self.failing_since = None;
            }
        } else if let Err(e) = self.write_db() {
            eprintln!(
                "leakhound: warning: cannot write to {}: {e}; keeping samples in memory and retrying every interval",
                self.store.path()
            );
            self.failing_since = Some(now);
        }
        while self.held_samples > MAX_HELD_SAMPLES {
            let Some(old) = self.held.pop_front() else {
                break;
            };
            if self.dropped_samples == 0 {
                eprintln!(
                    "leakhound: warning: more than {MAX_HELD_SAMPLES} samples held for {}; dropping the oldest",
                    self.store.path()
                );
            }
            self.held_samples -= old.rows.len();
            self.dropped_samples += old.rows.len() as u64;
        }
    }

    /// Writes held intervals, oldest first, each in its own transaction; stops at the first
    /// refusal.
    fn write_db(&mut self) -> Result<(), leakhound_store::StoreError> {
        while let Some(i) = self.held.front() {
            self.store.write_batch(self.run, &i.rows, &i.events)?;
            self.held_samples -= i.rows.len();
            self.samples_written += i.rows.len() as u64;
            self.held.pop_front();
        }
        Ok(())
    }

    /// Stores what is still held, at the end of a session; an error says how much could not be
    /// stored and why.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.write_db() {
            let since = self.held.front().and_then(|i| i.rows.first()).map(|r| r.1);
            return Err(crate::error::user(format!(
                "{}: the last {} intervals ({} samples{}) could not be stored: {e}",
                self.store.path(),
                self.held.len(),
                self.held_samples,
                since
                    .map(|t| format!(", from {}", leakhound_report::units::format_rfc3339(t)))
                    .unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Rewrites the `/metrics` text from the latest readings and verdicts.
    pub fn publish(&self) {
        if let Some(e) = &self.exposition {
            let text = leakhound_net::metrics::metrics_text(&self.latest, &self.verdicts);
            *e.lock().unwrap_or_else(|p| p.into_inner()) = text;
        }
    }

    /// Whether every target is gone for good.
    pub fn all_done(&self) -> bool {
        self.targets.iter().all(|t| t.done)
    }
}
