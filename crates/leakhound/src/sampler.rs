//! The sampling loop shared by `run` and `watch`: read every target, write the interval's
//! samples and events in one transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use leakhound_net::replay::ReplayStats;
use leakhound_probe::agent::{gauges, AgentListener};
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
}

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
        let many = targets.len() > 1;
        for t in &mut targets {
            if many {
                t.labels.insert("target".into(), t.label.clone());
            }
            let names = match t.spec {
                TargetSpec::Cgroup(_) => CGROUP_SERIES,
                _ => PROCESS_SERIES,
            };
            for (name, unit) in names {
                let id = store.series(run, name, &t.labels, SeriesKind::Gauge, unit)?;
                t.series.insert(name.to_string(), id);
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
        })
    }

    /// The id of series `name` of `target`, created on first use.
    fn series_id(
        store: &Store,
        run: RunId,
        target: &mut Target,
        name: &str,
        kind: SeriesKind,
        unit: &str,
    ) -> anyhow::Result<SeriesId> {
        if let Some(id) = target.series.get(name) {
            return Ok(*id);
        }
        let id = store.series(run, name, &target.labels, kind, unit)?;
        target.series.insert(name.to_string(), id);
        Ok(id)
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
                TargetSpec::Name(matcher) => matcher.matching()?,
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
                        let id = Self::series_id(
                            &self.store,
                            self.run,
                            target,
                            name,
                            SeriesKind::Gauge,
                            unit,
                        )?;
                        rows.push((id, now, v));
                    }
                }
                for (name, v) in agent.counters(&target.pids_seen) {
                    let id = Self::series_id(
                        &self.store,
                        self.run,
                        target,
                        &name,
                        SeriesKind::Counter,
                        "count",
                    )?;
                    rows.push((id, now, v));
                }
            }
            if ti == 0 {
                summary.primary = Some(total.rss as f64);
            }
        }
        if let (Some(r), Some(first)) = (&self.replay, targets.first_mut()) {
            let sent = r.sent.load(std::sync::atomic::Ordering::Relaxed) as f64;
            let id = Self::series_id(
                &self.store,
                self.run,
                first,
                "replay.requests",
                SeriesKind::Counter,
                "count",
            )?;
            rows.push((id, now, sent));
        }
        self.targets = targets;
        self.reader.retain(&live_keys);
        self.store.write_batch(self.run, &rows, &events)?;
        self.samples_written += rows.len() as u64;
        Ok(summary)
    }

    /// Whether every target is gone for good.
    pub fn all_done(&self) -> bool {
        self.targets.iter().all(|t| t.done)
    }
}
