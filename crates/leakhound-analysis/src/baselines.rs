//! The methods users reach for today, implemented faithfully so leakhound can be compared with
//! them on the same data: the least-squares trendline with a textbook t-interval (a spreadsheet
//! trendline, `mprof plot --slope`, PromQL `deriv`), and Mann-Kendall with Sen's slope
//! (pymannkendall `original_test`; Mann 1945, Kendall 1975, Sen 1968). Theil-Sen with its
//! confidence interval follows scipy's `theilslopes` (method "separate").

use crate::regression::{normal_quantile, normal_two_sided_p, simple_line, t_quantile};

/// A trend estimate with a two-sided 95% interval and the test decision "trend present".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendTest {
    /// Estimated slope, units of y per unit of x.
    pub slope: f64,
    /// 95% interval for the slope.
    pub ci95: (f64, f64),
    /// Two-sided p-value of "no trend".
    pub p: f64,
}

/// Least-squares trendline with the textbook t-interval (iid errors assumed).
pub fn trendline(x: &[f64], y: &[f64]) -> Option<TrendTest> {
    let l = simple_line(x, y)?;
    let q = t_quantile(0.975, l.df);
    let t = if l.slope_se > 0.0 {
        l.slope / l.slope_se
    } else {
        f64::INFINITY
    };
    let p = statrs::distribution::ContinuousCDF::cdf(
        &statrs::distribution::StudentsT::new(0.0, 1.0, l.df).ok()?,
        -t.abs(),
    ) * 2.0;
    Some(TrendTest {
        slope: l.slope,
        ci95: (l.slope - q * l.slope_se, l.slope + q * l.slope_se),
        p,
    })
}

/// Result of the Mann-Kendall test, as pymannkendall reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannKendall {
    /// Kendall's S: concordant minus discordant pairs.
    pub s: f64,
    /// Variance of S with the tie correction.
    pub var_s: f64,
    /// Continuity-corrected normal score.
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Mann-Kendall trend test of `y` in order. O(n²): decimate long series first.
pub fn mann_kendall(y: &[f64]) -> MannKendall {
    let n = y.len();
    let mut s = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            s += (y[j] - y[i]).signum() * f64::from(y[j] != y[i]);
        }
    }
    let mut sorted = y.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        let tp = (j - i + 1) as f64;
        ties += tp * (tp - 1.0) * (2.0 * tp + 5.0);
        i = j + 1;
    }
    let nf = n as f64;
    let var_s = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    let z = if s > 0.0 {
        (s - 1.0) / var_s.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var_s.sqrt()
    } else {
        0.0
    };
    MannKendall {
        s,
        var_s,
        z,
        p: normal_two_sided_p(z),
    }
}

fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    v.sort_by(f64::total_cmp);
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Sen's slope on the index (0, 1, 2, ...) and its intercept, as pymannkendall computes them.
pub fn sens_slope_index(y: &[f64]) -> (f64, f64) {
    let n = y.len();
    let mut d = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            d.push((y[j] - y[i]) / (j - i) as f64);
        }
    }
    let slope = median(&mut d);
    let mut ys = y.to_vec();
    let idx_median = (n as f64 - 1.0) / 2.0;
    (slope, median(&mut ys) - idx_median * slope)
}

/// Theil-Sen slope of `y` on `x` with scipy's 95% interval (Sen 1968, eq. 2.6, tie-corrected),
/// and intercept median(y) - slope·median(x).
pub fn theil_sen(x: &[f64], y: &[f64]) -> Option<(f64, f64, (f64, f64))> {
    let n = x.len();
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in 0..n {
            if x[j] > x[i] {
                slopes.push((y[j] - y[i]) / (x[j] - x[i]));
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let slope = median(&mut slopes); // also sorts
    let intercept = median(&mut y.to_vec()) - slope * median(&mut x.to_vec());
    let tie_term = |v: &[f64]| -> f64 {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let mut acc = 0.0;
        let mut i = 0;
        while i < s.len() {
            let mut j = i;
            while j + 1 < s.len() && s[j + 1] == s[i] {
                j += 1;
            }
            let k = (j - i + 1) as f64;
            if k > 1.0 {
                acc += k * (k - 1.0) * (2.0 * k + 5.0);
            }
            i = j + 1;
        }
        acc
    };
    let nf = n as f64;
    let sigsq = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - tie_term(x) - tie_term(y)) / 18.0;
    let z = normal_quantile(0.025);
    let nt = slopes.len() as f64;
    let sigma = sigsq.max(0.0).sqrt();
    // numpy rounds halves to even.
    let round = |v: f64| v.round_ties_even() as i64;
    let ru = (round((nt - z * sigma) / 2.0)).min(slopes.len() as i64 - 1) as usize;
    let rl = (round((nt + z * sigma) / 2.0) - 1).max(0) as usize;
    Some((slope, intercept, (slopes[rl], slopes[ru])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::reference;
    use approx::assert_relative_eq;

    #[test]
    fn mann_kendall_matches_pymannkendall() {
        for c in &reference().cases {
            let mk = mann_kendall(&c.y);
            assert_eq!(mk.s, c.mann_kendall.s, "{}", c.name);
            assert_relative_eq!(mk.var_s, c.mann_kendall.var_s, max_relative = 1e-12);
            assert_relative_eq!(mk.z, c.mann_kendall.z, max_relative = 1e-12);
            // pymannkendall's p rounds to 0 past |z| ≈ 8.3 and statrs' normal cdf is good to ~1e-11: compare absolutely.
            assert!(
                (mk.p - c.mann_kendall.p).abs() < 1e-9,
                "{} {} {}",
                c.name,
                mk.p,
                c.mann_kendall.p
            );
            let (slope, intercept) = sens_slope_index(&c.y);
            assert_relative_eq!(slope, c.mann_kendall.slope, max_relative = 1e-12);
            assert_relative_eq!(intercept, c.mann_kendall.intercept, max_relative = 1e-9);
        }
    }

    #[test]
    fn theil_sen_matches_scipy() {
        for c in &reference().cases {
            let (slope, intercept, (lo, hi)) = theil_sen(&c.x, &c.y).unwrap();
            let ts = &c.theil_sen;
            assert_relative_eq!(slope, ts.slope, max_relative = 1e-12);
            assert_relative_eq!(intercept, ts.intercept, max_relative = 1e-9);
            assert_relative_eq!(lo, ts.low, max_relative = 1e-12);
            assert_relative_eq!(hi, ts.high, max_relative = 1e-12);
        }
    }

    #[test]
    fn trendline_interval_matches_scipy() {
        for c in &reference().cases {
            let t = trendline(&c.x, &c.y).unwrap();
            assert_relative_eq!(t.ci95.0, c.ols.ci95[0], max_relative = 1e-7);
            assert_relative_eq!(t.ci95.1, c.ols.ci95[1], max_relative = 1e-7);
        }
    }
}
