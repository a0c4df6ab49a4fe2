//! What drives the working set, decided once per series: a constant load (a soak), a daily
//! cycle that may hide in or pose as growth, or a workload counter whose event rate the working
//! set follows.
//!
//! Under two days a daily cycle cannot be seen whole, and its rising or falling phase looks
//! exactly like a trend. Unless the load is known to be constant, the trend model then carries
//! a daily cycle of three harmonics under a prior (amplitude about [`CYCLE_PRIOR`] of the
//! level), so the interval of the rate includes what such a cycle could produce. A workload
//! counter does better: a leak follows cumulative events while the working set follows the
//! current event rate, so the floor is fitted on both and only the leak term is judged.

use crate::attribution::Counter;
use crate::finding::Load;
use crate::floor::Floor;

const DAY: f64 = 86400.0;

/// Prior standard deviation of the first daily harmonic, as a share of the floor's level.
/// Production working sets swing by a few percent to about ±15% over a day (the seed's by
/// ±8%); a prior of this width keeps intervals honest for those and still lets a growth far
/// beyond any such cycle (a fast leak in a short soak) be called.
pub const CYCLE_PRIOR: f64 = 0.15;

/// Coefficient of variation of a counter's event rate (across the floor's windows) below
/// which it ticks steadily.
const STEADY_RATE_CV: f64 = 0.05;

/// Shortest span over which steadily ticking counters are taken as a constant load: over a
/// few hours a daily cycle of the load can look steady too.
const STEADY_SPAN: f64 = 6.0 * 3600.0;

/// A workload counter prepared as the covariates of the floor.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    /// Counter name.
    pub name: String,
    /// Cumulative events since the first floor point, in days of events at the mean rate:
    /// a leak per event then has a coefficient in units per day at that rate.
    pub clock: Vec<f64>,
    /// Current event rate (events per second) at each floor point.
    pub rate: Vec<f64>,
}

/// The decision.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// `Constant` or `Cyclic`.
    pub load: Load,
    /// The counter that carries the load, if any.
    pub workload: Option<Workload>,
    /// Prior sd of a daily cycle to allow for (units of the series), if any.
    pub cycle_prior: Option<f64>,
}

/// Decides the load for a floor spanning `span` seconds.
pub(crate) fn resolve(load: Load, span: f64, floor: &Floor, counters: &[Counter]) -> Resolved {
    let constant = Resolved {
        load: Load::Constant,
        workload: None,
        cycle_prior: None,
    };
    if load == Load::Constant {
        return constant;
    }
    let prepared: Vec<Workload> = counters.iter().filter_map(|c| prepare(floor, c)).collect();
    let varying: Vec<Workload> = prepared
        .iter()
        .filter(|w| cv(&w.rate) >= STEADY_RATE_CV)
        .cloned()
        .collect();
    if load == Load::Auto && !prepared.is_empty() && varying.is_empty() && span >= STEADY_SPAN {
        // Every counter has ticked at a steady rate for hours: the load is constant.
        return constant;
    }
    // A counter carries the load only if the working set visibly follows its rate; a counter
    // unrelated to memory would otherwise hide a cycle it does not measure.
    if let Some(w) = best_fit(floor, varying).filter(|w| follows(floor, w)) {
        return Resolved {
            load: Load::Cyclic,
            workload: Some(w),
            cycle_prior: None,
        };
    }
    let level = median(&floor.v).abs();
    Resolved {
        load: Load::Cyclic,
        workload: None,
        cycle_prior: (span < 2.0 * DAY && level > 0.0).then_some(CYCLE_PRIOR * level),
    }
}

/// The counter at the floor's times, or `None` when it does not cover the floor or counts
/// nothing.
fn prepare(floor: &Floor, c: &Counter) -> Option<Workload> {
    if c.t.len() < 3 || c.t.len() != c.v.len() {
        return None;
    }
    let (first, last) = (c.t[0], c.t[c.t.len() - 1]);
    let n = floor.t.len();
    let covered = floor.t.iter().filter(|&&t| t >= first && t <= last).count();
    if covered * 10 < n * 9 || n < 10 {
        return None;
    }
    let at = |t: f64| interpolate(c.t, c.v, t.clamp(first, last));
    let events: Vec<f64> = floor.t.iter().map(|&t| at(t)).collect();
    let span = floor.t[n - 1] - floor.t[0];
    let total = events[n - 1] - events[0];
    if total <= 0.0 || span <= 0.0 || events.windows(2).any(|w| w[1] < w[0]) {
        return None;
    }
    let events_per_day = total / span * DAY;
    // The rate over a window of the floor's width (at least 10 minutes): the working set
    // follows the load of the last minutes, not of one instant.
    let half = floor.window.max(600.0) / 2.0;
    let rate: Vec<f64> = floor
        .t
        .iter()
        .map(|&t| {
            let (a, b) = ((t - half).max(first), (t + half).min(last));
            if b > a {
                (at(b) - at(a)) / (b - a)
            } else {
                0.0
            }
        })
        .collect();
    Some(Workload {
        name: c.name.to_string(),
        clock: events
            .iter()
            .map(|e| (e - events[0]) / events_per_day)
            .collect(),
        rate,
    })
}

