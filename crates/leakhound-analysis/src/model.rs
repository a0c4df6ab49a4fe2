//! Regression models of the floor: a line, with optional segment intercepts (restarts), step
//! dummies (jumps) and daily/weekly harmonics; and a saturating warm-up term. Time is in days from
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
    /// A warm-up that saturates with this time constant (days): a column 1 - exp(-x/τ), so the
    /// time slope is the growth left once the warm-up is over.
    pub saturation: Option<f64>,
}

/// A fitted floor model: the slope and an honest interval for it.
#[derive(Debug, Clone)]
pub(crate) struct SlopeFit {
    pub fit: LinearFit,
    /// The time slope (units per day).
    pub slope: f64,
    pub se: f64,
    pub df: f64,
    pub rss: f64,
    pub harmonic_cols: std::ops::Range<usize>,
}

impl SlopeFit {
    pub fn ci(&self, level: f64) -> (f64, f64) {
        let q = t_quantile(0.5 + level / 2.0, self.df);
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

/// The design matrix of `terms` over `x`, and where its harmonic columns are.
fn design(x: &[f64], terms: &Terms) -> (Vec<Vec<f64>>, std::ops::Range<usize>) {
    let n = x.len();
    let mut cols: Vec<Vec<f64>> = vec![vec![1.0; n], x.to_vec()];
    if let Some(tau) = terms.saturation {
        cols.push(x.iter().map(|t| 1.0 - (-(t - x[0]) / tau).exp()).collect());
    }
    for &s in terms.segments.iter().chain(&terms.steps) {
        cols.push(x.iter().map(|&t| f64::from(t >= s)).collect());
    }
    let h0 = cols.len();
    cols.extend(harmonic_columns(x, &terms.periods));
    let h1 = cols.len();
    // Drop columns that are constant (a step before the first point, say) or repeat an
    // earlier one (two restarts between the same pair of points): they make the design
    // singular.
    let keep: Vec<usize> = (0..cols.len())
        .filter(|&j| {
            j < 2 || (cols[j].iter().any(|&c| c != cols[j][0]) && !cols[..j].contains(&cols[j]))
        })
        .collect();
    let removed_before = |j: usize| (0..j).filter(|k| !keep.contains(k)).count();
    let harmonic_cols = h0 - removed_before(h0)..h1 - removed_before(h1);
    (
        keep.iter().map(|&j| cols[j].clone()).collect(),
        harmonic_cols,
    )
}

/// Fits `v` on time `x` (days) with `terms`; the slope and its interval come from AR(1) GLS.
pub(crate) fn fit(x: &[f64], v: &[f64], terms: &Terms) -> Result<SlopeFit, FitError> {
    let n = x.len();
    let (cols, harmonic_cols) = design(x, terms);
    let fit = LinearFit::fit(&cols, v)?;
    // Isolated gross outliers (a restart caught in the last point, a glitch) would drive
    // the correlation estimate; the slope is estimated without them.
    let keep_rows = inliers(&fit.resid);
    let rho = Rho::Reml { min: min_rho(x) };
    let g = if keep_rows.len() < n {
        let sub = |c: &[f64]| keep_rows.iter().map(|&i| c[i]).collect::<Vec<f64>>();
        let cols_in: Vec<Vec<f64>> = cols.iter().map(|c| sub(c)).collect();
        gls_ar1(&cols_in, &sub(v), &sub(x), rho)?
    } else {
        gls_ar1(&cols, v, x, rho)?
    };
    let rss = fit.resid.iter().map(|e| e * e).sum();
    Ok(SlopeFit {
        fit,
        slope: g.coef[1],
        se: g.se[1],
        df: g.df,
        rss,
        harmonic_cols,
    })
}

/// Residual sum of squares and parameter count of a least-squares fit of `terms` (no GLS):
/// enough to compare models.
fn ols_rss(x: &[f64], v: &[f64], terms: &Terms) -> Option<(f64, usize)> {
    let (cols, _) = design(x, terms);
    let f = LinearFit::fit(&cols, v).ok()?;
    Some((f.resid.iter().map(|e| e * e).sum(), f.p))
}

/// Bayesian information criterion from a residual sum of squares.
pub(crate) fn bic(rss: f64, n: usize, p: usize) -> f64 {
    let n = n as f64;
    n * (rss / n).max(f64::MIN_POSITIVE).ln() + p as f64 * n.ln()
}

/// The best saturating warm-up over time constants from 1% to 30% of the span, by residual
/// sum of squares; `None` when it does not beat a line by 10 BIC points or does not rise.
pub(crate) fn best_saturation(x: &[f64], v: &[f64], base: &Terms) -> Option<(f64, SlopeFit)> {
    let span = x.last()? - x.first()?;
    let n = x.len();
    let (line_rss, line_p) = ols_rss(x, v, base)?;
    let mut best: Option<(f64, f64, usize)> = None;
    for k in 0..16 {
        let tau = span * 10f64.powf(-2.0 + 1.5 * k as f64 / 15.0);
        let terms = Terms {
            saturation: Some(tau),
            ..base.clone()
        };
        if let Some((rss, p)) = ols_rss(x, v, &terms) {
            if best.is_none_or(|b| rss < b.1) {
                best = Some((tau, rss, p));
            }
        }
    }
    let (tau, rss, p) = best?;
    if bic(rss, n, p) + 10.0 >= bic(line_rss, n, line_p) {
        return None;
    }
    let terms = Terms {
        saturation: Some(tau),
        ..base.clone()
    };
    let f = fit(x, v, &terms).ok()?;
    // A warm-up rises (positive amplitude) and flattens.
    (f.fit.coef[2] > 0.0).then_some((tau, f))
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
