//! The writer: a thread with its own connection that stores what the sampling thread read, so
//! that a database that is locked by another connection, slow, or full never delays a sample.
//!
//! The sampling thread puts each interval into the [`Spool`] and goes on. The writer stores
//! intervals oldest first, one transaction each. When a write fails it puts the interval back,
//! says so once (naming the database), retries every `retry`, and once a write succeeds again
//! catches up on everything held, says for how long writes failed and stores that as an event.
//! At idle moments it keeps the database up ([`Store::upkeep`]): closed blocks compacted, the
//! retention applied, a few tens of milliseconds at a time.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use leakhound_store::{Event, RunId, SeriesId, Store, StoreError, Upkeep, UpkeepCursor};

use super::clock::Clock;
use super::spool::{Interval, Spool};
use crate::error::user;
use crate::kinds::EventKind;

/// How long one write waits for another connection's lock before it counts as failed (then
/// the interval is held and retried). Short, so the first "locked" is said soon.
pub const WRITE_WAIT: Duration = Duration::from_secs(1);

/// Time between upkeep passes once every series is done.
const UPKEEP_EVERY: Duration = Duration::from_secs(30);
/// Longest one upkeep step holds the writer (and the database's write lock).
const UPKEEP_STEP: Duration = Duration::from_millis(50);
/// Pause between the steps of an unfinished pass, so intervals always go first.
const UPKEEP_PAUSE: Duration = Duration::from_millis(250);

/// Time between retries while the database refuses writes.
const RETRY: Duration = Duration::from_millis(250);

struct State {
    spool: Spool,
    /// Samples older than this many seconds become floor summaries; `None` keeps them all.
    retention: Option<f64>,
    /// Set when the session ends: store what is held, trying until this instant.
    closing: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writer thread and the spool it takes intervals from.
pub struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<(Store, Result<(), String>)>>,
    path: String,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("path", &self.path).finish()
    }
}

impl Writer {
    /// Starts writing into `run` of `store` intervals put into a spool of `max_samples`.
    pub fn start(
        store: Store,
        run: RunId,
        clock: Clock,
        max_samples: usize,
    ) -> anyhow::Result<Writer> {
        store.busy_timeout(WRITE_WAIT)?;
        let path = store.path().to_string();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                spool: Spool::new(max_samples),
                retention: None,
                closing: None,
            }),
            wake: Condvar::new(),
        });
        let mut work = Work {
            store,
            run,
            clock,
            shared: Arc::clone(&shared),
            aliases: HashMap::new(),
            failing: None,
            cursor: UpkeepCursor::default(),
            next_upkeep: Instant::now() + UPKEEP_PAUSE,
            upkeep_warned: false,
        };
        let thread = std::thread::Builder::new()
            .name("leakhound-writer".into())
            .spawn(move || {
                let result = work.run();
                (work.store, result)
            })?;
        Ok(Writer {
            shared,
            thread: Some(thread),
            path,
        })
    }

    /// Hands `interval` to the writer; returns at once.
    pub fn send(&self, interval: Interval) {
        let first_drop = self.shared.lock().spool.push(interval);
        self.shared.wake.notify_one();
        if first_drop {
            eprintln!(
                "leakhound: warning: more samples held for {} than the bound; dropping the oldest",
                self.path
            );
        }
    }

    /// Keeps samples older than `retention` seconds as floor summaries from now on.
    pub fn set_retention(&self, retention: Option<f64>) {
        self.shared.lock().retention = retention;
    }

    /// Samples waiting to be stored.
    pub fn held_samples(&self) -> usize {
        self.shared.lock().spool.held_samples()
    }

    /// Stores what is held, trying for at most `wait` while the database refuses, and stops.
    /// Returns the writer's connection, and an error that says what could not be stored.
    pub fn finish(mut self, wait: Duration) -> (Option<Store>, anyhow::Result<()>) {
        self.close(wait);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok((store, result))) => (Some(store), result.map_err(user)),
            _ => (
                None,
                Err(user(format!("{}: the writer stopped", self.path))),
            ),
        }
    }

    fn close(&self, wait: Duration) {
        self.shared.lock().closing = Some(Instant::now() + wait);
        self.shared.wake.notify_one();
    }
}

impl Drop for Writer {
    /// Stores what the database takes at once (a session that ends on an error), and stops.
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.close(Duration::ZERO);
            let _ = t.join();
        }
    }
}

/// The writer thread's own state.
struct Work {
    store: Store,
    run: RunId,
    clock: Clock,
    shared: Arc<Shared>,
    /// Ids of the series that intervals created, by the alias their samples carry.
    aliases: HashMap<SeriesId, SeriesId>,
    /// Since when (unix seconds) writes fail.
    failing: Option<f64>,
    cursor: UpkeepCursor,
    next_upkeep: Instant,
    upkeep_warned: bool,
}

