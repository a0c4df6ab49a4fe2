//! `record` and `replay`: production-shaped traffic for a soak, and `run --replay`'s driver.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leakhound_net::har::read_har;
use leakhound_net::record::{record as run_recorder, RecordOptions, RecordStats};
use leakhound_net::replay::{
    prepare, replay as run_replay, Pacing, Prepared, Repeat, ReplayOptions, ReplayStats,
};
use leakhound_report::units::parse_size;

use crate::cli::{RecordArgs, ReplayArgs, ReplayPacing};
use crate::error::user;
use crate::session::stop_flag;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn http_uri(flag: &str, s: &str) -> anyhow::Result<leakhound_net::Uri> {
    let uri: leakhound_net::Uri = s
        .parse()
        .map_err(|_| user(format!("{flag} {s:?}: not a URL")))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(user(format!(
            "{flag} {s:?}: write http://HOST:PORT (plain HTTP)"
        )));
    }
    Ok(uri)
}

fn pacing(p: &ReplayPacing) -> anyhow::Result<Pacing> {
    if let Some(r) = &p.rate {
        let n: f64 = r
            .trim_end_matches("/s")
            .parse()
            .ok()
            .filter(|v: &f64| *v > 0.0 && v.is_finite())
            .ok_or_else(|| {
                user(format!(
                    "--rate {r:?}: write requests per second, e.g. 200/s"
                ))
            })?;
        return Ok(Pacing::Rate(n));
    }
    let speed = match &p.speed {
        Some(s) => s
            .trim_end_matches('x')
            .parse()
            .ok()
            .filter(|v: &f64| *v > 0.0 && v.is_finite())
            .ok_or_else(|| user(format!("--speed {s:?}: write a factor, e.g. 2x")))?,
        None => 1.0,
    };
    Ok(Pacing::Original { speed })
}

fn load(path: &std::path::Path) -> anyhow::Result<Vec<Prepared>> {
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

fn progress_line(s: &ReplayStats) -> String {
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

pub fn record(args: &RecordArgs) -> anyhow::Result<bool> {
    let listen: SocketAddr = args.listen.parse().map_err(|_| {
        user(format!(
            "--listen {:?}: write IP:PORT, e.g. 127.0.0.1:8080",
            args.listen
        ))
    })?;
    let upstream = http_uri("--upstream", &args.upstream)?;
    let max_body =
        parse_size(&args.max_body).map_err(|e| user(format!("--max-body: {e}")))? as usize;
    let duration = crate::cmd::for_duration(args.duration.as_deref())?;
    let stop = stop_flag()?;
    let opts = RecordOptions {
        listen,
        upstream,
        out: args.out.clone(),
        keep_credentials: args.keep_credentials,
        max_body,
    };
    let stats = Arc::new(RecordStats::default());
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
    let keep = args.keep_credentials;
    let announce = |bound: SocketAddr| {
        let scope = if bound.ip().is_loopback() {
            "loopback only"
        } else {
            "reachable from other hosts"
        };
        eprintln!(
            "leakhound: recording on http://{bound} ({scope}) -> {}, writing {}{}",
            args.upstream,
            args.out.display(),
            if keep {
                " WITH credentials"
            } else {
                " (credentials redacted)"
            }
        );
    };
    rt.block_on(run_recorder(opts, Arc::clone(&stats), announce, shutdown))
        .map_err(|e| user(format!("record on {listen}: {e}")))?;
    eprintln!(
        "leakhound: recorded {} exchanges ({} upstream errors) to {}",
        stats.entries.load(Ordering::Relaxed),
        stats.upstream_errors.load(Ordering::Relaxed),
        args.out.display()
    );
    Ok(false)
}

/// Replays in the background; the sampler reads its counters.
pub struct Driver {
    pub stats: Arc<ReplayStats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Driver {
    /// Waits (up to 60 s, in the background) for `target` to accept connections, then replays.
    pub fn start(
        har: &std::path::Path,
        target: &str,
        p: &ReplayPacing,
        duration: Option<f64>,
    ) -> anyhow::Result<Driver> {
        let uri = http_uri("--target", target)?;
        let pacing = pacing(p)?;
        let reqs = load(har)?;
        let repeat = match duration {
            Some(d) if p.repeat || duration.is_some() => Repeat::For(Duration::from_secs_f64(d)),
            _ if p.repeat => Repeat::Loop,
            _ => Repeat::Once,
        };
        let opts = ReplayOptions {
            target: uri.clone(),
            pacing,
            concurrency: p.concurrency,
            repeat,
            timeout: Duration::from_secs(30),
        };
        let stats = Arc::new(ReplayStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, stop2) = (Arc::clone(&stats), Arc::clone(&stop));
        let authority = uri
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

    pub fn summary(&self) -> String {
        progress_line(&self.stats)
    }
}

pub fn replay(args: &ReplayArgs) -> anyhow::Result<bool> {
    let duration = crate::cmd::for_duration(args.duration.as_deref())?;
    let stop = stop_flag()?;
    let mut driver = Driver::start(&args.har, &args.target, &args.pacing, duration)?;
    eprintln!(
        "leakhound: replaying {} against {}",
        args.har.display(),
        args.target
    );
    let mut last = Instant::now();
    while !driver.finished() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if last.elapsed() >= Duration::from_secs(5) {
            eprintln!("leakhound: {}", driver.summary());
            last = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    driver.stop();
    println!("replayed: {}", driver.summary());
    if driver.stats.sent.load(Ordering::Relaxed) > 0
        && driver.stats.answered.load(Ordering::Relaxed) == 0
    {
        return Err(user(format!("{} answered no request", args.target)));
    }
    Ok(false)
}
