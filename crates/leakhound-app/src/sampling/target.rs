//! What is sampled: a process tree, every process matching a name, or a cgroup; its declared
//! series, and the process instances seen (exits, restarts).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use leakhound_probe::{
    descendants, CgroupReader, MemoryReading, NameMatcher, ProbeError, ProcInfo, ProcKey,
    ProcessReader,
};
use leakhound_store::{Event, RunId, SeriesId, SeriesKind, Store};

use super::series::{ProcessesReading, CGROUP_GAUGES, PROCESS_GAUGES};
use super::spool::Row;
use super::warnings::Warnings;
use crate::kinds::EventKind;
use crate::kinds::Unit;

/// Most counter names of exited processes a target keeps a base for. An agent reports at most
/// 256 counters; names beyond this many come from an application inventing names, and their
/// counts after their process exits are left out (and said).
pub const MAX_COUNTER_NAMES: usize = 1024;

/// A process tree is walked for new members every this many intervals (and at once after a
/// member vanished).
const TREE_WALK_EVERY: u64 = 5;

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

impl TargetSpec {
    /// Name and unit of the series this kind of target writes every interval.
    fn gauges(&self) -> Vec<(&'static str, Unit)> {
        match self {
            TargetSpec::Cgroup(_) => CGROUP_GAUGES.iter().map(|g| (g.name, g.unit)).collect(),
            _ => PROCESS_GAUGES.iter().map(|g| (g.name, g.unit)).collect(),
        }
    }
}

/// The incarnations of a target: each root-level match (or the tree's root) is one. A new one
/// after every earlier one exited is a restart, which the analysis treats as a new lifetime; a
/// worker replaced while others run (gunicorn, PHP-FPM, a Node cluster recycling workers) is a
/// new instance, not a restart of the service (else each recycled worker would add a lifetime
/// to every verdict).
#[derive(Debug, Default)]
pub struct Instances {
    current: BTreeSet<ProcKey>,
    exits_since_start: u32,
}

impl Instances {
    /// The events of going from the instances seen last to `now_seen` at time `t`: exits
    /// first, then new instances (`restart` after an exit, else `instance`).
    pub fn update(&mut self, now_seen: BTreeSet<ProcKey>, t: f64, label: &str) -> Vec<Event> {
        let event = |kind: EventKind, k: &ProcKey| {
            kind.at(
                t,
                format!("pid={} start={} target={label}", k.pid, k.start_ticks),
            )
        };
        let mut events = Vec::new();
        for gone in self.current.difference(&now_seen) {
            self.exits_since_start += 1;
            events.push(event(EventKind::Exit, gone));
        }
        let mut new = now_seen.difference(&self.current).peekable();
        let any_new = new.peek().is_some();
        let survivors = now_seen.intersection(&self.current).next().is_some();
        let restart = self.exits_since_start > 0 && !survivors;
        for k in new {
            events.push(event(
                if restart {
                    EventKind::Restart
                } else {
                    EventKind::Instance
                },
                k,
            ));
        }
        if any_new {
            self.exits_since_start = 0;
        }
        self.current = now_seen;
        events
    }
}

/// A target with its series and the process instances seen.
#[derive(Debug)]
pub struct Target {
    label: String,
    spec: TargetSpec,
    /// `target=LABEL` when a run has several targets, so their series stay apart.
    labels: BTreeMap<String, String>,
    /// Ids of the declared series, in the order of the kind's table.
    gauges: Vec<SeriesId>,
    /// Pids of its processes at the last interval, to notice which exited (bound: its live
    /// processes).
    agent_pids: HashSet<i32>,
    /// What its exited processes' agents had counted when last heard from, summed: counters
    /// summed over the target never go backwards when a process exits (bound:
    /// [`MAX_COUNTER_NAMES`] names).
    counter_base: BTreeMap<String, f64>,
    /// Counts of exited processes under names beyond the bound, left out.
    counters_left_out: u64,
    /// The tree found by the last walk, reused between walks.
    tree: Vec<ProcInfo>,
    /// Intervals since the last walk of the tree.
    since_walk: u64,
    instances: Instances,
    /// The target is gone for good (a `Tree` whose root exited).
    done: bool,
}

/// Where reading the targets in one interval writes.
pub(crate) struct TickOut<'a> {
    /// The interval's time.
    pub now: f64,
    /// Samples.
    pub rows: &'a mut Vec<Row>,
    /// Events (exits, restarts, warnings).
    pub events: &'a mut Vec<Event>,
    /// Warnings said at once.
    pub warnings: &'a mut Warnings,
    /// Warnings said once every target is read.
    pub later: &'a mut Vec<String>,
}

impl TickOut<'_> {
    fn warn(&mut self, message: String) {
        self.warnings.once(message, self.events, self.now);
    }

    fn warn_about(&mut self, pid: i32, message: String) {
        self.warnings.once_for(pid, message, self.events, self.now);
    }
}

