//! Series shaped like what leakhound stores, for measuring storage: a week at 10 s of
//! page-aligned memory (daily cycle, GC sawtooth, AR(1) noise, a leak in half of them),
//! cumulative counters, and floats, at sample times with the jitter of a real sampler (kept
//! to the millisecond, as the sampler's clock does).

use crate::rng::Rng;
use crate::service::Service;

/// What a series holds, which decides how well it can compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Bytes in whole pages.
    Memory,
    /// A cumulative count of events.
    Counter,
    /// Any float (milliseconds of delay, seconds of CPU).
    Float,
}

/// One series to store.
#[derive(Debug, Clone)]
pub struct BenchSeries {
    /// Its name.
    pub name: &'static str,
    /// What it holds.
    pub shape: Shape,
    /// Unix seconds, increasing, to the millisecond.
    pub t: Vec<f64>,
    /// Values.
    pub v: Vec<f64>,
}

/// Sample times every `dt` seconds from `t0`, each late by what a sampler on a busy host is:
/// 0-4 ms usually, 20-60 ms once in a hundred; to the millisecond.
pub fn sampler_times(seed: u64, t0: f64, dt: f64, n: usize) -> Vec<f64> {
    let mut rng = Rng::new(seed ^ 0x7469_6d65);
    (0..n)
        .map(|i| {
            let late = if rng.uniform() < 0.01 {
                rng.range(0.020, 0.060)
            } else {
                rng.range(0.0, 0.004)
            };
            ((t0 + i as f64 * dt + late) * 1000.0).round() / 1000.0
        })
        .collect()
}

/// A week at 10 s (60,481 samples per series): four page-aligned memory series (`rss`,
/// `pss`, `uss`, `anon`, two of them leaking), two counters (`requests`, `gc.count`) and two
/// floats (`event_loop_delay_ms`, `cpu_seconds` to the hundredth).
pub fn week_at_10s(seed: u64) -> Vec<BenchSeries> {
    let dt = 10.0;
    let mut out = Vec::new();
    let mut t_shared = Vec::new();
    for (i, name) in ["rss", "pss", "uss", "anon"].into_iter().enumerate() {
        let mut s = Service::varied(seed + i as u64, i % 2 == 0, 9.0);
        s.dt = dt;
        s.span = 7.0 * 86400.0;
        let w = s.generate();
        if i == 0 {
            t_shared = sampler_times(seed, w.t[0], dt, w.t.len());
            out.push(BenchSeries {
                name: "requests",
                shape: Shape::Counter,
                t: t_shared.clone(),
                v: w.requests.clone(),
            });
        }
        out.push(BenchSeries {
            name,
            shape: Shape::Memory,
            t: t_shared.clone(),
            v: w.y,
        });
    }
    let n = t_shared.len();
    let mut rng = Rng::new(seed ^ 0x6663);
    let (mut gcs, mut cpu) = (0.0, 0.0);
    let (mut gc, mut delay, mut cpu_s) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        // A collection every ~2 minutes; the event loop 1-30 ms late; 3% of a core.
        if rng.uniform() < dt / 120.0 {
            gcs += 1.0;
        }
        cpu += ((0.03 + 0.01 * rng.normal()).max(0.0) * dt * 100.0).round() / 100.0;
        gc.push(gcs);
        delay.push((0.5 + 0.8 * rng.normal()).exp().min(30.0));
        cpu_s.push((cpu * 100.0_f64).round() / 100.0);
    }
    for (name, shape, v) in [
        ("gc.count", Shape::Counter, gc),
        ("event_loop_delay_ms", Shape::Float, delay),
        ("cpu_seconds", Shape::Float, cpu_s),
    ] {
        out.push(BenchSeries {
            name,
            shape,
            t: t_shared.clone(),
            v,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_of_every_shape_at_millisecond_times() {
        let s = week_at_10s(1);
        assert_eq!(s.len(), 8);
        for x in &s {
            assert_eq!(x.t.len(), 60_481, "{}", x.name);
            assert!(x.t.windows(2).all(|w| w[1] > w[0] + 9.9));
            assert!(x.t.iter().all(|t| (t * 1000.0).round() / 1000.0 == *t));
            if x.shape == Shape::Memory {
                assert!(
                    x.v.iter().all(|v| v % 4096.0 == 0.0 && *v > 0.0),
                    "{}",
                    x.name
                );
            }
            if x.shape == Shape::Counter {
                assert!(x.v.windows(2).all(|w| w[1] >= w[0]), "{}", x.name);
            }
        }
    }
}
