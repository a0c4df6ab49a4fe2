//! `record` and `replay` against a real local HTTP server (hyper, in this test process), and
//! `run --replay` driving a real service (python3's http.server).

mod util;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use util::{free_port, series, Dir};

/// What the server saw: (seconds since it started, method, path with query, body).
type Seen = Arc<Mutex<Vec<(f64, String, String, Vec<u8>)>>>;

/// A server on a free loopback port: `/slow` streams ten chunks over two seconds, every other
/// path answers "ok". It runs until the test process ends.
fn server() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let start = Instant::now();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let log = Arc::clone(&log);
                        async move {
                            let method = req.method().to_string();
                            let path = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes().to_vec())
                                .unwrap_or_default();
                            log.lock().unwrap().push((
                                start.elapsed().as_secs_f64(),
                                method,
                                path.clone(),
                                body,
                            ));
                            type B = http_body_util::Either<Full<Bytes>, slow_body::Chunks>;
                            let resp: hyper::Response<B> = if path == "/slow" {
                                hyper::Response::new(http_body_util::Either::Right(
                                    slow_body::chunks(),
                                ))
                            } else {
                                hyper::Response::new(http_body_util::Either::Left(Full::new(
                                    Bytes::from_static(b"ok"),
                                )))
                            };
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    (addr, seen)
}

/// A body that trickles ten 1000-byte chunks, one every 200 ms.
mod slow_body {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct Chunks {
        left: u32,
        sleep: Pin<Box<tokio::time::Sleep>>,
    }

    pub fn chunks() -> Chunks {
        Chunks {
            left: 10,
            sleep: Box::pin(tokio::time::sleep(Duration::from_millis(200))),
        }
    }

    impl hyper::body::Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            match self.sleep.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    self.left -= 1;
                    self.sleep = Box::pin(tokio::time::sleep(Duration::from_millis(200)));
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'z'; 1000])))))
                }
            }
        }
    }

    use std::future::Future;
}