enum Next {
    Write(Interval),
    Upkeep,
    Done,
}

impl Work {
    fn run(&mut self) -> Result<(), String> {
        loop {
            match self.next() {
                Next::Done => return Ok(()),
                Next::Upkeep => self.upkeep(),
                Next::Write(i) => {
                    if let Err(e) = self.write(&i) {
                        let mut state = self.shared.lock();
                        state.spool.unpop(i);
                        if state.closing.is_some_and(|c| Instant::now() >= c) {
                            return Err(self.not_stored(&state.spool, &e));
                        }
                        let pause = match state.closing {
                            Some(c) => RETRY.min(c.saturating_duration_since(Instant::now())),
                            None => RETRY,
                        };
                        drop(state);
                        std::thread::sleep(pause);
                    }
                }
            }
        }
    }

    /// The oldest interval held, or upkeep when it is due and nothing is held; waits for
    /// either.
    fn next(&mut self) -> Next {
        let mut state = self.shared.lock();
        loop {
            if let Some(i) = state.spool.pop() {
                return Next::Write(i);
            }
            if state.closing.is_some() {
                return Next::Done;
            }
            let now = Instant::now();
            if now >= self.next_upkeep {
                return Next::Upkeep;
            }
            state = self
                .shared
                .wake
                .wait_timeout(state, self.next_upkeep - now)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Writes one interval; says when writes start failing and when they work again.
    fn write(&mut self, i: &Interval) -> Result<(), StoreError> {
        let result = self.store.write_interval(
            self.run,
            &i.series,
            &i.sites,
            &i.rows,
            &i.events,
            &mut self.aliases,
        );
        match (&result, self.failing) {
            (Err(e), None) => {
                eprintln!(
                    "leakhound: warning: cannot write to {}: {e}; keeping samples in memory and retrying",
                    self.store.path()
                );
                self.failing = Some(self.clock.now());
            }
            (Ok(()), Some(since)) => {
                let (caught_up, dropped) = {
                    let state = self.shared.lock();
                    (state.spool.is_empty(), state.spool.dropped_samples())
                };
                if caught_up {
                    self.recovered(since, dropped);
                }
            }
            _ => {}
        }
        result
    }

    /// Says that writes work again after failing since `since`, and stores it as an event.
    fn recovered(&mut self, since: f64, dropped: u64) {
        let now = self.clock.now();
        let detail = format!(
            "database writes failed for {:.0} s; the intervals read meanwhile were held in memory and stored late{}",
            now - since,
            if dropped > 0 {
                format!(", except the oldest {dropped} samples")
            } else {
                String::new()
            }
        );
        eprintln!(
            "leakhound: {} is writable again: {detail}",
            self.store.path()
        );
        let note = Event {
            t: now,
            kind: EventKind::Warning.as_str().into(),
            detail,
        };
        let _ = self
            .store
            .write_interval(self.run, &[], &[], &[], &[note], &mut self.aliases);
        self.failing = None;
    }

    /// One upkeep step; a database busy with another writer is simply tried next time.
    fn upkeep(&mut self) {
        let u = Upkeep {
            now: self.clock.now(),
            retention: self.shared.lock().retention,
            run: None,
        };
        let step = self
            .store
            .upkeep(&u, &mut self.cursor, Some(Instant::now() + UPKEEP_STEP));
        self.next_upkeep = Instant::now()
            + match &step {
                Ok(d) if !d.finished => UPKEEP_PAUSE,
                _ => UPKEEP_EVERY,
            };
        if let Err(e) = step {
            if !e.is_busy() && !self.upkeep_warned {
                self.upkeep_warned = true;
                eprintln!(
                    "leakhound: warning: compacting {}: {e}; samples stay uncompressed where it fails",
                    self.store.path()
                );
            }
        }
    }

    /// What could not be stored when the session ended, and why.
    fn not_stored(&self, spool: &Spool, e: &StoreError) -> String {
        format!(
            "{}: the last {} intervals ({} samples{}) could not be stored: {e}",
            self.store.path(),
            spool.len(),
            spool.held_samples(),
            spool
                .oldest_time()
                .map(|t| format!(", from {}", leakhound_report::units::format_rfc3339(t)))
                .unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::new_run;
    use std::collections::BTreeMap;

    fn interval(series: SeriesId, t: f64) -> Interval {
        Interval {
            rows: vec![(series, t, t * 2.0)],
            ..Interval::default()
        }
    }

    /// A new database at `path` with a run sampled every `interval` and its `rss` series.
    fn database(path: &std::path::Path, interval: f64) -> (Store, RunId, SeriesId) {
        let store = Store::open(path).unwrap();
        let run = store
            .create_run(&new_run("watch", "t".into(), 0.0, Some(interval), None))
            .unwrap();
        let gauge = leakhound_store::SeriesKind::Gauge;
        let id = store
            .series(run, "rss", &BTreeMap::new(), gauge, "bytes")
            .unwrap();
        (store, run, id)
    }

    /// A writer on a new database with one series; the path.
    fn writer(dir: &std::path::Path) -> (Writer, SeriesId, std::path::PathBuf) {
        let path = dir.join("lh.db");
        let (store, run, id) = database(&path, 0.01);
        let w = Writer::start(store, run, Clock::start(), 1000).unwrap();
        (w, id, path)
    }

    fn locked(path: &std::path::Path) -> rusqlite::Connection {
        let other = rusqlite::Connection::open(path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        other
    }

    #[test]
    fn a_locked_database_holds_intervals_without_delaying_the_sender_then_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let (w, id, path) = writer(dir.path());
        let other = locked(&path);
        let mut slowest = Duration::ZERO;
        for k in 0..40 {
            let start = Instant::now();
            w.send(interval(id, f64::from(k)));
            slowest = slowest.max(start.elapsed());
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            slowest < Duration::from_millis(20),
            "a send took {slowest:?}"
        );
        assert!(w.held_samples() > 30, "{} held", w.held_samples());
        other.execute_batch("COMMIT").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.held_samples() > 0 {
            assert!(Instant::now() < deadline, "never caught up");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (store, result) = w.finish(Duration::from_secs(1));
        result.unwrap();
        let store = store.unwrap();
        let (t, v) = store.samples(id).unwrap();
        assert_eq!(t, (0..40).map(f64::from).collect::<Vec<_>>());
        assert_eq!(v[39], 78.0);
        let events = store.events(1).unwrap();
        assert!(
            events
                .iter()
                .any(|e| e.detail.contains("held in memory and stored late")),
            "{events:?}"
        );
    }

    #[test]
    fn a_lock_that_outlasts_the_session_is_an_error_naming_what_was_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (w, id, path) = writer(dir.path());
        let _other = locked(&path);
        for k in 0..3 {
            w.send(interval(id, 1_795_753_980.0 + f64::from(k)));
        }
        let start = Instant::now();
        let (store, result) = w.finish(Duration::from_millis(1500));
        let waited = start.elapsed();
        assert!(store.is_some());
        let e = result.unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}: the last 3 intervals (3 samples, from 2026-11-27T04:33:00Z) could not be stored: ",
                path.display()
            )),
            "{e}"
        );
        assert!(e.contains("locked"), "{e}");
        assert!(waited < Duration::from_secs(4), "gave up after {waited:?}");
    }

