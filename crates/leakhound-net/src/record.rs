//! `record`: a reverse proxy (HTTP/1.1, keep-alive, streaming bodies) that forwards everything
//! to the upstream and writes each exchange to a HAR file as it completes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, HOST};
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use leakhound_time::format_rfc3339_ms;
use tokio::net::TcpListener;

use crate::body::{into_slot, Captured, Slot, TeeBody};
use crate::har::{
    redact_headers, redact_query, Cache, Content, Entry, HarWriter, PostData,
    Request as HarRequest, Response as HarResponse, Timings,
};

/// What to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The real service, `http://host:port`.
    pub upstream: Uri,
    /// The HAR file.
    pub out: PathBuf,
    /// Keep credentials instead of redacting them.
    pub keep_credentials: bool,
    /// Bodies are stored up to this many bytes, then marked truncated.
    pub max_body: usize,
}

/// Counts while recording.
#[derive(Debug, Default)]
pub struct RecordStats {
    /// Exchanges written to the HAR file.
    pub entries: AtomicU64,
    /// Exchanges the upstream failed.
    pub upstream_errors: AtomicU64,
}

/// Headers that belong to one connection, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        h.remove(*name);
    }
}

fn header_pairs(h: &HeaderMap) -> Vec<(&str, &str)> {
    h.iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("<binary>")))
        .collect()
}

fn mime(h: &HeaderMap) -> String {
    h.get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Text of a captured body: UTF-8 as is, anything else base64, with a note when cut.
fn body_text(c: &Captured, cap: usize) -> (String, Option<String>, Option<String>) {
    let (text, encoding) = match std::str::from_utf8(&c.head) {
        Ok(s) => (s.to_string(), None),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&c.head),
            Some("base64".to_string()),
        ),
    };
    let comment = if !c.complete {
        Some("incomplete: the connection ended mid-body".to_string())
    } else if c.total > cap as u64 {
        Some(format!("truncated: {} of {} bytes kept", cap, c.total))
    } else {
        None
    };
    (text, encoding, comment)
}

struct Exchange {
    started: f64,
    clock: Instant,
    method: String,
    url: String,
    query: Vec<crate::har::Pair>,
    req_headers: Vec<crate::har::Pair>,
    req_mime: String,
    req_body: Slot,
}

