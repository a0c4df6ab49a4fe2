//! How many hours of 30 s samples leakhound needs before it says `leak` for an 8 MB/day leak on
//! a 250 MB process, against an oracle that knows the noise model.
//!
//! The oracle fits the same floor points by generalised least squares with the true noise
//! covariance: the wander's exponential correlation (known variance and correlation time) plus
//! the white noise of catching each GC trough up to one sample late (known variance), with
//! normal quantiles. It says `leak` once the lower 95% bound clears the tolerance. leakhound
//! must estimate everything itself.
//!
//! `cargo run --release -p leakhound-bench --bin time_to_verdict [-- --seeds 20]`

use leakhound_analysis::floor::floor_of;
use leakhound_analysis::{analyze, Config, Verdict};
use leakhound_bench::corpus::{Shape, Spec};
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

const DAY: f64 = 86400.0;
const TOL: f64 = 2.0 * 1048576.0;

/// The true noise of the floor points of a [`Spec`]: wander sd and correlation time, and the
/// white trough-sampling sd.
struct Noise {
    wander_sd: f64,
    tau: f64,
    white_sd: f64,
}

fn oracle_says_leak(t: &[f64], y: &[f64], noise: &Noise) -> bool {
    let fl = floor_of(t, y);
    let n = fl.v.len();
    if n < 10 {
        return false;
    }
    let x: Vec<f64> = fl.t.iter().map(|v| (v - fl.t[0]) / DAY).collect();
    let cov = DMatrix::from_fn(n, n, |i, j| {
        let c = noise.wander_sd.powi(2) * (-(fl.t[i] - fl.t[j]).abs() / noise.tau).exp();
        if i == j {
            c + noise.white_sd.powi(2)
        } else {
            c
        }
    });
    let Some(chol) = cov.cholesky() else {
        return false;
    };
    let xm = DMatrix::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { x[i] });
    let yv = DVector::from_column_slice(&fl.v);
    let sx = chol.solve(&xm);
    let sy = chol.solve(&yv);
    let info = xm.transpose() * sx;
    let Some(inv) = info.try_inverse() else {
        return false;
    };
    let beta = &inv * (xm.transpose() * sy);
    beta[1] - 1.959964 * inv[(1, 1)].sqrt() > TOL
}

/// The benchmark's process: 250 MB, 30 s samples, a 5 MB GC sawtooth every 5 minutes, 0.5 MB
/// of wander with a 30-minute correlation time.
fn process(seed: u64, shape: Shape, rate: f64, span: f64, tau: f64) -> Spec {
    Spec {
        id: seed as usize,
        seed,
        shape,
        baseline: 250e6,
        dt: 30.0,
        span,
        rate,
        gc: (5e6, 300.0),
        wander: (0.5e6, tau),
        cycle: 0.0,
        feature: 0.0,
        feature_at: 0.0,
    }
}

fn main() {
    let seeds = leakhound_bench::arg("--seeds", 20);
    let tau = 1800.0;
    let (amp, period, dt) = (5e6, 300.0, 30.0);
    let noise = Noise {
        wander_sd: 0.5e6,
        tau,
        white_sd: amp * dt / period / 12f64.sqrt(),
    };
    let step_h = 0.5;
    let results: Vec<(f64, f64)> = (0..seeds)
        .into_par_iter()
        .map(|seed| {
            let spec = process(1000 + seed, Shape::Steady, 8e6, 7.0 * DAY, tau);
            let (t, y) = spec.generate();
            let mut lh = f64::NAN;
            let mut oracle = f64::NAN;
            let mut h = step_h;
            while h <= 7.0 * 24.0 && (lh.is_nan() || oracle.is_nan()) {
                let n = ((h * 3600.0 / spec.dt) as usize + 1).min(t.len());
                if lh.is_nan() {
                    let f = analyze(&t[..n], &y[..n], &Config::with_tolerance(TOL)).expect("valid");
                    if f.verdict == Verdict::Leak {
                        lh = h;
                    }
                }
                if oracle.is_nan() && oracle_says_leak(&t[..n], &y[..n], &noise) {
                    oracle = h;
                }
                h += step_h;
            }
            (lh, oracle)
        })
        .collect();
    // Control: the same noise without a leak. Share of looks (every half hour up to a day)
    // at which each method says `leak`; both should stay near zero.
    let looks: Vec<(usize, usize, usize)> = (0..seeds)
        .into_par_iter()
        .map(|seed| {
            let spec = process(5000 + seed, Shape::Flat, 0.0, DAY, tau);
            let (t, y) = spec.generate();
            let (mut n_looks, mut lh, mut or) = (0, 0, 0);
            let mut h = step_h;
            while h <= 24.0 {
                let n = ((h * 3600.0 / spec.dt) as usize + 1).min(t.len());
                n_looks += 1;
                let f = analyze(&t[..n], &y[..n], &Config::with_tolerance(TOL)).expect("valid");
                lh += usize::from(f.verdict == Verdict::Leak);
                or += usize::from(oracle_says_leak(&t[..n], &y[..n], &noise));
                h += step_h;
            }
            (n_looks, lh, or)
        })
        .collect();
    let total: usize = looks.iter().map(|l| l.0).sum();
    let lh_fa: usize = looks.iter().map(|l| l.1).sum();
    let or_fa: usize = looks.iter().map(|l| l.2).sum();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("8 MB/day leak on 250 MB, 30 s samples, GC sawtooth 5 MB / 5 min, wander 0.5 MB with 30 min correlation, tolerance 2 MiB/day; {seeds} seeds, checked every {step_h} h");
    println!("| seed | leakhound (h) | oracle GLS (h) | ratio |");
    println!("|---|---|---|---|");
    for (i, (a, b)) in results.iter().enumerate() {
        println!("| {i} | {a:.1} | {b:.1} | {:.2} |", a / b);
    }
    let lh = median(results.iter().map(|r| r.0).collect());
    let or = median(results.iter().map(|r| r.1).collect());
    let ratio = median(results.iter().map(|r| r.0 / r.1).collect());
    println!("\nmedian time to `leak`: leakhound {lh:.1} h, oracle {or:.1} h; median ratio {ratio:.2} (target <= 1.5)");
    println!(
        "control without a leak (same noise, looks every {step_h} h up to 24 h, {total} looks): `leak` said at {:.1}% of looks by leakhound, {:.1}% by the oracle",
        100.0 * lh_fa as f64 / total as f64,
        100.0 * or_fa as f64 / total as f64
    );
}
