//! Regression models of the floor: a line, with optional segment intercepts (restarts), step
//! dummies (jumps) and daily/weekly harmonics; and a hinge for warm-up. Time is in days from
//! the first floor point, so slopes come out in units per day.

use crate::regression::{gls_ar1, t_quantile, FitError, LinearFit, Rho};

pub(crate) const DAY: f64 = 86400.0;

/// What goes into the design besides intercept and time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Terms {
    /// Times (days) where a new segment with its own intercept starts (restarts).
    pub segments: Vec<f64>,
    /// Times (days) of level shifts modelled as steps.
    pub steps: Vec<f64>,
    /// Harmonic periods in days (1 = daily, 7 = weekly), two harmonics for daily, one weekly.
    pub periods: Vec<f64>,
    /// A hinge at this time (days): slope may change there.
    pub hinge: Option<f64>,
}

/// A fitted floor model: the slope and an honest interval for it.
#[derive(Debug, Clone)]
pub(crate) struct SlopeFit {
    pub fit: LinearFit,
    /// Column index of the slope that matters (time, or time after the hinge).
    pub slope: f64,
    pub se: f64,
    pub df: f64,
    pub rss: f64,
    pub n: usize,
    pub p: usize,
    pub harmonic_cols: std::ops::Range<usize>,
}

impl SlopeFit {
    pub fn ci(&self, level: f64) -> (f64, f64) {
        let q = t_quantile(0.5 + level / 2.0, self.df);
        (self.slope - q * self.se, self.slope + q * self.se)
    }

    /// Bayesian information criterion (Gaussian likelihood, up to a constant).
    pub fn bic(&self) -> f64 {
        let n = self.n as f64;
        n * (self.rss / n).max(f64::MIN_POSITIVE).ln() + self.p as f64 * n.ln()
    }
}

pub(crate) fn harmonic_columns(x: &[f64], periods: &[f64]) -> Vec<Vec<f64>> {
    let mut cols = Vec::new();
    for &p in periods {
        let harmonics = if p <= 1.0 { 2 } else { 1 };
        for h in 1..=harmonics {
            let w = std::f64::consts::TAU * h as f64 / p;
            cols.push(x.iter().map(|t| (w * t).cos()).collect());
            cols.push(x.iter().map(|t| (w * t).sin()).collect());
        }
    }
    cols
}

/// Fits `v` on time `x` (days) with `terms`. The reported slope is the time slope, or the slope
/// after the hinge when there is one.
pub(crate) fn fit(x: &[f64], v: &[f64], terms: &Terms) -> Result<SlopeFit, FitError> {
    let n = x.len();
    let mut cols: Vec<Vec<f64>> = vec![vec![1.0; n], x.to_vec()];
    if let Some(h) = terms.hinge {
        cols.push(x.iter().map(|t| (t - h).max(0.0)).collect());
    }
    for &s in &terms.segments {
        cols.push(x.iter().map(|&t| f64::from(t >= s)).collect());
    }
    for &s in &terms.steps {
        cols.push(x.iter().map(|&t| f64::from(t >= s)).collect());
    }
    let h0 = cols.len();
    cols.extend(harmonic_columns(x, &terms.periods));
    let h1 = cols.len();
    // Drop columns that are constant zero (a step before the first point, say): singular.
    let keep: Vec<usize> = (0..cols.len())
        .filter(|&j| {
            j < 2 || cols[j].iter().any(|&c| c != 0.0) && cols[j].iter().any(|&c| c != 1.0)
        })
        .collect();
    let removed_before = |j: usize| (0..j).filter(|k| !keep.contains(k)).count();
    let harmonic_cols = h0 - removed_before(h0)..h1 - removed_before(h1);
    let cols: Vec<Vec<f64>> = keep.iter().map(|&j| cols[j].clone()).collect();
    let fit = LinearFit::fit(&cols, v)?;
    let (slope, se, df) = if terms.hinge.is_some() {
        // Slope after the hinge = b_time + b_hinge; its variance needs their covariance, which
        // the tail-only refit in the caller provides more simply. Model choice only needs RSS.
        (fit.coef[1] + fit.coef[2], f64::NAN, f64::NAN)
    } else {
        // Isolated gross outliers (a restart caught in the last point, a glitch) would drive
        // the correlation estimate; the slope is estimated without them.
        let keep_rows = inliers(&fit.resid);
        let min_rho = min_rho(x);
        let g = if keep_rows.len() < n {
            let sub = |c: &[f64]| keep_rows.iter().map(|&i| c[i]).collect::<Vec<f64>>();
            let cols_in: Vec<Vec<f64>> = cols.iter().map(|c| sub(c)).collect();
            gls_ar1(&cols_in, &sub(v), &sub(x), Rho::Reml { min: min_rho })?
        } else {
            gls_ar1(&cols, v, x, Rho::Reml { min: min_rho })?
        };
        (g.coef[1], g.se[1], g.df)
    };
    let rss = fit.resid.iter().map(|e| e * e).sum();
    let p = fit.p;
    Ok(SlopeFit {
        fit,
        slope,
        se,
        df,
        rss,
        n,
        p,
        harmonic_cols,
    })
}