    #[test]
    fn idle_moments_compact_closed_blocks_and_apply_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lh.db");
        let (mut store, run, id) = database(&path, 1.0);
        // Two hours at 1 s, three days ago: older than a retention of a day.
        let t0 = Clock::start().now() - 3.0 * 86400.0;
        let rows: Vec<_> = (0..7200)
            .map(|i| (id, t0 + f64::from(i), f64::from(i % 100) * 4096.0))
            .collect();
        store.write_batch(run, &rows, &[]).unwrap();
        let w = Writer::start(store, run, Clock::start(), 1000).unwrap();
        w.set_retention(Some(86400.0));
        let reader = Store::open_read_only(&path).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        // Upkeep summarizes block by block, a transaction each: wait for all of them.
        while reader.run(run).unwrap().summarized_samples < 7200 {
            assert!(Instant::now() < deadline, "no complete upkeep in 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let (_, result) = w.finish(Duration::from_secs(1));
        result.unwrap();
        let floors = reader.floor_summaries(id).unwrap();
        assert_eq!(floors.iter().map(|f| f.count).sum::<u64>(), 7200);
        assert_eq!(reader.run(run).unwrap().summarized_samples, 7200);
    }

    #[test]
    fn series_created_while_locked_are_created_with_their_first_interval() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _, path) = writer(dir.path());
        let other = locked(&path);
        let new = leakhound_store::NewSeries {
            alias: -1,
            name: "late_metric".into(),
            labels: BTreeMap::new(),
            kind: leakhound_store::SeriesKind::Gauge,
            unit: "count".into(),
        };
        let mut first = interval(-1, 1.0);
        first.series.push(new);
        w.send(first);
        w.send(interval(-1, 2.0));
        std::thread::sleep(Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
        let (store, result) = w.finish(Duration::from_secs(5));
        result.unwrap();
        let store = store.unwrap();
        let late = store
            .series_of(1)
            .unwrap()
            .into_iter()
            .find(|s| s.name == "late_metric")
            .unwrap();
        assert_eq!(store.samples(late.id).unwrap().0, [1.0, 2.0]);
    }
}
