//! `--pprof URL`: a Go program's heap profile (`/debug/pprof/heap`, the standard
//! `net/http/pprof` endpoint) on its own schedule, into allocation sites (source `go`) and the
//! runtime series `go.heap_inuse` and `go.heap_objects` (live at the last GC, from the
//! profile's totals) and the counters `go.alloc_bytes` and `go.alloc_objects`.
//!
//! Goroutine leaks, the commonest Go leak (a goroutine blocked forever per request), are read
//! from the same endpoint's goroutine profile: `go.goroutines`, and the goroutines by stack as
//! sites (source `go.goroutines`) whose stacks end with the function that started them, from
//! a goroutine dump (`?debug=2`) taken when a stack of unknown origin appears.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use leakhound_net::exporter::Scraper;
use leakhound_net::Uri;
use leakhound_probe::pprof::{
    goroutine_creators, parse_goroutines, parse_heap, GoroutineProfile, HeapProfile,
};
use leakhound_store::SeriesKind;

use super::sites::{record_sites, SiteNames, MAX_SITE_SERIES};
use super::source::{Grace, Readings, Source};
use super::worker::Worker;
use crate::kinds::Unit;

/// Stacks kept per profile (the rest is the remainder), as the Node agent keeps.
const TOP_STACKS: usize = 200;
/// Time before trying again after a failure (the program may still be starting).
const RETRY: Duration = Duration::from_secs(2);
/// A profile that has not come after this long is not coming.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest time between goroutine dumps (a dump lists every goroutine: it is the costly
/// read). One is taken only when a goroutine stack of unknown origin appears.
const DUMP_EVERY: Duration = Duration::from_secs(3);

/// Most goroutine entry functions whose creators are remembered.
const MAX_ENTRIES: usize = 10_000;

/// One read of the program: its heap and, when the endpoint serves it, its goroutines.
struct Read {
    heap: HeapProfile,
    goroutines: Result<GoroutineProfile, String>,
}

/// The goroutine profile's URL beside the heap profile's.
fn goroutine_url(heap: &Uri, query: &str) -> Option<Uri> {
    let authority = heap.authority()?;
    let path = heap.path();
    let base = path.strip_suffix("/heap").unwrap_or("/debug/pprof");
    format!("http://{authority}{base}/goroutine{query}")
        .parse()
        .ok()
}

/// What started each goroutine entry function, learnt from dumps; a dump is taken when a
/// stack's entry is not known yet, at most every [`DUMP_EVERY`].
struct Creators {
    url: Option<Uri>,
    known: HashMap<String, String>,
    last_dump: Option<Instant>,
}

impl Creators {
    /// The entry function of a goroutine stack (innermost first): its outermost frame (the
    /// profile leaves `runtime.goexit` out; a stack that has it names the frame before),
    /// without its place.
    fn entry(frames: &[String]) -> Option<&str> {
        let end = frames
            .iter()
            .position(|f| f.starts_with("runtime.goexit"))
            .unwrap_or(frames.len());
        let f = frames.get(end.checked_sub(1)?)?;
        Some(f.split(" (").next().unwrap_or(f))
    }

    /// Ends each stack of `g` with its creator, dumping the goroutines first if one is unknown.
    fn attach(&mut self, scraper: &Scraper, g: &mut GoroutineProfile) {
        let unknown = g
            .sites
            .sites
            .iter()
            .any(|s| Self::entry(&s.frames).is_some_and(|e| !self.known.contains_key(e)));
        let due = self.last_dump.is_none_or(|t| t.elapsed() >= DUMP_EVERY);
        if let (true, true, Some(url)) = (unknown, due, &self.url) {
            self.last_dump = Some(Instant::now());
            if self.known.len() > MAX_ENTRIES {
                self.known.clear();
            }
            if let Ok(body) = scraper.fetch_bytes(url) {
                for (entry, creator) in goroutine_creators(&String::from_utf8_lossy(&body)) {
                    self.known.entry(entry).or_insert(creator);
                }
                // Entries the dump names no creator for (the main goroutine, one that ended)
                // are not asked about again: an empty creator.
                for s in &g.sites.sites {
                    if let Some(e) = Self::entry(&s.frames) {
                        self.known.entry(e.to_string()).or_default();
                    }
                }
            }
        }
        for s in &mut g.sites.sites {
            let creator = Self::entry(&s.frames)
                .and_then(|e| self.known.get(e))
                .filter(|c| !c.is_empty());
            if let Some(c) = creator {
                if s.frames.len() < leakhound_probe::sites::MAX_FRAMES {
                    s.frames.push(c.clone());
                }
            }
        }
    }
}

