//! `--pprof URL`: a Go program's heap profile (`/debug/pprof/heap`, the standard
//! `net/http/pprof` endpoint) on its own schedule, into allocation sites (source `go`) and the
//! runtime series `go.heap_inuse` and `go.heap_objects` (live at the last GC, from the
//! profile's totals) and the counters `go.alloc_bytes` and `go.alloc_objects`.

use std::collections::BTreeMap;
use std::time::Duration;

use leakhound_net::exporter::Scraper;
use leakhound_net::Uri;
use leakhound_probe::pprof::{parse_heap, HeapProfile};
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

/// The heap profile of one Go program.
pub struct GoHeap {
    url: Uri,
    labels: BTreeMap<String, String>,
    worker: Worker<HeapProfile>,
    names: SiteNames,
    grace: Grace,
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
        let worker = Worker::spawn("pprof", schedule, RETRY, move || {
            let body = scraper.fetch_bytes(&fetched)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            parse_heap(&body, TOP_STACKS, 0, now)
        })?;
        Ok(GoHeap {
            url,
            labels,
            worker,
            names: SiteNames::default(),
            grace: Grace::default(),
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
            let h = match got {
                Ok(h) => h,
                Err(e) => {
                    if !starting {
                        out.warn(format!("--pprof {}: {e}", self.url));
                    }
                    continue;
                }
            };
            let l = &self.labels;
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
            record_sites(&[h.sites], l, &mut self.names, out);
        }
    }
}
