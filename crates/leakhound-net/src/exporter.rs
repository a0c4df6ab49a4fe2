//! A `/metrics` endpoint (Prometheus text format) for `watch --listen`, and a blocking fetcher
//! of such endpoints for `--scrape` (and of Go's `/debug/pprof/heap` for `--pprof`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// The text served at `/metrics`, replaced as new readings come.
pub type Exposition = Arc<Mutex<String>>;

/// Serves `text` at `http://addr/metrics` on a background thread; returns the bound address
/// (useful with port 0).
pub fn serve(addr: SocketAddr, text: Exposition) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let text = Arc::clone(&text);
                    tokio::spawn(async move {
                        let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                            let text = Arc::clone(&text);
                            async move {
                                let resp = if req.uri().path() == "/metrics" {
                                    let body =
                                        text.lock().unwrap_or_else(|p| p.into_inner()).clone();
                                    Response::builder()
                                        .header(
                                            "content-type",
                                            "text/plain; version=0.0.4; charset=utf-8",
                                        )
                                        .body(Full::new(Bytes::from(body)))
                                } else {
                                    Response::builder().status(StatusCode::NOT_FOUND).body(
                                        Full::new(Bytes::from_static(
                                            b"leakhound serves /metrics\n",
                                        )),
                                    )
                                };
                                Ok::<_, Infallible>(resp.expect("static response parts are valid"))
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        })?;
    Ok(bound)
}

/// Fetches exposition text from endpoints, blocking the caller (the sampler's thread).
pub struct Scraper {
    rt: tokio::runtime::Runtime,
    client: Client<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

impl Scraper {
    /// A scraper that gives up on an endpoint after `timeout`.
    pub fn new(timeout: Duration) -> std::io::Result<Scraper> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = {
            let _guard = rt.enter();
            Client::builder(TokioExecutor::new()).build_http()
        };
        Ok(Scraper {
            rt,
            client,
            timeout,
        })
    }

    /// GETs `url` and returns its body as text.
    pub fn fetch(&self, url: &Uri) -> Result<String, String> {
        let body = self.fetch_bytes(url)?;
        String::from_utf8(body).map_err(|_| "not UTF-8 text".to_string())
    }

    /// GETs `url` and returns its body (at most 16 MiB), e.g. a gzipped pprof profile.
    pub fn fetch_bytes(&self, url: &Uri) -> Result<Vec<u8>, String> {
        self.rt.block_on(async {
            let req = Request::get(url.clone())
                .body(Empty::new())
                .map_err(|e| e.to_string())?;
            let resp = tokio::time::timeout(self.timeout, self.client.request(req))
                .await
                .map_err(|_| format!("no answer within {} s", self.timeout.as_secs_f64()))?
                .map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = tokio::time::timeout(self.timeout, resp.into_body().collect())
                .await
                .map_err(|_| "body too slow".to_string())?
                .map_err(|e| e.to_string())?
                .to_bytes();
            if !status.is_success() {
                return Err(format!("HTTP {status}"));
            }
            if body.len() > 16 << 20 {
                return Err(format!(
                    "{} bytes is more than the 16 MiB accepted",
                    body.len()
                ));
            }
            Ok(body.to_vec())
        })
    }
}
