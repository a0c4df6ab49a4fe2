//! The output of `fleet`: every series of a TSDB ranked, with bytes per event across the fleet
//! when a counter was given, as a table, JSON, or an HTML page in the report's look.

use std::collections::BTreeMap;

use leakhound_analysis::{Attribution, Finding};
use serde::Serialize;

use crate::json::SeriesJson;
use crate::units::{format_amount, format_duration, format_range};

/// One instance's series.
#[derive(Debug, Clone, Copy)]
pub struct FleetRow<'a> {
    /// Short name: the labels that tell instances apart (`instance=api-03`).
    pub instance: &'a str,
    /// All labels of the series, `__name__` included when the TSDB gave it.
    pub labels: &'a BTreeMap<String, String>,
    /// Its finding.
    pub finding: &'a Finding,
}

/// The ranked fleet.
#[derive(Debug, Clone)]
pub struct FleetOutput<'a> {
    /// The selector the series came from (their name when the TSDB gave none).
    pub query: &'a str,
    /// Series, worst first.
    pub rows: Vec<FleetRow<'a>>,
    /// Leak rate against event rate across instances.
    pub attribution: Option<&'a Attribution>,
}

/// Bytes per event across the fleet, in the JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct FleetAttributionJson {
    /// The counter query.
    pub counter: String,
    /// Leak per event.
    pub bytes_per_event: f64,
    /// 95% interval.
    pub bytes_per_event_ci95: [f64; 2],
    /// Share of the spread of leak rates the event rates explain (R²).
    pub explained: f64,
}

/// The `fleet --format json` document: the `analyze` contract's `series`, plus `attribution`.
#[derive(Debug, Clone, Serialize)]
pub struct FleetJson {
    /// One entry per series, worst first.
    pub series: Vec<SeriesJson>,
    /// Present when `--counter` was given and enough instances had it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<[FleetAttributionJson; 1]>,
}

/// "8.00 MiB (7.50 MiB to 8.50 MiB)", or "-" without a rate.
fn rate_with_interval(f: &Finding) -> String {
    match (f.rate_per_day, f.rate_ci_per_day) {
        (Some(r), Some((lo, hi))) => format!(
            "{} ({})",
            format_amount(r, "bytes"),
            format_range(lo, hi, "bytes")
        ),
        _ => "-".into(),
    }
}

impl FleetOutput<'_> {
    /// A row per series, then the fleet-wide attribution.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{:<40}  {:<12}  {:>30}  {:>12}\n",
            "series", "verdict", "rate/day (95% CI)", "to limit"
        );
        for r in &self.rows {
            let f = r.finding;
            let ttl = f
                .time_to_limit_seconds
                .filter(|s| s.is_finite())
                .map(format_duration)
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "{:<40}  {:<12}  {:>30}  {:>12}\n",
                r.instance,
                f.verdict.as_str(),
                rate_with_interval(f),
                ttl
            ));
        }
        if let Some(a) = self.attribution {
            out.push_str(&format!("\n{}\n", attribution_sentence(a)));
        }
        out
    }

    /// The JSON document.
    pub fn json(&self) -> FleetJson {
        let series = self
            .rows
            .iter()
            .map(|r| {
                let name = r.labels.get("__name__").map_or(self.query, String::as_str);
                let mut s = SeriesJson::new(name, "bytes", r.finding);
                s.labels = r
                    .labels
                    .iter()
                    .filter(|(k, _)| k.as_str() != "__name__")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                s
            })
            .collect();
        FleetJson {
            series,
            attribution: self.attribution.map(|a| {
                [FleetAttributionJson {
                    counter: a.counter.clone(),
                    bytes_per_event: a.bytes_per_event,
                    bytes_per_event_ci95: [a.bytes_per_event_ci95.0, a.bytes_per_event_ci95.1],
                    explained: a.explained,
                }]
            }),
        }
    }

    /// The JSON document as printed.
    pub fn json_text(&self) -> String {
        crate::json::sorted_pretty(&self.json())
    }

    /// The ranking as an HTML page in the report's look.
    pub fn html(&self) -> String {
        let rows: Vec<(&str, &Finding)> =
            self.rows.iter().map(|r| (r.instance, r.finding)).collect();
        let attribution = self.attribution.map(|a| {
            format!(
                "Across the fleet, leak rate tracks {} at {}/event.",
                a.counter,
                format_amount(a.bytes_per_event, "bytes")
            )
        });
        crate::html::fleet_html(self.query, attribution.as_deref(), &rows)
    }
}

/// "across the fleet, leak rate tracks C at 300 B/event (95% CI ...), R² 0.91".
fn attribution_sentence(a: &Attribution) -> String {
    format!(
        "across the fleet, leak rate tracks {} at {}/event (95% CI {}), R² {:.2}",
        a.counter,
        format_amount(a.bytes_per_event, "bytes"),
        format_range(a.bytes_per_event_ci95.0, a.bytes_per_event_ci95.1, "bytes"),
        a.explained
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::finding;

    #[test]
    fn table_json_and_page_list_the_same_rows() {
        let (leak, flat) = (finding(5e7), finding(0.0));
        let l1 = BTreeMap::from([
            (
                "__name__".to_string(),
                "process_resident_memory_bytes".to_string(),
            ),
            ("instance".to_string(), "api-01".to_string()),
        ]);
        let l2 = BTreeMap::from([("instance".to_string(), "<api-02>".to_string())]);
        let attribution = Attribution {
            counter: "http_requests_total".into(),
            bytes_per_event: 300.0,
            bytes_per_event_ci95: (250.0, 350.0),
            explained: 0.9,
            events: 1e6,
            beyond_time: 0.0,
        };
        let out = FleetOutput {
            query: "up",
            rows: vec![
                FleetRow {
                    instance: "instance=api-01",
                    labels: &l1,
                    finding: &leak,
                },
                FleetRow {
                    instance: "instance=<api-02>",
                    labels: &l2,
                    finding: &flat,
                },
            ],
            attribution: Some(&attribution),
        };
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("series") && lines[0].contains("to limit"));
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(cells[..2], ["instance=api-01", "leak"], "{text}");
        assert!(lines[2].starts_with("instance=<api-02>"));
        assert!(
            lines[4].starts_with(
                "across the fleet, leak rate tracks http_requests_total at 300 B/event"
            ),
            "{text}"
        );

        let j: serde_json::Value = serde_json::from_str(&out.json_text()).unwrap();
        assert_eq!(j["series"][0]["name"], "process_resident_memory_bytes");
        assert_eq!(
            j["series"][1]["name"], "up",
            "no __name__: the query names it"
        );
        assert!(j["series"][0]["labels"].get("__name__").is_none());
        assert_eq!(j["series"][0]["verdict"], "leak");
        assert_eq!(j["attribution"][0]["bytes_per_event_ci95"][1], 350.0);

        let page = out.html();
        assert_eq!(page.matches("<tr class=").count(), 2);
        assert!(page.contains("&lt;api-02&gt;") && !page.contains("<api-02>"));
        assert!(page.contains("tracks http_requests_total at 300 B/event"));
    }

    #[test]
    fn no_counter_no_attribution_field() {
        let f = finding(0.0);
        let labels = BTreeMap::new();
        let out = FleetOutput {
            query: "up",
            rows: vec![FleetRow {
                instance: "up",
                labels: &labels,
                finding: &f,
            }],
            attribution: None,
        };
        let j: serde_json::Value = serde_json::from_str(&out.json_text()).unwrap();
        assert!(j.get("attribution").is_none(), "{j:#}");
        assert_eq!(out.text().lines().count(), 2);
    }
}
