//! The CSV contract end to end: analyze, import, runs, export.

mod util;

use util::{write, Dir};

/// Two days of 60 s samples: 250 MB with a sawtooth, leaking `rate` bytes/day.
fn leak_csv(rate: f64) -> String {
    let mut s = String::from("timestamp,rss,http_requests_total\n");
    for i in 0..2880 {
        let t = 1_795_000_000.0 + i as f64 * 60.0;
        let saw = ((i % 7) as f64) * 1.5e6;
        let rss = 250e6 + rate * (t - 1_795_000_000.0) / 86400.0 + saw;
        s.push_str(&format!("{t},{rss},{}\n", i * 100));
    }
    s
}

#[test]
fn analyze_csv_follows_the_json_contract() {
    let d = Dir::new();
    let p = d.path("leak.csv");
    write(&p, &leak_csv(8e6));
    let r = d.run(&[
        "analyze",
        p.to_str().unwrap(),
        "--tolerance",
        "2MiB/day",
        "--limit",
        "2GiB",
        "--format",
        "json",
    ]);
    r.expect_code(0);
    let j = r.json();
    let s = &j["series"];
    assert_eq!(
        s.as_array().unwrap().len(),
        1,
        "the counter column is not judged as memory"
    );
    let s = &s[0];
    assert_eq!(s["name"], "rss");
    assert_eq!(s["samples"], 2880);
    assert_eq!(s["span_seconds"], 2879.0 * 60.0);
    assert_eq!(s["verdict"], "leak");
    assert_eq!(s["pattern"], "steady");
    assert_eq!(s["tolerance_bytes_per_day"], 2097152.0);
    assert_eq!(s["limit_bytes"], 2147483648.0);
    let rate = s["rate_bytes_per_day"].as_f64().unwrap();
    assert!((rate - 8e6).abs() < 0.4e6, "{rate}");
    let ci = s["rate_ci95_bytes_per_day"].as_array().unwrap();
    assert!(
        ci[0].as_f64().unwrap() < 8e6 && ci[1].as_f64().unwrap() > 8e6,
        "{ci:?}"
    );
    assert!(s["detectable_rate_bytes_per_day"].as_f64().unwrap() > 2097152.0);
    assert!(s["time_to_verdict_seconds"].is_null());
    let ttl = s["time_to_limit_seconds"].as_f64().unwrap() / 86400.0;
    // (2 GiB - ~266 MB floor - ~9 MB peaks) / 8 MB/day ≈ 233 days.
    assert!((215.0..250.0).contains(&ttl), "{ttl}");
    assert!(s["explanation"]
        .as_str()
        .unwrap()
        .starts_with("leak: rss floor grows at 7."));
}

#[test]
fn fail_on_leak_exits_1() {
    let d = Dir::new();
    let p = d.path("leak.csv");
    write(&p, &leak_csv(8e6));
    d.run(&[
        "analyze",
        p.to_str().unwrap(),
        "--tolerance",
        "2MiB/day",
        "--fail-on",
        "leak",
    ])
    .expect_code(1);
    let flat = d.path("flat.csv");
    write(&flat, &leak_csv(0.0));
    d.run(&[
        "analyze",
        flat.to_str().unwrap(),
        "--tolerance",
        "2MiB/day",
        "--fail-on",
        "leak",
    ])
    .expect_code(0);
}

#[test]
fn import_then_runs_export_and_analyze() {
    let d = Dir::new();
    let p = d.path("leak.csv");
    write(&p, &leak_csv(8e6));
    let r = d.run(&["import", p.to_str().unwrap(), "--limit", "2GiB"]);
    r.expect_code(0);
    assert!(
        r.stdout().contains("imported 5760 samples of 2 series"),
        "{}",
        r.describe()
    );
    let runs = d.run(&["runs", "--format", "json"]);
    runs.expect_code(0);
    assert_eq!(runs.json()[0]["kind"], "import");
    assert_eq!(runs.json()[0]["samples"], 5760);
    let a = d.run(&[
        "analyze",
        "1",
        "--tolerance",
        "2MiB/day",
        "--format",
        "json",
    ]);
    a.expect_code(0);
    assert_eq!(a.json()["series"][0]["verdict"], "leak");
    assert_eq!(
        a.json()["series"][0]["limit_bytes"],
        2147483648.0,
        "the stored limit is used"
    );
    let e = d.run(&["export", "1"]);
    e.expect_code(0);
    let original = std::fs::read_to_string(&p).unwrap();
    let exported = e.stdout();
    let parse = |s: &str| -> Vec<Vec<f64>> {
        s.lines()
            .skip(1)
            .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
            .collect()
    };
    assert_eq!(
        exported.lines().next(),
        Some("timestamp,rss,http_requests_total")
    );
    assert_eq!(
        parse(&exported),
        parse(&original),
        "export round-trips the import"
    );
    let j = d.run(&["export", "1", "--format", "json"]);
    j.expect_code(0);
    assert_eq!(j.json()["series"][1]["kind"], "counter");
}