/// Runs the recorder until `shutdown` resolves; then completes the HAR file. `listening` is
/// told the bound address once the socket is open (and the HAR file created), so that what is
/// announced is what is listening.
pub async fn record(
    opts: RecordOptions,
    stats: Arc<RecordStats>,
    listening: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(opts.listen).await?;
    let writer = HarWriter::create(&opts.out, env!("CARGO_PKG_VERSION"))?;
    listening(listener.local_addr()?);
    let (tx, rx) = mpsc::channel::<Entry>();
    let writer_stats = Arc::clone(&stats);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer_done = Arc::clone(&done);
    let writer_thread = std::thread::spawn(move || -> std::io::Result<()> {
        let mut w = writer;
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(e) => {
                    w.write(&e)?;
                    writer_stats.entries.fetch_add(1, Ordering::Relaxed);
                }
                // Idle keep-alive connections may hold senders forever: stop when told.
                Err(mpsc::RecvTimeoutError::Timeout) if writer_done.load(Ordering::Relaxed) => {
                    break
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        w.finish()
    });
    let client: Client<HttpConnector, TeeBody<Incoming>> =
        Client::builder(TokioExecutor::new()).build_http();
    let opts = Arc::new(opts);
    let tx = Arc::new(Mutex::new(tx));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (client, opts, tx, stats) = (client.clone(), Arc::clone(&opts), Arc::clone(&tx), Arc::clone(&stats));
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let (client, opts, tx, stats) = (client.clone(), Arc::clone(&opts), Arc::clone(&tx), Arc::clone(&stats));
                        async move { Ok::<_, Infallible>(forward(req, &client, &opts, tx, &stats).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
    // In-flight exchanges finish within a moment; their entries still get written.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    done.store(true, Ordering::Relaxed);
    drop(tx);
    drop(client);
    tokio::task::spawn_blocking(move || writer_thread.join())
        .await
        .map_err(std::io::Error::other)?
        .map_err(|_| std::io::Error::other("HAR writer panicked"))?
}

type ProxyBody = http_body_util::Either<TeeBody<Incoming>, Full<Bytes>>;

async fn forward(
    req: Request<Incoming>,
    client: &Client<HttpConnector, TeeBody<Incoming>>,
    opts: &RecordOptions,
    tx: Arc<Mutex<mpsc::Sender<Entry>>>,
    stats: &RecordStats,
) -> Response<ProxyBody> {
    let (mut parts, body) = req.into_parts();
    let path_q = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| opts.listen.to_string());
    let (path, query) = path_q
        .split_once('?')
        .map_or((path_q.as_str(), ""), |(p, q)| (p, q));
    let (query_red, query_pairs) = redact_query(query, opts.keep_credentials);
    let url = if query.is_empty() {
        format!("http://{host}{path}")
    } else {
        format!("http://{host}{path}?{query_red}")
    };
    let exchange = Exchange {
        started: leakhound_time::unix_now(),
        clock: Instant::now(),
        method: parts.method.to_string(),
        url,
        query: query_pairs,
        req_headers: redact_headers(
            header_pairs(&parts.headers).into_iter(),
            opts.keep_credentials,
        ),
        req_mime: mime(&parts.headers),
        req_body: Arc::new(Mutex::new(None)),
    };
    let req_body = TeeBody::new(body, opts.max_body, into_slot(&exchange.req_body));

    strip_hop_by_hop(&mut parts.headers);
    let authority = opts
        .upstream
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    if let Ok(v) = HeaderValue::from_str(&authority) {
        parts.headers.insert(HOST, v);
    }
    parts.uri = match format!("http://{authority}{path_q}").parse() {
        Ok(u) => u,
        Err(_) => return bad_gateway(&exchange, "bad request target".into(), tx, stats),
    };
    let upstream_req = Request::from_parts(parts, req_body);
    let resp = match client.request(upstream_req).await {
        Ok(r) => r,
        Err(e) => return bad_gateway(&exchange, format!("upstream: {e}"), tx, stats),
    };
    let wait_ms = exchange.clock.elapsed().as_secs_f64() * 1000.0;
    let (mut rparts, rbody) = resp.into_parts();
    let status = rparts.status;
    let resp_headers = redact_headers(
        header_pairs(&rparts.headers).into_iter(),
        opts.keep_credentials,
    );
    let resp_mime = mime(&rparts.headers);
    strip_hop_by_hop(&mut rparts.headers);
    let cap = opts.max_body;
    let on_end: crate::body::OnEnd = Box::new(move |seen: Captured| {
        let total_ms = exchange.clock.elapsed().as_secs_f64() * 1000.0;
        let req_seen = exchange
            .req_body
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default();
        let post_data = (req_seen.total > 0).then(|| {
            let (text, encoding, comment) = body_text(&req_seen, cap);
            PostData {
                mime_type: exchange.req_mime.clone(),
                text,
                encoding,
                comment,
            }
        });
        let (text, encoding, comment) = body_text(&seen, cap);
        let entry = Entry {
            started_date_time: format_rfc3339_ms(exchange.started),
            time: total_ms,
            request: HarRequest {
                method: exchange.method,
                url: exchange.url,
                http_version: "HTTP/1.1".into(),
                cookies: vec![],
                headers: exchange.req_headers,
                query_string: exchange.query,
                post_data,
                headers_size: -1,
                body_size: req_seen.total as i64,
            },
            response: HarResponse {
                status: status.as_u16(),
                status_text: status.canonical_reason().unwrap_or("").into(),
                http_version: "HTTP/1.1".into(),
                cookies: vec![],
                headers: resp_headers,
                content: Content {
                    size: seen.total as i64,
                    mime_type: resp_mime,
                    text: Some(text),
                    encoding,
                    comment,
                },
                redirect_url: String::new(),
                headers_size: -1,
                body_size: seen.total as i64,
            },
            cache: Cache::default(),
            timings: Timings {
                send: 0.0,
                wait: wait_ms,
                receive: (total_ms - wait_ms).max(0.0),
            },
        };
        let _ = tx.lock().unwrap_or_else(|p| p.into_inner()).send(entry);
    });
    Response::from_parts(
        rparts,
        http_body_util::Either::Left(TeeBody::new(rbody, cap, on_end)),
    )
}

fn bad_gateway(
    ex: &Exchange,
    message: String,
    tx: Arc<Mutex<mpsc::Sender<Entry>>>,
    stats: &RecordStats,
) -> Response<ProxyBody> {
    stats.upstream_errors.fetch_add(1, Ordering::Relaxed);
    let entry = Entry {
        started_date_time: format_rfc3339_ms(ex.started),
        time: ex.clock.elapsed().as_secs_f64() * 1000.0,
        request: HarRequest {
            method: ex.method.clone(),
            url: ex.url.clone(),
            http_version: "HTTP/1.1".into(),
            cookies: vec![],
            headers: ex.req_headers.clone(),
            query_string: ex.query.clone(),
            post_data: None,
            headers_size: -1,
            body_size: -1,
        },
        response: HarResponse {
            status: 502,
            status_text: "Bad Gateway".into(),
            http_version: "HTTP/1.1".into(),
            cookies: vec![],
            headers: vec![],
            content: Content {
                size: 0,
                mime_type: String::new(),
                text: None,
                encoding: None,
                comment: Some(message.clone()),
            },
            redirect_url: String::new(),
            headers_size: -1,
            body_size: 0,
        },
        cache: Cache::default(),
        timings: Timings {
            send: 0.0,
            wait: 0.0,
            receive: 0.0,
        },
    };
    let _ = tx.lock().unwrap_or_else(|p| p.into_inner()).send(entry);
    let mut r = Response::new(http_body_util::Either::Right(Full::new(Bytes::from(
        format!("leakhound record: {message}\n"),
    ))));
    *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
    r
}
