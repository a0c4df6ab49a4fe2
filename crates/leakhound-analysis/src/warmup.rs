//! Warm-ups that compete with the line: a saturating rise (caches filling) fitted to the floor,
//! whether the floor shows its curvature, which time constants the data allow, and which
//! warm-ups a leak has outlasted.

use crate::model::{design, fit, ols_rss, SlopeFit, Terms};
use crate::regression::LinearFit;

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
    /// The saturating term's amplitude over its standard error (AR(1) GLS): how clearly the
    /// floor bends. A straight rise fits a warm-up of any long time constant about as well
    /// as a line; only curvature is evidence of one.
    pub curvature: f64,
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
    let column = 2 + base.covariates.len();
    (f.coef[column] > 0.0).then(|| Warmup {
        tau,
        curvature: f.z[column],
        fit: f,
        gain,
    })
}

/// `w`'s model with the uncertainty of its time constant carried into the slope's interval:
/// the rate left once a warm-up is over depends on how long it takes (a time constant a
/// little shorter leaves a decaying rise that reads as growth), and the time constant is
/// itself estimated. The fit adds the warm-up's derivative in log τ as a column (the
/// linearised model of nonlinear least squares), so the slope's standard error counts it.
pub(crate) fn with_time_constant(
    x: &[f64],
    v: &[f64],
    base: &Terms,
    w: &Warmup,
) -> Option<SlopeFit> {
    let x0 = x.first()?;
    let mut covariates = base.covariates.clone();
    covariates.push(
        x.iter()
            .map(|xi| {
                let s = (xi - x0) / w.tau;
                s * (-s).exp()
            })
            .collect(),
    );
    let terms = Terms {
        saturation: Some(w.tau),
        covariates,
        ..base.clone()
    };
    fit(x, v, &terms).ok()
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