/// What a process target read in one interval.
pub(crate) struct ProcessesRead {
    /// The processes read.
    pub live: Vec<ProcKey>,
    /// RSS summed over them.
    pub rss: f64,
}

impl Target {
    /// A target named `label` (`pid 42`, `name node`, `cgroup /x`, `A`).
    pub fn new(label: String, spec: TargetSpec) -> Target {
        Target {
            label,
            spec,
            labels: BTreeMap::new(),
            gauges: Vec::new(),
            agent_pids: HashSet::new(),
            counter_base: BTreeMap::new(),
            counters_left_out: 0,
            tree: Vec::new(),
            since_walk: 0,
            instances: Instances::default(),
            done: false,
        }
    }

    /// Its name.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its labels on every series.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// Whether it is gone for good.
    pub fn done(&self) -> bool {
        self.done
    }

    /// Notes the pids of its processes now; returns those of the last interval that are gone.
    pub(crate) fn agent_pids_now(&mut self, pids: &[i32]) -> Vec<i32> {
        let now: HashSet<i32> = pids.iter().copied().collect();
        let gone = self.agent_pids.difference(&now).copied().collect();
        self.agent_pids = now;
        gone
    }

    /// Adds the last counts of an exited process to the target's base.
    pub(crate) fn fold_counters(&mut self, counters: &BTreeMap<String, f64>) {
        for (name, v) in counters {
            if let Some(base) = self.counter_base.get_mut(name) {
                *base += v;
            } else if self.counter_base.len() < MAX_COUNTER_NAMES {
                self.counter_base.insert(name.clone(), *v);
            } else {
                self.counters_left_out += 1;
            }
        }
    }

    /// What its exited processes counted, by counter name.
    pub(crate) fn counter_base(&self) -> &BTreeMap<String, f64> {
        &self.counter_base
    }

    /// Counts of exited processes left out because their names were beyond the bound.
    pub(crate) fn counters_left_out(&self) -> u64 {
        self.counters_left_out
    }

    /// Creates the declared series in `run`; `labelled` when the run has several targets.
    /// Returns (id, series name) of each.
    pub(crate) fn create_series(
        &mut self,
        store: &Store,
        run: RunId,
        labelled: bool,
    ) -> anyhow::Result<Vec<(SeriesId, &'static str)>> {
        if labelled {
            self.labels.insert("target".into(), self.label.clone());
        }
        let mut out = Vec::new();
        for (name, unit) in self.spec.gauges() {
            let id = store.series(run, name, &self.labels, SeriesKind::Gauge, unit.as_str())?;
            self.gauges.push(id);
            out.push((id, name));
        }
        Ok(out)
    }

    /// Rows of the declared series from a reading, for the gauges the reading has.
    fn push_gauges<R>(
        &self,
        table: &[super::series::Gauge<R>],
        r: &R,
        now: f64,
        rows: &mut Vec<Row>,
    ) {
        for (g, id) in table.iter().zip(&self.gauges) {
            if let Some(v) = (g.read)(r) {
                rows.push((*id, now, v as f64));
            }
        }
    }

    /// Reads a cgroup target. Returns memory.current.
    fn sample_cgroup(&mut self, out: &mut TickOut) -> Option<f64> {
        let TargetSpec::Cgroup(reader) = &self.spec else {
            return None;
        };
        match reader.read() {
            Ok(c) => {
                self.push_gauges(&CGROUP_GAUGES, &c, out.now, out.rows);
                Some(c.current as f64)
            }
            Err(e) => {
                out.warn(format!("cgroup {}: {e}", self.label));
                None
            }
        }
    }

    /// The processes of a tree or name target now; `None` when there are none to read.
    fn processes(&mut self, out: &mut TickOut) -> Option<Vec<ProcInfo>> {
        match &mut self.spec {
            TargetSpec::Cgroup(_) => None,
            TargetSpec::Tree(root) => {
                // Walking the tree reads two files per process; a tree rarely changes, so it is
                // walked every few intervals, and at once when a member vanished.
                self.since_walk += 1;
                if self.tree.is_empty() || self.since_walk >= TREE_WALK_EVERY {
                    self.tree = descendants(*root);
                    self.since_walk = 0;
                }
                if self.tree.is_empty() {
                    self.done = true;
                    out.events.push(
                        EventKind::Exit
                            .at(out.now, format!("pid={} target={}", root.pid, self.label)),
                    );
                    return None;
                }
                Some(self.tree.clone())
            }
            TargetSpec::Name(matcher) => match matcher.matching() {
                Ok(p) => Some(p),
                Err(e) => {
                    out.later
                        .push(format!("listing processes for {}: {e}", self.label));
                    None
                }
            },
        }
    }

