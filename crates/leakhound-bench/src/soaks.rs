//! Short soaks the way a newcomer runs them (issue 22): a program whose memory climbs through
//! the whole of a run of 30 s to 10 min, 2 to 500 times over, next to one whose cache fills and
//! levels off within it. Unlike the classic corpus, where noise is a share of a fixed
//! baseline, a ramp's noise grows with it: a garbage collector's sawtooth is a share of the
//! current heap, allocator jitter a share of the current level.

use crate::rng::Rng;

const DAY: f64 = 86400.0;

/// One short soak.
#[derive(Debug, Clone)]
pub struct Ramp {
    /// Seed of the noise.
    pub seed: u64,
    /// Memory at the start, bytes.
    pub base: f64,
    /// Memory at the end (a leak) or at the plateau (a fill) over memory at the start.
    pub ratio: f64,
    /// Span, seconds.
    pub span: f64,
    /// Sampling interval, seconds.
    pub dt: f64,
    /// `None`: a straight rise through the whole run (a leak). `Some(τ)`: a fill that
    /// saturates with time constant τ seconds (bounded).
    pub fill_tau: Option<f64>,
    /// GC sawtooth: amplitude as a share of the current level (0: none) and period, seconds.
    pub gc: (f64, f64),
    /// Allocator jitter: sd of white noise as a share of the current level.
    pub jitter: f64,
    /// Wander of the base: sd as a share of the start, correlation time in seconds.
    pub wander: (f64, f64),
}

impl Ramp {
    /// A ramp or a fill drawn from `rng`: 2-100 MB at the start, 30 s-10 min at 0.5-2 s,
    /// growing 2-500 times.
    pub fn draw(rng: &mut Rng, leaking: bool) -> Ramp {
        let span = rng.log_range(30.0, 600.0).round();
        let fill_tau = (!leaking).then(|| span * rng.range(0.03, 0.15));
        Ramp {
            seed: rng.next_u64(),
            base: rng.log_range(2e6, 100e6),
            ratio: rng.log_range(2.0, 500.0),
            span,
            dt: *rng.pick(&[0.5, 1.0, 2.0]),
            fill_tau,
            gc: if rng.uniform() < 0.5 {
                (rng.range(0.02, 0.2), rng.range(1.0, 20.0))
            } else {
                (0.0, 1.0)
            },
            jitter: rng.log_range(0.0005, 0.01),
            wander: (rng.log_range(0.001, 0.02), rng.range(10.0, 300.0)),
        }
    }

    /// The growth a leak sustains, bytes/day (0 for a fill).
    pub fn rate(&self) -> f64 {
        match self.fill_tau {
            None => (self.ratio - 1.0) * self.base / self.span * DAY,
            Some(_) => 0.0,
        }
    }

    /// Times (unix seconds) and memory (bytes), page-rounded.
    pub fn generate(&self) -> (Vec<f64>, Vec<f64>) {
        let mut rng = Rng::new(self.seed);
        let n = (self.span / self.dt).floor() as usize + 1;
        let (w_sd, w_tau) = self.wander;
        let phi = (-self.dt / w_tau).exp();
        let mut wander = w_sd * rng.normal();
        let mut phase = rng.uniform();
        let rise = (self.ratio - 1.0) * self.base;
        let (mut t, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let s = i as f64 * self.dt;
            let level = self.base
                + rise
                    * match self.fill_tau {
                        None => s / self.span,
                        Some(tau) => 1.0 - (-s / tau).exp(),
                    };
            phase = (phase + self.dt / self.gc.1).fract();
            let v =
                level * (1.0 + self.gc.0 * phase + self.jitter * rng.normal()) + self.base * wander;
            t.push(crate::corpus::T0 + s);
            y.push((v.max(4096.0) / 4096.0).round() * 4096.0);
            wander = phi * wander + w_sd * (1.0 - phi * phi).sqrt() * rng.normal();
        }
        (t, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_climbs_by_its_ratio_and_a_fill_levels_off() {
        let mut rng = Rng::new(3);
        let mut r = Ramp::draw(&mut rng, true);
        (r.gc.0, r.jitter, r.wander.0) = (0.0, 0.0, 0.0);
        let (t, y) = r.generate();
        let grown = y[y.len() - 1] / y[0];
        assert!(
            (grown / r.ratio - 1.0).abs() < 0.02,
            "{grown} vs {}",
            r.ratio
        );
        let slope = (y[y.len() - 1] - y[0]) / (t[t.len() - 1] - t[0]) * DAY;
        assert!((slope / r.rate() - 1.0).abs() < 0.03, "{slope}");
        let mut f = Ramp::draw(&mut rng, false);
        (f.gc.0, f.jitter, f.wander.0) = (0.0, 0.0, 0.0);
        let (_, y) = f.generate();
        let k = y.len() * 6 / 10;
        assert!(
            (y[y.len() - 1] - y[k]) < 0.02 * y[k],
            "flat for the last 40%"
        );
        assert_eq!(f.rate(), 0.0);
    }
}
