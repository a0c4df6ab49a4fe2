//! The spool: intervals read but not stored yet, because the database refused them (disk
//! full, I/O error). They are retried every interval, oldest first, so nothing read is lost
//! while the database recovers, up to a bound that keeps leakhound from becoming the process
//! that fills the memory.

use std::collections::VecDeque;
use std::fmt::Display;

use leakhound_store::{Event, RunId, Store, StoreError};

use super::source::Row;
use crate::error::user;

/// Most samples held while the database refuses writes (24 bytes each: 24 MB; at 100
/// processes every second, about a quarter of an hour). Beyond it the oldest are dropped.
pub const MAX_HELD_SAMPLES: usize = 1_000_000;

/// One interval's rows and events, as written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Interval {
    /// Samples.
    pub rows: Vec<Row>,
    /// Events (exits, restarts, warnings).
    pub events: Vec<Event>,
}

/// Where intervals are stored, each all or nothing.
pub trait Sink {
    /// Why a write failed.
    type Error: Display;
    /// Writes one interval in one transaction.
    fn write(&mut self, interval: &Interval) -> Result<(), Self::Error>;
    /// What it is, for messages (the database's path).
    fn name(&self) -> String;
}

/// A run in the database.
pub struct RunSink<'a> {
    /// The database.
    pub store: &'a mut Store,
    /// The run written.
    pub run: RunId,
}

impl Sink for RunSink<'_> {
    type Error = StoreError;
    fn write(&mut self, i: &Interval) -> Result<(), StoreError> {
        self.store.write_batch(self.run, &i.rows, &i.events)
    }
    fn name(&self) -> String {
        self.store.path().to_string()
    }
}

/// Intervals held, oldest first, and what happened to writes.
#[derive(Debug)]
pub struct Spool {
    held: VecDeque<Interval>,
    held_samples: usize,
    max_samples: usize,
    /// Samples of held intervals given up because too many were held.
    dropped_samples: u64,
    /// When the sink first refused a write, while it still does.
    failing_since: Option<f64>,
}

impl Spool {
    /// A spool that holds at most `max_samples` samples.
    pub fn new(max_samples: usize) -> Spool {
        Spool {
            held: VecDeque::new(),
            held_samples: 0,
            max_samples,
            dropped_samples: 0,
            failing_since: None,
        }
    }

    /// Samples held now.
    pub fn held_samples(&self) -> usize {
        self.held_samples
    }

    /// Stores `interval` after any held ones; when the sink refuses, holds it and says so
    /// once; when the sink takes writes again, says for how long it did not and stores that
    /// as an event.
    pub fn store<S: Sink>(&mut self, sink: &mut S, interval: Interval, now: f64) {
        self.held_samples += interval.rows.len();
        self.held.push_back(interval);
        if let Some(since) = self.failing_since {
            if self.write_held(sink).is_ok() {
                let detail = format!(
                    "database writes failed for {:.0} s; the intervals read meanwhile were held in memory and stored late{}",
                    now - since,
                    if self.dropped_samples > 0 {
                        format!(", except the oldest {} samples", self.dropped_samples)
                    } else {
                        String::new()
                    }
                );
                eprintln!("leakhound: {} is writable again: {detail}", sink.name());
                let note = Interval {
                    rows: Vec::new(),
                    events: vec![Event {
                        t: now,
                        kind: "warning".into(),
                        detail,
                    }],
                };
                let _ = sink.write(&note);
                self.failing_since = None;
            }
        } else if let Err(e) = self.write_held(sink) {
            eprintln!(
                "leakhound: warning: cannot write to {}: {e}; keeping samples in memory and retrying every interval",
                sink.name()
            );
            self.failing_since = Some(now);
        }
        while self.held_samples > self.max_samples {
            let Some(old) = self.held.pop_front() else {
                break;
            };
            if self.dropped_samples == 0 {
                eprintln!(
                    "leakhound: warning: more than {} samples held for {}; dropping the oldest",
                    self.max_samples,
                    sink.name()
                );
            }
            self.held_samples -= old.rows.len();
            self.dropped_samples += old.rows.len() as u64;
        }
    }

