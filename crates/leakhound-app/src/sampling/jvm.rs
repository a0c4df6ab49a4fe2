//! `--jvm`: a JVM read through a flight recording ([`super::jfr`]) on the profilers' schedule,
//! and through class histograms when asked, off the sampler's thread.
//!
//! From each dump: the heap after every collection (`java.heap_after_gc`, the JVM's floor,
//! judged like RSS), the heap before and after (`java.heap_used`, the sawtooth's corners),
//! committed and metaspace, each at the collection's own time; and allocation sites from the
//! old-object samples (source `jvm`, the class as the innermost frame, then the allocation
//! stack), their live bytes estimated as `leakhound_probe::jfr` says. With `--retainers`, the
//! paths to GC roots of each site's samples are stored as `holders` events.
//!
//! Class histograms (`GC.class_histogram`, a full GC each) are opt-in
//! (`--histogram-interval`): sites keyed by class and `java.live_bytes`/`java.live_objects`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leakhound_probe::jfr::{sites, Dump, Holder};
use leakhound_probe::jvm::{is_jvm, jcmd, parse_class_histogram};
use leakhound_probe::sites::SitesReport;
use leakhound_probe::{descendants, ProcKey};
use leakhound_store::SeriesKind;
use leakhound_wire::Schedule;

use crate::error::user;
use crate::kinds::EventKind;

/// jcmd's path, for `--jvm` on `run` and `watch`: without it `--jvm` cannot work whatever the
/// target, so it is looked for before anything starts.
pub fn require_jcmd() -> anyhow::Result<PathBuf> {
    leakhound_probe::jvm::find_jcmd().map_err(|e| user(format!("--jvm: {e}")))
}

use super::catalog::SeriesSpec;
use super::jfr::{AttachLock, JfrReading, Recorder};
use super::sites::{record_sites, SiteNames, MAX_SITE_SERIES};
use super::source::{Grace, Readings, Source};
use super::worker::Worker;
use crate::kinds::Unit;

/// Stacks kept per dump; the rest is the remainder.
const TOP_STACKS: usize = 200;
/// Classes kept per histogram; the rest is the remainder.
const TOP_CLASSES: usize = 200;
/// Time before trying again after a failure (the JVM may still be starting).
const RETRY: Duration = Duration::from_secs(2);
/// Sites whose holders are stored from a dump with paths to GC roots, the largest first.
const HOLDER_SITES: usize = 10;

/// Which process is the JVM.
#[derive(Debug, Clone, Copy)]
pub enum JvmProcess {
    /// This pid (`watch --jvm PID`).
    Pid(i32),
    /// The first process of this tree that runs a JVM (`run --jvm`: the command may be a
    /// script that starts java).
    InTree(ProcKey),
}

/// Finds the JVM's pid, remembering it while it lives.
#[derive(Debug, Clone)]
pub struct Finder {
    which: JvmProcess,
    found: Arc<Mutex<Option<i32>>>,
}

impl Finder {
    /// A finder of `which`.
    pub fn new(which: JvmProcess) -> Finder {
        Finder {
            which,
            found: Arc::new(Mutex::new(None)),
        }
    }

    /// The JVM's pid, or why there is none.
    pub fn pid(&self) -> Result<i32, String> {
        let mut found = self.found.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pid) = found.filter(|p| is_jvm(*p)) {
            return Ok(pid);
        }
        let pid = match self.which {
            JvmProcess::Pid(pid) if is_jvm(pid) => pid,
            JvmProcess::Pid(pid) => return Err(format!("process {pid} runs no JVM (any more)")),
            JvmProcess::InTree(root) => descendants(root)
                .into_iter()
                .map(|p| p.key.pid)
                .find(|p| is_jvm(*p))
                .ok_or_else(|| format!("no JVM in the process tree of pid {} yet", root.pid))?,
        };
        *found = Some(pid);
        Ok(pid)
    }
}

/// How a JVM is read.
#[derive(Debug, Clone)]
pub struct JvmOptions {
    /// When to dump the flight recording (the profilers' schedule).
    pub schedule: Schedule,
    /// Seconds between class histograms, when asked for (each is a full GC).
    pub histogram_interval: Option<f64>,
    /// Paths to GC roots of the sites' samples (`--retainers`), now and then.
    pub retainers: bool,
}

/// One JVM's flight recording, and its class histograms when asked.
pub struct Jvm {
    labels: BTreeMap<String, String>,
    recorder: Arc<Mutex<Recorder>>,
    dumps: Option<Worker<JfrReading>>,
    histogram: Option<Worker<SitesReport>>,
    names: SiteNames,
    grace: Grace,
    /// The JVM read last, the newest collection recorded and the heap after the first one.
    pid: Option<i32>,
    last_gc: i64,
    first_floor: Option<(f64, f64)>,
    last_floor: Option<f64>,
}

