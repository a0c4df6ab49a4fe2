//! The methods compared and the metrics they are scored on.

use leakhound_analysis::baselines::{mann_kendall, sens_slope_index, trendline};
use leakhound_analysis::{analyze_with, Config, Counter, Load, Verdict};

use crate::families::{Case, Family};

const DAY: f64 = 86400.0;

/// What a method said about one case.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// Rate estimate, bytes/day.
    pub rate: Option<f64>,
    /// 95% interval, bytes/day, when the method gives one.
    pub ci: Option<(f64, f64)>,
}

/// A method under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// leakhound's verdict.
    Leakhound,
    /// Least-squares trendline on the raw samples with a textbook t-interval (spreadsheet,
    /// `mprof plot --slope`, PromQL `deriv`): leak when the interval is above the tolerance, no
    /// leak when below.
    Trendline,
    /// Mann-Kendall test with Sen's slope (pymannkendall `original_test`) on the series averaged
    /// into at most 1000 bins (all-pairs cost): leak when the trend is significant at 5% and
    /// Sen's slope exceeds the tolerance, otherwise no leak.
    MannKendall,
}

impl Method {
    /// All methods.
    pub const ALL: [Method; 3] = [Method::Leakhound, Method::Trendline, Method::MannKendall];
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Leakhound => "leakhound",
            Method::Trendline => "trendline + t-interval",
            Method::MannKendall => "Mann-Kendall + Sen",
        }
    }
}

fn decide(lo: f64, hi: f64, tol: f64) -> Verdict {
    if lo > tol {
        Verdict::Leak
    } else if hi < tol {
        Verdict::NoLeak
    } else {
        Verdict::Inconclusive
    }
}

/// Bin means of `(t, y)` into at most `bins` bins.
pub fn decimate(t: &[f64], y: &[f64], bins: usize) -> (Vec<f64>, Vec<f64>) {
    if t.len() <= bins {
        return (t.to_vec(), y.to_vec());
    }
    (0..bins)
        .map(|b| {
            let lo = b * t.len() / bins;
            let hi = (b + 1) * t.len() / bins;
            let n = (hi - lo) as f64;
            (
                t[lo..hi].iter().sum::<f64>() / n,
                y[lo..hi].iter().sum::<f64>() / n,
            )
        })
        .unzip()
}

/// Runs `method` on a series with tolerance `tol` (bytes/day); leakhound is told the load
/// (`constant` for a soak, as `run` assumes; `auto` for production data) and given the
/// workload counters, which the other methods cannot use.
pub fn run(
    method: Method,
    t: &[f64],
    y: &[f64],
    tol: f64,
    load: Load,
    counters: &[Counter],
) -> Outcome {
    match method {
        Method::Leakhound => {
            let mut cfg = Config::with_tolerance(tol);
            cfg.load = load;
            let f = analyze_with(t, y, &cfg, counters).expect("corpus series are valid");
            Outcome {
                verdict: f.verdict,
                rate: f.rate_per_day,
                ci: f.rate_ci_per_day,
            }
        }
        Method::Trendline => match trendline(t, y) {
            Some(tr) => Outcome {
                verdict: decide(tr.ci95.0 * DAY, tr.ci95.1 * DAY, tol),
                rate: Some(tr.slope * DAY),
                ci: Some((tr.ci95.0 * DAY, tr.ci95.1 * DAY)),
            },
            None => Outcome {
                verdict: Verdict::Inconclusive,
                rate: None,
                ci: None,
            },
        },
        Method::MannKendall => {
            let (tb, yb) = decimate(t, y, 1000);
            let mk = mann_kendall(&yb);
            let step = (tb[tb.len() - 1] - tb[0]) / (tb.len() - 1) as f64;
            let (slope, _) = sens_slope_index(&yb);
            let rate = slope / step * DAY;
            let verdict = if mk.p < 0.05 && mk.s > 0.0 && rate > tol {
                Verdict::Leak
            } else {
                Verdict::NoLeak
            };
            Outcome {
                verdict,
                rate: Some(rate),
                ci: None,
            }
        }
    }
}