    /// Writes held intervals, oldest first, each in its own transaction; stops at the first
    /// refusal.
    fn write_held<S: Sink>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        while let Some(i) = self.held.front() {
            sink.write(i)?;
            self.held_samples -= i.rows.len();
            self.held.pop_front();
        }
        Ok(())
    }

    /// Stores what is still held, at the end of a session; the error says how much could not
    /// be stored and why.
    pub fn flush<S: Sink>(&mut self, sink: &mut S) -> anyhow::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.write_held(sink) {
            let since = self.held.front().and_then(|i| i.rows.first()).map(|r| r.1);
            return Err(user(format!(
                "{}: the last {} intervals ({} samples{}) could not be stored: {e}",
                sink.name(),
                self.held.len(),
                self.held_samples,
                since
                    .map(|t| format!(", from {}", leakhound_report::units::format_rfc3339(t)))
                    .unwrap_or_default()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that refuses while `full` is set, and keeps what it was given.
    #[derive(Default)]
    struct Disk {
        full: bool,
        written: Vec<Interval>,
    }

    impl Sink for Disk {
        type Error = String;
        fn write(&mut self, i: &Interval) -> Result<(), String> {
            if self.full {
                return Err("database or disk is full".into());
            }
            self.written.push(i.clone());
            Ok(())
        }
        fn name(&self) -> String {
            "/tmp/x.db".into()
        }
    }

    impl Disk {
        fn full() -> Disk {
            Disk {
                full: true,
                written: Vec::new(),
            }
        }
    }

    fn interval(t: f64, samples: usize) -> Interval {
        Interval {
            rows: (0..samples).map(|s| (s as i64, t, 1.0)).collect(),
            events: Vec::new(),
        }
    }

    fn times(d: &Disk) -> Vec<f64> {
        d.written
            .iter()
            .filter_map(|i| i.rows.first().map(|r| r.1))
            .collect()
    }

    #[test]
    fn intervals_held_while_full_are_stored_in_order_when_space_returns() {
        let (mut spool, mut disk) = (Spool::new(100), Disk::default());
        spool.store(&mut disk, interval(1.0, 3), 1.0);
        disk.full = true;
        spool.store(&mut disk, interval(2.0, 3), 2.0);
        spool.store(&mut disk, interval(3.0, 3), 3.0);
        assert_eq!(spool.held_samples(), 6);
        disk.full = false;
        spool.store(&mut disk, interval(4.0, 3), 4.0);
        assert_eq!(times(&disk), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(spool.held_samples(), 0);
        let note = &disk.written.last().unwrap().events[0];
        assert_eq!(note.kind, "warning");
        assert!(
            note.detail.starts_with("database writes failed for 2 s"),
            "{}",
            note.detail
        );
    }

    #[test]
    fn beyond_the_bound_the_oldest_are_dropped_and_said() {
        let (mut spool, mut disk) = (Spool::new(5), Disk::full());
        for t in 1..=4 {
            spool.store(&mut disk, interval(f64::from(t), 2), f64::from(t));
        }
        assert_eq!(spool.held_samples(), 4, "two intervals kept of four");
        disk.full = false;
        spool.store(&mut disk, interval(5.0, 2), 5.0);
        assert_eq!(times(&disk), [3.0, 4.0, 5.0]);
        let note = &disk.written.last().unwrap().events[0].detail;
        assert!(note.ends_with("except the oldest 4 samples"), "{note}");
    }

    #[test]
    fn a_flush_that_fails_says_what_was_not_stored() {
        let (mut spool, mut disk) = (Spool::new(100), Disk::full());
        spool.store(&mut disk, interval(1795753980.0, 2), 1795753980.0);
        spool.store(&mut disk, interval(1795753981.0, 2), 1795753981.0);
        let e = spool.flush(&mut disk).unwrap_err().to_string();
        assert_eq!(
            e,
            "/tmp/x.db: the last 2 intervals (4 samples, from 2026-11-27T04:33:00Z) could not be stored: database or disk is full"
        );
        disk.full = false;
        spool.flush(&mut disk).unwrap();
        assert_eq!(times(&disk), [1795753980.0, 1795753981.0]);
    }
}
