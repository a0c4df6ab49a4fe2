//! A fleet that is partly leaking: the judged series as instances of the fleet analysis
//! (leaking or not, rate, event rate, labels), and what they say together: bytes per event
//! among the leakers, whether the others are flat, which labels separate the two, and groups
//! by a label.

use std::collections::{BTreeMap, BTreeSet};

use leakhound_analysis::fleet::{
    group_rates, group_ratios, mixed_attribution, others_flat_p, others_within, separable,
    separating_labels, GroupRate, Instance, LabelSplit, MixedAttribution, Within,
};
use leakhound_analysis::{RateRatio, Verdict};

use super::FleetSeries;

/// Adjusted p-value below which a label value is said to separate the leakers.
pub const SEPARATES: f64 = 0.01;

/// p-value at or above which the instances that do not leak are said to be flat.
pub const FLAT: f64 = 0.05;

/// Leak rates of a fleet's instances grouped by one label, compared like `compare` does.
#[derive(Debug, Clone)]
pub struct Groups {
    /// The label.
    pub label: String,
    /// Each value's instances and mean rate.
    pub rates: Vec<GroupRate>,
    /// Each value's ratio to the slowest growing group (aligned with `rates`).
    pub ratios: Vec<Option<RateRatio>>,
}

/// What the fleet's instances say together.
#[derive(Debug, Clone, Default)]
pub struct Leakers {
    /// Instances with a rate.
    pub instances: usize,
    /// Those that leak.
    pub leaking: usize,
    /// Bytes per event among the leakers (with a counter).
    pub attribution: Option<MixedAttribution>,
    /// p-value of "the others do not grow" (`None` when all leak).
    pub others_flat_p: Option<f64>,
    /// How many of the others are known to be within their tolerance (`None` when all leak).
    pub others_within: Option<Within>,
    /// Label values that separate leaking from other instances, most surprising first; empty
    /// when none does; `None` when not both kinds exist or too few instances for any label to
    /// separate them with confidence.
    pub separating: Option<Vec<LabelSplit>>,
    /// `--group-by`.
    pub groups: Option<Groups>,
}

