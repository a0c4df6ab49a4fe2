//! Fleet analysis against real TSDBs from Debian's packages (installed by .ci/run): a real
//! Prometheus scraping leakhound's exporter, and VictoriaMetrics loaded with a synthetic week
//! through its import API. Plus the exporter and scrape on their own.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::{bin, free_port, series, Dir};

fn have(program: &str) -> bool {
    let ok = Path::new(program).exists();
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "{program} is missing on CI"
    );
    if !ok {
        eprintln!("skipped: {program} not installed");
    }
    ok
}

/// GET or POST on loopback; returns (status line, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let (head, rest) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        rest.to_string(),
    )
}

fn wait_http(port: u16, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http(port, "GET", path, "").0.contains(" 200")
        {
            return;
        }
        assert!(Instant::now() < deadline, "port {port} never served {path}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Killed(Vec<Child>);
impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn workload(args: &[&str]) -> Child {
    Command::new(bin())
        .arg("workload")
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn prometheus_scrapes_the_exporter_and_fleet_finds_the_leaking_instance() {
    if !have("/usr/bin/prometheus") {
        return;
    }
    let d = Dir::new();
    let leaky = workload(&[
        "service",
        "--leak",
        "20000",
        "--rate",
        "100",
        "--garbage",
        "2",
        "--for",
        "300",
    ]);
    let flat = workload(&["alloc", "10", "--hold", "300"]);
    let (lp, fp) = (leaky.id().to_string(), flat.id().to_string());
    let exporter_port = free_port();
    let watch = d
        .cmd(&[
            "watch",
            "--pid",
            &lp,
            &fp,
            "--interval",
            "500ms",
            "--for",
            "300s",
            "--listen",
            &format!("127.0.0.1:{exporter_port}"),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let prom_port = free_port();
    let config = d.path("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: leakhound\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n"),
    )
    .unwrap();
    let prom = Command::new("/usr/bin/prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", d.path("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Killed(vec![leaky, flat, watch, prom]);
    wait_http(prom_port, "/-/ready");
    wait_http(exporter_port, "/metrics");
    std::thread::sleep(Duration::from_secs(50));

    let url = format!("http://127.0.0.1:{prom_port}");
    let r = d.run(&[
        "fleet",
        "--prometheus",
        &url,
        "--query",
        "leakhound_process_resident_memory_bytes",
        "--range",
        "3m",
        "--step",
        "1s",
        "--format",
        "json",
    ]);
    r.expect_code(0);
    let j = r.json();
    let all = j["series"].as_array().unwrap();
    assert_eq!(all.len(), 2, "{j:#}");
    let by = |pid: &str| {
        all.iter()
            .find(|s| s["labels"]["target"] == format!("pid {pid}"))
            .unwrap_or_else(|| panic!("{pid}: {j:#}"))
    };
    assert_eq!(by(&lp)["verdict"], "leak", "{j:#}");
    assert_ne!(by(&fp)["verdict"], "leak", "{j:#}");
    assert_eq!(
        all[0]["labels"]["target"],
        format!("pid {lp}"),
        "the leak ranks first"
    );
    let text = d.run(&[
        "fleet",
        "--prometheus",
        &url,
        "--query",
        "leakhound_process_resident_memory_bytes",
        "--range",
        "3m",
        "--step",
        "1s",
    ]);
    text.expect_code(0);
    assert!(
        text.stdout()
            .lines()
            .nth(1)
            .unwrap()
            .contains(&format!("target=pid {lp}")),
        "{}",
        text.describe()
    );
    // Errors from the server and from the network are clear.
    d.run(&[
        "fleet",
        "--prometheus",
        &url,
        "--query",
        "rate(",
        "--range",
        "3m",
    ])
    .expect_code(2)
    .expect_stderr("refused the query");
    d.run(&[
        "fleet",
        "--prometheus",
        &url,
        "--query",
        "no_such_metric_xyz",
        "--range",
        "3m",
    ])
    .expect_code(2)
    .expect_stderr("matches no series");
    let dead = format!("http://127.0.0.1:{}", free_port());
    d.run(&["fleet", "--prometheus", &dead, "--query", "up"])
        .expect_code(2)
        .expect_stderr("cannot reach");
}

#[test]
fn victoria_metrics_week_of_many_series_and_bytes_per_event_across_the_fleet() {
    if !have("/usr/bin/victoria-metrics") {
        return;
    }
    let d = Dir::new();
    let port = free_port();
    let vm = Command::new("/usr/bin/victoria-metrics")
        .arg(format!("-storageDataPath={}", d.path("vm").display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=1y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Killed(vec![vm]);
    wait_http(port, "/health");
    // 24 instances, a week at 5 min: a daily cycle and noise on 300 MB; instance i serves
    // (i+1)·2000 requests/hour; instances 5, 11 and 17 leak 300 bytes per request.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start = now - 7.0 * 86400.0;
    let leakers = [5, 11, 17];
    let mut body = String::new();
    for i in 0..24 {
        let per_hour = (i + 1) as f64 * 2000.0;
        for k in 0..2016 {
            let t = start + k as f64 * 300.0;
            let hours = (t - start) / 3600.0;
            let requests = per_hour * hours;
            let leak = if leakers.contains(&i) {
                300.0 * requests
            } else {
                0.0
            };
            let cycle = 8e6 * (std::f64::consts::TAU * (t % 86400.0) / 86400.0).sin();
            let noise = ((k * 7919 + i * 104729) % 1000) as f64 * 1e3;
            let ms = (t * 1000.0) as i64;
            body.push_str(&format!(
                "process_resident_memory_bytes{{job=\"api\",instance=\"api-{i:02}\"}} {} {ms}\n",
                3e8 + leak + cycle + noise
            ));
            body.push_str(&format!(
                "http_requests_total{{job=\"api\",instance=\"api-{i:02}\"}} {requests} {ms}\n"
            ));
        }
    }
    let (status, answer) = http(port, "POST", "/api/v1/import/prometheus", &body);
    assert!(
        status.contains(" 204") || status.contains(" 200"),
        "{status} {answer}"
    );
    http(port, "GET", "/internal/force_flush", "");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let j = loop {
        let r = d.run(&[
            "fleet",
            "--prometheus",
            &url,
            "--query",
            "process_resident_memory_bytes{job=\"api\"}",
            "--range",
            "8d",
            "--step",
            "5m",
            "--counter",
            "http_requests_total{job=\"api\"}",
            "--tolerance",
            "2MiB/day",
            "--format",
            "json",
        ]);
        if r.code() == 0 && r.json()["series"].as_array().is_some_and(|a| a.len() == 24) {
            break r.json();
        }
        assert!(Instant::now() < deadline, "{}", r.describe());
        std::thread::sleep(Duration::from_millis(500));
    };
    let leaking: Vec<String> = j["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verdict"] == "leak")
        .map(|s| s["labels"]["instance"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = leaking.clone();
    sorted.sort();
    assert_eq!(sorted, ["api-05", "api-11", "api-17"], "{j:#}");
    // Across the fleet: leak rate against request rate. Only three instances leak, so the
    // slope is 300 B/request scaled by their share, not 300; what matters is that it is
    // positive and requests explain it.
    let a = &j["attribution"][0];
    assert_eq!(a["counter"], "http_requests_total{job=\"api\"}");
    assert!(a["bytes_per_event"].as_f64().unwrap() > 0.0, "{a:#}");
}

#[test]
fn scrape_reads_an_endpoint_into_series() {
    let d = Dir::new();
    // leakhound's own exporter is the endpoint: one watch exports, another scrapes it.
    let p = workload(&["alloc", "8", "--hold", "60"]);
    let port = free_port();
    let exporter = d
        .cmd(&[
            "watch",
            "--pid",
            &p.id().to_string(),
            "--interval",
            "200ms",
            "--for",
            "60s",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Killed(vec![p, exporter]);
    wait_http(port, "/metrics");
    let other = Dir::new();
    let me = std::process::id().to_string();
    other
        .run(&[
            "watch",
            "--pid",
            &me,
            "--interval",
            "200ms",
            "--for",
            "2s",
            "--scrape",
            &format!("http://127.0.0.1:{port}/metrics"),
        ])
        .expect_code(0);
    let scraped = series(
        &other.open_db(),
        1,
        "leakhound_process_resident_memory_bytes",
    );
    assert!(scraped.len() >= 5, "{scraped:?}");
    assert!(scraped.iter().all(|p| p.1 > 8.0 * 1048576.0));
    other
        .run(&["watch", "--pid", &me, "--for", "1s", "--scrape", "ftp://x"])
        .expect_code(2)
        .expect_stderr("--scrape");
}

#[test]
fn a_tsdb_that_never_answers_is_a_clear_error_in_bounded_time() {
    // A real socket that accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(3).filter_map(Result::ok).collect();
        std::thread::sleep(Duration::from_secs(10));
        drop(conns);
    });
    let d = Dir::new();
    let started = Instant::now();
    let r = d.run(&[
        "fleet",
        "--prometheus",
        &format!("http://127.0.0.1:{port}"),
        "--query",
        "up",
        "--timeout",
        "1s",
    ]);
    let took = started.elapsed();
    r.expect_code(2).expect_stderr("no answer within 1.0 s");
    assert!(r.stderr().contains(&port.to_string()), "{}", r.describe());
    // Three tries of 1 s and two pauses: about 4 s, nowhere near the 60 s default.
    assert!(took < Duration::from_secs(9), "took {took:?}");
    drop(held);
    d.run(&[
        "fleet",
        "--prometheus",
        "http://127.0.0.1:1",
        "--query",
        "up",
        "--timeout",
        "0s",
    ])
    .expect_code(2)
    .expect_stderr("--timeout");
}
