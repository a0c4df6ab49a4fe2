//! Matching a counter per instance to the judged series (by the labels that tell instances
//! apart) and naming instances by those labels.

use std::collections::BTreeMap;

use leakhound_net::prom::{selector, PromSeries};

use super::FleetSeries;

/// The labels that tell instances apart: those whose values differ between series.
pub fn distinguishing(series: &[FleetSeries]) -> Vec<String> {
    let all: Vec<&BTreeMap<String, String>> = series.iter().map(|s| &s.labels).collect();
    let mut keys: Vec<String> = all.iter().flat_map(|l| l.keys().cloned()).collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| k != "__name__" && all.iter().any(|l| l.get(k) != all[0].get(k)));
    keys
}

/// `instance=api-03,job=api`: the distinguishing labels of a series, or its whole selector
/// when none differ.
pub fn short_name(labels: &BTreeMap<String, String>, keys: &[String]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|k| labels.get(k).map(|v| format!("{k}={v}")))
        .collect();
    if parts.is_empty() {
        selector(labels)
    } else {
        parts.join(",")
    }
}

/// Events per day of each judged series' instance (aligned with `series`): the sum of the
/// counter series that carry the same values of the labels telling instances apart. Only the
/// labels every counter carries are compared, so a counter without `version` still matches by
/// `instance`, and one split further (by `method`, `code`) is summed. `None` where no counter
/// matches, or where one counter would match several instances (it is not theirs alone).
pub(super) fn event_rates(
    series: &[FleetSeries],
    counters: &[PromSeries],
    keys: &[String],
) -> Vec<Option<f64>> {
    let shared: Vec<&String> = keys
        .iter()
        .filter(|k| counters.iter().all(|c| c.labels.contains_key(*k)))
        .collect();
    if shared.is_empty() {
        return vec![None; series.len()];
    }
    let matches = |c: &PromSeries, j: &FleetSeries| {
        shared.iter().all(|k| c.labels.get(*k) == j.labels.get(*k))
    };
    series
        .iter()
        .map(|j| {
            let mine: Vec<&PromSeries> = counters.iter().filter(|c| matches(c, j)).collect();
            if mine.is_empty()
                || mine
                    .iter()
                    .any(|c| series.iter().filter(|o| matches(c, o)).count() > 1)
            {
                return None;
            }
            mine.iter().map(|c| per_day(c)).sum()
        })
        .collect()
}

/// A counter's events per day over its span, counting through resets (a drop is a restart
/// from zero, as Prometheus' `increase` reads it).
fn per_day(c: &PromSeries) -> Option<f64> {
    let span = c.t.last()? - c.t.first()?;
    let events: f64 =
        c.v.windows(2)
            .map(|w| if w[1] >= w[0] { w[1] - w[0] } else { w[1] })
            .sum();
    (span > 0.0).then(|| events / span * 86400.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_analysis::{analyze, Config};

    fn judged(labels: &[(&str, &str)], rate: f64) -> FleetSeries {
        let t: Vec<f64> = (0..600).map(|i| 1.7e9 + i as f64 * 60.0).collect();
        let v: Vec<f64> = t
            .iter()
            .map(|t| 3e8 + rate * (t - 1.7e9) / 86400.0)
            .collect();
        FleetSeries {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            finding: analyze(&t, &v, &Config::with_tolerance(1e6)).unwrap(),
        }
    }

    fn counter(labels: &[(&str, &str)], per_day: f64) -> PromSeries {
        PromSeries {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            t: vec![0.0, 43200.0],
            v: vec![100.0, 100.0 + per_day / 2.0],
        }
    }

    #[test]
    fn instances_are_named_and_matched_by_the_labels_that_differ() {
        let fleet = [
            judged(
                &[("__name__", "rss"), ("job", "api"), ("instance", "a")],
                2e7,
            ),
            judged(
                &[("__name__", "rss"), ("job", "api"), ("instance", "b")],
                4e7,
            ),
            judged(
                &[("__name__", "rss"), ("job", "api"), ("instance", "c")],
                6e7,
            ),
        ];
        let keys = distinguishing(&fleet);
        assert_eq!(keys, ["instance"]);
        assert_eq!(short_name(&fleet[1].labels, &keys), "instance=b");
        let counters = [
            counter(
                &[
                    ("__name__", "requests_total"),
                    ("job", "api"),
                    ("instance", "c"),
                ],
                3e5,
            ),
            counter(
                &[
                    ("__name__", "requests_total"),
                    ("job", "api"),
                    ("instance", "a"),
                ],
                1e5,
            ),
        ];
        let per_day = event_rates(&fleet, &counters, &keys);
        assert_eq!(per_day.len(), 3);
        assert!((per_day[0].unwrap() - 1e5).abs() < 1e-6, "{per_day:?}");
        assert_eq!(per_day[1], None, "b has no counter");
        assert!((per_day[2].unwrap() - 3e5).abs() < 1e-6, "{per_day:?}");
    }

    #[test]
    fn counters_match_by_the_labels_they_carry_sum_their_splits_and_count_through_resets() {
        let rss = |instance: &str, version: &str| {
            judged(
                &[
                    ("__name__", "rss"),
                    ("instance", instance),
                    ("version", version),
                ],
                0.0,
            )
        };
        let fleet = [rss("a", "1"), rss("b", "2")];
        let keys = distinguishing(&fleet);
        assert_eq!(keys, ["instance", "version"]);
        let mut restarted = counter(&[("instance", "b"), ("method", "GET")], 0.0);
        // 100 -> 600, restart, 0 -> 400: 900 events in half a day.
        restarted.t = vec![0.0, 20000.0, 30000.0, 43200.0];
        restarted.v = vec![100.0, 600.0, 0.0, 400.0];
        let counters = [
            counter(&[("instance", "a"), ("method", "GET")], 1e5),
            counter(&[("instance", "a"), ("method", "POST")], 2e4),
            restarted,
        ];
        let per_day = event_rates(&fleet, &counters, &keys);
        assert!((per_day[0].unwrap() - 1.2e5).abs() < 1e-6, "{per_day:?}");
        assert!((per_day[1].unwrap() - 1800.0).abs() < 1e-6, "{per_day:?}");
        // A counter per version, not per instance, is no one instance's.
        let two = [rss("a", "1"), rss("b", "1"), rss("c", "2")];
        let per_version = [
            counter(&[("version", "1")], 1e5),
            counter(&[("version", "2")], 1e5),
        ];
        let per_day = event_rates(&two, &per_version, &distinguishing(&two));
        assert_eq!(per_day, [None, None, Some(1e5)]);
    }

    #[test]
    fn one_series_is_named_by_its_selector() {
        let one = [judged(&[("__name__", "rss"), ("job", "api")], 0.0)];
        let keys = distinguishing(&one);
        assert!(keys.is_empty());
        assert_eq!(
            short_name(&one[0].labels, &keys),
            r#"{__name__="rss",job="api"}"#
        );
    }
}
