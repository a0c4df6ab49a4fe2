//! The floor's shape beside its trend, for the verdict: what a warm-up is to the line, whether
//! drops are collections or restarts, where growth ended and what a tail does after it, the
//! daily profile and whether growth follows it, the start-up to leave out, the page quantum,
//! and the time to the limit.

use crate::floor::Floor;
use crate::jumps::Shift;
use crate::model::{fit, SlopeFit, Terms, DAY};
use crate::warmup::{with_time_constant, Warmup};

use super::{CLEARLY_BETTER, MIN_FLOOR_POINTS};

/// What a warm-up fitted to the floor means for the verdict.
pub(super) enum WarmupRole {
    /// It levelled off (its knee, three time constants, leaves 30% of the span flat) and fits
    /// clearly better than a line: growth that saturated, caches filling. The fit's time slope
    /// is the growth that remains once it is over, estimated on all the points with the
    /// uncertainty of the time constant; `knee` is where it ends (days from the first point).
    Levelled { fit: SlopeFit, knee: f64 },
    /// It bends but has not levelled off: it competes with the line, and a leak must be a leak
    /// under it too. A straight rise is no such rival, however long a warm-up might be; that
    /// assumption is stated with the verdict (`warmup_ruled_out_seconds`).
    Rival(SlopeFit),
}

/// The role of warm-up `w` fitted to `(x, v)` over `base`, if it has one.
pub(super) fn warmup_role(x: &[f64], v: &[f64], base: &Terms, w: Warmup) -> Option<WarmupRole> {
    let span = x[x.len() - 1] - x[0];
    if w.gain >= CLEARLY_BETTER && 3.0 * w.tau <= 0.7 * span {
        Some(WarmupRole::Levelled {
            knee: 3.0 * w.tau,
            fit: with_time_constant(x, v, base, &w).unwrap_or(w.fit),
        })
    } else if w.curvature >= crate::regression::t_quantile(0.95, w.fit.df) {
        Some(WarmupRole::Rival(w.fit))
    } else {
        None
    }
}

/// Shortest typical time between restarts found from drops, seconds. A process that restarts
/// every few minutes is followed as such by `watch --name` (restarts given); drops that recur
/// that often within one process are its garbage collector's, too slow for the floor's windows
/// to span one.
pub(super) const MIN_RESTART_INTERVAL: f64 = 600.0;

/// Whether `drops` in a floor spanning `span` seconds are a sawtooth rather than restarts:
/// the floor is too short to hold two lifetimes of [`MIN_RESTART_INTERVAL`], or the drops
/// recur within it of each other (median gap).
pub(super) fn collections(drops: &[&Shift], span: f64) -> bool {
    let gaps: Vec<f64> = drops.windows(2).map(|w| w[1].t - w[0].t).collect();
    span < 2.0 * MIN_RESTART_INTERVAL || (!gaps.is_empty() && median(&gaps) < MIN_RESTART_INTERVAL)
}

/// The level of the trend at the last floor point: the last tenth of the floor carried to the
/// end along the rate, averaged.
pub(super) fn trend_end(x: &[f64], v: &[f64], rate: f64, t0: f64) -> (f64, f64) {
    let end = x[x.len() - 1];
    let k = (x.len() / 10).max(1);
    let level = x[x.len() - k..]
        .iter()
        .zip(&v[v.len() - k..])
        .map(|(xi, vi)| vi + rate * (end - xi))
        .sum::<f64>()
        / k as f64;
    (t0 + end * DAY, level)
}

/// Whether the most recent third of the stretch the rate was estimated on is confidently
/// growing slower than the tolerance.
pub(super) fn growth_stopped(
    x: &[f64],
    v: &[f64],
    from: f64,
    base: &Terms,
    tol: f64,
    confidence: f64,
) -> bool {
    let end = x[x.len() - 1];
    let start = end - (end - from) / 3.0;
    x.iter()
        .position(|&xi| xi >= start)
        .and_then(|i| tail_fit(x, v, i, base))
        .is_some_and(|f| f.ci(confidence).1 < tol)
}

