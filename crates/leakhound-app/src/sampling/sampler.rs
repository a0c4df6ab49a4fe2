//! The sampler: each interval, read every target, the runtime agents in them and every source
//! that is due, and hand the interval (samples, events, the series it is the first to use) to
//! the [writer](super::writer), which stores it in one transaction on its own thread: sampling
//! never waits for the database.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use leakhound_net::exporter::Exposition;
use leakhound_net::metrics::VerdictMetrics;
use leakhound_probe::agent::AgentListener;
use leakhound_probe::ProcessReader;
use leakhound_store::{RunId, Store};

use super::agent::read_agents;
use super::catalog::{Catalog, Draft};
use super::clock::Clock;
use super::exporter::Exporter;
use super::sites::{record_sites, SiteNames, MAX_SITE_SERIES};
use super::source::{Readings, Scheduled, Source, MAX_SOURCE_SERIES};
use super::spool::MAX_HELD_SAMPLES;
use super::target::{Sampled, Target, TickOut};
use super::warnings::Warnings;
use super::writer::Writer;
use crate::kinds::EventKind;

/// SQLite page cache of the writer's connection, KiB: room for the pages appended to, without
/// holding the whole run's pages.
const WRITER_CACHE_KIB: u32 = 256;
/// SQLite page cache of the connection looks read through, KiB: a look reads 20,000 samples of
/// one series, about 120 pages of rows or a few chunks.
const READER_CACHE_KIB: u32 = 128;
/// How long the end of a session keeps trying to store what is held while the database
/// refuses (as long as a write used to wait for a lock).
const FINAL_WAIT: Duration = Duration::from_secs(10);

/// What an interval saw, for the live display.
#[derive(Debug, Clone, Default)]
pub struct TickSummary {
    /// RSS (or memory.current) of the first target, bytes.
    pub primary: Option<f64>,
    /// Processes read.
    pub processes: usize,
}

/// Samples targets and sources into a run.
pub struct Sampler {
    /// Reads during the session (looks); the writer's connection once it stopped.
    store: Store,
    /// Stores intervals on its own thread, until the session ends.
    writer: Option<Writer>,
    /// The interval being read.
    draft: Draft,
    run: RunId,
    clock: Clock,
    targets: Vec<Target>,
    reader: ProcessReader,
    /// Series the targets' agents add as they report.
    agent_series: Catalog,
    /// Allocation-site series the targets' agents add, and the stacks named so far.
    site_series: Catalog,
    site_names: SiteNames,
    agent: Option<AgentListener>,
    /// Says when the native profiler (`run --native-sites`) sees nothing.
    native: Option<crate::native::NativeWatch>,
    sources: Vec<Scheduled>,
    warnings: Warnings,
    exporter: Option<Exporter>,
    /// (target, series) of each declared series, for the exporter.
    declared: HashMap<leakhound_store::SeriesId, (String, String)>,
    /// `--retainers`: the snapshots of a Node.js process, and what their comparison found.
    retainers: Option<crate::inspect::Retainers>,
    holders: Option<Result<Vec<leakhound_analysis::retainers::Holder>, String>>,
}

impl Sampler {
    /// Samples `targets` into `run` of `store`, timed by `clock`; `smaps` reads PSS/USS too.
    pub fn new(
        store: Store,
        run: RunId,
        mut targets: Vec<Target>,
        clock: Clock,
        smaps: bool,
    ) -> anyhow::Result<Sampler> {
        store.limit_cache(WRITER_CACHE_KIB)?;
        let labelled = targets.len() > 1;
        let mut declared = HashMap::new();
        for t in &mut targets {
            for (id, name) in t.create_series(&store, run, labelled)? {
                declared.insert(id, (t.label().to_string(), name.to_string()));
            }
        }
        let reader = store.open_reader()?;
        reader.limit_cache(READER_CACHE_KIB)?;
        let writer = Writer::start(store, run, clock, MAX_HELD_SAMPLES)?;
        Ok(Sampler {
            store: reader,
            writer: Some(writer),
            draft: Draft::default(),
            run,
            clock,
            targets,
            reader: ProcessReader::new(smaps),
            agent_series: Catalog::new(MAX_SOURCE_SERIES),
            site_series: Catalog::new(MAX_SITE_SERIES),
            site_names: SiteNames::default(),
            agent: None,
            native: None,
            sources: Vec::new(),
            warnings: Warnings::default(),
            exporter: None,
            declared,
            retainers: None,
            holders: None,
        })
    }

    /// Keeps samples older than `retention` seconds (of every run in the database) as floor
    /// summaries; `None` keeps them all.
    pub fn set_retention(&mut self, retention: Option<f64>) {
        if let Some(w) = &self.writer {
            w.set_retention(retention);
        }
    }

