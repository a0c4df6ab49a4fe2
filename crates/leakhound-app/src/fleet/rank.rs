//! Judging one fleet series and ranking them all.

use leakhound_analysis::{analyze, Verdict};
use leakhound_net::prom::PromSeries;

use super::FleetSeries;
use crate::policy::Policy;

/// Judges a fetched series as memory under `policy`; `None` for one with under two samples or
/// that cannot be analysed.
pub(super) fn judge_series(s: PromSeries, policy: &Policy) -> Option<FleetSeries> {
    if s.t.len() < 2 {
        return None;
    }
    let cfg = policy.config(&s.v, true, None, &[]);
    let finding = analyze(&s.t, &s.v, &cfg).ok()?;
    Some(FleetSeries {
        labels: s.labels,
        finding,
    })
}

/// Worst first: leaks by rate, then inconclusive, then the rest.
pub fn rank(series: &mut [FleetSeries]) {
    let order = |j: &FleetSeries| match j.finding.verdict {
        Verdict::Leak => 0,
        Verdict::Inconclusive => 1,
        Verdict::NoLeak => 2,
    };
    series.sort_by(|a, b| {
        order(a).cmp(&order(b)).then(
            b.finding
                .rate_per_day
                .unwrap_or(0.0)
                .total_cmp(&a.finding.rate_per_day.unwrap_or(0.0)),
        )
    });
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A day at 60 s on 300 MB growing `rate` bytes/day, with noise.
    pub(in crate::fleet) fn series(instance: &str, rate: f64, samples: usize) -> PromSeries {
        let t: Vec<f64> = (0..samples).map(|i| 1.7e9 + i as f64 * 60.0).collect();
        let v = t
            .iter()
            .enumerate()
            .map(|(i, t)| 3e8 + rate * (t - 1.7e9) / 86400.0 + ((i * 7919) % 13) as f64 * 1e5)
            .collect();
        PromSeries {
            labels: BTreeMap::from([
                (
                    "__name__".to_string(),
                    "process_resident_memory_bytes".to_string(),
                ),
                ("instance".to_string(), instance.to_string()),
            ]),
            t,
            v,
        }
    }

    #[test]
    fn leaks_first_by_rate_then_the_rest() {
        let policy = Policy {
            tolerance: Some(2e6),
            ..Policy::default()
        };
        let mut judged: Vec<FleetSeries> = [("flat", 0.0), ("slow", 5e7), ("fast", 5e8)]
            .iter()
            .filter_map(|(name, rate)| judge_series(series(name, *rate, 1440), &policy))
            .collect();
        rank(&mut judged);
        let order: Vec<&str> = judged
            .iter()
            .map(|j| j.labels["instance"].as_str())
            .collect();
        assert_eq!(order, ["fast", "slow", "flat"]);
        assert_eq!(judged[0].finding.verdict, Verdict::Leak);
        assert_eq!(
            judged[0].finding.tolerance_per_day, 2e6,
            "the policy's tolerance"
        );
        assert!(
            judge_series(series("one", 0.0, 1), &policy).is_none(),
            "one sample is not a series"
        );
    }
}
