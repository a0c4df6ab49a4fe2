//! A Node.js process read over its inspector, without a restart: `watch --pid PID --sites` on a
//! process started without leakhound, and `--retainers` (heap snapshots) on `run` and `watch`.
//!
//! One thread per process owns the inspector session: it attaches (at once for sites, at the
//! first snapshot otherwise), reads the memory figures and the sampling heap profile on the
//! profilers' schedule into the same series and `SitesReport`s as the in-process agent, takes
//! heap snapshots when the session asks ([`Retainers`]), and leaves the process as it found it
//! when the session ends ([`conn::Conn::leave`]).

pub mod conn;
pub mod snapshots;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use leakhound_analysis::retainers::Holder;
use leakhound_probe::agent::{gauges, AgentReport};
use leakhound_probe::inspector::is_node;
use leakhound_probe::sites::SitesReport;
use leakhound_probe::{descendants, ProcKey};
use leakhound_store::SeriesKind;

use crate::kinds::Unit;
use crate::sampling::series::agent_gauge_unit;
use crate::sampling::sites::{record_sites, SiteNames, MAX_SITE_SERIES};
use crate::sampling::source::{Grace, Readings, Source};
use crate::sampling::SeriesSpec;
use conn::Conn;
use snapshots::Snapshots;

/// What a tree without a Node.js process is told (`run --retainers` of a Python program,
/// whose agent finds its holders itself, is not warned about it).
const NO_NODE: &str = "no Node.js process in the tree";

/// Which process is the Node.js one.
#[derive(Debug, Clone, Copy)]
pub enum NodeProcess {
    /// This pid (`watch --pid`).
    Pid(i32),
    /// The first Node.js process of this tree (`run`: the command may be a script).
    InTree(ProcKey),
}

impl NodeProcess {
    fn pid(&self) -> Result<i32, String> {
        match *self {
            NodeProcess::Pid(p) => Ok(p),
            NodeProcess::InTree(root) => descendants(root)
                .into_iter()
                .map(|p| p.key.pid)
                .find(|p| is_node(*p))
                .ok_or_else(|| format!("{NO_NODE} of pid {}", root.pid)),
        }
    }
}

/// What to do with the process.
#[derive(Debug, Clone)]
pub struct InspectOptions {
    /// The process.
    pub which: NodeProcess,
    /// Sites: the profilers' schedule and the sampling heap profiler's mean interval, bytes.
    pub sites: Option<(leakhound_wire::Schedule, u64)>,
    /// Heap snapshots for `--retainers`, into this directory, kept when `.1`.
    pub snapshots: Option<(PathBuf, bool)>,
}

enum Report {
    Memory(Box<AgentReport>),
    Sites(SitesReport),
    Warn(String),
}

enum Ctl {
    Snapshot,
    Finish(SyncSender<Result<Vec<Holder>, String>>),
    Stop,
}

/// The session's hold on the snapshots of one process (`--retainers`).
#[derive(Debug, Clone)]
pub struct Retainers {
    ctl: Sender<Ctl>,
    asked: usize,
}

impl std::fmt::Debug for Ctl {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("Ctl")
    }
}

impl Retainers {
    /// Snapshots asked for so far.
    pub fn asked(&self) -> usize {
        self.asked
    }

    /// Asks for the next snapshot (taken on the process's thread; its cost is printed).
    pub fn snapshot(&mut self) {
        self.asked += 1;
        let _ = self.ctl.send(Ctl::Snapshot);
    }

    /// Takes the last snapshot if the process still runs and compares: the holders, or why
    /// there are none. Waits at most `wait`.
    pub fn finish(&self, wait: Duration) -> Result<Vec<Holder>, String> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.ctl
            .send(Ctl::Finish(tx))
            .map_err(|_| "--retainers: the inspector's thread has ended".to_string())?;
        rx.recv_timeout(wait)
            .map_err(|_| "--retainers: the comparison did not finish in time".to_string())?
    }
}

/// The process's series and sites, as a [`Source`] of the sampler.
pub struct NodeInspector {
    labels: BTreeMap<String, String>,
    reports: Receiver<Report>,
    ctl: Sender<Ctl>,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
    names: SiteNames,
    grace: Grace,
}

