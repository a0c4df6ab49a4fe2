//! Analysis speed: one series of 100k samples, and a batch of series on all cores, with the
//! all-pairs estimators people use (pymannkendall, scipy theilslopes) timed on the same series
//! in the same run when python3 has them.
//!
//! `cargo run --release -p leakhound-bench --bin speed [-- --batch 10000 --batch-len 20000]`

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use leakhound_analysis::{analyze, Config};
use leakhound_bench::arg;
use leakhound_bench::corpus::{corpus, Shape, Spec};
use rayon::prelude::*;

fn series(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut spec: Spec = corpus(seed, 9)
        .into_iter()
        .find(|s| s.shape == Shape::Steady)
        .expect("corpus has a steady case");
    spec.dt = 10.0;
    spec.span = (n - 1) as f64 * spec.dt;
    spec.generate()
}

fn python_seconds(t: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let dir = std::env::temp_dir().join("leakhound-speed");
    std::fs::create_dir_all(&dir).ok()?;
    let csv = dir.join("series.csv");
    let mut f = std::fs::File::create(&csv).ok()?;
    for (a, b) in t.iter().zip(y) {
        writeln!(f, "{a},{b}").ok()?;
    }
    let script = format!(
        "import time, numpy as np, pymannkendall as mk\nfrom scipy.stats import theilslopes\n\
         d = np.loadtxt('{}', delimiter=','); t, y = d[:,0], d[:,1]\n\
         s = time.perf_counter(); mk.original_test(y); a = time.perf_counter() - s\n\
         s = time.perf_counter(); theilslopes(y, t); b = time.perf_counter() - s\n\
         print(a, b)",
        csv.display()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let mut it = text
        .split_whitespace()
        .filter_map(|v| v.parse::<f64>().ok());
    Some((it.next()?, it.next()?))
}

fn main() {
    let tol = 2.0 * 1048576.0;
    let cfg = Config::with_tolerance(tol);

    let (t, y) = series(100_000, 3);
    analyze(&t, &y, &cfg).expect("valid"); // warm up
    let reps = 20;
    let start = Instant::now();
    for _ in 0..reps {
        analyze(&t, &y, &cfg).expect("valid");
    }
    let one = start.elapsed().as_secs_f64() / reps as f64;
    println!(
        "one series of 100,000 samples: {:.1} ms per analysis (target < 20 ms)",
        one * 1e3
    );

    // The all-pairs methods on the same series: at 100k points they need ~5e9 pairs, so they
    // are timed on the first 10,000 samples and the same for leakhound.
    let n_py = 10_000;
    let start = Instant::now();
    for _ in 0..reps {
        analyze(&t[..n_py], &y[..n_py], &cfg).expect("valid");
    }
    let lh_small = start.elapsed().as_secs_f64() / reps as f64;
    match python_seconds(&t[..n_py], &y[..n_py]) {
        Some((mk, ts)) => {
            println!(
                "10,000 samples: leakhound {:.2} ms; pymannkendall original_test {:.0} ms ({:.0}x slower); scipy theilslopes {:.0} ms ({:.0}x slower)",
                lh_small * 1e3,
                mk * 1e3,
                mk / lh_small,
                ts * 1e3,
                ts / lh_small
            );
        }
        None => println!(
            "10,000 samples: leakhound {:.2} ms; python comparison skipped (pip install numpy scipy pymannkendall)",
            lh_small * 1e3
        ),
    }

    let batch = arg("--batch", 10_000) as usize;
    let len = arg("--batch-len", 20_000) as usize;
    let start = Instant::now();
    let leaks: usize = (0..batch)
        .into_par_iter()
        .map(|i| {
            // Generate inside the worker so the batch never sits in memory at once.
            let (t, y) = series(len, 100 + i as u64 % 50);
            usize::from(
                analyze(&t, &y, &cfg).expect("valid").verdict == leakhound_analysis::Verdict::Leak,
            )
        })
        .sum();
    let total = start.elapsed().as_secs_f64();
    // Generation is part of that time; measure it alone to report the analysis share.
    let start = Instant::now();
    (0..batch.min(500)).into_par_iter().for_each(|i| {
        std::hint::black_box(series(len, 100 + i as u64 % 50));
    });
    let gen = start.elapsed().as_secs_f64() * batch as f64 / batch.min(500) as f64;
    println!(
        "batch of {batch} series x {len} samples on {} threads: {total:.1} s including generation (~{gen:.1} s of it), {leaks} leaks (target < 60 s)",
        rayon::current_num_threads()
    );
}
