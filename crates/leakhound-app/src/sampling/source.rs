//! Sources of series that are not a target's processes, each polled on its own schedule:
//! `--scrape` endpoints and the replay counter today; allocation-site profilers (the Node.js
//! heap profiler, a native malloc profiler, Go pprof, Python tracemalloc, JVM class histograms)
//! sample every 30 s or so whatever `--interval` is, and plug in here.
//!
//! A source reads into [`Readings`], which creates its series on first use (at most
//! [`Source::max_series`]) and puts the samples into the interval being stored.

use leakhound_store::NewSite;

pub use super::catalog::Full;
use super::catalog::{Catalog, Draft, SeriesSpec};
use crate::kinds::EventKind;

/// Most series one source adds to a run unless it says otherwise.
pub const MAX_SOURCE_SERIES: usize = 5000;

pub use super::spool::Row;

/// A source of series polled by the sampler.
pub trait Source {
    /// Seconds between polls; `None` to poll every sampling interval.
    fn period(&self) -> Option<f64> {
        None
    }

    /// Most series it may add to one run.
    fn max_series(&self) -> usize {
        MAX_SOURCE_SERIES
    }

    /// Reads once into `out`.
    fn poll(&mut self, out: &mut Readings<'_>);
}

/// Where a reader puts what it read in one interval.
pub struct Readings<'a> {
    now: f64,
    catalog: &'a mut Catalog,
    draft: &'a mut Draft,
    warnings: &'a mut Vec<String>,
}

impl<'a> Readings<'a> {
    pub(crate) fn new(
        now: f64,
        catalog: &'a mut Catalog,
        draft: &'a mut Draft,
        warnings: &'a mut Vec<String>,
    ) -> Readings<'a> {
        Readings {
            now,
            catalog,
            draft,
            warnings,
        }
    }

    /// The interval's time, unix seconds.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Records `value` of `series` at this interval's time (a new series is created with the
    /// interval); `Full` when the reader has added all the series it may.
    pub fn record(&mut self, series: &SeriesSpec, value: f64) -> Result<(), Full> {
        self.record_at(series, self.now, value)
    }

    /// Records `value` of `series` at unix time `t`, a moment the source knows better than
    /// the interval's (a JVM's collection, read from a recording after it happened).
    pub fn record_at(&mut self, series: &SeriesSpec, t: f64, value: f64) -> Result<(), Full> {
        let id = self.catalog.id(self.draft, series)?;
        self.draft.rows.push((id, t, value));
        Ok(())
    }

    /// Records a gauge or counter of a runtime (`go.heap_inuse`, `java.heap_used`) labelled
    /// `labels`; `Full` as [`Readings::record`].
    pub fn runtime(
        &mut self,
        name: &str,
        labels: &std::collections::BTreeMap<String, String>,
        kind: leakhound_store::SeriesKind,
        unit: crate::kinds::Unit,
        value: f64,
    ) -> Result<(), Full> {
        let spec = SeriesSpec {
            name,
            labels,
            kind,
            unit,
        };
        self.record(&spec, value)
    }

    /// Names the stack behind site `hash` in the run (see [`super::sites`]), with this
    /// interval. It cannot fail today: the `Result` is kept for sources whose naming can.
    pub fn name_site(&mut self, hash: &str, source: &str, frames: &[String]) -> Result<(), String> {
        self.draft.name_site(NewSite {
            hash: hash.to_string(),
            source: source.to_string(),
            frames: frames.to_vec(),
        });
        Ok(())
    }

    /// Stores an event of `kind` with this interval (not printed): what a source found that
    /// is no sample, such as a JVM's holders.
    pub fn event(&mut self, kind: EventKind, detail: String) {
        self.draft.event(kind.at(self.now, detail));
    }

    /// Says something once per run (the same text again is not repeated), stored as an event.
    pub fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }
}

/// How long after its first poll a source stays quiet about an endpoint or a process that does
/// not answer: a command started with the session needs a moment before it does.
pub const STARTUP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Tells whether a source is still in its [`STARTUP_GRACE`].
#[derive(Debug, Default)]
pub struct Grace {
    first_poll: Option<std::time::Instant>,
}

impl Grace {
    /// Whether the first poll (the first call) was less than [`STARTUP_GRACE`] ago.
    pub fn starting(&mut self) -> bool {
        self.first_poll
            .get_or_insert_with(std::time::Instant::now)
            .elapsed()
            < STARTUP_GRACE
    }
}

/// A source with its series and when it is due.
pub(crate) struct Scheduled {
    source: Box<dyn Source>,
    catalog: Catalog,
    due: f64,
}

impl Scheduled {
    pub(crate) fn new(source: Box<dyn Source>) -> Scheduled {
        Scheduled {
            catalog: Catalog::new(source.max_series()),
            source,
            due: f64::NEG_INFINITY,
        }
    }

    /// Polls the source if it is due at `now`.
    pub(crate) fn poll_if_due(&mut self, now: f64, draft: &mut Draft, warnings: &mut Vec<String>) {
        if now < self.due {
            return;
        }
        let mut out = Readings::new(now, &mut self.catalog, draft, warnings);
        self.source.poll(&mut out);
        self.due = self.source.period().map_or(now, |p| now + p);
    }
}