/// The floor model `base` fitted on points `from..` only (at least 10 of them): see
/// [`tail_terms`].
pub(super) fn tail_fit(x: &[f64], v: &[f64], from: usize, base: &Terms) -> Option<SlopeFit> {
    if x.len().saturating_sub(from) < MIN_FLOOR_POINTS {
        return None;
    }
    let (tail_x, terms) = tail_terms(x, from, base);
    fit(&tail_x, &v[from..], &terms).ok()
}

/// The times of points `from..` from the first of them, and the floor model `base` cut to
/// them: the restarts that fall inside, the per-point covariates cut to the tail, harmonics
/// only where the tail holds two periods (a cycle under a prior stays).
pub(super) fn tail_terms(x: &[f64], from: usize, base: &Terms) -> (Vec<f64>, Terms) {
    let tail_x: Vec<f64> = x[from..].iter().map(|xi| xi - x[from]).collect();
    let span = tail_x[tail_x.len() - 1];
    let terms = Terms {
        segments: base
            .segments
            .iter()
            .map(|s| s - x[from])
            .filter(|&s| s > 0.0 && s < span)
            .collect(),
        steps: Vec::new(),
        periods: base
            .periods
            .iter()
            .copied()
            .filter(|p| span >= 2.0 * p)
            .collect(),
        // A cyclic load keeps its cycle in a tail too short to fit one freely.
        daily_prior: base.daily_prior.or_else(|| {
            base.short_cycle_prior
                .filter(|_| base.periods.contains(&1.0) && span < 2.0)
        }),
        short_cycle_prior: base.short_cycle_prior,
        leak_clock: base.leak_clock.as_ref().map(|c| {
            let c0 = c[from];
            c[from..].iter().map(|v| v - c0).collect()
        }),
        covariates: base.covariates.iter().map(|c| c[from..].to_vec()).collect(),
        saturation: None,
    };
    (tail_x, terms)
}

/// `v` with its daily cycle removed (unchanged without periods): the median profile by hour of
/// what is left after a running one-period median, so jumps and ramps (which a line cannot
/// follow) do not leak into it.
pub(super) fn deseasonalise(x: &[f64], v: &[f64], periods: &[f64]) -> Vec<f64> {
    let Some(&shortest) = periods.iter().min_by(|a, b| a.total_cmp(b)) else {
        return v.to_vec();
    };
    let n = x.len();
    let mut lo = 0;
    let mut hi = 0;
    let trend: Vec<f64> = (0..n)
        .map(|k| {
            while x[lo] < x[k] - shortest / 2.0 {
                lo += 1;
            }
            while hi < n && x[hi] <= x[k] + shortest / 2.0 {
                hi += 1;
            }
            let mut w = v[lo..hi].to_vec();
            let m = w.len() / 2;
            *w.select_nth_unstable_by(m, f64::total_cmp).1
        })
        .collect();
    // Median of the detrended floor per hour of the cycle: a jump disturbs the running median
    // for one period only, so it touches one value of each hour and the median shrugs it off.
    let bins = 24;
    let mut by_bin: Vec<Vec<f64>> = vec![Vec::new(); bins];
    let bin_of = |xi: f64| ((xi / shortest).rem_euclid(1.0) * bins as f64) as usize % bins;
    for k in 0..n {
        by_bin[bin_of(x[k])].push(v[k] - trend[k]);
    }
    let profile: Vec<f64> = by_bin
        .iter_mut()
        .map(|b| {
            if b.is_empty() {
                return 0.0;
            }
            let m = b.len() / 2;
            *b.select_nth_unstable_by(m, f64::total_cmp).1
        })
        .collect();
    (0..n).map(|k| v[k] - profile[bin_of(x[k])]).collect()
}

/// Whether the harmonic terms explain a good share (30%) of what the line leaves.
pub(super) fn harmonics_matter(x: &[f64], v: &[f64], base: &Terms, with: &SlopeFit) -> bool {
    let without = Terms {
        periods: Vec::new(),
        ..base.clone()
    };
    match fit(x, v, &without) {
        Ok(f) if f.rss > 0.0 => (f.rss - with.rss) / f.rss > 0.3,
        _ => false,
    }
}

