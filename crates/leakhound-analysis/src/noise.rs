//! The noise of a floor around its trend, and how it is estimated.
//!
//! A floor wanders: caches, pools and heap layout drift over minutes, so neighbouring points
//! are correlated, and a soak too short to measure that correlation must assume it
//! ([`Rho::Reml`]'s floor). But a floor point also scatters from one point to the next (which
//! sample of a window was lowest, page rounding, allocator noise). When the data are rougher
//! than a wander of the assumed correlation, a single AR(1) pinned at that correlation would
//! take all of the scatter for wander, and a wander that large could explain any rise. So the
//! noise is modelled as two AR(1) processes: a slow wander (correlation at or above the assumed
//! floor) carrying the share [`Noise::wander`] of the variance, and fast noise (correlation
//! below it) carrying the rest; restricted maximum likelihood splits them. The wander is then
//! what the residuals show, not what the scatter would be if it were all wander.
//!
//! [`Rho::Reml`]: crate::regression::Rho::Reml

use nalgebra::{DMatrix, DVector};

/// The noise model: correlations between points one median gap apart, and the split of the
/// variance. With `wander` 1 it is a single AR(1) of correlation `rho`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Correlation of the slow wander.
    pub rho: f64,
    /// Share of the variance in the slow wander (0 to 1).
    pub wander: f64,
    /// Correlation of the fast noise (0: white).
    pub fast_rho: f64,
}

impl Noise {
    /// A single AR(1) of correlation `rho`.
    pub fn ar1(rho: f64) -> Noise {
        Noise {
            rho,
            wander: 1.0,
            fast_rho: 0.0,
        }
    }

    /// The effective number of independent points among `n`: n over the sum of the
    /// correlations at all lags, each component weighted by its share.
    pub fn effective_n(&self, n: f64) -> f64 {
        let inflation = |r: f64| (1.0 + r) / (1.0 - r).max(1e-12);
        n / (self.wander * inflation(self.rho) + (1.0 - self.wander) * inflation(self.fast_rho))
    }

    /// The same noise at points `ratio` median gaps apart, the wander's correlation never
    /// below `min_rho`.
    pub fn at_spacing(&self, ratio: f64, min_rho: f64) -> Noise {
        Noise {
            rho: self.rho.clamp(0.0, 0.999).powf(ratio).max(min_rho),
            wander: self.wander,
            fast_rho: self.fast_rho.clamp(0.0, 0.999).powf(ratio),
        }
    }
}

/// X'V⁻¹X, X'V⁻¹y, y'V⁻¹y and ln|V| for the noise correlation V.
pub(crate) struct Transformed {
    pub xtx: DMatrix<f64>,
    pub xty: DVector<f64>,
    pub yty: f64,
    pub logdet_v: f64,
}

/// The rows of `x` and `y` whitened under `noise` (variance 1), at gaps `gaps` (in median
/// gaps): the Kalman filter of the two components gives each row's innovation and its
/// variance. For a single AR(1) this is exactly the Prais-Winsten transform.
pub(crate) fn whiten(x: &DMatrix<f64>, y: &[f64], gaps: &[f64], noise: Noise) -> Transformed {
    let (n, p) = x.shape();
    let q = noise.wander.clamp(0.0, 1.0);
    let (rho_s, rho_f) = (
        noise.rho.clamp(0.0, 0.999),
        noise.fast_rho.clamp(0.0, 0.999),
    );
    let (ln_s, ln_f) = (rho_s.ln(), rho_f.ln());
    let mut xtx = DMatrix::zeros(p, p);
    let mut xty = DVector::zeros(p);
    let mut yty = 0.0;
    let mut logdet_v = 0.0;
    let mut row = DVector::zeros(p);
    // Filtered (fast, slow) states of each column and of y, and their covariance.
    let mut state = vec![[0.0f64; 2]; p + 1];
    let (mut f11, mut f12, mut f22) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (a_f, a_s, p11, p12, p22) = if i == 0 {
            (0.0, 0.0, 1.0 - q, 0.0, q)
        } else {
            // Most gaps are the median one: no power to take.
            let g = gaps[i - 1];
            let (a_f, a_s) = if g == 1.0 {
                (rho_f, rho_s)
            } else {
                ((g * ln_f).exp(), (g * ln_s).exp())
            };
            (
                a_f,
                a_s,
                a_f * a_f * f11 + (1.0 - q) * (1.0 - a_f * a_f),
                a_f * a_s * f12,
                a_s * a_s * f22 + q * (1.0 - a_s * a_s),
            )
        };
        let (h1, h2) = (p11 + p12, p12 + p22);
        let f = (h1 + h2).max(1e-12);
        let (k1, k2) = (h1 / f, h2 / f);
        let scale = 1.0 / f.sqrt();
        for (j, s) in state.iter_mut().enumerate() {
            let value = if j < p { x[(i, j)] } else { y[i] };
            let innovation = value - a_f * s[0] - a_s * s[1];
            s[0] = a_f * s[0] + k1 * innovation;
            s[1] = a_s * s[1] + k2 * innovation;
            if j < p {
                row[j] = innovation * scale;
            } else {
                let yi = innovation * scale;
                xty.axpy(yi, &row, 1.0);
                yty += yi * yi;
            }
        }
        xtx.ger(1.0, &row, &row, 1.0);
        (f11, f12, f22) = (p11 - k1 * h1, p12 - k1 * h2, p22 - k2 * h2);
        logdet_v += f.ln();
    }
    Transformed {
        xtx,
        xty,
        yty,
        logdet_v,
    }
}

