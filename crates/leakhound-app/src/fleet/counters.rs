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

/// (leak rate per day, events per day) of every judged series with a rate whose counter is
/// found: the counter series with the same distinguishing labels.
pub(super) fn leak_and_event_rates(
    series: &[FleetSeries],
    counters: &[PromSeries],
    keys: &[String],
) -> Vec<(f64, f64)> {
    series
        .iter()
        .filter_map(|j| {
            let rate = j.finding.rate_per_day?;
            let c = counters
                .iter()
                .find(|c| keys.iter().all(|k| c.labels.get(k) == j.labels.get(k)))?;
            let span = c.t.last()? - c.t.first()?;
            let events = c.v.last()? - c.v.first()?;
            (span > 0.0).then(|| (rate, events / span * 86400.0))
        })
        .collect()
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
        let points = leak_and_event_rates(&fleet, &counters, &keys);
        assert_eq!(points.len(), 2, "b has no counter");
        assert!(
            (points[0].0 - 2e7).abs() < 1e6 && (points[0].1 - 1e5).abs() < 1e-6,
            "{points:?}"
        );
        assert!(
            (points[1].0 - 6e7).abs() < 1e6 && (points[1].1 - 3e5).abs() < 1e-6,
            "{points:?}"
        );
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
