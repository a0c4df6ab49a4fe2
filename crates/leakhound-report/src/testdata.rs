//! Findings for tests: a process of 200 MB sampled every minute for about a day and a half,
//! with a small sawtooth, growing at a known rate.

use leakhound_analysis::{analyze, Config, Finding};

/// Times and values of a series growing `rate_per_day` bytes a day.
pub(crate) fn series(rate_per_day: f64) -> (Vec<f64>, Vec<f64>) {
    let t: Vec<f64> = (0..2000).map(|i| 1.7e9 + i as f64 * 60.0).collect();
    let y: Vec<f64> = t
        .iter()
        .enumerate()
        .map(|(i, t)| 2e8 + rate_per_day * (t - 1.7e9) / 86400.0 + (i % 5) as f64 * 1e5)
        .collect();
    (t, y)
}

/// The finding on [`series`]`(rate_per_day)` under a 2 MiB/day tolerance.
pub(crate) fn finding(rate_per_day: f64) -> Finding {
    let (t, y) = series(rate_per_day);
    analyze(&t, &y, &Config::with_tolerance(2097152.0)).expect("valid series")
}
