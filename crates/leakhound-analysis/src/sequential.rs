//! When to look again, and at what confidence, so that a verdict checked repeatedly during a
//! soak keeps its error rate.
//!
//! Looks happen at geometrically growing spans (each 1.5 times the last). Look k spends
//! α·6/(π²k²) of the error budget; these sum to α over all looks (Σ 1/k² = π²/6), so by the
//! union bound the chance of any wrong conclusive verdict over the whole soak stays at most α.
//! Conservative but simple and honest; the cost is a wider interval at late looks.
//!
//! The test is only as right as its model: a minute of linear growth cannot tell a leak from a
//! cache still filling. A soak therefore stops at a verdict only after a minimum soak, and at
//! `leak` only while the growth persists in its latest third ([`stops`]).

use crate::verdict::{Config, Finding, Verdict};

/// The shortest soak a sequential verdict stops at unless told, seconds: long enough for the
/// usual start-up caches and pools of a service under load to fill (a Redis filling 8 MB of
/// keys under a steady stream of writes took 55 s), short enough for a CI job.
pub const DEFAULT_MIN_SOAK: f64 = 120.0;

/// Confidence of the persistence check on the latest third of a soak.
const PERSISTENCE_CONFIDENCE: f64 = 0.9;

/// Whether a `leak` found on `(t, y)` (its finding `f`, judged under `cfg`) still grows in the
/// latest third of its span: the rate there is above the tolerance at 90% confidence. A
/// sequential verdict stops a soak at `leak` only then, so that a cache that filled and
/// stopped is not called a leak from its filling.
pub fn persists(t: &[f64], y: &[f64], cfg: &Config, f: &Finding) -> bool {
    let Some(&end) = t.last() else {
        return false;
    };
    let from = t.partition_point(|&x| x < end - f.span_seconds / 3.0);
    let mut c = cfg.clone();
    c.confidence = PERSISTENCE_CONFIDENCE;
    c.tolerance = f.tolerance_per_day;
    c.limit = None;
    crate::analyze(&t[from..], &y[from..], &c)
        .ok()
        .and_then(|g| g.rate_ci_per_day)
        .is_some_and(|(lo, _)| lo > c.tolerance)
}

/// Share of the floor's level a soak must have grown by before a look stops it at `leak`. In a
/// few minutes the slow wander of a healthy process (caches, pools, heap layout drifting with
/// correlation times of many minutes) is indistinguishable from a trend, but it moves the
/// floor by a percent or two, not by a twentieth; smaller leaks are judged when the soak ends.
pub const MIN_EARLY_GROWTH: f64 = 0.05;