/// Shortest correlation time assumed for the wander of a floor, seconds. Floors drift with
/// caches, pools and heap layout over minutes; a soak of half an hour cannot measure that
/// time itself, and assuming less makes a few minutes of wander look like a leak. Chosen with
/// the scorer (900 cases, seed 2): 180 s gave 2.0% false alarms and 92.9% recall, 240 s 1.8%
/// and 92.0%, 300 s 1.4% and 88.9%.
pub(crate) const MIN_WANDER_SECONDS: f64 = 240.0;

/// The correlation between neighbouring points implied by [`MIN_WANDER_SECONDS`] at the
/// median gap of `x` (days).
fn min_rho(x: &[f64]) -> f64 {
    let mut gaps: Vec<f64> = x.windows(2).map(|w| (w[1] - w[0]) * DAY).collect();
    if gaps.is_empty() {
        return 0.0;
    }
    let m = gaps.len() / 2;
    let gap = *gaps.select_nth_unstable_by(m, f64::total_cmp).1;
    (-gap / MIN_WANDER_SECONDS).exp()
}

/// Rows whose residual lies within 6 robust standard deviations (1.4826·MAD); all rows when
/// more than 2% would go, since then they are not isolated outliers but the data.
fn inliers(resid: &[f64]) -> Vec<usize> {
    let mut a: Vec<f64> = resid.to_vec();
    let m = a.len() / 2;
    let med = *a.select_nth_unstable_by(m, f64::total_cmp).1;
    let mut dev: Vec<f64> = resid.iter().map(|e| (e - med).abs()).collect();
    let scale = 1.4826 * *dev.select_nth_unstable_by(m, f64::total_cmp).1;
    let keep: Vec<usize> = (0..resid.len())
        .filter(|&i| (resid[i] - med).abs() <= 6.0 * scale)
        .collect();
    if scale > 0.0 && (resid.len() - keep.len()) * 50 <= resid.len() {
        keep
    } else {
        (0..resid.len()).collect()
    }
}

/// The best hinge (continuous change of slope) over a grid of candidate times, by residual sum
/// of squares. Returns the hinge time (days) and its fit.
pub(crate) fn best_hinge(x: &[f64], v: &[f64], periods: &[f64]) -> Option<(f64, SlopeFit)> {
    let span = x.last()? - x.first()?;
    let mut best: Option<(f64, SlopeFit)> = None;
    for k in 1..=16 {
        let h = x[0] + span * k as f64 / 20.0;
        let terms = Terms {
            hinge: Some(h),
            periods: periods.to_vec(),
            ..Terms::default()
        };
        if let Ok(f) = fit(x, v, &terms) {
            // (hinge fits skip GLS: only their residuals are compared)
            if best.as_ref().is_none_or(|(_, b)| f.rss < b.rss) {
                best = Some((h, f));
            }
        }
    }
    best
}
