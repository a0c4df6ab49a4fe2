//! Fleet analysis against real TSDBs from Debian's packages (installed by .ci/run): a real
//! Prometheus scraping leakhound's exporter, and VictoriaMetrics loaded with a synthetic week
//! through its import API. Plus the exporter and scrape on their own.

mod util;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::{bin, free_port, http, installed, prometheus_scraping, series, wait_http, Dir, Kids};

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
    if !installed("/usr/bin/prometheus", "prometheus") {
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
    let (prom, prom_port) = prometheus_scraping(&d, exporter_port);
    let _guard = Kids(vec![leaky, flat, watch, prom]);
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
    // The headline, then the table, the leak first.
    let out = text.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("1 of 2 instances leaks"),
        "{}",
        text.describe()
    );
    assert!(lines[2].starts_with("series"), "{}", text.describe());
    assert!(
        lines[3].contains(&format!("target=pid {lp}")),
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

/// A VictoriaMetrics of its own in `d`, loaded through its import API.
struct Victoria {
    port: u16,
    _running: Kids,
}

impl Victoria {
    fn start(d: &Dir) -> Victoria {
        let port = free_port();
        let vm = Command::new("/usr/bin/victoria-metrics")
            .arg(format!("-storageDataPath={}", d.path("vm").display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-retentionPeriod=1y")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let running = Kids(vec![vm]);
        wait_http(port, "/health");
        Victoria {
            port,
            _running: running,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Imports Prometheus exposition lines with millisecond timestamps.
    fn import(&self, body: &str) {
        let (status, answer) = http(self.port, "POST", "/api/v1/import/prometheus", body);
        assert!(
            status.contains(" 204") || status.contains(" 200"),
            "{status} {answer}"
        );
        http(self.port, "GET", "/internal/force_flush", "");
    }

    /// `fleet ARGS --format json` once all `expected` series are searchable (the import is
    /// indexed asynchronously).
    fn fleet_json(&self, d: &Dir, args: &[&str], expected: usize) -> serde_json::Value {
        let url = self.url();
        let mut all = vec!["fleet", "--prometheus", url.as_str()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = d.run(&all);
            if r.code() == 0
                && r.json()["series"]
                    .as_array()
                    .is_some_and(|a| a.len() == expected)
            {
                return r.json();
            }
            assert!(Instant::now() < deadline, "{}", r.describe());
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn victoria_metrics_week_of_many_series_and_bytes_per_event_across_the_fleet() {
    if !installed("/usr/bin/victoria-metrics", "victoria-metrics") {
        return;
    }
    let d = Dir::new();
    let vm = Victoria::start(&d);
    // 24 instances, a week at 5 min: a daily cycle and noise on 300 MB; instance i serves
    // (i+1)·2000 requests/hour; instances 5, 11 and 17 leak 300 bytes per request.
    let start = now() - 7.0 * 86400.0;
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
    vm.import(&body);
    let j = vm.fleet_json(
        &d,
        &[
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
        ],
        24,
    );
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
    // Across the fleet (the JSON's `attribution`, as it always was): only three instances
    // leak, so the slope is 300 B/request scaled by their share; positive, and diluted.
    let a = &j["attribution"][0];
    assert_eq!(a["counter"], "http_requests_total{job=\"api\"}");
    let diluted = a["bytes_per_event"].as_f64().unwrap();
    assert!(diluted > 0.0 && diluted < 200.0, "{a:#}");
    // Among the leakers: the truth.
    let l = &j["leakers"];
    assert_eq!(l["instances"], 3, "{l:#}");
    let bpe = l["bytes_per_event"].as_f64().unwrap();
    assert!((bpe / 300.0 - 1.0).abs() < 0.1, "{l:#}");
    assert!(
        j["headline"]
            .as_str()
            .unwrap()
            .starts_with("3 of 24 instances leak 3"),
        "{j:#}"
    );
}

/// Memory and request counters of one synthetic fleet, a week to now at `step` seconds, as
/// exposition lines. Instance `k` serves `traffic(k)` requests/s on average, on a daily cycle,
/// and keeps `leak(k)` bytes per request; its memory also carries a working set that follows
/// the current request rate, and noise.
fn synthetic_fleet(
    job: &str,
    instances: usize,
    step: f64,
    labels: impl Fn(usize) -> String,
    traffic: impl Fn(usize) -> f64,
    leak: impl Fn(usize) -> f64,
) -> String {
    let end = now();
    let start = end - 7.0 * 86400.0;
    let samples = (7.0 * 86400.0 / step) as usize;
    let day = 86400.0;
    let omega = std::f64::consts::TAU / day;
    let mut body = String::with_capacity(instances * samples * 220);
    for k in 0..instances {
        let per_second = traffic(k);
        let phase = k as f64 * 0.3;
        let mut state = 0x9e3779b97f4a7c15u64 ^ (k as u64 + 1).wrapping_mul(0xbf58476d1ce4e5b9);
        let labels = labels(k);
        for i in 0..samples {
            let t = start + i as f64 * step;
            let x = t - start;
            // Requests at per_second·(1 + 0.5 sin(ωt + φ)), integrated.
            let requests =
                per_second * (x + 0.5 / omega * ((phase).cos() - (omega * x + phase).cos()));
            let current = per_second * (1.0 + 0.5 * (omega * x + phase).sin());
            // splitmix64: noise that differs by instance and sample, the same every run.
            state = state.wrapping_add(0x9e3779b97f4a7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            let noise = ((z ^ (z >> 31)) as f64 / u64::MAX as f64 - 0.5) * 2e6;
            let memory = 3e8 + leak(k) * requests + 1e5 * current + noise;
            let ms = (t * 1000.0) as i64;
            body.push_str(&format!(
                "process_resident_memory_bytes{{job=\"{job}\",instance=\"{job}-{k:02}\",{labels}}} {memory:.0} {ms}\n"
            ));
            body.push_str(&format!(
                "http_requests_total{{job=\"{job}\",instance=\"{job}-{k:02}\",{labels}}} {requests:.0} {ms}\n"
            ));
        }
    }
    body
}

/// `fleet` arguments for the synthetic fleet `job` at `step`.
fn synthetic_args(job: &str, step: &str) -> Vec<String> {
    [
        "--query",
        &format!("process_resident_memory_bytes{{job=\"{job}\"}}"),
        "--range",
        "8d",
        "--step",
        step,
        "--counter",
        &format!("http_requests_total{{job=\"{job}\"}}"),
        "--tolerance",
        "2MiB/day",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn a_mixed_fleet_names_its_leakers_bytes_per_request_and_the_version_that_separates_them() {
    if !installed("/usr/bin/victoria-metrics", "victoria-metrics") {
        return;
    }
    let d = Dir::new();
    let vm = Victoria::start(&d);
    let zone = |k: usize| ["a", "b", "c"][k % 3];
    // 20 to 90 requests/s, differing by instance.
    let traffic = |k: usize| 20.0 + 7.0 * ((k * 5) % 11) as f64;
    // The 8 leakers keep 3.84 to 4.16 bytes per request, 4 on average.
    let leak = |k: usize| {
        if k < 8 {
            4.0 * (1.0 + 0.04 * (k as f64 - 3.5) / 3.5)
        } else {
            0.0
        }
    };
    // 24 instances at 60 s: the 8 on version 2.3.1 (api-00 to api-07, over every zone) leak,
    // the 16 on 2.3.0 do not.
    vm.import(&synthetic_fleet(
        "api",
        24,
        60.0,
        |k| {
            let version = if k < 8 { "2.3.1" } else { "2.3.0" };
            format!("version=\"{version}\",zone=\"{}\"", zone(k))
        },
        traffic,
        leak,
    ));
    // The same shape, its 8 leakers spread over every version and zone.
    vm.import(&synthetic_fleet(
        "spread",
        24,
        300.0,
        |k| {
            let version = ["2.3.0", "2.3.1", "2.4.0"][k % 3];
            format!(
                "version=\"{version}\",zone=\"{}\"",
                ["a", "b", "c", "d"][k % 4]
            )
        },
        traffic,
        leak,
    ));
    // 12 instances that all leak, version 1.1 twice as much per request as 1.0, each 1.1
    // instance serving what a 1.0 instance serves (else the versions' mean rates would
    // compare their traffic as much as their leak).
    vm.import(&synthetic_fleet(
        "ab",
        12,
        300.0,
        |k| format!("version=\"{}\"", if k % 2 == 0 { "1.0" } else { "1.1" }),
        |k| traffic(k / 2),
        |k| if k % 2 == 0 { 4.0 } else { 8.0 },
    ));

    let mut args = synthetic_args("api", "60s");
    args.extend(["--group-by".to_string(), "version".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let j = vm.fleet_json(&d, &args, 24);
    let leaking: Vec<&str> = j["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verdict"] == "leak")
        .map(|s| s["labels"]["instance"].as_str().unwrap())
        .collect();
    assert_eq!(leaking.len(), 8, "{j:#}");
    assert!(leaking.iter().all(|i| i < &"api-08"), "{leaking:?}");
    // Bytes per request among the leakers: the truth within 10%, inside its interval.
    let l = &j["leakers"];
    assert_eq!(l["instances"], 8, "{l:#}");
    let bpe = l["bytes_per_event"].as_f64().unwrap();
    assert!((bpe / 4.0 - 1.0).abs() < 0.1, "{l:#}");
    let ci = [
        l["bytes_per_event_ci95"][0].as_f64().unwrap(),
        l["bytes_per_event_ci95"][1].as_f64().unwrap(),
    ];
    assert!(ci[0] < 4.0 && 4.0 < ci[1], "{l:#}");
    assert!(j["others_flat_p"].as_f64().unwrap() >= 0.05, "{j:#}");
    assert_eq!(j["others_within_tolerance"], 16, "{j:#}");
    // The version separates them; the zone does not.
    let splits = j["separating_labels"].as_array().unwrap();
    assert_eq!(splits[0]["key"], "version", "{j:#}");
    assert_eq!(splits[0]["value"], "2.3.1");
    assert_eq!(
        (
            splits[0]["leaking_with"].as_u64(),
            splits[0]["others_with"].as_u64()
        ),
        (Some(8), Some(0))
    );
    assert!(splits[0]["p"].as_f64().unwrap() < 1e-4, "{j:#}");
    assert!(
        splits
            .iter()
            .all(|s| s["key"] != "zone" && s["key"] != "instance"),
        "{j:#}"
    );
    let headline = j["headline"].as_str().unwrap();
    assert!(
        headline.starts_with("8 of 24 instances leak ")
            && headline.contains(" B per request (95% CI ")
            && headline.contains("the other 16 are flat, within the tolerance")
            && headline.contains(
                "All 8 leaking instances have version=2.3.1; none of the 16 others do (Fisher p "
            ),
        "{headline}"
    );
    // --group-by version: 2.3.1 grows, 2.3.0 does not, so there is no ratio to it.
    let g = &j["groups"];
    assert_eq!(g["label"], "version");
    let by: Vec<(&str, bool)> = g["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["value"].as_str().unwrap(), x["grows"].as_bool().unwrap()))
        .collect();
    assert_eq!(by, [("2.3.0", false), ("2.3.1", true)], "{g:#}");
    assert!(g["groups"][0]["ratio"].is_null());
    assert!(
        g["explanation"]
            .as_str()
            .unwrap()
            .starts_with("only version=2.3.1 grows"),
        "{g:#}"
    );

    // The text leads with the same headline; what it printed is in the README.
    let url = vm.url();
    let mut text_args = vec!["fleet", "--prometheus", &url];
    text_args.extend_from_slice(&args);
    let report = d.path("fleet.html");
    let report_arg = report.display().to_string();
    text_args.extend_from_slice(&["--report", &report_arg]);
    let text = d.run(&text_args);
    text.expect_code(0);
    let out = text.stdout();
    eprintln!("{out}");
    assert_eq!(out.lines().next().unwrap(), headline, "{}", text.describe());
    assert!(
        out.contains("\nwhat separates them: all 8 leaking instances have version=2.3.1"),
        "{out}"
    );
    assert!(
        !out.contains("has version=2.3.0"),
        "the mirror image is left out: {out}"
    );
    // `--fail-on` as every command spells it, and the old spelling with a note.
    let gate = d.run(&[text_args.as_slice(), &["--fail-on", "leak"]].concat());
    gate.expect_code(1);
    let old = d.run(&[text_args.as_slice(), &["--fail-on-leak"]].concat());
    old.expect_code(1)
        .expect_stderr("--fail-on-leak is deprecated and will go; write --fail-on leak");
    let page = std::fs::read_to_string(&report).unwrap();
    assert!(
        page.contains("id=\"verdict\">8 of 24 instances leak"),
        "{page}"
    );
    assert!(page.contains("<dt>by version</dt>"), "{page}");

    // Leakers spread over every version: no label separates them.
    let args = synthetic_args("spread", "5m");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let j = vm.fleet_json(&d, &args, 24);
    assert_eq!(j["leaking"], 8, "{j:#}");
    assert_eq!(j["separating_labels"], serde_json::json!([]), "{j:#}");
    assert!(
        j["headline"]
            .as_str()
            .unwrap()
            .ends_with("No label separates the leaking instances from the others."),
        "{j:#}"
    );
    assert!(
        (j["leakers"]["bytes_per_event"].as_f64().unwrap() / 4.0 - 1.0).abs() < 0.1,
        "{j:#}"
    );

    // Every instance leaks, 1.1 twice as much per request: the ratio excludes 1.
    let mut args = synthetic_args("ab", "5m");
    args.extend(["--group-by".to_string(), "version".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let j = vm.fleet_json(&d, &args, 12);
    assert_eq!(j["leaking"], 12, "{j:#}");
    let g = &j["groups"]["groups"];
    assert_eq!(g[1]["value"], "1.1", "{j:#}");
    let ratio = g[1]["ratio"].as_f64().unwrap();
    let lo = g[1]["ratio_ci95"][0].as_f64().unwrap();
    assert!(lo > 1.0 && (ratio / 2.0 - 1.0).abs() < 0.25, "{j:#}");
    assert!(
        j["groups"]["explanation"]
            .as_str()
            .unwrap()
            .starts_with("version=1.1 leaks "),
        "{j:#}"
    );
    eprintln!("{}", j["groups"]["explanation"]);

    // A label no series has, and one that is not a label name.
    let mut bad = vec!["fleet", "--prometheus", &url];
    bad.extend_from_slice(&args[..args.len() - 1]);
    d.run(&[bad.as_slice(), &["zonee"]].concat())
        .expect_code(2)
        .expect_stderr(
            "--group-by \"zonee\": no series has this label; they have: instance, job, version",
        );
    d.run(&[bad.as_slice(), &["1x"]].concat())
        .expect_code(2)
        .expect_stderr("--group-by \"1x\": not a label name");
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
    let _guard = Kids(vec![p, exporter]);
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
