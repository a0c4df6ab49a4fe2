//! One lasting level shift competing with the line. The jump detector ([`crate::jumps`])
//! compares a few points on each side of a shift, so under noise that is large between
//! neighbouring points it misses a step that every point before and after it shows; fitted as
//! a line, such a step is a slope. A step model uses all the points: a level shift at the
//! position that fits best, judged against the line by its GLS evidence, less what choosing
//! the position among the effective points buys by chance.

use crate::model::{fit, ols_rss, SlopeFit, Terms};

/// A level shift fitted to the floor.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// Index of the last floor point before the shift.
    pub index: usize,
    /// Size of the shift (AR(1) GLS, with the line and `base`'s other terms).
    pub size: f64,
    /// How much better the model with the step fits than the line alone: the step's squared
    /// z (GLS) less twice the log of the effective number of points (the position is chosen
    /// among them, and counts as a parameter: BIC).
    pub gain: f64,
    /// The line with the step.
    pub fit: SlopeFit,
}

/// Fewest floor points on each side of a step, and share of them.
const MIN_SIDE: usize = 5;

/// The best single level shift of the floor `(x, v)` (days) on top of `base`: its position by
/// residual sum of squares over every one with [`MIN_SIDE`] points (and 5% of them) on each
/// side, its size and evidence by GLS. `None` when it cannot be fitted (too few points,
/// `base` under a prior).
pub(crate) fn best_step(x: &[f64], v: &[f64], base: &Terms) -> Option<Step> {
    let n = x.len();
    let side = MIN_SIDE.max(n / 20);
    if n < 2 * side + 4 {
        return None;
    }
    let with_step = |k: usize| Terms {
        steps: [base.steps.as_slice(), &[(x[k] + x[k + 1]) / 2.0]].concat(),
        ..base.clone()
    };
    let (k, _) = (side - 1..n - side)
        .filter_map(|k| ols_rss(x, v, &with_step(k)).map(|(rss, _)| (k, rss)))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let f = fit(x, v, &with_step(k)).ok()?;
    // The step's column is the last before the harmonics.
    let column = f.harmonic_cols.start - 1;
    let n_eff = (f.df + f.coef.len() as f64).max(2.0);
    Some(Step {
        index: k,
        size: f.coef[column],
        gain: f.z[column].powi(2) - 2.0 * n_eff.ln(),
        fit: f,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    #[test]
    fn a_step_under_noise_is_found_where_it_is_and_a_line_has_none_worth_it() {
        let x: Vec<f64> = (0..300).map(|i| f64::from(i) / 100.0).collect();
        let e = noise(300, 3);
        // A step of 1.5 noise ranges at 40% (index 119 is the last point before it).
        let v: Vec<f64> = (0..300)
            .map(|i| 100.0 + 3.0 * e[i] + if i >= 120 { 1.5 * 3.0 } else { 0.0 })
            .collect();
        let s = best_step(&x, &v, &Terms::default()).unwrap();
        assert_eq!(s.index, 119, "{s:?}");
        assert!((s.size - 4.5).abs() < 0.5, "{s:?}");
        assert!(s.gain > 10.0, "{s:?}");
        assert!(s.fit.slope.abs() < 0.5, "{s:?}");
        let line: Vec<f64> = (0..300)
            .map(|i| 100.0 + 0.05 * i as f64 + 3.0 * e[i])
            .collect();
        let s = best_step(&x, &line, &Terms::default()).unwrap();
        assert!(s.gain < 10.0, "{s:?}");
    }
}
