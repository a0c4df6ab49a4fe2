//! A production-shaped service, as the seed's was: a daily load cycle with an evening peak
//! that moves the working set, a request counter that follows the load, a GC sawtooth, AR(1)
//! noise, and (in the leaking twin) a leak of a few bytes per request. Windows of it start at
//! any hour, which is what makes short windows treacherous: the falling phase of the cycle
//! hides a leak, the rising phase poses as one.

use crate::rng::Rng;

const DAY: f64 = 86400.0;

/// Unix time of a Monday 00:00 UTC; windows start `start_hour` hours later.
pub const MIDNIGHT: f64 = 1_795_478_400.0;

/// Everything that defines one service window.
#[derive(Debug, Clone)]
pub struct Service {
    /// Seed of the noise.
    pub seed: u64,
    /// Baseline memory, bytes.
    pub base: f64,
    /// Mean leak, bytes/day (0 for the no-leak twin). The leak is per request, so it follows
    /// the cumulative request count.
    pub leak: f64,
    /// Sampling interval, seconds.
    pub dt: f64,
    /// Span, seconds.
    pub span: f64,
    /// Hour of day (UTC) of the first sample.
    pub start_hour: f64,
    /// Daily swing of the working set: peak deviation as a fraction of the base.
    pub cycle: f64,
    /// GC sawtooth: amplitude as a fraction of the base, mean period in seconds.
    pub gc: (f64, f64),
    /// AR(1) noise: correlation between neighbouring samples, stationary sd as a fraction of
    /// the base.
    pub ar: (f64, f64),
    /// Mean requests per second.
    pub requests_per_s: f64,
}

/// One generated window: memory samples and the cumulative request counter at the same times.
#[derive(Debug, Clone)]
pub struct Window {
    /// Unix seconds.
    pub t: Vec<f64>,
    /// Memory, bytes.
    pub y: Vec<f64>,
    /// Cumulative requests.
    pub requests: Vec<f64>,
}

impl Service {
    /// The seed's service: 250 MB, 8 MiB/day, 30 s samples, working set ±8% peaking in the
    /// evening, a 5% GC sawtooth every ~2 min, AR(1) noise with φ 0.9 and σ 1% of the base,
    /// 50 requests/s on average; 14 days from `start_hour`.
    pub fn seed_shaped(seed: u64, leaking: bool, start_hour: f64) -> Service {
        Service {
            seed,
            base: 250e6,
            leak: if leaking { 8.0 * 1048576.0 } else { 0.0 },
            dt: 30.0,
            span: 14.0 * DAY,
            start_hour,
            cycle: 0.08,
            gc: (0.05, 120.0),
            ar: (0.9, 0.01),
            requests_per_s: 50.0,
        }
    }

    /// A service of any size like the seed's: 100 MB-1 GB, a leak of 6-40 MiB/day, a daily
    /// swing of ±3-12%, 5-500 requests/s, drawn from `seed` modulo 10,000 so that the twins
    /// `seed` and `seed + 10_000` differ only in the leak and the noise.
    pub fn varied(seed: u64, leaking: bool, start_hour: f64) -> Service {
        let mut r = Rng::new(seed % 10_000);
        let mut s = Service::seed_shaped(seed, leaking, start_hour);
        s.base = r.log_range(100e6, 1e9);
        s.cycle = r.range(0.03, 0.12);
        let leak = r.log_range(6.0, 40.0) * 1048576.0;
        s.leak = if leaking { leak } else { 0.0 };
        s.requests_per_s = r.log_range(5.0, 500.0);
        s
    }

    /// Daily shape of the load, mean 0, peak 1 at 20:00, trough -0.52 in the early morning:
    /// three harmonics (what production traffic looks like, not a sine).
    pub fn shape(hour: f64) -> f64 {
        let th = std::f64::consts::TAU * (hour - 20.0) / 24.0;
        (th.cos() + 0.35 * (2.0 * th).cos() + 0.1 * (3.0 * th).cos()) / 1.45
    }

