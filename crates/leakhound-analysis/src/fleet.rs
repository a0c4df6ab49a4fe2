//! A fleet that is partly leaking: bytes per event among the instances that leak (and whether
//! the others fit no leak at all), the labels that separate leaking from clean instances, and
//! leak rates compared across groups. One regression over a mixed fleet dilutes the answer
//! (half the instances at 4 B/request and half at zero look like 2 B/request with a poor fit);
//! the seed's A/B, two servers with twice the requests leaking exactly twice as fast, holds
//! among the leakers.

use std::collections::BTreeMap;

use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::function::gamma::ln_gamma;

use crate::attribution::RateRatio;
use crate::regression::t_quantile;

/// One instance as the fleet analysis sees it.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Whether its verdict is `leak`.
    pub leaking: bool,
    /// Leak rate, bytes/day.
    pub rate: f64,
    /// Standard error of the rate.
    pub rate_se: f64,
    /// Upper end of the rate's interval, bytes/day.
    pub upper: f64,
    /// The growth its verdict tolerates, bytes/day.
    pub tolerance: f64,
    /// Workload events per day, when a counter was matched to it.
    pub events_per_day: Option<f64>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// Bytes per event among the leaking instances.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MixedAttribution {
    /// Leaking instances with an event rate (the fit's points).
    pub leaking: usize,
    /// The other instances.
    pub others: usize,
    /// Bytes leaked per event (a line through the origin: no events, no leak).
    pub bytes_per_event: f64,
    /// 95% interval.
    pub bytes_per_event_ci95: (f64, f64),
    /// How well event rates explain leak rates among the leakers (R² through the origin).
    pub explained: f64,
    /// p-value of "every other instance has a rate of zero" (χ² of rate/se); large means
    /// they are flat.
    pub others_flat_p: f64,
}

/// Relates leak rate to event rate among the leaking instances; `None` with fewer than two
/// leakers that have an event rate.
pub fn mixed_attribution(instances: &[Instance]) -> Option<MixedAttribution> {
    let pts: Vec<(f64, f64, f64)> = instances
        .iter()
        .filter(|i| i.leaking)
        .filter_map(|i| {
            let e = i.events_per_day.filter(|e| *e > 0.0)?;
            Some((e, i.rate, i.rate_se.max(f64::MIN_POSITIVE)))
        })
        .collect();
    let k = pts.len();
    if k < 2 {
        return None;
    }
    // Weighted least squares through the origin, weights 1/se²; the scale from the residuals
    // (never below what the standard errors say), so instance-to-instance spread widens it.
    let sxx: f64 = pts.iter().map(|(x, _, s)| x * x / (s * s)).sum();
    let sxy: f64 = pts.iter().map(|(x, y, s)| x * y / (s * s)).sum();
    let beta = sxy / sxx;
    let chi2: f64 = pts
        .iter()
        .map(|(x, y, s)| ((y - beta * x) / s).powi(2))
        .sum();
    let df = (k - 1) as f64;
    let dispersion = (chi2 / df).max(1.0);
    let se = (dispersion / sxx).sqrt();
    let q = t_quantile(0.975, df);
    let syy: f64 = pts.iter().map(|(_, y, s)| y * y / (s * s)).sum();
    let explained = if syy > 0.0 {
        (1.0 - chi2 / syy).clamp(0.0, 1.0)
    } else {
        0.0
    };
    Some(MixedAttribution {
        leaking: k,
        others: instances.iter().filter(|i| !i.leaking).count(),
        bytes_per_event: beta,
        bytes_per_event_ci95: (beta - q * se, beta + q * se),
        explained,
        others_flat_p: others_flat_p(instances).unwrap_or(1.0),
    })
}

/// p-value of "every instance that does not leak has a rate of zero": χ² of rate/se over
/// them. Small means some of them grow after all, if below the tolerance; `None` when every
/// instance leaks.
pub fn others_flat_p(instances: &[Instance]) -> Option<f64> {
    let z: Vec<f64> = instances
        .iter()
        .filter(|i| !i.leaking)
        .map(|i| i.rate / i.rate_se.max(f64::MIN_POSITIVE))
        .collect();
    if z.is_empty() {
        return None;
    }
    let chi2: f64 = z.iter().map(|z| z * z).sum();
    Some(ChiSquared::new(z.len() as f64).map_or(f64::NAN, |d| 1.0 - d.cdf(chi2)))
}

/// The instances that do not leak against their tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Within {
    /// Those whose rate is known to be below their tolerance (the upper end of its interval).
    pub within: usize,
    /// The instances that do not leak.
    pub others: usize,
}