/// Shares of the variance in the wander tried when the correlation sits on its floor.
const WANDER_SHARES: [f64; 12] = [
    1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0,
];

/// Correlations tried for the fast noise, as shares of the floor's correlation.
const FAST_SHARES: [f64; 8] = [0.0, 0.2, 0.4, 0.6, 0.75, 0.85, 0.93, 0.98];

/// What the data say about the noise: the model of greatest likelihood, and the one the
/// slope's interval uses, whose wander is the largest the residuals allow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Greatest restricted likelihood.
    pub fitted: Noise,
    /// The same, with the share of the wander at the upper end of its one-sided 95% profile
    /// likelihood interval (the fitted one when the correlation was estimated freely).
    pub bound: Noise,
}

/// Drop in log-likelihood at the one-sided 95% bound of one parameter (χ²₁ at 90%, halved).
const PROFILE_DROP: f64 = 1.353;

/// The noise of greatest restricted likelihood `ll`, the wander's correlation at least
/// `min_rho`: a single AR(1) over the grid `grid` (which starts at `min_rho`), refined. When
/// it sits on its floor, the data are rougher than a wander that slow: the fast noise takes
/// what the wander need not, and the interval is drawn with the largest wander the profile
/// likelihood allows.
pub(crate) fn estimate(ll: impl Fn(Noise) -> f64, grid: &[f64], min_rho: f64) -> Option<Estimate> {
    let on_grid = |make: &dyn Fn(f64) -> Noise| {
        grid.iter()
            .enumerate()
            .map(|(k, &r)| (ll(make(r)), k))
            .fold(
                (f64::NEG_INFINITY, 0usize),
                |b, c| if c.0 > b.0 { c } else { b },
            )
    };
    let (best_ll, k) = on_grid(&Noise::ar1);
    if !best_ll.is_finite() {
        return None;
    }
    let neighbours = |k: usize| (grid[k.saturating_sub(1)], grid[(k + 1).min(grid.len() - 1)]);
    let (lo, hi) = neighbours(k);
    let single = Noise::ar1(golden(|r| ll(Noise::ar1(r)), lo, hi, 25));
    // Only where the floor holds the correlation up against the data's evidence (a single
    // AR(1) below it fits clearly better) are they rougher than the assumed wander.
    let below = FAST_SHARES.iter().map(|s| ll(Noise::ar1(s * min_rho)));
    let rougher = below.fold(f64::NEG_INFINITY, f64::max) - ll(single) >= PROFILE_DROP;
    if k > 0 || min_rho <= 0.0 || !rougher {
        return Some(Estimate {
            fitted: single,
            bound: single,
        });
    }
    // The fast noise's best correlation for the rest of `n`, on the grid and then refined.
    let fast_on_grid = |n: Noise| Noise {
        fast_rho: argmax(FAST_SHARES.iter().map(|s| s * min_rho), |r| {
            ll(Noise { fast_rho: r, ..n })
        }),
        ..n
    };
    let best_fast = |n: Noise| {
        let fast = fast_on_grid(n).fast_rho;
        Noise {
            fast_rho: golden(
                |r| ll(Noise { fast_rho: r, ..n }),
                (fast - 0.2 * min_rho).max(0.0),
                (fast + 0.2 * min_rho).min(min_rho),
                10,
            ),
            ..n
        }
    };
    // Coordinate ascent over the fast correlation, the share and the wander's correlation.
    let mut n = best_fast(Noise {
        rho: min_rho,
        wander: 1.0,
        fast_rho: 0.0,
    });
    let share = argmax(WANDER_SHARES.iter().copied(), |q| {
        ll(Noise { wander: q, ..n })
    });
    n.wander = if share <= 0.0 {
        0.0
    } else {
        golden(
            |l| {
                ll(Noise {
                    wander: l.exp(),
                    ..n
                })
            },
            (share / 2.0).max(1e-4).ln(),
            (share * 2.0).min(1.0).ln(),
            10,
        )
        .exp()
    };
    let (_, k) = on_grid(&|r| Noise { rho: r, ..n });
    let (lo, hi) = neighbours(k);
    n.rho = golden(|r| ll(Noise { rho: r, ..n }), lo, hi, 12);
    n = best_fast(n);
    let fitted = if ll(n) > ll(single) { n } else { single };
    // The largest share whose profile likelihood (the fast noise re-fitted on its grid) stays
    // within the drop: the first share of the grid above the fitted one that falls out, then
    // bisection.
    let top = ll(fitted) - PROFILE_DROP;
    let profile = |q: f64| {
        let m = fast_on_grid(Noise {
            wander: q,
            ..fitted
        });
        (ll(m), m)
    };
    let mut inside = fitted;
    let mut outside = None;
    for q in WANDER_SHARES
        .iter()
        .rev()
        .copied()
        .filter(|&q| q > fitted.wander)
    {
        let (l, m) = profile(q);
        if l >= top {
            inside = m;
        } else {
            outside = Some(q);
            break;
        }
    }
    let bound = match outside {
        None => inside,
        Some(out) => {
            let (mut a, mut b) = (inside.wander.max(1e-5).ln(), out.ln());
            for _ in 0..6 {
                let mid = (a + b) / 2.0;
                let (l, m) = profile(mid.exp());
                if l >= top {
                    (a, inside) = (mid, m);
                } else {
                    b = mid;
                }
            }
            inside
        }
    };
    Some(Estimate { fitted, bound })
}

