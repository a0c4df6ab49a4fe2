//! Driving a service with recorded traffic: `replay`, and `run --replay` while it samples.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leakhound_net::har::read_har;
use leakhound_net::replay::{
    prepare, replay as run_replay, Prepared, Repeat, ReplayOptions, ReplayStats,
};

use crate::error::user;

pub use leakhound_net::record::{RecordOptions, RecordStats};
pub use leakhound_net::replay::Pacing;
pub use leakhound_net::Uri;

/// `leakhound record`: proxies `opts.listen` to the upstream, writing each exchange to the HAR
/// file, until interrupted or `duration` seconds have passed; `announce` is told the address
/// bound. Counts go to `stats` as they happen.
pub fn record(
    opts: RecordOptions,
    stats: Arc<RecordStats>,
    duration: Option<f64>,
    announce: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    let listen = opts.listen;
    let stop = crate::session::stop_flag()?;
    let rt = runtime()?;
    let started = Instant::now();
    let shutdown = async move {
        loop {
            if stop.load(Ordering::Relaxed)
                || duration.is_some_and(|d| started.elapsed().as_secs_f64() >= d)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    rt.block_on(leakhound_net::record::record(
        opts, stats, announce, shutdown,
    ))
    .map_err(|e| user(format!("record on {listen}: {e}")))
}

/// A tokio runtime on two threads, for the proxy and the replayer.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// What to replay, against what, how fast.
#[derive(Debug, Clone)]
pub struct ReplayPlan {
    /// The HAR file.
    pub har: PathBuf,
    /// The service.
    pub target: Uri,
    /// Recorded pace (times a factor) or a fixed rate.
    pub pacing: Pacing,
    /// Most requests in flight.
    pub concurrency: usize,
    /// Start over at the end of the file.
    pub repeat: bool,
}

/// The requests of a HAR file, ready to send; a file cut short is repaired and said so.
fn load(path: &Path) -> anyhow::Result<Vec<Prepared>> {
    let (entries, repaired) = read_har(path).map_err(|e| user(e.to_string()))?;
    if repaired {
        eprintln!(
            "leakhound: {} was cut short (recorder killed?); replaying its {} complete entries",
            path.display(),
            entries.len()
        );
    }
    let reqs = prepare(&entries).map_err(|e| user(format!("{}: {e}", path.display())))?;
    if reqs.is_empty() {
        return Err(user(format!("{}: no requests to replay", path.display())));
    }
    Ok(reqs)
}

/// Replays in the background; the sampler reads its counters.
pub struct Driver {
    /// Requests sent, answered, failed, and latencies.
    pub stats: Arc<ReplayStats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Driver {
    /// Waits (up to 60 s, in the background) for the target to accept connections, then
    /// replays the plan, in a loop for `duration` seconds when given.
    pub fn start(plan: &ReplayPlan, duration: Option<f64>) -> anyhow::Result<Driver> {
        let reqs = load(&plan.har)?;
        let repeat = match duration {
            Some(d) => Repeat::For(Duration::from_secs_f64(d)),
            None if plan.repeat => Repeat::Loop,
            None => Repeat::Once,
        };
        let opts = ReplayOptions {
            target: plan.target.clone(),
            pacing: plan.pacing,
            concurrency: plan.concurrency,
            repeat,
            timeout: Duration::from_secs(30),
        };
        let stats = Arc::new(ReplayStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, stop2) = (Arc::clone(&stats), Arc::clone(&stop));
        let authority = plan
            .target
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        let thread = std::thread::Builder::new().name("replay".into()).spawn(move || {
            let Ok(rt) = runtime() else { return };
            rt.block_on(async move {
                let deadline = Instant::now() + Duration::from_secs(60);
                while tokio::net::TcpStream::connect(&authority).await.is_err() {
                    if Instant::now() > deadline || stop2.load(Ordering::Relaxed) {
                        eprintln!("leakhound: warning: {authority} never accepted connections; nothing replayed");
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                run_replay(reqs, opts, s2, stop2).await;
            });
        })?;
        Ok(Driver {
            stats,
            stop,
            thread: Some(thread),
        })
    }

    /// Whether the replay has finished.
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops sending and waits for requests in flight.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// "120 sent, 118 answered, 2 errors, latency p50 ... ms".
    pub fn summary(&self) -> String {
        let s = &self.stats;
        let p = s
            .percentiles()
            .map(|(a, b, c)| format!(", latency p50 {a:.1} ms p90 {b:.1} ms p99 {c:.1} ms"))
            .unwrap_or_default();
        format!(
            "{} sent, {} answered, {} errors{p}",
            s.sent.load(Ordering::Relaxed),
            s.answered.load(Ordering::Relaxed),
            s.errors.load(Ordering::Relaxed)
        )
    }

    /// Whether requests were sent and none was answered.
    pub fn none_answered(&self) -> bool {
        self.stats.sent.load(Ordering::Relaxed) > 0
            && self.stats.answered.load(Ordering::Relaxed) == 0
    }
}
