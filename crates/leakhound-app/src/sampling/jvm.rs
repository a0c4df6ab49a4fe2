//! `--jvm`: a JVM read through the JDK's `jcmd`, off the sampler's thread: `GC.heap_info`
//! every interval (at most every [`MIN_HEAP_INFO_INTERVAL`]) into `java.heap_used`,
//! `java.heap_committed` and `java.metaspace_used`, and `GC.class_histogram` every histogram
//! interval into allocation sites keyed by class (source `jvm`) and `java.live_bytes` /
//! `java.live_objects`, the live heap after the full GC the histogram runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leakhound_probe::jvm::{is_jvm, jcmd, parse_class_histogram, parse_heap_info, HeapInfo};
use leakhound_probe::sites::SitesReport;
use leakhound_probe::{descendants, ProcKey};
use leakhound_store::SeriesKind;

use super::sites::{record_sites, SiteNames, MAX_SITE_SERIES};
use super::source::{Grace, Readings, Source};
use super::worker::Worker;
use crate::kinds::Unit;

/// Default time between class histograms, seconds: each one is a full GC in the JVM.
pub const DEFAULT_HISTOGRAM_INTERVAL: f64 = 300.0;
/// `GC.heap_info` at most this often, seconds: each `jcmd` starts a JVM of its own (about
/// 0.3 s of CPU here).
pub const MIN_HEAP_INFO_INTERVAL: f64 = 5.0;
/// Classes kept per histogram; the rest is the remainder.
const TOP_CLASSES: usize = 200;
/// Time before trying again after a failure (the JVM may still be starting).
const RETRY: Duration = Duration::from_secs(2);

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
struct Finder {
    which: JvmProcess,
    found: Arc<Mutex<Option<i32>>>,
}

impl Finder {
    fn pid(&self) -> Result<i32, String> {
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

/// One JVM's heap and class histogram.
pub struct Jvm {
    labels: BTreeMap<String, String>,
    heap: Worker<HeapInfo>,
    histogram: Worker<SitesReport>,
    names: SiteNames,
    grace: Grace,
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Jvm {
    /// Reads the JVM `which` with `jcmd` (see [`leakhound_probe::jvm::find_jcmd`]): its heap
    /// every `interval` seconds and its histogram every `histogram_every`; series labelled
    /// `labels`.
    pub fn new(
        which: JvmProcess,
        jcmd_path: PathBuf,
        interval: f64,
        histogram_every: f64,
        labels: BTreeMap<String, String>,
    ) -> std::io::Result<Jvm> {
        let finder = Finder {
            which,
            found: Arc::new(Mutex::new(None)),
        };
        // One jcmd at a time: two attaching at once make the JVM print a thread dump into the
        // program's output (the second one's SIGQUIT arrives after the first started the attach
        // listener, and HotSpot takes it as a request for a dump).
        let one_at_a_time = Arc::new(Mutex::new(()));
        let (f, path, lock) = (finder.clone(), jcmd_path.clone(), one_at_a_time.clone());
        let heap = Worker::spawn(
            "jcmd-heap",
            leakhound_wire::Schedule::fixed((interval.max(MIN_HEAP_INFO_INTERVAL) * 1000.0) as u64),
            RETRY,
            move || {
                let _one = lock.lock().unwrap_or_else(|p| p.into_inner());
                let text = jcmd(&path, f.pid()?, &["GC.heap_info"], Duration::from_secs(30))?;
                parse_heap_info(&text)
            },
        )?;
        let histogram = Worker::spawn(
            "jcmd-histogram",
            leakhound_wire::Schedule::fixed((histogram_every * 1000.0) as u64),
            RETRY,
            move || {
                let _one = one_at_a_time.lock().unwrap_or_else(|p| p.into_inner());
                let pid = finder.pid()?;
                let text = jcmd(
                    &jcmd_path,
                    pid,
                    &["GC.class_histogram"],
                    Duration::from_secs(120),
                )?;
                parse_class_histogram(&text, TOP_CLASSES, pid, now())
            },
        )?;
        Ok(Jvm {
            labels,
            heap,
            histogram,
            names: SiteNames::default(),
            grace: Grace::default(),
        })
    }
}

impl Source for Jvm {
    fn max_series(&self) -> usize {
        MAX_SITE_SERIES + 8
    }

    fn poll(&mut self, out: &mut Readings<'_>) {
        let starting = self.grace.starting();
        let l = &self.labels;
        let mut failed = Vec::new();
        for got in self.heap.take() {
            match got {
                Ok(h) => {
                    let g = SeriesKind::Gauge;
                    let _ = out.runtime("java.heap_used", l, g, Unit::Bytes, h.used);
                    let _ = out.runtime("java.heap_committed", l, g, Unit::Bytes, h.committed);
                    if let Some(m) = h.metaspace_used {
                        let _ = out.runtime("java.metaspace_used", l, g, Unit::Bytes, m);
                    }
                }
                Err(e) => failed.push(e),
            }
        }
        for got in self.histogram.take() {
            match got {
                Ok(r) => {
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
