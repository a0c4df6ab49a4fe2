//! Properties of the verdict that hold whatever the data: a constant offset changes nothing,
//! scaling the data scales the rate, mirroring the series in time flips its sign.

use leakhound_analysis::{analyze, Config};
use proptest::prelude::*;

/// A series of `n` samples every `dt` seconds: slope `rate` per day, AR(1) noise of `sd`.
fn series(n: usize, dt: f64, rate: f64, sd: f64, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut state = seed | 1;
    let mut normal = move || {
        let mut u = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (a, b) = (u(), u());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    };
    let mut e = 0.0;
    let t: Vec<f64> = (0..n).map(|i| 1.7e9 + i as f64 * dt).collect();
    let y: Vec<f64> = t
        .iter()
        .map(|&ti| {
            e = 0.8 * e + sd * normal();
            2e8 + rate * (ti - t[0]) / 86400.0 + e
        })
        .collect();
    (t, y)
}

/// Under a constant load: the trend estimator alone. (Under a cyclic load a short window's
/// daily cycle is bounded by a prior proportional to the level, so an offset changes what is
/// plausible, by design.)
fn cfg() -> Config {
    let mut c = Config::with_tolerance(1e6);
    c.load = leakhound_analysis::Load::Constant;
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn offset_does_not_change_the_rate(seed in 0u64..1000, rate in -2e7f64..2e7, offset in -1e8f64..1e9) {
        let (t, y) = series(2000, 60.0, rate, 3e5, seed);
        let a = analyze(&t, &y, &cfg()).unwrap();
        let shifted: Vec<f64> = y.iter().map(|v| v + offset).collect();
        let b = analyze(&t, &shifted, &cfg()).unwrap();
        let (ra, rb) = (a.rate_per_day.unwrap(), b.rate_per_day.unwrap());
        prop_assert!((ra - rb).abs() <= 1e-6 * ra.abs().max(1e4), "{} vs {}", ra, rb);
        prop_assert_eq!(a.verdict, b.verdict);
    }

    #[test]
    fn scaling_the_data_scales_the_rate(seed in 0u64..1000, rate in -2e7f64..2e7, k in 0.01f64..100.0) {
        let (t, y) = series(2000, 60.0, rate, 3e5, seed);
        let a = analyze(&t, &y, &cfg()).unwrap();
        let scaled: Vec<f64> = y.iter().map(|v| v * k).collect();
        let mut c = cfg();
        c.tolerance *= k;
        let b = analyze(&t, &scaled, &c).unwrap();
        let (ra, rb) = (a.rate_per_day.unwrap(), b.rate_per_day.unwrap());
        prop_assert!((ra * k - rb).abs() <= 1e-6 * (ra * k).abs().max(1e4 * k), "{} vs {}", ra * k, rb);
        prop_assert_eq!(a.verdict, b.verdict);
    }

    #[test]
    fn mirroring_in_time_flips_the_sign(seed in 0u64..1000, rate in 5e6f64..5e7) {
        let (t, y) = series(2000, 60.0, rate, 3e5, seed);
        let a = analyze(&t, &y, &cfg()).unwrap();
        let mirrored: Vec<f64> = y.iter().rev().copied().collect();
        let b = analyze(&t, &mirrored, &cfg()).unwrap();
        let (ra, rb) = (a.rate_per_day.unwrap(), b.rate_per_day.unwrap());
        // Floor windows are not symmetric in time, so equal up to noise, not to the bit.
        prop_assert!((ra + rb).abs() <= 0.1 * ra.abs(), "{} vs {}", ra, rb);
    }
}
