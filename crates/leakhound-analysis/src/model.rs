//! Regression models of the floor: a line, with optional segment intercepts (restarts), step
//! dummies (jumps) and daily/weekly harmonics; and a saturating warm-up term. Time is in days from
//! the first floor point, so slopes come out in units per day.

use crate::noise::Noise;
use crate::regression::{gls_ar1_prior, FitError, LinearFit, Rho};

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
    /// A daily cycle under a prior instead: three harmonics whose coefficients have standard
    /// deviation this / h (units of the series). For windows too short to see a cycle whole.
    pub daily_prior: Option<f64>,
    /// The prior a daily cycle takes in a stretch shorter than two days (a tail of a longer
    /// series) when the load is cyclic; `None` under a constant load.
    pub short_cycle_prior: Option<f64>,
    /// What the leak accumulates with, in place of time (one value per point, in days at
    /// the mean rate): cumulative workload events. `None`: time.
    pub leak_clock: Option<Vec<f64>>,
    /// Extra covariates (one value per point) after the leak column, e.g. the workload's
    /// current event rate.
    pub covariates: Vec<Vec<f64>>,
    /// A warm-up that saturates with this time constant (days): a column 1 - exp(-x/τ), so the
    /// time slope is the growth left once the warm-up is over.
    pub saturation: Option<f64>,
}

/// A fitted floor model: the slope and an honest interval for it.
#[derive(Debug, Clone)]
pub(crate) struct SlopeFit {
    /// Coefficients in design order (least squares; posterior means under a prior).
    pub coef: Vec<f64>,
    /// Residuals of those coefficients.
    pub resid: Vec<f64>,
    /// The time slope (units per day).
    pub slope: f64,
    /// Each coefficient over its standard error (AR(1) GLS), in design order.
    pub z: Vec<f64>,
    pub se: f64,
    pub df: f64,
    pub rss: f64,
    pub harmonic_cols: std::ops::Range<usize>,
    /// The noise (correlations of points one median gap apart).
    pub noise: Noise,
    /// Stationary variance of the noise.
    pub sigma2: f64,
    /// Median gap between points, days.
    pub gap: f64,
}

impl SlopeFit {
    /// Lag-1 autocorrelation of the residuals.
    pub fn resid_acf1(&self) -> f64 {
        crate::regression::acf1(&self.resid)
    }

    pub fn ci(&self, level: f64) -> (f64, f64) {
        self.ci_at(crate::regression::interval_quantile(level, self.df))
    }

