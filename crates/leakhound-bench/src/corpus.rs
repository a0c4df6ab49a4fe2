//! A labelled, seeded corpus of memory series covering every way a trendline lies: GC
//! sawtooth, daily and weekly load cycles, warm-up, single steps, allocator ratchets, restarts,
//! staircases and load-proportional leaks, with autocorrelated wander on top.
//!
//! Sizes follow what services show: 60 MB-1 GB baselines; soaks of 30 min-8 h sampled every
//! 1-10 s with accelerated leaks (50 MB-5 GB/day); production spans of 3-16 days sampled every
//! 30-60 s with slow leaks (4-100 MB/day).

use crate::rng::Rng;

const DAY: f64 = 86400.0;

/// The true shape of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Noise only.
    Flat,
    /// Daily (and weekly) load cycle, no growth.
    Seasonal,
    /// Saturating growth (caches filling).
    Warmup,
    /// One jump, flat after.
    Step,
    /// A few jumps at early load peaks, increasingly rare (allocator high-water mark).
    Ratchet,
    /// Linear leak.
    Steady,
    /// Leak whose rate follows the load.
    LoadProportional,
    /// Leak in jumps that never come back.
    Stepwise,
    /// Leak within each lifetime; restarts give it back.
    Restarts,
}

impl Shape {
    /// All shapes.
    pub const ALL: [Shape; 9] = [
        Shape::Flat,
        Shape::Seasonal,
        Shape::Warmup,
        Shape::Step,
        Shape::Ratchet,
        Shape::Steady,
        Shape::LoadProportional,
        Shape::Stepwise,
        Shape::Restarts,
    ];
    /// Whether the shape is a leak.
    pub fn is_leak(self) -> bool {
        matches!(
            self,
            Shape::Steady | Shape::LoadProportional | Shape::Stepwise | Shape::Restarts
        )
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Flat => "flat",
            Shape::Seasonal => "seasonal",
            Shape::Warmup => "warmup",
            Shape::Step => "step",
            Shape::Ratchet => "ratchet",
            Shape::Steady => "steady",
            Shape::LoadProportional => "load_proportional",
            Shape::Stepwise => "stepwise",
            Shape::Restarts => "restarts",
        }
    }
}

/// Everything that defines one case; `generate` turns it into samples.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Case number.
    pub id: usize,
    /// Seed of this case's noise.
    pub seed: u64,
    /// The shape.
    pub shape: Shape,
    /// Baseline memory, bytes.
    pub baseline: f64,
    /// Sampling interval, seconds.
    pub dt: f64,
    /// Span, seconds.
    pub span: f64,
    /// True sustained growth of the floor, bytes/day (0 for bounded shapes).
    pub rate: f64,
    /// GC sawtooth amplitude (bytes) and mean period (s).
    pub gc: (f64, f64),
    /// Stationary standard deviation (bytes) and correlation time (s) of the AR(1) wander.
    pub wander: (f64, f64),
    /// Amplitude of the daily load cycle in the floor, bytes (0 = none).
    pub cycle: f64,
    /// Size of bounded features (warm-up height, step, first ratchet jump), bytes.
    pub feature: f64,
    /// Where the feature sits, as a fraction of the span.
    pub feature_at: f64,
}

/// Unix time of the first sample: a Monday 00:00 UTC, so daily peaks land at 20:00.
pub const T0: f64 = 1_795_478_400.0;

impl Spec {
    /// Whether this is a soak (short span) rather than production data.
    pub fn is_soak(&self) -> bool {
        self.span < DAY
    }

    /// A rough standard error of the floor slope (bytes/day) that an oracle knowing the noise
    /// would reach: AR(1) wander with correlation time τ over span T has about T/(2τ)
    /// independent points, and a line through n points spread over T has se σ·√(12/n)/T.
    /// Sampling catches each GC trough up to one interval late, so troughs also carry white
    /// noise of about amplitude·(dt/period)/√12, one value per collection.
    pub fn oracle_se(&self) -> f64 {
        let (sigma, tau) = self.wander;
        let t_days = self.span / DAY;
        let n_eff = (self.span / (2.0 * tau)).max(2.0);
        let wander = sigma * (12.0 / n_eff).sqrt() / t_days;
        let (amp, period) = self.gc;
        let trough_sd = amp * (self.dt / period).min(1.0) / 12f64.sqrt();
        let troughs = (self.span / period).max(2.0);
        let sampling = trough_sd * (12.0 / troughs).sqrt() / t_days;
        wander.hypot(sampling)
    }

    /// Standard deviation of a single floor point: wander plus trough sampling noise.
    pub fn floor_point_sd(&self) -> f64 {
        let (amp, period) = self.gc;
        self.wander
            .0
            .hypot(amp * (self.dt / period).min(1.0) / 12f64.sqrt())
    }