fn wait_accepting(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{addr} never accepted");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.1 request on its own connection; returns the raw response.
fn http(addr: &str, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn recorder(d: &Dir, port: u16, upstream: SocketAddr, har: &std::path::Path) -> Child {
    let child = d
        .cmd(&[
            "record",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--upstream",
            &format!("http://{upstream}"),
            "--out",
            har.to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_accepting(&format!("127.0.0.1:{port}"));
    child
}

fn interrupt(child: Child) -> String {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn record_then_replay_sends_the_same_requests_at_scaled_timing() {
    let d = Dir::new();
    let (upstream, seen) = server();
    let port = free_port();
    let har = d.path("traffic.har");
    let rec = recorder(&d, port, upstream, &har);
    let proxy = format!("127.0.0.1:{port}");
    let sent: Vec<(&str, &str, Vec<u8>)> = vec![
        ("GET", "/items?page=1", vec![]),
        ("POST", "/items", b"{\"name\":\"a\"}".to_vec()),
        ("PUT", "/items/7", vec![0, 159, 146, 150, 255]),
        ("GET", "/search?q=leak&access_token=hunter2", vec![]),
        ("DELETE", "/items/7", vec![]),
    ];
    for (m, p, b) in &sent {
        let resp = http(
            &proxy,
            m,
            p,
            &[
                ("Authorization", "Bearer s3cr3t-value"),
                ("Cookie", "sid=c00kie"),
            ],
            b,
        );
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = interrupt(rec);
    assert!(log.contains("recorded 5 exchanges"), "{log}");
    let text = std::fs::read_to_string(&har).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).expect("a complete HAR is plain JSON");
    assert_eq!(doc["log"]["entries"].as_array().unwrap().len(), 5);
    for secret in ["s3cr3t-value", "c00kie", "hunter2"] {
        assert!(!text.contains(secret), "{secret} leaked into the HAR");
    }
    let recorded: Vec<(f64, String, String, Vec<u8>)> = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(recorded.len(), 5);

    let r = d.run(&[
        "replay",
        har.to_str().unwrap(),
        "--target",
        &format!("http://{upstream}"),
        "--speed",
        "2x",
    ]);
    r.expect_code(0);
    assert!(
        r.stdout().contains("5 sent, 5 answered, 0 errors"),
        "{}",
        r.describe()
    );
    let replayed = seen.lock().unwrap().clone();
    assert_eq!(replayed.len(), 5, "{replayed:?}");
    // Replay sends each request at its scaled time on its own connection, so two requests may
    // arrive swapped on a loaded machine; what must hold is that each request is the same and
    // was sent at half its recorded offset.
    let start = replayed.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
    for (i, (t, m, p, b)) in recorded.iter().enumerate() {
        // Redacted credentials are replayed as placeholders, never as the secret.
        let p = p.replace("hunter2", "[REDACTED]");
        let (t2, ..) = replayed
            .iter()
            .find(|(_, m2, p2, b2)| (m2, p2, b2) == (m, &p, b))
            .unwrap_or_else(|| panic!("request {i} ({m} {p}) was not replayed: {replayed:?}"));
        let (want, got) = ((t - recorded[0].0) / 2.0, t2 - start);
        assert!(
            (got - want).abs() < 0.25,
            "request {i} replayed {got:.3} s after the first, recorded at {want:.3} s scaled"
        );
    }
    let span = |v: &[(f64, String, String, Vec<u8>)]| v[v.len() - 1].0 - v[0].0;
    let ratio = span(&replayed) / span(&recorded);
    assert!(
        (0.35..0.7).contains(&ratio),
        "replay at 2x took {ratio:.2} of the recorded time"
    );
}

#[test]
fn a_recorder_killed_mid_stream_leaves_a_file_replay_accepts() {
    let d = Dir::new();
    let (upstream, seen) = server();
    let port = free_port();
    let har = d.path("cut.har");
    let mut rec = recorder(&d, port, upstream, &har);
    let proxy = format!("127.0.0.1:{port}");
    for i in 0..3 {
        http(
            &proxy,
            "POST",
            &format!("/n/{i}"),
            &[],
            format!("body {i}").as_bytes(),
        );
    }
    let p2 = proxy.clone();
    let slow = std::thread::spawn(move || http(&p2, "GET", "/slow", &[], b""));
    std::thread::sleep(Duration::from_millis(700));
    rec.kill().unwrap(); // SIGKILL while /slow is streaming
    rec.wait().unwrap();
    let _ = slow.join();
    seen.lock().unwrap().clear();
    let r = d.run(&[
        "replay",
        har.to_str().unwrap(),
        "--target",
        &format!("http://{upstream}"),
        "--rate",
        "50/s",
    ]);
    r.expect_code(0).expect_stderr("cut short");
    let paths: Vec<String> = seen.lock().unwrap().iter().map(|s| s.2.clone()).collect();
    assert_eq!(paths, ["/n/0", "/n/1", "/n/2"]);
}

#[test]
fn replay_errors_are_clear() {
    let d = Dir::new();
    let bad = d.path("bad.har");
    util::write(&bad, "this is not a har");
    d.run(&[
        "replay",
        bad.to_str().unwrap(),
        "--target",
        "http://127.0.0.1:9",
    ])
    .expect_code(2)
    .expect_stderr("not a HAR file");
    d.run(&["replay", "/no/such.har", "--target", "http://127.0.0.1:9"])
        .expect_code(2)
        .expect_stderr("/no/such.har");
    let empty = d.path("empty.har");
    util::write(&empty, r#"{"log":{"version":"1.2","entries":[]}}"#);
    d.run(&["replay", empty.to_str().unwrap(), "--target", "https://x"])
        .expect_code(2)
        .expect_stderr("--target");
    d.run(&[
        "replay",
        empty.to_str().unwrap(),
        "--target",
        "http://127.0.0.1:9",
    ])
    .expect_code(2)
    .expect_stderr("no requests to replay");
    d.run(&[
        "record",
        "--listen",
        "nowhere",
        "--upstream",
        "http://127.0.0.1:1",
    ])
    .expect_code(2)
    .expect_stderr("--listen");
}

#[test]
fn run_replay_drives_a_real_service_and_counts_requests() {
    let d = Dir::new();
    let port = free_port();
    // A HAR as browser devtools would export it (pretty-printed, extra fields).
    let entries: Vec<serde_json::Value> = (0..20)
        .map(|i| {
            serde_json::json!({
                "startedDateTime": format!("2026-11-27T10:00:{:02}.{:03}+01:00", i / 10, (i % 10) * 100),
                "time": 3.2, "_priority": "High",
                "request": {"method": "GET", "url": format!("http://example.test/?i={i}"), "httpVersion": "HTTP/2",
                            "headers": [{"name": ":authority", "value": "example.test"}, {"name": "accept", "value": "*/*"}],
                            "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
                "response": {"status": 200, "statusText": "", "httpVersion": "HTTP/2", "headers": [], "cookies": [],
                             "content": {"size": 0, "mimeType": "text/html"}, "redirectURL": "", "headersSize": -1, "bodySize": 0},
                "cache": {}, "timings": {"send": 0, "wait": 3, "receive": 0.2}
            })
        })
        .collect();
    let har = d.path("devtools.har");
    util::write(&har, &serde_json::to_string_pretty(&serde_json::json!({"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}, "entries": entries}})).unwrap());
    let r = d.run(&[
        "run",
        "--interval",
        "200ms",
        "--for",
        "6s",
        "--replay",
        har.to_str().unwrap(),
        "--target",
        &format!("http://127.0.0.1:{port}"),
        "--rate",
        "40/s",
        "--loop",
        "--output",
        d.path("srv.log").to_str().unwrap(),
        "--",
        "python3",
        "-m",
        "http.server",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--directory",
        d.dir.path().to_str().unwrap(),
    ]);
    r.expect_code(0).expect_stderr("replayed");
    let counter = series(&d.open_db(), 1, "replay.requests");
    let last = counter.last().map(|p| p.1).unwrap_or(0.0);
    assert!(
        last >= 60.0,
        "replay.requests ended at {last}\n{}",
        r.describe()
    );
    let log = std::fs::read_to_string(d.path("srv.log")).unwrap();
    assert!(log.matches("GET /?i=").count() >= 60, "{log}");
}