/// One scored case.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The case.
    pub case: Case,
    /// Outcomes, in the order of [`Method::ALL`].
    pub outcomes: Vec<Outcome>,
}

/// The metrics of one method over a corpus.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Share of bounded cases called `leak`.
    pub false_alarm: f64,
    /// Share of clearly detectable leaks called `leak`.
    pub recall: f64,
    /// Share of leaks called `no_leak`.
    pub false_all_clear: f64,
    /// Share of bounded cases spanning 3 days or more called `no_leak`.
    pub clear_long: f64,
    /// Median |rate - true| / true over leaks with a rate.
    pub median_rate_error: f64,
    /// Share of linear cases (steady, load-proportional, flat, seasonal) whose interval holds
    /// the true rate; `None` for methods without intervals.
    pub coverage: Option<f64>,
    /// Counts: bounded, detectable leaks, leaks, long bounded, coverage cases.
    pub counts: (usize, usize, usize, usize, usize),
}

fn share(hits: usize, n: usize) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        hits as f64 / n as f64
    }
}

/// Metrics of method number `m` over `scored`.
pub fn metrics(scored: &[Scored], m: usize) -> Metrics {
    let bounded: Vec<&Scored> = scored.iter().filter(|s| !s.case.leak).collect();
    let leaks: Vec<&Scored> = scored.iter().filter(|s| s.case.leak).collect();
    let detectable: Vec<&Scored> = leaks
        .iter()
        .copied()
        .filter(|s| s.case.detectable)
        .collect();
    let long: Vec<&Scored> = bounded
        .iter()
        .copied()
        .filter(|s| s.case.span >= 3.0 * DAY)
        .collect();
    let v = |s: &Scored| s.outcomes[m].verdict;
    let mut errors: Vec<f64> = leaks
        .iter()
        .filter(|s| s.case.true_rate > 0.0)
        .filter_map(|s| {
            s.outcomes[m]
                .rate
                .map(|r| ((r - s.case.true_rate) / s.case.true_rate).abs())
        })
        .collect();
    errors.sort_by(f64::total_cmp);
    let linear: Vec<&Scored> = scored.iter().filter(|s| s.case.linear).collect();
    let covered = linear
        .iter()
        .filter(|s| {
            s.outcomes[m]
                .ci
                .is_some_and(|(lo, hi)| lo <= s.case.true_rate && s.case.true_rate <= hi)
        })
        .count();
    let has_ci = linear.iter().any(|s| s.outcomes[m].ci.is_some());
    Metrics {
        false_alarm: share(
            bounded.iter().filter(|s| v(s) == Verdict::Leak).count(),
            bounded.len(),
        ),
        recall: share(
            detectable.iter().filter(|s| v(s) == Verdict::Leak).count(),
            detectable.len(),
        ),
        false_all_clear: share(
            leaks.iter().filter(|s| v(s) == Verdict::NoLeak).count(),
            leaks.len(),
        ),
        clear_long: share(
            long.iter().filter(|s| v(s) == Verdict::NoLeak).count(),
            long.len(),
        ),
        median_rate_error: errors.get(errors.len() / 2).copied().unwrap_or(f64::NAN),
        coverage: has_ci.then(|| share(covered, linear.len())),
        counts: (
            bounded.len(),
            detectable.len(),
            leaks.len(),
            long.len(),
            linear.len(),
        ),
    }
}

/// Leakhound's verdicts on one family: (leak, no_leak, inconclusive) counts for its leaking
/// and its bounded cases.
pub fn by_family(scored: &[Scored], family: Family) -> ([usize; 3], [usize; 3]) {
    let mut leaks = [0; 3];
    let mut bounded = [0; 3];
    for s in scored.iter().filter(|s| s.case.family == family) {
        let k = match s.outcomes[0].verdict {
            Verdict::Leak => 0,
            Verdict::NoLeak => 1,
            Verdict::Inconclusive => 2,
        };
        if s.case.leak {
            leaks[k] += 1;
        } else {
            bounded[k] += 1;
        }
    }
    (leaks, bounded)
}
