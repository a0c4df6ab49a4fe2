//! Report generation for two weeks of 10 s samples (120,960 per series): analysis of two memory
//! series plus a counter, and the HTML page with its charts. Target: under a second, under 2 MB.
//!
//! `cargo run --release -p leakhound-bench --bin report_speed`

use std::time::Instant;

use leakhound_analysis::{analyze, Config};
use leakhound_bench::corpus::{corpus, Shape};
use leakhound_report::html::{html, ReportMeta, ReportSeries};

fn main() {
    let mut spec = corpus(4, 9)
        .into_iter()
        .find(|s| s.shape == Shape::Steady)
        .expect("steady case");
    spec.dt = 10.0;
    spec.span = 14.0 * 86400.0;
    let (t, rss) = spec.generate();
    let uss: Vec<f64> = rss.iter().map(|v| v * 0.8).collect();
    let requests: Vec<f64> = (0..t.len()).map(|i| (i * 37) as f64).collect();
    let cfg = Config::with_tolerance(2.0 * 1048576.0);
    let runs = 5;
    let mut best = f64::INFINITY;
    let mut size = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let f1 = analyze(&t, &rss, &cfg).expect("valid");
        let f2 = analyze(&t, &uss, &cfg).expect("valid");
        let series = [
            ReportSeries {
                name: "rss".into(),
                unit: "bytes".into(),
                t: &t,
                v: &rss,
                finding: Some(&f1),
            },
            ReportSeries {
                name: "uss".into(),
                unit: "bytes".into(),
                t: &t,
                v: &uss,
                finding: Some(&f2),
            },
            ReportSeries {
                name: "http_requests_total".into(),
                unit: "count".into(),
                t: &t,
                v: &requests,
                finding: None,
            },
        ];
        let meta = ReportMeta {
            source: "benchmark".into(),
            version: "bench".into(),
            ..ReportMeta::default()
        };
        let page = html(&meta, &series).expect("renders");
        best = best.min(start.elapsed().as_secs_f64());
        size = page.len();
    }
    println!(
        "two weeks at 10 s ({} samples per series, 3 series): report in {:.0} ms (best of {runs}), {:.0} KiB (targets: < 1000 ms, < 2048 KiB)",
        t.len(),
        best * 1e3,
        size as f64 / 1024.0
    );
}
