//! The no-leak twin of the seed-shaped service, judged at every prefix the time-to-verdict
//! bench judges (hourly to two days, then every three hours to 14 days, as `analyze --load auto`
//! would): never `leak` (issue 22; once it was `leak` on a 16-hour prefix, the rising phase of
//! the daily cycle taken for growth).

use leakhound_analysis::{analyze, Config, Verdict};
use leakhound_bench::service::Service;

#[test]
fn the_seed_shaped_twin_is_never_a_leak_at_any_prefix() {
    let hours: Vec<f64> = (1..=48)
        .map(f64::from)
        .chain((17..=112).map(|k| f64::from(k) * 3.0))
        .collect();
    let cfg = Config::with_tolerance(2.0 * 1048576.0);
    // The twins of the bench's three seed-shaped pairs (its seeds 100-102, twins 10,000 on).
    for seed in 10_100..=10_102 {
        let s = Service::seed_shaped(seed, false, 22.0);
        let w = s.generate();
        for &h in &hours {
            let n = ((h * 3600.0 / s.dt) as usize + 1).min(w.t.len());
            let f = analyze(&w.t[..n], &w.y[..n], &cfg).unwrap();
            assert_ne!(
                f.verdict,
                Verdict::Leak,
                "seed {seed}, {h} h: {:?} {:?}",
                f.rate_per_day,
                f.rate_ci_per_day
            );
        }
    }
}
