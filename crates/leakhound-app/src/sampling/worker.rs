//! Slow readings off the sampler's thread: a profile fetched over HTTP, a `jcmd` that starts a
//! JVM of its own (about 0.3 s of CPU and up to seconds under load) must not delay the
//! interval's other readings. A [`Worker`] runs its job on a thread of its own on a
//! [`Schedule`] (sooner again after a failure: the program may still be starting) and keeps the
//! few latest results for the source to take at its next poll.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::time::{Duration, Instant};

use leakhound_wire::Schedule;

/// Results kept until taken; older ones are dropped when the sampler falls behind.
const KEPT: usize = 4;

/// A job run every `period` on its own thread; stops when dropped.
pub struct Worker<T> {
    results: Receiver<Result<T, String>>,
    /// Dropping it wakes the thread and ends it.
    _stop: Sender<()>,
}

impl<T: Send + 'static> Worker<T> {
    /// Runs `job` now and then after each gap of `schedule` (measured from the end of the last
    /// run, so a slow job never piles up; the gap grows with the time since the first run that
    /// succeeded), or `retry` after a failure, on a thread named `name`. A program slow to
    /// start (a JVM compiling its source on a loaded machine) gives nothing to read for a
    /// while; the schedule's dense start is kept for its first readings, not spent waiting.
    pub fn spawn(
        name: &str,
        schedule: Schedule,
        retry: Duration,
        mut job: impl FnMut() -> Result<T, String> + Send + 'static,
    ) -> std::io::Result<Worker<T>> {
        let (tx, results): (SyncSender<Result<T, String>>, _) = mpsc::sync_channel(KEPT);
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut first_read: Option<Instant> = None;
                loop {
                    let got = job();
                    if got.is_ok() {
                        first_read.get_or_insert_with(Instant::now);
                    }
                    let period = schedule.gap(first_read.map_or(Duration::ZERO, |t| t.elapsed()));
                    let wait = if got.is_ok() {
                        period
                    } else {
                        retry.min(period)
                    };
                    // A full queue drops this result: the sampler takes the next one.
                    if let Err(mpsc::TrySendError::Disconnected(_)) = tx.try_send(got) {
                        return;
                    }
                    match stopped.recv_timeout(wait) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            })?;
        Ok(Worker {
            results,
            _stop: stop,
        })
    }

    /// What the job produced since the last call, oldest first.
    pub fn take(&self) -> Vec<Result<T, String>> {
        self.results.try_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_its_schedule_and_stops_when_dropped() {
        let (ran, counted) = mpsc::channel();
        let mut n = 0;
        let w = Worker::spawn(
            "test",
            Schedule::fixed(20),
            Duration::from_secs(60),
            move || {
                n += 1;
                let _ = ran.send(());
                Ok(n)
            },
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let got = w.take();
        assert!(!got.is_empty() && got.len() <= KEPT, "{got:?}");
        assert_eq!(got[0], Ok(1), "the first run is at once");
        drop(w);
        std::thread::sleep(Duration::from_millis(50));
        let before = counted.try_iter().count();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(counted.try_iter().count(), 0, "stopped after {before} runs");
    }

    #[test]
    fn a_failure_is_retried_sooner() {
        let mut n = 0;
        let w = Worker::spawn(
            "test",
            Schedule::fixed(60_000),
            Duration::from_millis(20),
            move || {
                n += 1;
                if n < 3 {
                    Err(format!("not yet {n}"))
                } else {
                    Ok(n)
                }
            },
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            w.take(),
            [Err("not yet 1".into()), Err("not yet 2".into()), Ok(3)]
        );
    }

    #[test]
    fn the_dense_start_waits_for_the_first_reading() {
        // Nothing to read for 600 ms (retried every 20 ms); then the gaps start at the
        // schedule's 10 ms, not at the 90 ms that 15% of 600 ms would give.
        let (read, reads) = mpsc::channel();
        let started = Instant::now();
        let w = Worker::spawn(
            "test",
            Schedule {
                min_ms: 10,
                max_ms: 10_000,
            },
            Duration::from_millis(20),
            move || {
                if started.elapsed() < Duration::from_millis(600) {
                    return Err("starting".to_string());
                }
                let _ = read.send(Instant::now());
                Ok(())
            },
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(950));
        drop(w);
        let at: Vec<Instant> = reads.try_iter().collect();
        let first = at[0];
        let within = at
            .iter()
            .filter(|t| t.duration_since(first) <= Duration::from_millis(300))
            .count();
        assert!(
            within >= 6,
            "{within} readings in the 300 ms after the first"
        );
    }
}