/// How many of the instances that do not leak are known to grow slower than their tolerance;
/// `None` when every instance leaks. A bounded pattern (a warm-up, a cache filling, a ratchet)
/// grows a little over a week without leaking: such instances need not fit a rate of exactly
/// zero ([`others_flat_p`]) to be within the tolerance.
pub fn others_within(instances: &[Instance]) -> Option<Within> {
    let others: Vec<&Instance> = instances.iter().filter(|i| !i.leaking).collect();
    (!others.is_empty()).then(|| Within {
        within: others.iter().filter(|i| i.upper < i.tolerance).count(),
        others: others.len(),
    })
}

/// A label value and how it splits the fleet.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelSplit {
    /// Label name.
    pub key: String,
    /// Label value.
    pub value: String,
    /// Leaking instances with this value, and leaking instances in all.
    pub leaking_with: usize,
    /// Leaking instances in all.
    pub leaking: usize,
    /// Other instances with this value.
    pub others_with: usize,
    /// Other instances in all.
    pub others: usize,
    /// Fisher's exact test, two-sided, times the number of label values tried (Bonferroni):
    /// how surprising a split this clean is by chance.
    pub p: f64,
}

/// Label values that separate leaking from other instances, most surprising first, with
/// adjusted p below `alpha`. Labels every instance shares, or no two share, are skipped.
pub fn separating_labels(instances: &[Instance], alpha: f64) -> Vec<LabelSplit> {
    let leaking = instances.iter().filter(|i| i.leaking).count();
    let others = instances.len() - leaking;
    if leaking == 0 || others == 0 {
        return Vec::new();
    }
    let mut values: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for i in instances {
        for (k, v) in &i.labels {
            let e = values.entry((k.clone(), v.clone())).or_default();
            if i.leaking {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }
    // A value every instance has, or only one has, separates nothing (instance names).
    values.retain(|_, (a, b)| *a + *b < instances.len() && *a + *b > 1);
    let tried = values.len().max(1) as f64;
    let mut out: Vec<LabelSplit> = values
        .into_iter()
        .map(|((key, value), (a, b))| LabelSplit {
            p: (fisher_two_sided(a, leaking - a, b, others - b) * tried).min(1.0),
            key,
            value,
            leaking_with: a,
            leaking,
            others_with: b,
            others,
        })
        .filter(|s| s.p < alpha)
        .collect();
    // With two values of a label, each is as surprising as the other (the same table
    // mirrored); the value the leakers have says more than the one they lack.
    out.sort_by(|a, b| {
        a.p.total_cmp(&b.p)
            .then(b.enrichment().total_cmp(&a.enrichment()))
    });
    out
}

impl LabelSplit {
    /// Share of leaking instances with the value minus share of the others with it: positive
    /// when the value marks the leakers, negative when it marks the clean ones.
    pub fn enrichment(&self) -> f64 {
        self.leaking_with as f64 / self.leaking.max(1) as f64
            - self.others_with as f64 / self.others.max(1) as f64
    }
}

/// Whether some label could separate leaking from other instances at level `alpha`: both
/// kinds exist and a perfect split would be surprising enough. With 1 leaking instance of 2,
/// even a label only it has happens half the time by chance, and "no label separates them"
/// would say nothing.
pub fn separable(instances: &[Instance], alpha: f64) -> bool {
    let leaking = instances.iter().filter(|i| i.leaking).count();
    let others = instances.len() - leaking;
    leaking > 0 && others > 0 && fisher_two_sided(leaking, 0, 0, others) < alpha
}

/// Fisher's exact test of the 2x2 table [[a, b], [c, d]] (rows: leaking, other; columns: has
/// the value, has not), two-sided: the probability of tables at most as likely as this one.
pub fn fisher_two_sided(a: usize, b: usize, c: usize, d: usize) -> f64 {
    let (r1, c1, n) = (a + b, a + c, a + b + c + d);
    let ln_choose = |n: usize, k: usize| {
        ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
    };
    // P(X = x) for X ~ hypergeometric(n, c1 successes, r1 draws).
    let p = |x: usize| (ln_choose(c1, x) + ln_choose(n - c1, r1 - x) - ln_choose(n, r1)).exp();
    let observed = p(a);
    let lo = r1.saturating_sub(n - c1);
    let hi = r1.min(c1);
    (lo..=hi)
        .map(p)
        .filter(|&q| q <= observed * (1.0 + 1e-7))
        .sum::<f64>()
        .min(1.0)
}

/// Mean leak rate of one group of instances.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupRate {
    /// The label value that defines the group.
    pub value: String,
    /// Instances in it.
    pub instances: usize,
    /// Leaking instances in it.
    pub leaking: usize,
    /// Mean rate, bytes/day.
    pub rate: f64,
    /// Standard error of the mean: the spread across instances, or the instances' own
    /// standard errors when there is one instance or no spread.
    pub se: f64,
    /// 95% interval of the mean (Student's t on the instances, normal for one instance).
    pub ci95: (f64, f64),
}

impl GroupRate {
    /// Whether the group's mean rate is above zero with 95% confidence: only then is it a
    /// base for ratios (a ratio to a rate that may be zero is unbounded).
    pub fn grows(&self) -> bool {
        self.ci95.0 > 0.0
    }
}

/// Instances grouped by the value of label `key` (those without it are left out), with each
/// group's mean rate.
pub fn group_rates(instances: &[Instance], key: &str) -> Vec<GroupRate> {
    let mut groups: BTreeMap<String, Vec<&Instance>> = BTreeMap::new();
    for i in instances {
        if let Some(v) = i.labels.get(key) {
            groups.entry(v.clone()).or_default().push(i);
        }
    }
    groups
        .into_iter()
        .map(|(value, members)| {
            let n = members.len() as f64;
            let mean = members.iter().map(|i| i.rate).sum::<f64>() / n;
            let spread = if members.len() > 1 {
                (members.iter().map(|i| (i.rate - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
                    / n.sqrt()
            } else {
                0.0
            };
            let own = (members.iter().map(|i| i.rate_se.powi(2)).sum::<f64>()).sqrt() / n;
            let se = spread.max(own);
            let q = if members.len() > 1 {
                t_quantile(0.975, n - 1.0)
            } else {
                1.959964
            };
            GroupRate {
                value,
                instances: members.len(),
                leaking: members.iter().filter(|i| i.leaking).count(),
                rate: mean,
                se,
                ci95: (mean - q * se, mean + q * se),
            }
        })
        .collect()
}

/// Each growing group against the slowest growing one (see [`GroupRate::grows`]): how many
/// times faster it leaks, with a 95% interval; `None` for a group that does not grow (in a
/// mixed fleet the clean version's mean is zero give or take its noise, and a ratio to it
/// would be anything from tiny to infinite).
pub fn group_ratios(groups: &[GroupRate]) -> Vec<(String, Option<RateRatio>)> {
    let base = groups
        .iter()
        .filter(|g| g.grows())
        .min_by(|a, b| a.rate.total_cmp(&b.rate));
    groups
        .iter()
        .map(|g| {
            let r = base
                .filter(|_| g.grows())
                .and_then(|b| crate::attribution::rate_ratio(b.rate, b.se, g.rate, g.se));
            (g.value.clone(), r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 24 instances: 8 on version 2.3.1 leak 4 B per request, 16 on 2.3.0 are flat; request
    /// rates vary by instance; zones are spread evenly over both.
    fn fleet() -> Vec<Instance> {
        (0..24)
            .map(|k| {
                let leaking = k < 8;
                let events = 1e6 * (1.0 + (k % 5) as f64);
                let noise = ((k * 7919) % 11) as f64 - 5.0;
                let rate = if leaking { 4.0 * events } else { 0.0 } + noise * 1e4;
                let labels = BTreeMap::from([
                    ("instance".to_string(), format!("api-{k}")),
                    (
                        "version".to_string(),
                        if leaking { "2.3.1" } else { "2.3.0" }.to_string(),
                    ),
                    ("zone".to_string(), format!("z{}", k % 3)),
                ]);
                Instance {
                    leaking,
                    rate,
                    rate_se: 5e4,
                    upper: rate + 1e5,
                    tolerance: 2e6,
                    events_per_day: Some(events),
                    labels,
                }
            })
            .collect()
    }

    #[test]
    fn bytes_per_event_come_from_the_leakers_and_the_others_are_flat() {
        let f = fleet();
        let m = mixed_attribution(&f).unwrap();
        assert_eq!((m.leaking, m.others), (8, 16));
        assert!((m.bytes_per_event - 4.0).abs() < 0.1, "{m:?}");
        assert!(m.bytes_per_event_ci95.0 < 4.0 && 4.0 < m.bytes_per_event_ci95.1);
        assert!(m.others_flat_p > 0.05, "{m:?}");
        assert_eq!(
            others_within(&f),
            Some(Within {
                within: 16,
                others: 16
            })
        );
        assert_eq!(others_flat_p(&f), Some(m.others_flat_p));
        // Others that grow, if slowly, do not fit zero.
        let mut creeping = f.clone();
        for i in creeping.iter_mut().filter(|i| !i.leaking) {
            i.rate += 1.5e5;
        }
        assert!(others_flat_p(&creeping).unwrap() < 1e-6);
        // ... and are still within their tolerance: a bounded pattern's creep is no leak.
        for i in creeping.iter_mut().filter(|i| !i.leaking) {
            i.upper = i.rate + 1e5;
        }
        assert_eq!(others_within(&creeping).unwrap().within, 16);
        creeping[23].upper = 3e6;
        assert_eq!(others_within(&creeping).unwrap().within, 15);
        // Versus one regression over everyone, which dilutes it.
        let all: Vec<(f64, f64)> = f
            .iter()
            .map(|i| (i.rate, i.events_per_day.unwrap()))
            .collect();
        let diluted = crate::attribution::fleet_attribution("r", &all).unwrap();
        assert!(diluted.bytes_per_event < 2.5, "{diluted:?}");
    }

    #[test]
    fn the_version_separates_the_leakers_and_the_zone_does_not() {
        let splits = separating_labels(&fleet(), 0.01);
        assert_eq!(splits[0].key, "version");
        assert_eq!(
            splits[0].value, "2.3.1",
            "the leakers' value first: {splits:?}"
        );
        assert_eq!((splits[0].leaking_with, splits[0].others_with), (8, 0));
        assert!(splits[1].enrichment() < 0.0, "then the value they lack");
        assert!(splits.iter().all(|s| s.key == "version"), "{splits:?}");
        let s = &splits[0];
        assert!(s.p < 1e-4, "{s:?}");
        // No label separates a fleet whose leakers are spread over every value.
        let mut mixed = fleet();
        for (k, i) in mixed.iter_mut().enumerate() {
            i.labels
                .insert("version".into(), if k % 2 == 0 { "a" } else { "b" }.into());
        }
        assert!(separating_labels(&mixed, 0.01).is_empty());
        assert!(separable(&mixed, 0.01));
        // 2 of 5 leak: a perfect split has p 0.1, so no label could pass.
        assert!(!separable(&mixed[6..11], 0.01));
        assert!(!separable(&mixed[8..], 0.01), "none leaks");
    }

    #[test]
    fn fisher_matches_scipy() {
        // python3 -c "from scipy.stats import fisher_exact as f;
        //   print(f([[8,0],[0,16]]).pvalue, f([[3,1],[1,3]]).pvalue, f([[5,3],[2,14]]).pvalue)"
        // (scipy 1.17.1): 1.3596729170830664e-06 0.48571428571428565 0.020733652312599677
        for ((a, b, c, d), p) in [
            ((8, 0, 0, 16), 1.3596729170830664e-06),
            ((3, 1, 1, 3), 0.48571428571428565),
            ((5, 3, 2, 14), 0.020733652312599677),
        ] {
            let got = fisher_two_sided(a, b, c, d);
            assert!((got / p - 1.0).abs() < 1e-9, "{got} vs {p}");
        }
    }

    #[test]
    fn groups_compare_like_runs() {
        let g = group_rates(&fleet(), "version");
        assert_eq!(g.len(), 2);
        assert!(!g[0].grows() && g[0].ci95.0 < 0.0, "2.3.0 is flat: {g:?}");
        assert!(g[1].grows(), "{g:?}");
        let ratios = group_ratios(&g);
        assert_eq!(
            ratios[0],
            ("2.3.0".to_string(), None),
            "no ratio to a flat group"
        );
        let (value, r) = &ratios[1];
        assert_eq!(value, "2.3.1");
        assert!(
            (r.as_ref().unwrap().ratio - 1.0).abs() < 1e-12,
            "the base itself"
        );

        // Two versions that both leak, one on instances with twice the requests: the A/B of
        // the seed, "twice the requests, twice the leak", across groups.
        let mut two = fleet();
        for (k, i) in two.iter_mut().enumerate() {
            let fast = k % 2 == 0;
            let events = 1e6 * if fast { 2.0 } else { 1.0 } * (1.0 + 0.05 * (k % 3) as f64);
            i.leaking = true;
            i.events_per_day = Some(events);
            i.rate = 4.0 * events + ((k * 7919) % 11) as f64 * 1e4;
            i.labels
                .insert("version".into(), if fast { "b" } else { "a" }.into());
        }
        let ratios = group_ratios(&group_rates(&two, "version"));
        let r = ratios[1].1.as_ref().unwrap();
        assert_eq!(ratios[1].0, "b");
        assert!((r.ratio - 2.0).abs() < 0.1 && r.ci95.0 > 1.5, "{r:?}");
    }
}