/// The judged series with a rate as instances. `events` is aligned with `series`. Labels are
/// every label but `__name__` and those whose every value belongs to one instance alone
/// (`instance`, `pod`): those name instances, they do not describe them; unless it is `keep`,
/// the label asked to group by (a `node` label is unique in a fleet of one instance per node).
pub(super) fn instances(
    series: &[FleetSeries],
    events: &[Option<f64>],
    keep: Option<&str>,
) -> Vec<Instance> {
    let mut values: BTreeMap<&str, (usize, BTreeSet<&str>)> = BTreeMap::new();
    for s in series {
        for (k, v) in &s.labels {
            let e = values.entry(k).or_default();
            e.0 += 1;
            e.1.insert(v);
        }
    }
    let naming: BTreeSet<&str> = values
        .iter()
        .filter(|(k, (n, distinct))| {
            Some(**k) != keep && (**k == "__name__" || (*n > 1 && distinct.len() == *n))
        })
        .map(|(k, _)| *k)
        .collect();
    series
        .iter()
        .zip(events)
        .filter_map(|(s, events)| {
            let f = &s.finding;
            let rate = f.rate_per_day.filter(|r| r.is_finite())?;
            // The interval may be wider than ±1.96 se (small samples, an unseen cycle): the
            // honest standard error is the wider of the two.
            let from_ci = f
                .rate_ci_per_day
                .map_or(0.0, |(lo, hi)| (hi - lo) / (2.0 * 1.959964));
            let rate_se = f.rate_se_per_day.unwrap_or(0.0).max(from_ci);
            Some(Instance {
                leaking: f.verdict == Verdict::Leak,
                rate,
                rate_se,
                upper: f.rate_ci_per_day.map_or(f64::INFINITY, |(_, hi)| hi),
                tolerance: f.tolerance_per_day,
                events_per_day: *events,
                labels: s
                    .labels
                    .iter()
                    .filter(|(k, _)| !naming.contains(k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })
        })
        .collect()
}

/// The fleet analysis of `instances`; groups by `group_by` when given.
pub(super) fn leakers(instances: &[Instance], group_by: Option<&str>) -> Leakers {
    let groups = group_by.map(|label| {
        let rates = group_rates(instances, label);
        let ratios = group_ratios(&rates).into_iter().map(|(_, r)| r).collect();
        Groups {
            label: label.to_string(),
            rates,
            ratios,
        }
    });
    Leakers {
        instances: instances.len(),
        leaking: instances.iter().filter(|i| i.leaking).count(),
        attribution: mixed_attribution(instances),
        others_flat_p: others_flat_p(instances),
        others_within: others_within(instances),
        separating: separable(instances, SEPARATES)
            .then(|| separating_labels(instances, SEPARATES)),
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::rank::{judge_series, tests::series};
    use crate::policy::Policy;

    /// A day at 60 s of one instance growing `rate` bytes/day, with noise, judged.
    fn judged(instance: usize, version: &str, rate: f64) -> FleetSeries {
        let mut s = series(&format!("api-{instance}"), rate, 1440);
        s.labels.insert("job".into(), "api".into());
        s.labels.insert("version".into(), version.into());
        let policy = Policy {
            tolerance: Some(2e6),
            ..Policy::default()
        };
        judge_series(s, &policy).unwrap()
    }

    /// 12 instances; the 4 on 2.3.1 keep 5 bytes per request, at 1 to 4 million requests a day.
    fn fleet() -> (Vec<FleetSeries>, Vec<Option<f64>>) {
        let events: Vec<Option<f64>> = (0..12).map(|k| Some(1e6 * (1 + k % 4) as f64)).collect();
        let series = (0..12)
            .map(|k| {
                let leaks = k % 3 == 0;
                let version = if leaks { "2.3.1" } else { "2.3.0" };
                judged(
                    k,
                    version,
                    if leaks { 5.0 * events[k].unwrap() } else { 0.0 },
                )
            })
            .collect();
        (series, events)
    }

    #[test]
    fn instances_are_described_by_the_labels_they_share_not_their_names() {
        let (series, events) = fleet();
        let inst = instances(&series, &events, None);
        assert_eq!(inst.len(), 12);
        let keys: Vec<&String> = inst[0].labels.keys().collect();
        assert_eq!(keys, ["job", "version"], "__name__ and instance dropped");
        let inst = instances(&series, &events, Some("instance"));
        assert!(inst[0].labels.contains_key("instance"), "unless grouped by");
        assert!(inst[0].leaking && !inst[1].leaking);
        assert!(inst.iter().all(|i| i.rate_se > 0.0));
    }

    #[test]
    fn the_leakers_bytes_per_event_and_their_version() {
        let (series, events) = fleet();
        let l = leakers(&instances(&series, &events, None), Some("version"));
        assert_eq!((l.instances, l.leaking), (12, 4));
        let a = l.attribution.clone().unwrap();
        assert!((a.bytes_per_event / 5.0 - 1.0).abs() < 0.05, "{a:?}");
        assert!(l.others_flat_p.unwrap() > 0.01, "{l:?}");
        let w = l.others_within.unwrap();
        assert_eq!(
            (w.within, w.others),
            (8, 8),
            "a day at 60 s shows 0 well below 2 MB/day"
        );
        let s = &l.separating.as_ref().unwrap()[0];
        assert_eq!((s.key.as_str(), s.value.as_str()), ("version", "2.3.1"));
        let g = l.groups.unwrap();
        assert_eq!(g.rates.len(), 2);
        assert!(g.ratios[0].is_none(), "2.3.0 does not grow: {g:?}");
        assert!(g.rates[1].grows());
        // Without a counter: no bytes per event, the rest still holds.
        let l = leakers(&instances(&series, &[None; 12], None), None);
        assert!(l.attribution.is_none() && l.groups.is_none());
        assert_eq!(l.separating.unwrap()[0].value, "2.3.1");
    }
}