    /// Samples read but not stored yet.
    pub fn held_samples(&self) -> usize {
        self.writer.as_ref().map_or(0, Writer::held_samples)
    }

    /// Reads the reports of runtime agents in the targets too.
    pub fn with_agent(&mut self, agent: AgentListener) {
        self.agent = Some(agent);
    }

    /// Expects native profiler reports from the targets on `schedule`, and warns when they do
    /// not come or see nothing.
    pub fn expect_native(&mut self, schedule: leakhound_wire::Schedule) {
        self.native = Some(crate::native::NativeWatch::new(self.clock.now(), schedule));
    }

    /// Polls `source` on its own schedule too.
    pub fn add_source(&mut self, source: Box<dyn Source>) {
        self.sources.push(Scheduled::new(source));
    }

    /// Keeps `text` current with the latest readings and verdicts (`watch --listen`).
    pub fn export_to(&mut self, text: Exposition) {
        self.exporter = Some(Exporter::new(text, self.declared.clone()));
    }

    /// Whether readings are exported.
    pub fn exporting(&self) -> bool {
        self.exporter.is_some()
    }

    /// Replaces the verdicts exported.
    pub fn export_verdicts(&mut self, verdicts: Vec<VerdictMetrics>) {
        if let Some(e) = &mut self.exporter {
            e.set_verdicts(verdicts);
        }
    }

    /// The database, to write to after [`flush`] (the writer's connection then).
    ///
    /// [`flush`]: Self::flush
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The database: for reading during the session; for writing too after [`flush`].
    ///
    /// [`flush`]: Self::flush
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The run sampled into.
    pub fn run(&self) -> RunId {
        self.run
    }

    /// The session's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The targets.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Whether every target is gone for good.
    pub fn all_done(&self) -> bool {
        self.targets.iter().all(Target::done)
    }

    /// Reads every target and due source once and hands the interval to the writer.
    pub fn tick(&mut self) -> anyhow::Result<TickSummary> {
        self.reader.next_tick();
        let now = self.clock.now();
        let mut events = Vec::new();
        // Warnings that wait for the targets to be read (they were said in this order before).
        let mut later = Vec::new();
        let mut summary = TickSummary::default();
        let mut live = Vec::new();
        // Pids the targets list now: what is remembered about any other process is forgotten.
        let mut listed = HashSet::new();
        for (ti, target) in self.targets.iter_mut().enumerate() {
            let mut out = TickOut {
                now,
                rows: &mut self.draft.rows,
                events: &mut events,
                warnings: &mut self.warnings,
                later: &mut later,
            };
            let sampled = target.sample(&mut self.reader, &mut out);
            let primary = match sampled {
                Sampled::Nothing => continue,
                Sampled::Cgroup { current } => current,
                Sampled::Processes { procs, read } => {
                    summary.processes += read.live.len();
                    live.extend(read.live);
                    listed.extend(procs.iter().map(|p| p.key.pid));
                    if let Some(agent) = &self.agent {
                        let mut out =
                            Readings::new(now, &mut self.agent_series, &mut self.draft, &mut later);
                        read_agents(agent, target, &procs, &mut out);
                        let pids: Vec<i32> = procs.iter().map(|p| p.key.pid).collect();
                        if let Some(w) = &mut self.native {
                            let status = agent.native_status(&pids);
                            later.extend(w.check(now, target.label(), &pids, &status));
                        }
                        later.extend(
                            agent
                                .take_notices(&pids)
                                .into_iter()
                                .map(|(pid, text)| format!("process {pid}: {text}")),
                        );
                        let sites = agent.take_sites(&pids);
                        let mut out =
                            Readings::new(now, &mut self.site_series, &mut self.draft, &mut later);
                        record_sites(&sites, target.labels(), &mut self.site_names, &mut out);
                        // Only the Python agent finds holders itself (`--retainers`).
                        for found in agent.take_holders(&pids) {
                            let holders: Vec<leakhound_analysis::retainers::Holder> = found
                                .holders
                                .into_iter()
                                .map(|h| leakhound_analysis::retainers::Holder {
                                    path: h.path,
                                    bytes: h.bytes,
                                    objects: h.objects,
                                    source: "python".into(),
                                    pid: Some(found.pid),
                                })
                                .collect();
                            out.event(
                                crate::kinds::EventKind::Holders,
                                crate::database::holders_detail(&[], &holders),
                            );
                        }
                    }
                    read.rss
                }
            };
            if ti == 0 {
                summary.primary = Some(primary);
            }
        }
        self.reader.retain(&live);
        self.warnings.keep_pids(&listed);
        if let Some(agent) = &self.agent {
            // Exited processes were folded into their targets' counts above.
            agent.retain(|pid| listed.contains(&pid) || alive(pid));
        }
        for s in &mut self.sources {
            s.poll_if_due(now, &mut self.draft, &mut later);
        }
        for w in later {
            self.warnings.once(w, &mut events, now);
        }
        if let Some(e) = &mut self.exporter {
            e.observe(&self.draft.rows);
        }
        let interval = self.draft.take(events);
        if let Some(w) = &self.writer {
            w.send(interval);
        }
        Ok(summary)
    }