/// The value of `values` where `f` is greatest (the first on ties; 0 for none).
fn argmax(values: impl Iterator<Item = f64>, f: impl Fn(f64) -> f64) -> f64 {
    values
        .map(|v| (f(v), v))
        .fold(
            (f64::NEG_INFINITY, 0.0),
            |b, c| if c.0 > b.0 { c } else { b },
        )
        .1
}

/// The maximum of `f` between `lo` and `hi` by golden-section search in `steps` steps (the
/// bracket shrinks by 0.618 each).
pub(crate) fn golden(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64, steps: usize) -> f64 {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..steps {
        let a = hi - g * (hi - lo);
        let b = lo + g * (hi - lo);
        if f(a) >= f(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitening_matches_the_dense_covariance() {
        let n = 30;
        let t: Vec<f64> = (0..n)
            .map(|i| i as f64 + if i % 7 == 3 { 0.5 } else { 0.0 })
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 13) as f64 - 6.0 + 0.3 * i as f64)
            .collect();
        let x = DMatrix::from_fn(n, 2, |i, j| if j == 0 { 1.0 } else { t[i] });
        let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        for (rho, wander, fast_rho) in [
            (0.9, 1.0, 0.0),
            (0.9, 0.5, 0.0),
            (0.99, 0.1, 0.5),
            (0.5, 0.0, 0.3),
            (0.99, 0.97, 0.8),
        ] {
            let noise = Noise {
                rho,
                wander,
                fast_rho,
            };
            let tr = whiten(&x, &y, &gaps, noise);
            let v = DMatrix::from_fn(n, n, |i, j| {
                let d = (t[i] - t[j]).abs();
                wander * rho.powf(d) + (1.0 - wander) * fast_rho.powf(d)
            });
            let chol = v.clone().cholesky().unwrap();
            let inv = chol.inverse();
            let yv = DVector::from_column_slice(&y);
            let yty = (yv.transpose() * &inv * &yv)[0];
            let xtx = x.transpose() * &inv * &x;
            let logdet: f64 = 2.0 * chol.l().diagonal().iter().map(|d| d.ln()).sum::<f64>();
            assert!(
                (tr.logdet_v - logdet).abs() < 1e-8 * (1.0 + logdet.abs()),
                "{noise:?}"
            );
            assert!((tr.yty - yty).abs() < 1e-8 * yty, "{noise:?}");
            let scale = xtx.abs().max();
            assert!((tr.xtx - xtx).abs().max() < 1e-8 * scale, "{noise:?}");
        }
    }

    #[test]
    fn a_single_ar1_has_the_textbook_effective_size() {
        let n = Noise::ar1(0.5);
        assert!((n.effective_n(300.0) - 100.0).abs() < 1e-9);
        let white = Noise {
            rho: 0.99,
            wander: 0.0,
            fast_rho: 0.0,
        };
        assert!((white.effective_n(300.0) - 300.0).abs() < 1e-9);
    }
}
