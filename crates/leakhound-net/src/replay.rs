//! `replay`: sends the requests of a HAR file to a target, with their original timing scaled
//! or at a fixed rate, once, in a loop or for a while, and measures latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use leakhound_time::parse_timestamp;
use tokio::sync::Semaphore;

use crate::har::{Entry, REDACTED};

/// How requests are spaced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// The recorded gaps divided by this factor (2.0 = twice as fast).
    Original {
        /// Speed factor.
        speed: f64,
    },
    /// A fixed number of requests per second.
    Rate(f64),
}

/// How long to go on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Repeat {
    /// Each request once.
    Once,
    /// Start over at the end, until stopped.
    Loop,
    /// Start over at the end, until this much time has passed.
    For(Duration),
}

/// What to replay against.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// `http://host:port` of the target; paths and queries come from the HAR.
    pub target: Uri,
    /// Spacing.
    pub pacing: Pacing,
    /// Most requests in flight at once.
    pub concurrency: usize,
    /// Duration.
    pub repeat: Repeat,
    /// Timeout of one request.
    pub timeout: Duration,
}

/// One request ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Seconds after the first request at the original pace.
    pub offset: f64,
    method: Method,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

/// Headers not replayed: per-connection ones, ones the client sets itself, and credentials
/// that were redacted when recording.
fn replayable(name: &str, value: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !(matches!(
        n.as_str(),
        "host"
            | "content-length"
            | "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "te"
            | "upgrade"
            | "proxy-connection"
    ) || n.starts_with(':')
        || value == REDACTED)
}

/// Turns HAR entries into requests, in start order. Fails on a method or URL it cannot send.
pub fn prepare(entries: &[Entry]) -> Result<Vec<Prepared>, String> {
    let mut timed: Vec<(f64, &Entry)> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let t = parse_timestamp(&e.started_date_time)
            .map_err(|m| format!("entry {}: startedDateTime: {m}", i + 1))?;
        timed.push((t, e));
    }
    timed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let t0 = timed.first().map(|t| t.0).unwrap_or(0.0);
    timed
        .into_iter()
        .enumerate()
        .map(|(i, (t, e))| {
            let method = Method::from_bytes(e.request.method.as_bytes())
                .map_err(|_| format!("entry {}: bad method {:?}", i + 1, e.request.method))?;
            let uri: Uri = e
                .request
                .url
                .parse()
                .map_err(|_| format!("entry {}: bad url {:?}", i + 1, e.request.url))?;
            let body = match &e.request.post_data {
                Some(p) if p.encoding.as_deref() == Some("base64") => Bytes::from(
                    base64::engine::general_purpose::STANDARD
                        .decode(&p.text)
                        .map_err(|_| format!("entry {}: postData is not base64", i + 1))?,
                ),
                Some(p) => Bytes::from(p.text.clone()),
                None => Bytes::new(),
            };
            Ok(Prepared {
                offset: t - t0,
                method,
                path_and_query: uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into()),
                headers: e
                    .request
                    .headers
                    .iter()
                    .filter(|h| replayable(&h.name, &h.value))
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect(),
                body,
            })
        })
        .collect()
}

/// Counts and latencies while replaying; shared with whoever shows progress.
#[derive(Debug, Default)]
pub struct ReplayStats {
    /// Requests sent.
    pub sent: AtomicU64,
    /// Requests answered (any status).
    pub answered: AtomicU64,
    /// Requests that failed (connection, timeout) or got a 5xx.
    pub errors: AtomicU64,
    latencies_ms: Mutex<Vec<f32>>,
}

impl ReplayStats {
    /// Latency percentiles (p50, p90, p99) in ms of answered requests so far.
    pub fn percentiles(&self) -> Option<(f64, f64, f64)> {
        let mut v = self
            .latencies_ms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f32::total_cmp);
        let at = |q: f64| f64::from(v[((v.len() - 1) as f64 * q).round() as usize]);
        Some((at(0.5), at(0.9), at(0.99)))
    }
}

/// Replays `reqs` until done (or `stop` is set).
pub async fn replay(
    reqs: Vec<Prepared>,
    opts: ReplayOptions,
    stats: Arc<ReplayStats>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    if reqs.is_empty() {
        return;
    }
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let authority = opts
        .target
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let cycle = match opts.pacing {
        Pacing::Original { .. } => {
            let last = reqs[reqs.len() - 1].offset;
            // One mean gap after the last request before starting over.
            last + if reqs.len() > 1 {
                last / (reqs.len() - 1) as f64
            } else {
                1.0
            }
        }
        Pacing::Rate(r) => reqs.len() as f64 / r,
    };
    let start = Instant::now();
    let mut round = 0u64;
    'outer: loop {
        for (i, r) in reqs.iter().enumerate() {
            let at = match opts.pacing {
                Pacing::Original { speed } => (round as f64 * cycle + r.offset) / speed.max(1e-9),
                Pacing::Rate(rate) => {
                    (round as f64 * reqs.len() as f64 + i as f64) / rate.max(1e-9)
                }
            };
            let due = start + Duration::from_secs_f64(at);
            if let Repeat::For(d) = opts.repeat {
                if due.duration_since(start) >= d {
                    break 'outer;
                }
            }
            if stop.load(Ordering::Relaxed) {
                break 'outer;
            }
            tokio::time::sleep_until(due.into()).await;
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                break 'outer;
            };
            let mut b = Request::builder()
                .method(r.method.clone())
                .uri(format!("http://{authority}{}", r.path_and_query));
            for (n, v) in &r.headers {
                b = b.header(n.as_str(), v.as_str());
            }
            let Ok(req) = b.body(Full::new(r.body.clone())) else {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (client, stats) = (client.clone(), Arc::clone(&stats));
            let timeout = opts.timeout;
            stats.sent.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let t = Instant::now();
                let result = tokio::time::timeout(timeout, async {
                    let resp = client.request(req).await?;
                    let status = resp.status();
                    let _ = resp.into_body().collect().await;
                    Ok::<_, hyper_util::client::legacy::Error>(status)
                })
                .await;
                match result {
                    Ok(Ok(status)) => {
                        stats.answered.fetch_add(1, Ordering::Relaxed);
                        if status.is_server_error() {
                            stats.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        stats
                            .latencies_ms
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((t.elapsed().as_secs_f64() * 1000.0) as f32);
                    }
                    _ => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                drop(permit);
            });
        }
        round += 1;
        if opts.repeat == Repeat::Once {
            break;
        }
    }
    // Wait for requests in flight.
    let _ = permits.acquire_many(opts.concurrency.max(1) as u32).await;
}