    /// Takes heap snapshots through `r` when the session's looks see a site leak
    /// (`--retainers`).
    pub fn set_retainers(&mut self, r: crate::inspect::Retainers) {
        self.retainers = Some(r);
    }

    /// The snapshots of `--retainers`, when asked for.
    pub fn retainers_mut(&mut self) -> Option<&mut crate::inspect::Retainers> {
        self.retainers.as_mut()
    }

    /// At the end of a session, while the target still runs: the last snapshot and the
    /// comparison (`--retainers`), kept for [`Sampler::take_holders`].
    pub fn finish_retainers(&mut self) {
        if let Some(r) = self.retainers.take() {
            // A comparison of large heaps reads three files of hundreds of MiB.
            self.holders = Some(r.finish(std::time::Duration::from_secs(3600)));
        }
    }

    /// What `--retainers` found, or why nothing.
    pub fn take_holders(
        &mut self,
    ) -> Option<Result<Vec<leakhound_analysis::retainers::Holder>, String>> {
        self.holders.take()
    }

    /// Stores what is still held, at the end of a session, and stops the writer: from then on
    /// [`store`](Self::store) writes too. An error says how much could not be stored and why.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        if let Some(note) = self.warnings.unsaid() {
            let events = vec![leakhound_store::Event {
                t: self.clock.now(),
                kind: EventKind::Warning.as_str().into(),
                detail: note,
            }];
            writer.send(self.draft.take(events));
        }
        let (store, result) = writer.finish(FINAL_WAIT);
        if let Some(store) = store {
            // The end of a session writes the run's end and verdict: wait for a lock as long as
            // any leakhound does.
            store.busy_timeout(FINAL_WAIT)?;
            self.store = store;
        }
        result
    }
}

/// Whether a process with this pid exists.
fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::new_run;
    use crate::sampling::target::TargetSpec;
    use leakhound_probe::ProcKey;

    /// A counter source polled once an hour.
    struct Ticker {
        n: f64,
    }

    impl Source for Ticker {
        fn period(&self) -> Option<f64> {
            Some(3600.0)
        }
        fn poll(&mut self, out: &mut Readings<'_>) {
            self.n += 1.0;
            let labels = std::collections::BTreeMap::new();
            let spec = crate::sampling::SeriesSpec {
                name: "ticker.polls",
                labels: &labels,
                kind: leakhound_store::SeriesKind::Counter,
                unit: crate::kinds::Unit::Count,
            };
            out.record(&spec, self.n).unwrap();
        }
    }

    #[test]
    fn this_process_is_sampled_with_a_source_on_its_own_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let clock = Clock::start();
        let run = store
            .create_run(&new_run(
                "watch",
                "me".into(),
                clock.start_time(),
                Some(0.01),
                None,
            ))
            .unwrap();
        let me = ProcKey::of_pid(std::process::id() as i32).unwrap();
        let targets = vec![Target::new("me".into(), TargetSpec::Tree(me))];
        let mut s = Sampler::new(store, run, targets, clock, false).unwrap();
        s.add_source(Box::new(Ticker { n: 0.0 }));
        let text = Exposition::default();
        s.export_to(text.clone());
        for _ in 0..3 {
            let t = s.tick().unwrap();
            assert!(t.primary.is_some_and(|rss| rss > 1e6), "{t:?}");
            assert!(t.processes >= 1);
            // Times are kept to the millisecond (sessions tick 10 ms apart at the least).
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        s.flush().unwrap();
        let names: Vec<String> = s
            .store()
            .series_of(run)
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(
            &names[..3],
            ["rss", "pss", "uss"],
            "declared series first, in table order"
        );
        assert!(names.contains(&"ticker.polls".to_string()));
        let input = crate::input::from_run(s.store(), run).unwrap();
        let rss = input.series.iter().find(|x| x.name == "rss").unwrap();
        assert_eq!(rss.t.len(), 3);
        let polls = input
            .series
            .iter()
            .find(|x| x.name == "ticker.polls")
            .unwrap();
        assert_eq!(polls.v, [1.0], "polled once in an hour");
        assert!(
            !input.series.iter().any(|x| x.name == "pss"),
            "no smaps, no PSS"
        );
        let events = s.store().events(run).unwrap();
        assert_eq!(events[0].kind, "instance");
        let exported = text.lock().unwrap().clone();
        assert!(
            exported.contains("leakhound_process_resident_memory_bytes{target=\"me\"}"),
            "{exported}"
        );
    }
}