    /// A leak that any good method should find: 2x the tolerance at least, and 6 oracle standard
    /// errors above it. Restarts must also be visible: each lifetime's growth at least 8
    /// floor-point standard deviations, or the lifetimes cannot be told apart unless the
    /// restarts are given (as `watch` records them).
    pub fn clearly_detectable(&self, tolerance: f64) -> bool {
        let visible_restarts = self.shape != Shape::Restarts || {
            let lifetime = if self.is_soak() { self.span / 3.0 } else { DAY };
            self.rate * lifetime / DAY >= 8.0 * self.floor_point_sd()
        };
        self.shape.is_leak()
            && self.rate >= 2.0 * tolerance
            && self.rate - tolerance > 6.0 * self.oracle_se()
            && visible_restarts
    }

    /// Daily load in [0, 1]: peak at 20:00 UTC, trough at 08:00; with `weekends`, Saturday
    /// and Sunday are 20% busier.
    fn load(t: f64, weekends: bool) -> f64 {
        let hour = (t - T0).rem_euclid(DAY) / 3600.0;
        let day = ((t - T0) / DAY).floor() as i64 % 7;
        let weekend = if weekends && day >= 5 { 1.2 } else { 1.0 };
        (0.5 + 0.5 * (std::f64::consts::TAU * (hour - 20.0) / 24.0).cos()) * weekend / 1.2
    }

    /// Whether the weekly pattern is simulated: only on spans of two weeks or more, where it
    /// can be modelled. A 7-day window ending in a busy weekend is a known blind spot of any
    /// trend method (the rise is real and not sustained); the corpus leaves it out rather
    /// than score it either way.
    fn weekends(&self) -> bool {
        self.span >= 14.0 * DAY
    }

    /// True sustained growth of the floor in bytes/day, as realised over the span (for a
    /// load-proportional leak this depends on which days the span covers).
    pub fn true_rate(&self) -> f64 {
        if self.shape != Shape::LoadProportional {
            return self.rate;
        }
        let n = 10_000;
        let mean: f64 = (0..n)
            .map(|i| self.load_at(self.span * (i as f64 + 0.5) / n as f64))
            .sum::<f64>()
            / n as f64;
        self.rate * mean / self.mean_load()
    }

    /// Load at `s` seconds after the start: a soak script's 20-minute oscillation, or the
    /// daily (and weekly) cycle in production.
    fn load_at(&self, s: f64) -> f64 {
        if self.is_soak() {
            0.5 + 0.5 * (std::f64::consts::TAU * s / 1200.0).sin()
        } else {
            Self::load(T0 + s, self.weekends())
        }
    }

    fn mean_load(&self) -> f64 {
        if self.is_soak() {
            0.5
        } else if self.weekends() {
            (5.0 * 0.5 / 1.2 + 2.0 * 0.5) / 7.0
        } else {
            0.5 / 1.2
        }
    }

    /// The samples: times (unix seconds) and memory (bytes).
    pub fn generate(&self) -> (Vec<f64>, Vec<f64>) {
        let mut rng = Rng::new(self.seed);
        let n = (self.span / self.dt).floor() as usize + 1;
        let mut t = Vec::with_capacity(n);
        let mut y = Vec::with_capacity(n);
        let (gc_amp, gc_period) = self.gc;
        let (w_sigma, w_tau) = self.wander;
        let phi = (-self.dt / w_tau).exp();
        let innov = w_sigma * (1.0 - phi * phi).sqrt();
        let mut wander = w_sigma * rng.normal();
        let mut saw_phase = rng.uniform();
        let mut saw_period = gc_period * rng.range(0.7, 1.3);
        let leak_per_s = self.rate / DAY;
        let mut leaked = 0.0;
        let mut restart_base = 0.0;
        let mut next_restart = if self.is_soak() {
            self.span / 3.0
        } else {
            DAY * rng.range(0.8, 1.6)
        };
        let mean_load = self.mean_load();
        let stair_gap = if self.is_soak() { self.span / 5.0 } else { DAY };
        for i in 0..n {
            let s = i as f64 * self.dt; // seconds since start
            let ts = T0 + s;
            let load = self.load_at(s);
            // Leak accumulation.
            match self.shape {
                Shape::Steady | Shape::Restarts => leaked += leak_per_s * self.dt,
                Shape::LoadProportional => leaked += leak_per_s * self.dt * load / mean_load,
                _ => {}
            }
            let mut level = self.baseline + wander + self.cycle * load;
            match self.shape {
                Shape::Stepwise => {
                    // One jump per gap (at the daily peak in production), none before the first.
                    let steps = ((s + stair_gap * (1.0 - self.feature_at)) / stair_gap).floor();
                    level += steps * self.rate * stair_gap / DAY;
                }
                Shape::Warmup => {
                    let tau = self.span * self.feature_at;
                    level += self.feature * (1.0 - (-s / tau).exp());
                }
                Shape::Step if s >= self.span * self.feature_at => level += self.feature,
                Shape::Ratchet => {
                    // Jumps at (k/4)² of the last one's time (30-60% of the span), each half as big.
                    for k in 1..=4 {
                        let at = 0.6 * self.span * (k as f64 / 4.0).powi(2) * self.feature_at / 0.3;
                        if s >= at.min(0.6 * self.span) {
                            level += self.feature / 2f64.powi(k - 1);
                        }
                    }
                }
                Shape::Restarts => {
                    if s >= next_restart {
                        restart_base = leaked;
                        next_restart += if self.is_soak() {
                            self.span / 3.0
                        } else {
                            DAY * rng.range(0.8, 1.6)
                        };
                    }
                    level -= restart_base;
                }
                _ => {}
            }
            level += leaked;
            // GC sawtooth above the floor, taller under load.
            saw_phase += self.dt / saw_period;
            if saw_phase >= 1.0 {
                saw_phase -= saw_phase.floor();
                saw_period = gc_period * rng.range(0.7, 1.3);
            }
            let saw = gc_amp * (0.6 + 0.8 * load) * saw_phase;
            let white = self.baseline * 0.0005 * rng.normal();
            t.push(ts);
            y.push(level + saw + white);
            wander = phi * wander + innov * rng.normal();
        }
        (t, y)
    }
}