impl NodeInspector {
    /// Starts the process's thread; series labelled `labels`. The second value asks for its
    /// snapshots, when `opts.snapshots` is set. With sites, the inspector is opened at once
    /// and an error says why it cannot be; for snapshots only, at the first one.
    pub fn start(
        opts: InspectOptions,
        labels: BTreeMap<String, String>,
    ) -> Result<(NodeInspector, Option<Retainers>), String> {
        let conn = match opts.sites {
            Some((_, sampling)) => Some(Conn::attach(opts.which.pid()?, Some(sampling))?),
            None => None,
        };
        let (tx, reports) = mpsc::sync_channel(8);
        let (ctl, ctl_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let retainers = opts.snapshots.as_ref().map(|_| Retainers {
            ctl: ctl.clone(),
            asked: 0,
        });
        let thread = std::thread::Builder::new()
            .name("node-inspector".into())
            .spawn(move || {
                serve(opts, conn, tx, ctl_rx);
                let _ = done_tx.send(());
            })
            .map_err(|e| e.to_string())?;
        Ok((
            NodeInspector {
                labels,
                reports,
                ctl,
                done,
                thread: Some(thread),
                names: SiteNames::default(),
                grace: Grace::default(),
            },
            retainers,
        ))
    }
}

/// The thread: attaches when first needed, polls on the schedule, answers the session.
fn serve(opts: InspectOptions, mut conn: Option<Conn>, tx: SyncSender<Report>, ctl: Receiver<Ctl>) {
    let started = Instant::now();
    let mut next_poll = opts.sites.map(|_| Instant::now());
    let mut snaps = opts
        .snapshots
        .as_ref()
        .map(|(dir, keep)| Snapshots::new(dir.clone(), *keep));
    let sampling = opts.sites.map(|s| s.1);
    let mut attach_failed_at: Option<Instant> = None;
    let mut no_node = false;
    // Snapshots compare only within one session: V8 clears its object ids when one ends.
    let mut ensure =
        |conn: &mut Option<Conn>, snaps: &mut Option<Snapshots>| -> Result<(), String> {
            if conn.is_none() {
                if let Some(s) = snaps.as_mut() {
                    s.restart();
                }
                if attach_failed_at.is_some_and(|t| t.elapsed() < Duration::from_secs(30)) {
                    return Err(String::new());
                }
                let pid = opts.which.pid()?;
                match Conn::attach(pid, sampling) {
                    Ok(c) => *conn = Some(c),
                    Err(e) => {
                        // Said at once, not after the sources' start-up grace.
                        eprintln!("leakhound: warning: {e}");
                        attach_failed_at = Some(Instant::now());
                        return Err(e);
                    }
                }
            }
            Ok(())
        };
    let warn = |tx: &SyncSender<Report>, e: String| {
        if !e.is_empty() {
            let _ = tx.try_send(Report::Warn(e));
        }
    };
    loop {
        let wait = next_poll
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        match ctl.recv_timeout(wait) {
            Ok(Ctl::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(Ctl::Snapshot) => {
                if snaps.is_none() {
                    continue;
                }
                match ensure(&mut conn, &mut snaps) {
                    Ok(()) => {
                        let s = snaps.as_mut().expect("asked for");
                        if let Err(e) = s.take(conn.as_mut().expect("attached")) {
                            eprintln!("leakhound: {e}");
                            warn(&tx, e);
                        }
                    }
                    Err(e) if e.starts_with(NO_NODE) => no_node = true,
                    Err(e) => warn(&tx, format!("--retainers: {e}")),
                }
            }
            Ok(Ctl::Finish(reply)) => {
                let got = match snaps.as_mut() {
                    None => Err("--retainers was not asked for".into()),
                    Some(s) if s.count() == 0 && no_node => Err(format!(
                        "--retainers: {NO_NODE}, so no heap snapshot was taken"
                    )),
                    Some(s) if s.count() == 0 => Err(
                        "--retainers: no site leaked at a look before the session ended, so no heap snapshot was taken (a longer session gives the sites time to be judged)".into(),
                    ),
                    Some(s) => {
                        // The last snapshot, if the process still runs; else compare what there is.
                        if let Some(c) = conn.as_mut() {
                            if let Err(e) = s.take(c) {
                                eprintln!("leakhound: {e}");
                            }
                        }
                        s.compare()
                    }
                };
                let _ = reply.send(got);
            }
            Err(RecvTimeoutError::Timeout) => {
                let Some(schedule) = opts.sites.map(|s| s.0) else {
                    next_poll = None;
                    continue;
                };
                next_poll = Some(Instant::now() + schedule.gap(started.elapsed()));
                if let Err(e) = ensure(&mut conn, &mut snaps) {
                    warn(&tx, e);
                    continue;
                }
                let c = conn.as_mut().expect("attached");
                match c.memory() {
                    Ok((m, _)) => {
                        let _ = tx.try_send(Report::Memory(Box::new(m)));
                    }
                    Err(e) => {
                        warn(&tx, format!("inspector of pid {}: {e}", c.pid));
                        // The process may have ended or closed the inspector: attach again later.
                        if let Some(c) = conn.take() {
                            drop(c);
                        }
                        continue;
                    }
                }
                match c.sites() {
                    Ok(Some(r)) => {
                        let _ = tx.try_send(Report::Sites(r));
                    }
                    Ok(None) => {}
                    Err(e) => warn(&tx, format!("inspector of pid {}: {e}", c.pid)),
                }
            }
        }
    }
    if let Some(c) = conn {
        c.leave();
    }
    drop(snaps);
}

impl Drop for NodeInspector {
    fn drop(&mut self) {
        let _ = self.ctl.send(Ctl::Stop);
        // Leaving takes a few commands; a process that stopped answering is not waited for long.
        if self.done.recv_timeout(Duration::from_secs(30)).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Source for NodeInspector {
    fn max_series(&self) -> usize {
        MAX_SITE_SERIES + 64
    }

    fn poll(&mut self, out: &mut Readings<'_>) {
        let starting = self.grace.starting();
        for r in self.reports.try_iter().collect::<Vec<_>>() {
            match r {
                Report::Memory(m) => {
                    for (name, v) in gauges(&[&m]) {
                        let spec = SeriesSpec {
                            name,
                            labels: &self.labels,
                            kind: SeriesKind::Gauge,
                            unit: agent_gauge_unit(name),
                        };
                        let _ = out.record(&spec, v);
                    }
                    for (name, v) in &m.counters {
                        let _ =
                            out.runtime(name, &self.labels, SeriesKind::Counter, Unit::Count, *v);
                    }
                }
                Report::Sites(s) => record_sites(&[s], &self.labels, &mut self.names, out),
                Report::Warn(w) => {
                    if !starting {
                        out.warn(w);
                    }
                }
            }
        }
    }
}