/// The heap profile of one Go program.
pub struct GoHeap {
    url: Uri,
    labels: BTreeMap<String, String>,
    worker: Worker<Read>,
    names: SiteNames,
    grace: Grace,
    said_no_goroutines: bool,
}

impl GoHeap {
    /// Fetches `url` on `schedule`; the series are labelled `labels` (the target's).
    pub fn new(
        url: Uri,
        schedule: leakhound_wire::Schedule,
        labels: BTreeMap<String, String>,
    ) -> std::io::Result<GoHeap> {
        let scraper = Scraper::new(TIMEOUT)?;
        let fetched = url.clone();
        let goroutines = goroutine_url(&url, "");
        let mut creators = Creators {
            url: goroutine_url(&url, "?debug=2"),
            known: HashMap::new(),
            last_dump: None,
        };
        let worker = Worker::spawn("pprof", schedule, RETRY, move || {
            let body = scraper.fetch_bytes(&fetched)?;
            let now = leakhound_time::unix_now();
            let heap = parse_heap(&body, TOP_STACKS, 0, now)?;
            let goroutines = goroutines
                .as_ref()
                .ok_or_else(|| "no goroutine profile URL".to_string())
                .and_then(|u| scraper.fetch_bytes(u))
                .and_then(|b| parse_goroutines(&b, TOP_STACKS, 0, now))
                .map(|mut g| {
                    creators.attach(&scraper, &mut g);
                    g
                });
            Ok(Read { heap, goroutines })
        })?;
        Ok(GoHeap {
            url,
            labels,
            worker,
            names: SiteNames::default(),
            grace: Grace::default(),
            said_no_goroutines: false,
        })
    }
}

impl Source for GoHeap {
    fn max_series(&self) -> usize {
        MAX_SITE_SERIES + 8
    }

    fn poll(&mut self, out: &mut Readings<'_>) {
        let starting = self.grace.starting();
        for got in self.worker.take() {
            let r = match got {
                Ok(r) => r,
                Err(e) => {
                    if !starting {
                        out.warn(format!("--pprof {}: {e}", self.url));
                    }
                    continue;
                }
            };
            let (h, l) = (&r.heap, &self.labels);
            let _ = out.runtime(
                "go.heap_inuse",
                l,
                SeriesKind::Gauge,
                Unit::Bytes,
                h.inuse_bytes,
            );
            let _ = out.runtime(
                "go.heap_objects",
                l,
                SeriesKind::Gauge,
                Unit::Count,
                h.inuse_objects,
            );
            if let Some(v) = h.alloc_bytes {
                let _ = out.runtime("go.alloc_bytes", l, SeriesKind::Counter, Unit::Bytes, v);
            }
            if let Some(v) = h.alloc_objects {
                let _ = out.runtime("go.alloc_objects", l, SeriesKind::Counter, Unit::Count, v);
            }
            let mut reports = vec![r.heap.sites];
            match r.goroutines {
                Ok(g) => {
                    let _ =
                        out.runtime("go.goroutines", l, SeriesKind::Gauge, Unit::Count, g.count);
                    reports.push(g.sites);
                }
                Err(e) if !self.said_no_goroutines => {
                    self.said_no_goroutines = true;
                    out.warn(format!(
                        "--pprof {}: no goroutine profile beside the heap profile ({e}): \
                         goroutine leaks are not watched",
                        self.url
                    ));
                }
                Err(_) => {}
            }
            record_sites(&reports, l, &mut self.names, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_goroutine_profile_sits_beside_the_heap_profile() {
        let heap: Uri = "http://127.0.0.1:6060/debug/pprof/heap?gc=1"
            .parse()
            .unwrap();
        assert_eq!(
            goroutine_url(&heap, "?debug=2").unwrap().to_string(),
            "http://127.0.0.1:6060/debug/pprof/goroutine?debug=2"
        );
        let other: Uri = "http://h:1/internal/pprof/heap".parse().unwrap();
        assert_eq!(
            goroutine_url(&other, "").unwrap().to_string(),
            "http://h:1/internal/pprof/goroutine"
        );
        let frames: Vec<String> = [
            "runtime.gopark (proc.go:363)",
            "main.worker (main.go:16)",
            "runtime.goexit (asm_amd64.s:1594)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(Creators::entry(&frames), Some("main.worker"));
        assert_eq!(Creators::entry(&frames[..2]), Some("main.worker"));
    }
}
