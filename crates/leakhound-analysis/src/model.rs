//! Regression models of the floor: a line, with optional segment intercepts (restarts), step
//! dummies (jumps) and daily/weekly harmonics; and a saturating warm-up term. Time is in days from
//! the first floor point, so slopes come out in units per day.

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
    pub se: f64,
    pub df: f64,
    pub rss: f64,
    pub harmonic_cols: std::ops::Range<usize>,
    /// Correlation of neighbouring points (one median gap apart).
    pub rho: f64,
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
        let q = crate::regression::interval_quantile(level, self.df);
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
        se: g.se[1],
        df: g.df,
        rss,
        harmonic_cols: d.harmonic_cols,
        rho: g.rho,
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
    // The correlation of neighbours at the new spacing, never below the assumed wander.
    let rho = f
        .rho
        .clamp(0.0, 0.999)
        .powf(gap / f.gap)
        .max((-gap * DAY / MIN_WANDER_SECONDS).exp());
    crate::regression::projected_se(&d.cols, &x, rho, f.sigma2, &d.prior, 1)
}

/// `v - X b`.
fn residuals(cols: &[Vec<f64>], v: &[f64], b: &[f64]) -> Vec<f64> {
    (0..v.len())
        .map(|i| v[i] - cols.iter().zip(b).map(|(c, bj)| c[i] * bj).sum::<f64>())
        .collect()
}

/// Residual sum of squares and parameter count of a least-squares fit of `terms` (no GLS):
/// enough to compare models.
fn ols_rss(x: &[f64], v: &[f64], terms: &Terms) -> Option<(f64, usize)> {
    let d = design(x, terms);
    if d.prior.iter().any(Option::is_some) {
        return None;
    }
    let f = LinearFit::fit(&d.cols, v).ok()?;
    Some((f.resid.iter().map(|e| e * e).sum(), f.p))
}

/// A saturating warm-up fitted to the floor.
#[derive(Debug, Clone)]
pub(crate) struct Warmup {
    /// Time constant, days.
    pub tau: f64,
    /// The model with the warm-up term.
    pub fit: SlopeFit,
    /// How much better it fits than the model without it: BIC of that model less BIC of this
    /// one (positive: the warm-up fits better).
    pub gain: f64,
}

/// Time constants tried for a warm-up, as shares of the span: 1% to 100%, a factor 1.26
/// apart. One of the whole span is still visibly curved (the slope falls to 37% by the end);
/// longer ones look like a line and are what the verdict cannot rule out.
fn warmup_taus(span: f64) -> impl Iterator<Item = f64> {
    (0..21).map(move |k| span * 10f64.powf(-2.0 + 2.0 * k as f64 / 20.0))
}

/// The best rising saturating warm-up over time constants from 1% to 100% of the span, by
/// residual sum of squares, with its BIC gain over `base`; `None` when it does not rise, cannot
/// be fitted, or fits no better than the line (BIC gain of 0 or less), so it is no rival to it.
/// (Measured with the scorer, 900 + 480 cases, seeds 1 and 2: a gain above -2 made warm-ups
/// rivals more often and cost 0.5-1.1 points of recall for no fewer false alarms.)
pub(crate) fn best_saturation(x: &[f64], v: &[f64], base: &Terms) -> Option<Warmup> {
    let span = x.last()? - x.first()?;
    let n = x.len();
    let (line_rss, line_p) = ols_rss(x, v, base)?;
    let mut best: Option<(f64, f64, usize)> = None;
    for tau in warmup_taus(span) {
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
    let (mut tau, mut rss, p) = best?;
    // The grid is coarse (a factor 1.26 between neighbours); a time constant a little off
    // leaves a decaying residual that reads as growth in the tail. Refine it (golden section
    // in log τ between the neighbours of the best grid point).
    let rss_at = |tau: f64| {
        ols_rss(
            x,
            v,
            &Terms {
                saturation: Some(tau),
                ..base.clone()
            },
        )
        .map_or(f64::INFINITY, |r| r.0)
    };
    let step = 10f64.powf(2.0 / 20.0);
    let (mut lo, mut hi) = ((tau / step).ln(), (tau * step).ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..20 {
        let a = hi - g * (hi - lo);
        let b = lo + g * (hi - lo);
        if rss_at(a.exp()) <= rss_at(b.exp()) {
            hi = b;
        } else {
            lo = a;
        }
    }
    let refined = ((lo + hi) / 2.0).exp();
    let refined_rss = rss_at(refined);
    if refined_rss < rss {
        (tau, rss) = (refined, refined_rss);
    }
    // Autocorrelated floor points are not independent: a BIC over all of them would take a
    // few minutes of wander at the start for a warm-up. Count the effective points.
    let rho = {
        let d = design(x, base);
        let f = LinearFit::fit(&d.cols, v).ok()?;
        f.resid_acf1().clamp(0.0, 0.99)
    };
    let n_eff = (n as f64 * (1.0 - rho) / (1.0 + rho)).max((p + 2) as f64);
    let gain =
        n_eff * (line_rss / rss.max(f64::MIN_POSITIVE)).ln() - (p - line_p) as f64 * n_eff.ln();
    if gain <= 0.0 {
        return None;
    }
    let terms = Terms {
        saturation: Some(tau),
        ..base.clone()
    };
    let f = fit(x, v, &terms).ok()?;
    // A warm-up rises (positive amplitude) and flattens.
    (f.coef[2 + base.covariates.len()] > 0.0).then_some(Warmup { tau, fit: f, gain })
}

/// The longest time constant (days) of a warm-up that the growth outlasts: with a saturating
/// term of any time constant up to it, the slope's lower bound at quantile `q` stays above
/// `tol`. Slopes by least squares; their standard errors are `line`'s (AR(1) GLS) scaled by
/// how much the warm-up term widens the least-squares one. `None` when even the shortest
/// warm-up tried explains the growth.
pub(crate) fn warmup_ruled_out(
    x: &[f64],
    v: &[f64],
    base: &Terms,
    line: &SlopeFit,
    q: f64,
    tol: f64,
) -> Option<f64> {
    let span = x.last()? - x.first()?;
    let d = design(x, base);
    let plain = LinearFit::fit(&d.cols, v).ok()?;
    let plain_se = plain.se_iid(1).max(f64::MIN_POSITIVE);
    let mut ruled_out = None;
    for tau in warmup_taus(span).chain([2.0, 4.0].map(|k| k * span)) {
        let terms = Terms {
            saturation: Some(tau),
            ..base.clone()
        };
        let d = design(x, &terms);
        let Ok(f) = LinearFit::fit(&d.cols, v) else {
            break;
        };
        let se = line.se * f.se_iid(1) / plain_se;
        if f.coef[1] - q * se <= tol {
            break;
        }
        ruled_out = Some(tau);
    }
    ruled_out
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