/// `n` cases with shapes in rotation, seeded by `seed`.
pub fn corpus(seed: u64, n: usize) -> Vec<Spec> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|id| {
            let shape = Shape::ALL[id % Shape::ALL.len()];
            let production = shape == Shape::Seasonal || rng.uniform() < 0.5;
            let (span, dt) = if production {
                (*rng.pick(&[3.0, 7.0, 16.0]) * DAY, *rng.pick(&[30.0, 60.0]))
            } else {
                (
                    *rng.pick(&[1800.0, 7200.0, 28800.0]),
                    *rng.pick(&[1.0, 5.0, 10.0]),
                )
            };
            let baseline = rng.log_range(60e6, 1e9);
            let rate = if !shape.is_leak() {
                0.0
            } else if production {
                rng.log_range(4e6, 100e6)
            } else {
                rng.log_range(50e6, 5e9)
            };
            let gc = (
                baseline * rng.range(0.01, 0.08),
                if production {
                    rng.range(60.0, 1800.0)
                } else {
                    rng.range(5.0, 120.0).max(3.0 * dt)
                },
            );
            let wander = (
                baseline * rng.log_range(0.0005, 0.005),
                if production {
                    rng.range(600.0, 10800.0)
                } else {
                    rng.range(60.0, 1200.0)
                },
            );
            let cycle = if shape == Shape::Seasonal {
                baseline * rng.range(0.05, 0.15)
            } else if production && rng.uniform() < 0.7 {
                baseline * rng.range(0.02, 0.10)
            } else {
                0.0
            };
            let feature = baseline * rng.range(0.05, 0.3);
            let feature_at = match shape {
                // Production staircases jump at the 20:00 peak.
                Shape::Stepwise if production => 20.0 / 24.0,
                Shape::Warmup => rng.range(0.03, 0.12),
                Shape::Step => rng.range(0.1, 0.6),
                Shape::Ratchet => rng.range(0.15, 0.3),
                _ => rng.uniform(),
            };
            Spec {
                id,
                seed: rng.next_u64(),
                shape,
                baseline,
                dt,
                span,
                rate,
                gc,
                wander,
                cycle,
                feature,
                feature_at,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_deterministic_and_covers_every_shape() {
        let a = corpus(7, 18);
        let b = corpus(7, 18);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.generate(), y.generate());
        }
        for s in Shape::ALL {
            assert!(a.iter().any(|c| c.shape == s));
        }
    }

    #[test]
    fn a_steady_leak_grows_at_its_rate() {
        let mut spec = corpus(1, 9)
            .into_iter()
            .find(|c| c.shape == Shape::Steady)
            .unwrap();
        spec.gc.0 = 0.0;
        spec.wander.0 = 0.0;
        spec.cycle = 0.0;
        let (t, y) = spec.generate();
        let slope = (y[y.len() - 1] - y[0]) / (t[t.len() - 1] - t[0]) * DAY;
        assert!(
            (slope - spec.rate).abs()
                < 0.02 * spec.rate + spec.baseline * 0.004 / (spec.span / DAY),
            "{slope} vs {}",
            spec.rate
        );
    }
}

#[cfg(test)]
mod truth_tests {
    use super::*;

    #[test]
    fn load_proportional_truth_is_the_realised_rate() {
        for spec in corpus(1, 450)
            .into_iter()
            .filter(|c| c.shape == Shape::LoadProportional)
            .take(12)
        {
            let mut s = spec.clone();
            s.gc.0 = 0.0;
            s.wander.0 = 0.0;
            s.cycle = 0.0;
            let (t, y) = s.generate();
            // Spans are whole days (or whole soak load periods): the endpoints show the growth.
            let k = 20.min(y.len() / 4);
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let got = (mean(&y[y.len() - k..]) - mean(&y[..k]))
                / (mean(&t[t.len() - k..]) - mean(&t[..k]))
                * DAY;
            let tol = 0.03;
            assert!(
                (got - s.true_rate()).abs() < tol * s.true_rate(),
                "#{}: {got} vs {}",
                s.id,
                s.true_rate()
            );
        }
    }
}