/// The counter whose covariates fit the floor best (least squares on events and rate).
fn best_fit(floor: &Floor, candidates: Vec<Workload>) -> Option<Workload> {
    let n = floor.v.len();
    candidates
        .into_iter()
        .filter_map(|w| {
            let cols = vec![vec![1.0; n], w.clock.clone(), w.rate.clone()];
            let f = crate::regression::LinearFit::fit(&cols, &floor.v).ok()?;
            let rss: f64 = f.resid.iter().map(|e| e * e).sum();
            Some((rss, w))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, w)| w)
}

/// Whether the floor rises with the counter's rate: its coefficient in the covariate model is
/// positive and at least two standard errors (AR(1) GLS) from zero.
fn follows(floor: &Floor, w: &Workload) -> bool {
    let n = floor.v.len();
    let cols = [vec![1.0; n], w.clock.clone(), w.rate.clone()];
    crate::regression::gls_ar1(
        &cols,
        &floor.v,
        &floor.t,
        crate::regression::Rho::Reml { min: 0.0 },
    )
    .is_ok_and(|g| g.coef[2] > 2.0 * g.se[2])
}

fn interpolate(t: &[f64], v: &[f64], at: f64) -> f64 {
    let i = t.partition_point(|&x| x < at);
    if i == 0 {
        return v[0];
    }
    if i >= t.len() {
        return v[v.len() - 1];
    }
    let (t0, t1) = (t[i - 1], t[i]);
    let w = if t1 > t0 { (at - t0) / (t1 - t0) } else { 1.0 };
    v[i - 1] + w * (v[i] - v[i - 1])
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut a = v.to_vec();
    let m = a.len() / 2;
    *a.select_nth_unstable_by(m, f64::total_cmp).1
}

/// Coefficient of variation (sd / mean; infinite for a zero mean).
fn cv(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    if mean.abs() > 0.0 {
        sd / mean.abs()
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floor(hours: f64) -> Floor {
        let t: Vec<f64> = (0..300).map(|i| i as f64 * hours * 12.0).collect();
        Floor {
            // A working set that follows a load swinging over the day, and a little noise.
            v: t.iter()
                .enumerate()
                .map(|(i, t)| {
                    100e6
                        + 40e6 * (std::f64::consts::TAU * t / DAY).sin()
                        + ((i * 7919) % 13) as f64 * 1e4
                })
                .collect(),
            t,
            window: hours * 12.0,
        }
    }

    #[test]
    fn constant_load_is_taken_as_given() {
        let r = resolve(Load::Constant, 3600.0, &floor(1.0), &[]);
        assert_eq!(r.load, Load::Constant);
        assert!(r.cycle_prior.is_none());
    }

    #[test]
    fn unknown_load_under_two_days_allows_for_a_cycle() {
        let r = resolve(Load::Auto, 3600.0, &floor(1.0), &[]);
        assert_eq!(r.load, Load::Cyclic);
        let prior = r.cycle_prior.expect("a cycle is allowed for");
        assert!((prior / (CYCLE_PRIOR * 100e6) - 1.0).abs() < 0.1, "{prior}");
        let long = resolve(Load::Auto, 3.0 * DAY, &floor(72.0), &[]);
        assert!(long.cycle_prior.is_none(), "harmonics are fitted freely");
    }

    #[test]
    fn a_steady_counter_shows_constant_load_and_a_varying_one_carries_it() {
        let f = floor(24.0);
        let t = f.t.clone();
        let steady: Vec<f64> = t.iter().map(|t| t * 50.0).collect();
        let r = resolve(
            Load::Auto,
            DAY,
            &f,
            &[Counter {
                name: "steady",
                t: &t,
                v: &steady,
            }],
        );
        assert_eq!(r.load, Load::Constant);
        // A rate that swings over the day: events = 50 t + amplitude of the integral.
        let cyclic: Vec<f64> = t
            .iter()
            .map(|t| {
                50.0 * t
                    - 40.0 * DAY / std::f64::consts::TAU * (std::f64::consts::TAU * t / DAY).cos()
            })
            .collect();
        let r = resolve(
            Load::Auto,
            DAY,
            &f,
            &[
                Counter {
                    name: "steady",
                    t: &t,
                    v: &steady,
                },
                Counter {
                    name: "requests",
                    t: &t,
                    v: &cyclic,
                },
            ],
        );
        assert_eq!(r.load, Load::Cyclic);
        let w = r.workload.expect("the varying counter carries the load");
        assert_eq!(w.name, "requests");
        // Over six hours the same steady counter is no evidence: a cycle may look steady.
        let short = Floor {
            t: f.t[..75].to_vec(),
            v: f.v[..75].to_vec(),
            window: f.window,
        };
        let r = resolve(
            Load::Auto,
            short.t[74] - short.t[0],
            &short,
            &[Counter {
                name: "steady",
                t: &t[..75],
                v: &steady[..75],
            }],
        );
        assert_eq!(r.load, Load::Cyclic);
        assert!(r.cycle_prior.is_some());
    }
}