    /// Reads a tree or name target: instance events, then every process, summed.
    fn sample_processes(
        &mut self,
        reader: &mut ProcessReader,
        out: &mut TickOut,
    ) -> Option<(Vec<ProcInfo>, ProcessesRead)> {
        let procs = self.processes(out)?;
        let current: BTreeSet<ProcKey> = match &self.spec {
            TargetSpec::Tree(root) => BTreeSet::from([*root]),
            _ => procs.iter().map(|p| p.key).collect(),
        };
        out.events
            .extend(self.instances.update(current, out.now, &self.label));
        let mut total = MemoryReading::zero();
        let mut live = Vec::new();
        for p in &procs {
            match reader.read(p.key) {
                Ok(r) => {
                    total.add(&r);
                    live.push(p.key);
                }
                Err(ProbeError::Gone { pid }) => {
                    if let TargetSpec::Name(m) = &mut self.spec {
                        m.forget(pid);
                    }
                    // Walk again next interval: something changed.
                    self.since_walk = TREE_WALK_EVERY;
                }
                Err(e) => {
                    out.warn_about(
                        p.key.pid,
                        format!("skipping pid {} ({}): {e}", p.key.pid, p.comm),
                    );
                }
            }
        }
        if reader.take_denied_warning() {
            out.warn(format!(
                "PSS/USS of some processes of {} are not readable by this user; they are left out",
                self.label
            ));
        }
        if live.is_empty() {
            return None;
        }
        let rss = total.rss as f64;
        let reading = ProcessesReading {
            total,
            processes: live.len(),
        };
        self.push_gauges(&PROCESS_GAUGES, &reading, out.now, out.rows);
        Some((procs, ProcessesRead { live, rss }))
    }

    /// Reads the target once. Returns its primary reading (RSS or memory.current) and, for
    /// process targets, the processes listed and those read.
    pub(crate) fn sample(&mut self, reader: &mut ProcessReader, out: &mut TickOut) -> Sampled {
        if self.done {
            return Sampled::Nothing;
        }
        if matches!(self.spec, TargetSpec::Cgroup(_)) {
            return match self.sample_cgroup(out) {
                Some(current) => Sampled::Cgroup { current },
                None => Sampled::Nothing,
            };
        }
        match self.sample_processes(reader, out) {
            Some((procs, read)) => Sampled::Processes { procs, read },
            None => Sampled::Nothing,
        }
    }
}

/// What [`Target::sample`] found.
pub(crate) enum Sampled {
    /// Nothing to read this interval.
    Nothing,
    /// A cgroup's memory.current.
    Cgroup { current: f64 },
    /// Processes listed and read.
    Processes {
        procs: Vec<ProcInfo>,
        read: ProcessesRead,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pid: i32, start: u64) -> ProcKey {
        ProcKey {
            pid,
            start_ticks: start,
        }
    }

    fn kinds(events: &[Event]) -> Vec<(&str, &str)> {
        events
            .iter()
            .map(|e| (e.kind.as_str(), e.detail.as_str()))
            .collect()
    }

    #[test]
    fn a_new_instance_after_an_exit_is_a_restart() {
        let mut i = Instances::default();
        let first = i.update(BTreeSet::from([key(10, 1)]), 1.0, "name app");
        assert_eq!(
            kinds(&first),
            [("instance", "pid=10 start=1 target=name app")]
        );
        assert!(i
            .update(BTreeSet::from([key(10, 1)]), 2.0, "name app")
            .is_empty());
        let gone = i.update(BTreeSet::new(), 3.0, "name app");
        assert_eq!(kinds(&gone), [("exit", "pid=10 start=1 target=name app")]);
        let back = i.update(BTreeSet::from([key(10, 9)]), 4.0, "name app");
        assert_eq!(
            kinds(&back),
            [("restart", "pid=10 start=9 target=name app")],
            "same pid, new start: a restart"
        );
        let second = i.update(BTreeSet::from([key(10, 9), key(11, 9)]), 5.0, "name app");
        assert_eq!(second[0].kind, "instance", "the restart was counted once");
    }

    #[test]
    fn a_worker_replaced_while_others_run_is_an_instance_not_a_restart() {
        let mut i = Instances::default();
        i.update(BTreeSet::from([key(1, 1), key(2, 1)]), 1.0, "t");
        let recycled = i.update(BTreeSet::from([key(2, 1), key(3, 5)]), 2.0, "t");
        assert_eq!(
            kinds(&recycled),
            [
                ("exit", "pid=1 start=1 target=t"),
                ("instance", "pid=3 start=5 target=t")
            ]
        );
        // Every one of them gone, then a new one: the service restarted.
        i.update(BTreeSet::new(), 3.0, "t");
        let back = i.update(BTreeSet::from([key(4, 9)]), 4.0, "t");
        assert_eq!(kinds(&back), [("restart", "pid=4 start=9 target=t")]);
    }

    #[test]
    fn exits_come_before_the_instances_that_replace_them() {
        let mut i = Instances::default();
        i.update(BTreeSet::from([key(10, 1)]), 1.0, "t");
        let swap = i.update(BTreeSet::from([key(20, 5)]), 2.0, "t");
        assert_eq!(
            kinds(&swap),
            [
                ("exit", "pid=10 start=1 target=t"),
                ("restart", "pid=20 start=5 target=t")
            ]
        );
    }
}