/// Whether growth follows the daily load (a load-proportional leak): the fitted floor rises
/// much faster at some hours than others yet never falls during the day. A level that only
/// swings with the load (more objects in flight at the peak) falls every night, so a steady
/// leak under a daily cycle is not mistaken for one.
pub(super) fn growth_follows_cycle(f: &SlopeFit) -> bool {
    let r = f.coef[1];
    if r <= 0.0 || f.harmonic_cols.len() < 4 {
        return false;
    }
    let c = &f.coef;
    let h0 = f.harmonic_cols.start;
    let rates: Vec<f64> = (0..96)
        .map(|k| {
            let x = k as f64 / 96.0;
            let mut d = r;
            for h in 1..=2 {
                let w = std::f64::consts::TAU * h as f64;
                let (a, b) = (c[h0 + 2 * (h - 1)], c[h0 + 2 * (h - 1) + 1]);
                d += w * (-a * (w * x).sin() + b * (w * x).cos());
            }
            d
        })
        .collect();
    let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    lo > -0.2 * r && hi - lo > 0.5 * r
}

/// Hourly offsets of the fitted daily cycle (UTC hours 0..24).
pub(super) fn daily_profile(f: &SlopeFit, t0: f64) -> Vec<f64> {
    let cols = f.harmonic_cols.clone();
    (0..24)
        .map(|h| {
            // x in days since t0 at UTC hour h of some day.
            let abs = (h as f64 * 3600.0 - t0.rem_euclid(DAY)) / DAY;
            let hv = crate::model::harmonic_columns(&[abs], &[1.0]);
            cols.clone()
                .take(4)
                .zip(hv)
                .map(|(j, c)| f.coef[j] * c[0])
                .sum()
        })
        .collect()
}

/// How many leading samples are startup: each far below (under half of) the median of the
/// five after it. At most a tenth of the series, and never more than 20 samples.
pub(super) fn startup_len(y: &[f64]) -> usize {
    let limit = (y.len() / 10).min(20);
    let mut i = 0;
    while i < limit {
        let next = &y[i + 1..(i + 6).min(y.len())];
        if next.is_empty() || y[i] >= 0.5 * median(next) {
            break;
        }
        i += 1;
    }
    i
}

/// The resolution of the values: the greatest common divisor of their differences when they
/// are whole numbers (4096 for RSS in pages); for a constant whole value, 1 below 4096 (a count)
/// and the largest power of two up to 4096 that divides it above (a size); else a millionth of
/// the level.
pub(super) fn quantum(y: &[f64]) -> f64 {
    let Some(&first) = y.first() else {
        return 0.0;
    };
    let whole = y.iter().all(|v| v.fract() == 0.0 && v.abs() < 9e15);
    if !whole {
        return 1e-6 * first.abs();
    }
    fn gcd(mut a: u64, mut b: u64) -> u64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    let mut g = 0u64;
    for v in y {
        g = gcd(g, (v - first).abs() as u64);
        if g == 1 {
            break;
        }
    }
    if g == 0 {
        let v = first.abs() as u64;
        g = if v == 0 {
            1
        } else {
            1 << v.trailing_zeros().min(12)
        };
    }
    g as f64
}

/// Median of `v` (0 for none).
pub(super) fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut a = v.to_vec();
    let m = a.len() / 2;
    *a.select_nth_unstable_by(m, f64::total_cmp).1
}

/// Seconds until the peaks reach `limit` growing at `rate` per day: headroom above the current
/// floor plus the typical peak excess over the floor (99th percentile in the last tenth).
pub(super) fn time_to_limit(t: &[f64], y: &[f64], fl: &Floor, limit: f64, rate: f64) -> f64 {
    let end = t[t.len() - 1];
    let start = end - (end - t[0]) * 0.1;
    let floor_now = fl.v[fl.v.len().saturating_sub(3)..]
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let mut recent: Vec<f64> = t
        .iter()
        .zip(y)
        .filter(|(ti, _)| **ti >= start)
        .map(|(_, yi)| yi - floor_now)
        .collect();
    let k = ((recent.len() - 1) as f64 * 0.99) as usize;
    let excess = recent.select_nth_unstable_by(k, f64::total_cmp).1.max(0.0);
    let headroom = (limit - floor_now - excess).max(0.0);
    if rate <= 0.0 {
        return f64::INFINITY;
    }
    headroom / rate * DAY
}