/// How much the floor rose over the soak, as a share of where it started: the mean of its last
/// tenth over the mean of its first tenth, less one. (Not the rate times the span: growth
/// within lifetimes that restarts give back is no rise of the floor.)
fn grown(floor: &[f64]) -> f64 {
    let k = (floor.len() / 10).max(1);
    if floor.len() < 2 * k {
        return 0.0;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (first, last) = (mean(&floor[..k]), mean(&floor[floor.len() - k..]));
    if first > 0.0 {
        last / first - 1.0
    } else {
        0.0
    }
}

/// Whether a look at a soak with finding `f` stops it: a conclusive verdict after `min_soak`
/// seconds, and for `leak` only when the floor has grown by [`MIN_EARLY_GROWTH`] of its level,
/// the growth persists in the latest third, and it is not growth within lifetimes.
pub fn stops(t: &[f64], y: &[f64], cfg: &Config, f: &Finding, min_soak: f64) -> bool {
    match f.verdict {
        Verdict::Inconclusive => false,
        _ if f.span_seconds < min_soak => false,
        // Growth within lifetimes that drops give back is, in a soak of minutes, more often a
        // slow garbage collector's sawtooth than a process restarting: judged at the end.
        Verdict::Leak => {
            f.pattern != crate::Pattern::Restarts
                && grown(&f.floor.v) >= MIN_EARLY_GROWTH
                && persists(t, y, cfg, f)
        }
        Verdict::NoLeak => true,
    }
}

/// The schedule of looks of a sequential verdict.
#[derive(Debug, Clone)]
pub struct SequentialLooks {
    next_span: f64,
    looks: u32,
    alpha: f64,
}

impl SequentialLooks {
    /// First look once `first_span` seconds are observed; overall error budget `alpha` (0.05).
    pub fn new(first_span: f64, alpha: f64) -> SequentialLooks {
        SequentialLooks {
            next_span: first_span,
            looks: 0,
            alpha,
        }
    }

    /// If a look is due at `span` seconds, the confidence level to decide at.
    pub fn due(&mut self, span: f64) -> Option<f64> {
        if span < self.next_span {
            return None;
        }
        self.looks += 1;
        while self.next_span <= span {
            self.next_span *= 1.5;
        }
        let k = f64::from(self.looks);
        Some(1.0 - self.alpha * 6.0 / (std::f64::consts::PI.powi(2) * k * k))
    }

    /// Looks taken so far.
    pub fn looks(&self) -> u32 {
        self.looks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_budget_sums_to_at_most_alpha() {
        let mut s = SequentialLooks::new(60.0, 0.05);
        let mut spent = 0.0;
        let mut span = 60.0;
        while span < 1e9 {
            if let Some(c) = s.due(span) {
                spent += 1.0 - c;
            }
            span *= 1.1;
        }
        assert!(spent < 0.05 && spent > 0.04, "{spent}");
        assert!(s.looks() > 20);
    }

    /// A Redis-like soak at 1 s: memory grows 300 KB/s for `fill` seconds, then stays (or keeps
    /// growing when `fill` is the whole span), with a little noise on pages.
    fn fill(fill: f64, span: usize) -> (Vec<f64>, Vec<f64>) {
        let t: Vec<f64> = (0..span).map(|i| 1.8e9 + i as f64).collect();
        let y = (0..span)
            .map(|i| {
                let s = i as f64;
                let v = 12e6 + 3e5 * s.min(fill) + ((i * 7919) % 7) as f64 * 4096.0;
                (v / 4096.0).round() * 4096.0
            })
            .collect();
        (t, y)
    }

    fn verdict_at(t: &[f64], y: &[f64], confidence: f64) -> (Config, Finding) {
        let mut cfg = Config::with_tolerance(1048576.0);
        cfg.load = crate::Load::Constant;
        cfg.confidence = confidence;
        let f = crate::analyze(t, y, &cfg).unwrap();
        (cfg, f)
    }

    #[test]
    fn a_cache_that_filled_does_not_stop_a_soak_and_a_leak_does() {
        // Filled in 55 s, looked at after 152 s: leak or not, no stop.
        let (t, y) = fill(55.0, 152);
        let (cfg, f) = verdict_at(&t, &y, 0.9988);
        assert!(
            !stops(&t, &y, &cfg, &f, DEFAULT_MIN_SOAK),
            "{:?}",
            f.verdict
        );
        // Still growing at 152 s: a leak, and it persists.
        let (t, y) = fill(1e9, 152);
        let (cfg, f) = verdict_at(&t, &y, 0.9988);
        assert_eq!(f.verdict, Verdict::Leak);
        assert!(stops(&t, &y, &cfg, &f, DEFAULT_MIN_SOAK));
        // The same before the minimum soak: no stop.
        let (t, y) = fill(1e9, 100);
        let (cfg, f) = verdict_at(&t, &y, 0.9988);
        assert!(!stops(&t, &y, &cfg, &f, DEFAULT_MIN_SOAK));
    }

    #[test]
    fn no_look_before_the_first_span() {
        let mut s = SequentialLooks::new(60.0, 0.05);
        assert_eq!(s.due(59.0), None);
        assert!(s.due(60.0).unwrap() > 0.95);
        assert_eq!(s.due(61.0), None);
    }
}