    /// Request rate (per second) at unix time `t`: from 58% of the mean at night to 180% at
    /// the evening peak.
    pub fn rate_at(&self, t: f64) -> f64 {
        let hour = (t - MIDNIGHT).rem_euclid(DAY) / 3600.0;
        self.requests_per_s * (1.0 + 0.8 * Self::shape(hour))
    }

    /// Bytes leaked per request.
    pub fn bytes_per_request(&self) -> f64 {
        self.leak / (self.requests_per_s * DAY)
    }

    /// The samples.
    pub fn generate(&self) -> Window {
        let mut rng = Rng::new(self.seed);
        let n = (self.span / self.dt).floor() as usize + 1;
        let t0 = MIDNIGHT + self.start_hour * 3600.0;
        let (phi, sd) = self.ar;
        let sd = sd * self.base;
        let innov = sd * (1.0 - phi * phi).sqrt();
        let mut ar = sd * rng.normal();
        let (gc_amp, gc_period) = (self.gc.0 * self.base, self.gc.1);
        let mut saw_phase = rng.uniform();
        let mut saw_period = gc_period * rng.range(0.7, 1.3);
        let per_request = self.bytes_per_request();
        let mut requests = 0.0;
        let mut w = Window {
            t: Vec::with_capacity(n),
            y: Vec::with_capacity(n),
            requests: Vec::with_capacity(n),
        };
        for i in 0..n {
            let t = t0 + i as f64 * self.dt;
            let hour = (t - MIDNIGHT).rem_euclid(DAY) / 3600.0;
            if i > 0 {
                let mean = self.rate_at(t) * self.dt;
                // Poisson arrivals, by their normal approximation (hundreds per interval).
                requests += (mean + mean.sqrt() * rng.normal()).max(0.0).round();
            }
            let working_set = self.base * self.cycle * Self::shape(hour);
            saw_phase += self.dt / saw_period;
            if saw_phase >= 1.0 {
                saw_phase -= saw_phase.floor();
                saw_period = gc_period * rng.range(0.7, 1.3);
            }
            let saw = gc_amp * saw_phase;
            let y = self.base + working_set + per_request * requests + saw + ar;
            // RSS moves in pages.
            w.t.push(t);
            w.y.push((y / 4096.0).round() * 4096.0);
            w.requests.push(requests);
            ar = phi * ar + innov * rng.normal();
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_peaks_in_the_evening_and_averages_to_zero() {
        let hours: Vec<f64> = (0..2400).map(|i| i as f64 / 100.0).collect();
        let peak = hours
            .iter()
            .copied()
            .max_by(|a, b| Service::shape(*a).total_cmp(&Service::shape(*b)))
            .unwrap();
        assert!((peak - 20.0).abs() < 0.05, "{peak}");
        assert!((Service::shape(20.0) - 1.0).abs() < 1e-12);
        let mean = hours.iter().map(|&h| Service::shape(h)).sum::<f64>() / 2400.0;
        assert!(mean.abs() < 1e-9, "{mean}");
        let min = hours
            .iter()
            .map(|&h| Service::shape(h))
            .fold(f64::MAX, f64::min);
        assert!((min + 0.75 / 1.45).abs() < 1e-3, "{min}");
    }

    #[test]
    fn the_leak_follows_requests_at_its_mean_rate() {
        let mut s = Service::seed_shaped(3, true, 22.0);
        s.gc.0 = 0.0;
        s.ar.1 = 0.0;
        s.cycle = 0.0;
        s.span = 7.0 * DAY;
        let w = s.generate();
        let grown = w.y[w.y.len() - 1] - w.y[0];
        let days = (w.t[w.t.len() - 1] - w.t[0]) / DAY;
        assert!(
            (grown / days - s.leak).abs() < 0.02 * s.leak,
            "{}",
            grown / days
        );
        let per_s = w.requests[w.requests.len() - 1] / (days * DAY);
        assert!((per_s - 50.0).abs() < 1.0, "{per_s}");
    }
}
