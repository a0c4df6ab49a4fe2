//! The JSON of `analyze`, `compare` and `fleet` on fixed inputs, byte for byte: restructuring
//! (issue 27) must not change a verdict, a rate or a word. The inputs are generated here,
//! deterministically; the expected outputs are in `tests/golden/`. A deliberate change of output
//! is blessed with `LEAKHOUND_BLESS=1 cargo test -p leakhound --test json_stability` and shows in
//! the diff of the golden files.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use util::{write, Dir};

/// A small deterministic generator (64-bit LCG), so the inputs need no committed data.
struct Lcg(u64);

impl Lcg {
    /// Uniform in [-1, 1).
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// The shapes the verdicts must keep: `n` samples `step` s apart of `level(i, t, noise)`.
fn csv(header: &str, n: usize, step: f64, mut row: impl FnMut(usize, f64) -> String) -> String {
    let mut s = format!("timestamp,{header}\n");
    for i in 0..n {
        let t = 1_795_000_000.0 + i as f64 * step;
        s.push_str(&format!("{t},{}\n", row(i, t - 1_795_000_000.0)));
    }
    s
}

fn inputs() -> Vec<(&'static str, String)> {
    let mut r = Lcg(7);
    let leak = csv("rss,heap,http_requests_total", 2880, 60.0, |i, t| {
        let saw = (i % 7) as f64 * 1.5e6;
        let rss = 250e6 + 8e6 * t / 86_400.0 + saw + 2e5 * r.next();
        let heap = 120e6 + 6e6 * t / 86_400.0 + saw;
        format!("{rss:.0},{heap:.0},{}", i * 100 + (i % 3))
    });
    let mut r = Lcg(11);
    let leak2 = csv("rss", 2880, 60.0, |i, t| {
        let rss = 250e6 + 16e6 * t / 86_400.0 + (i % 7) as f64 * 1.5e6 + 2e5 * r.next();
        format!("{rss:.0}")
    });
    let mut r = Lcg(13);
    let warmup = csv("rss", 1800, 4.0, |_, t| {
        let rss = 80e6 + 40e6 * (1.0 - (-t / 600.0).exp()) + 3e5 * r.next();
        format!("{rss:.0}")
    });
    let mut r = Lcg(17);
    let step = csv("rss", 4320, 60.0, |i, _| {
        let rss = 300e6 + if i > 2000 { 20e6 } else { 0.0 } + 1e6 * r.next();
        format!("{rss:.0}")
    });
    let mut r = Lcg(19);
    let short_ramp = csv("rss", 120, 0.5, |i, _| {
        let rss = 13e6 + 0.25e6 * i as f64 + 2e6 * (r.next() + 1.0);
        format!("{rss:.0}")
    });
    let mut r = Lcg(23);
    let restarts = csv("rss", 4320, 60.0, |i, _| {
        let life = (i % 1440) as f64 * 60.0;
        let rss = 200e6 + 30e6 * life / 86_400.0 + 5e5 * r.next();
        format!("{rss:.0}")
    });
    let mut r = Lcg(29);
    let flat = csv("rss", 600, 1.0, |_, _| {
        format!("{:.0}", 90e6 + 4e5 * r.next())
    });
    vec![
        ("leak", leak),
        ("leak2", leak2),
        ("warmup", warmup),
        ("step", step),
        ("short_ramp", short_ramp),
        ("restarts", restarts),
        ("flat", flat),
    ]
}

/// `out` with the test's temporary directory written `DIR` (labels name the input files).
fn in_dir(d: &Dir, out: String) -> String {
    out.replace(d.dir.path().to_str().unwrap(), "DIR")
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"))
}

/// Compares `out` with the golden file, or writes it when blessing.
fn check(name: &str, out: &str) -> Option<String> {
    let path = golden(name);
    if std::env::var_os("LEAKHOUND_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, out).unwrap();
        return None;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with LEAKHOUND_BLESS=1)", path.display()));
    (want != out).then(|| {
        let line = want
            .lines()
            .zip(out.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(out.lines().count()));
        format!(
            "{name}: differs from {} at line {}: want {:?}, got {:?}",
            path.display(),
            line + 1,
            want.lines().nth(line),
            out.lines().nth(line)
        )
    })
}

#[test]
fn analyze_and_compare_json_are_byte_identical_to_the_golden_files() {
    let d = Dir::new();
    let mut diffs = Vec::new();
    let mut paths = Vec::new();
    for (name, text) in inputs() {
        let p = d.path(&format!("{name}.csv"));
        write(&p, &text);
        paths.push(p.clone());
        let load = if name == "leak" || name == "step" || name == "restarts" {
            "auto"
        } else {
            "constant"
        };
        let r = d.run(&[
            "analyze",
            p.to_str().unwrap(),
            "--limit",
            "2GiB",
            "--load",
            load,
            "--format",
            "json",
        ]);
        assert!(r.code() <= 1, "{}", r.describe());
        diffs.extend(check(&format!("analyze_{name}"), &in_dir(&d, r.stdout())));
    }
    let r = d.run(&[
        "compare",
        paths[0].to_str().unwrap(),
        paths[1].to_str().unwrap(),
        "--format",
        "json",
    ]);
    r.expect_code(0);
    diffs.extend(check("compare_leak_leak2", &in_dir(&d, r.stdout())));
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// One instance's series: its job, its instance label, its points.
type Instance = (String, String, Vec<(f64, f64)>);

/// A Prometheus-compatible API that answers with fixed series: `fleet`'s input held still
/// (a real TSDB answers relative to now), so its output can be compared byte for byte.
fn fixed_tsdb(series: Vec<Instance>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let labels = |job: &str, inst: &str| {
        format!(
            r#"{{"__name__":"process_resident_memory_bytes","job":"{job}","instance":"{inst}"}}"#
        )
    };
    let list: Vec<String> = series.iter().map(|(j, i, _)| labels(j, i)).collect();
    let series_body = format!(r#"{{"status":"success","data":[{}]}}"#, list.join(","));
    // Each range query names one instance (fleet fetches series one by one): the answer is
    // that series, found by its instance as the query string spells it.
    let matrix: Vec<(String, String)> = series
        .iter()
        .map(|(j, i, pts)| {
            let values: Vec<String> = pts.iter().map(|(t, v)| format!(r#"[{t},"{v}"]"#)).collect();
            let body = format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{},"values":[{}]}}]}}}}"#,
                labels(j, i),
                values.join(",")
            );
            (i.replace(':', "%3A"), body)
        })
        .collect();
    let empty = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = if first.contains("/api/v1/series") {
                &series_body
            } else {
                matrix
                    .iter()
                    .find(|(inst, _)| first.contains(inst.as_str()))
                    .map_or(&empty, |(_, b)| b)
            };
            let mut w = &stream;
            let _ = write!(
                w,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn fleet_json_is_byte_identical_to_the_golden_file() {
    let mut series = Vec::new();
    for (k, rate) in [0.0, 0.0, 0.0, 12e6, 0.0, 30e6].into_iter().enumerate() {
        let mut r = Lcg(100 + k as u64);
        let pts = (0..2016)
            .map(|i| {
                let t = 1_795_000_000.0 + i as f64 * 300.0;
                let day = (i as f64 * 300.0 / 86_400.0 * std::f64::consts::TAU).sin();
                let v = 300e6 + rate * i as f64 * 300.0 / 86_400.0 + 8e6 * day + 1e6 * r.next();
                (t, v.round())
            })
            .collect();
        let version = if k < 3 { "1.4" } else { "1.5" };
        series.push((format!("api-{version}"), format!("10.0.0.{k}:9100"), pts));
    }
    let port = fixed_tsdb(series);
    let d = Dir::new();
    let r = d.run(&[
        "fleet",
        "--prometheus",
        &format!("http://127.0.0.1:{port}"),
        "--query",
        "process_resident_memory_bytes",
        "--range",
        "7d",
        "--step",
        "300s",
        "--group-by",
        "job",
        "--format",
        "json",
    ]);
    r.expect_code(0);
    let mut j = r.json();
    // How long the fetch took is the one thing that may differ between two runs.
    for key in ["fetch_seconds", "wall_seconds"] {
        if let Some(o) = j.as_object_mut() {
            o.remove(key);
        }
    }
    let out = serde_json::to_string_pretty(&j).unwrap() + "\n";
    if let Some(diff) = check("fleet", &out) {
        panic!("{diff}");
    }
}