    /// The interval of the slope at quantile `q`.
    pub fn ci_at(&self, q: f64) -> (f64, f64) {
        (self.slope - q * self.se, self.slope + q * self.se)
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

/// The design of `terms` over `x`: its columns, where the harmonic columns are, and the prior
/// standard deviation of each coefficient (`None`: no prior).
pub(crate) struct Design {
    pub cols: Vec<Vec<f64>>,
    pub harmonic_cols: std::ops::Range<usize>,
    pub prior: Vec<Option<f64>>,
}

/// The design matrix of `terms` over `x`.
pub(crate) fn design(x: &[f64], terms: &Terms) -> Design {
    let n = x.len();
    let clock = terms.leak_clock.clone().unwrap_or_else(|| x.to_vec());
    let mut cols: Vec<Vec<f64>> = vec![vec![1.0; n], clock];
    cols.extend(terms.covariates.iter().cloned());
    if let Some(tau) = terms.saturation {
        cols.push(x.iter().map(|t| 1.0 - (-(t - x[0]) / tau).exp()).collect());
    }
    for &s in terms.segments.iter().chain(&terms.steps) {
        cols.push(x.iter().map(|&t| f64::from(t >= s)).collect());
    }
    let h0 = cols.len();
    let mut prior = vec![None; h0];
    if let Some(sd) = terms.daily_prior {
        for h in 1..=3 {
            let w = std::f64::consts::TAU * h as f64;
            cols.push(x.iter().map(|t| (w * t).cos()).collect());
            cols.push(x.iter().map(|t| (w * t).sin()).collect());
            prior.extend([Some(sd / h as f64); 2]);
        }
    }
    let periods: Vec<f64> = terms
        .periods
        .iter()
        .copied()
        .filter(|&p| !(terms.daily_prior.is_some() && p == 1.0))
        .collect();
    let extra = harmonic_columns(x, &periods);
    prior.extend(std::iter::repeat_n(None, extra.len()));
    cols.extend(extra);
    let h1 = cols.len();
    // Drop columns that are constant (a step before the first point, say) or repeat an
    // earlier one (two restarts between the same pair of points): they make the design
    // singular. Columns under a prior cannot make it singular.
    let keep: Vec<usize> = (0..cols.len())
        .filter(|&j| {
            j < 2
                || prior[j].is_some()
                || (cols[j].iter().any(|&c| c != cols[j][0]) && !cols[..j].contains(&cols[j]))
        })
        .collect();
    let removed_before = |j: usize| (0..j).filter(|k| !keep.contains(k)).count();
    let harmonic_cols = h0 - removed_before(h0)..h1 - removed_before(h1);
    Design {
        cols: keep.iter().map(|&j| cols[j].clone()).collect(),
        harmonic_cols,
        prior: keep.iter().map(|&j| prior[j]).collect(),
    }
}

/// Fits `v` on time `x` (days) with `terms`; the slope and its interval come from AR(1) GLS.
pub(crate) fn fit(x: &[f64], v: &[f64], terms: &Terms) -> Result<SlopeFit, FitError> {
    let d = design(x, terms);
    let rho = Rho::Reml { min: min_rho(x) };
    let has_prior = d.prior.iter().any(Option::is_some);
    // Without a prior, least squares first: isolated gross outliers (a restart caught in the
    // last point, a glitch) would drive the correlation estimate, so the slope is estimated
    // without them. Under a prior the design may be nearly singular for least squares; the
    // residuals then come from the posterior means.
    let (coef, resid) = if has_prior {
        let g = gls_ar1_prior(&d.cols, v, x, rho, &d.prior)?;
        let resid = residuals(&d.cols, v, &g.coef);
        (g.coef, resid)
    } else {
        let f = LinearFit::fit(&d.cols, v)?;
        (f.coef, f.resid)
    };
    let keep_rows = inliers(&resid);
    let g = if keep_rows.len() < x.len() {
        let sub = |c: &[f64]| keep_rows.iter().map(|&i| c[i]).collect::<Vec<f64>>();
        let cols_in: Vec<Vec<f64>> = d.cols.iter().map(|c| sub(c)).collect();
        gls_ar1_prior(&cols_in, &sub(v), &sub(x), rho, &d.prior)?
    } else {
        gls_ar1_prior(&d.cols, v, x, rho, &d.prior)?
    };
    let rss = resid.iter().map(|e| e * e).sum();
    Ok(SlopeFit {
        coef,
        resid,
        slope: g.coef[1],
        z: g.coef
            .iter()
            .zip(&g.se)
            .map(|(c, s)| c / s.max(f64::MIN_POSITIVE))
            .collect(),
        se: g.se[1],
        df: g.df,
        rss,
        harmonic_cols: d.harmonic_cols,
        noise: g.noise,
        sigma2: g.sigma2,
        gap: median_gap(x),
    })
}

fn median_gap(x: &[f64]) -> f64 {
    let mut gaps: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.is_empty() {
        return 0.0;
    }
    let m = gaps.len() / 2;
    *gaps.select_nth_unstable_by(m, f64::total_cmp).1
}

/// The standard error of the slope after watching `days` in all, at the same number of floor
/// points, noise and load model as `f` was fitted with: a daily cycle under its prior while
/// the span is under two days, fitted freely after, when `cycle_prior` is given.
pub(crate) fn projected_slope_se(
    f: &SlopeFit,
    n: usize,
    days: f64,
    cycle_prior: Option<f64>,
) -> Option<f64> {
    if n < 4 || f.gap <= 0.0 {
        return None;
    }
    let x: Vec<f64> = (0..n).map(|i| days * i as f64 / (n - 1) as f64).collect();
    let gap = days / (n - 1) as f64;
    let terms = Terms {
        daily_prior: cycle_prior.filter(|_| days < 2.0),
        periods: if cycle_prior.is_some() && days >= 2.0 {
            vec![1.0]
        } else {
            Vec::new()
        },
        ..Terms::default()
    };
    let d = design(&x, &terms);
    // The correlations of neighbours at the new spacing, the wander's never below the assumed
    // one.
    let noise = f
        .noise
        .at_spacing(gap / f.gap, (-gap * DAY / MIN_WANDER_SECONDS).exp());
    crate::regression::projected_se(&d.cols, &x, noise, f.sigma2, &d.prior, 1)
}

/// `v - X b`.
fn residuals(cols: &[Vec<f64>], v: &[f64], b: &[f64]) -> Vec<f64> {
    (0..v.len())
        .map(|i| v[i] - cols.iter().zip(b).map(|(c, bj)| c[i] * bj).sum::<f64>())
        .collect()
}

/// Residual sum of squares and parameter count of a least-squares fit of `terms` (no GLS):
/// enough to compare models.
pub(crate) fn ols_rss(x: &[f64], v: &[f64], terms: &Terms) -> Option<(f64, usize)> {
    let d = design(x, terms);
    if d.prior.iter().any(Option::is_some) {
        return None;
    }
    let f = LinearFit::fit(&d.cols, v).ok()?;
    Some((f.resid.iter().map(|e| e * e).sum(), f.p))
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