impl Jvm {
    /// Reads the JVM `which` with `jcmd` at `jcmd_path` (see
    /// [`leakhound_probe::jvm::find_jcmd`]) as `options` say; series labelled `labels`.
    pub fn new(
        which: JvmProcess,
        jcmd_path: PathBuf,
        options: &JvmOptions,
        labels: BTreeMap<String, String>,
    ) -> std::io::Result<Jvm> {
        let finder = Finder::new(which);
        let attach: AttachLock = Arc::new(Mutex::new(()));
        let recorder = Arc::new(Mutex::new(Recorder::new(
            jcmd_path.clone(),
            finder.clone(),
            attach.clone(),
            options.retainers,
        )?));
        let r = recorder.clone();
        let dumps = Worker::spawn("jfr", options.schedule, RETRY, move || {
            r.lock().unwrap_or_else(|p| p.into_inner()).dump()
        })?;
        let histogram = match options.histogram_interval {
            Some(every) => Some(Worker::spawn(
                "jcmd-histogram",
                Schedule::fixed((every * 1000.0) as u64),
                RETRY,
                move || {
                    let pid = finder.pid()?;
                    let _one = attach.lock().unwrap_or_else(|p| p.into_inner());
                    let text = jcmd(
                        &jcmd_path,
                        pid,
                        &["GC.class_histogram"],
                        Duration::from_secs(120),
                    )?;
                    parse_class_histogram(&text, TOP_CLASSES, pid, leakhound_time::unix_now())
                },
            )?),
            None => None,
        };
        Ok(Jvm {
            labels,
            recorder,
            dumps: Some(dumps),
            histogram,
            names: SiteNames::default(),
            grace: Grace::default(),
            pid: None,
            last_gc: -1,
            first_floor: None,
            last_floor: None,
        })
    }

    /// The heap at each collection the dump holds that was not recorded yet, at its time.
    fn record_heap(&mut self, dump: &Dump, out: &mut Readings<'_>) {
        let l = &self.labels;
        let spec = |name, unit| SeriesSpec {
            name,
            labels: l,
            kind: SeriesKind::Gauge,
            unit,
        };
        let mut newest = self.last_gc;
        for h in dump.heap.iter().filter(|h| h.gc_id > self.last_gc) {
            newest = newest.max(h.gc_id);
            let _ = out.record_at(&spec("java.heap_used", Unit::Bytes), h.t, h.used);
            if h.after {
                let _ = out.record_at(&spec("java.heap_after_gc", Unit::Bytes), h.t, h.used);
                let _ = out.record_at(&spec("java.heap_committed", Unit::Bytes), h.t, h.committed);
                self.first_floor.get_or_insert((h.t, h.used));
                self.last_floor = Some(h.used);
            }
        }
        for m in dump
            .metaspace
            .iter()
            .filter(|m| m.after && m.gc_id > self.last_gc)
        {
            let _ = out.record_at(&spec("java.metaspace_used", Unit::Bytes), m.t, m.used);
        }
        self.last_gc = newest;
    }

    fn record_dump(&mut self, reading: JfrReading, out: &mut Readings<'_>) {
        if self.pid != Some(reading.pid) {
            // Another JVM (restarted): its collections count from 0 and its heap anew.
            self.pid = Some(reading.pid);
            self.last_gc = -1;
            self.first_floor = None;
            self.last_floor = None;
        }
        for note in reading.started {
            out.warn(note);
        }
        self.record_heap(&reading.dump, out);
        let (Some((since, first)), Some(last)) = (self.first_floor, self.last_floor) else {
            return;
        };
        let t = reading
            .dump
            .emitted
            .unwrap_or_else(leakhound_time::unix_now);
        let samples = &reading.dump.samples;
        let growth = last - first;
        let Some(found) = sites(samples, growth, since, TOP_STACKS, reading.pid, t) else {
            return;
        };
        record_sites(&[found.report], &self.labels, &mut self.names, out);
        for (frames, holders) in found.holders.iter().take(HOLDER_SITES) {
            out.event(
                EventKind::Holders,
                crate::database::holders_detail(frames, &as_holders(holders, reading.pid)),
            );
        }
    }
}

/// The JVM's holders in the shape every runtime's take: the holder first, toward the GC root
/// (a path to a GC root lists the root first and ends with the object itself, which is not
/// its own holder).
fn as_holders(holders: &[Holder], pid: i32) -> Vec<leakhound_analysis::retainers::Holder> {
    holders
        .iter()
        .map(|h| leakhound_analysis::retainers::Holder {
            path: h.path.iter().rev().skip(1).cloned().collect(),
            bytes: h.bytes,
            objects: h.objects,
            source: "jvm".into(),
            pid: Some(pid),
        })
        .collect()
}

impl Source for Jvm {
    fn max_series(&self) -> usize {
        2 * MAX_SITE_SERIES + 16
    }

    fn poll(&mut self, out: &mut Readings<'_>) {
        let starting = self.grace.starting();
        let mut failed = Vec::new();
        let dumps = self.dumps.as_ref().map(|d| d.take()).unwrap_or_default();
        for got in dumps {
            match got {
                Ok(reading) => self.record_dump(reading, out),
                Err(e) => failed.push(e),
            }
        }
        let histograms = self
            .histogram
            .as_ref()
            .map(|h| h.take())
            .unwrap_or_default();
        for got in histograms {
            match got {
                Ok(r) => {
                    let l = &self.labels;
                    let bytes = r.sites.iter().map(|s| s.bytes).sum::<f64>() + r.other_bytes;
                    let objects = r.sites.iter().map(|s| s.objects).sum::<f64>() + r.other_objects;
                    let g = SeriesKind::Gauge;
                    let _ = out.runtime("java.live_bytes", l, g, Unit::Bytes, bytes);
                    let _ = out.runtime("java.live_objects", l, g, Unit::Count, objects);
                    record_sites(&[r], l, &mut self.names, out);
                }
                Err(e) => failed.push(e),
            }
        }
        if !starting {
            for e in failed {
                out.warn(format!("--jvm: {e}"));
            }
        }
    }
}

impl Drop for Jvm {
    /// Stops the recording before leakhound goes on (or exits): the dumping thread is told to
    /// end, then the recording is stopped once no dump is in flight.
    fn drop(&mut self) {
        self.dumps = None;
        self.histogram = None;
        self.recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stop();
    }
}
