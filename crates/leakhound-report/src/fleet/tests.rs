//! The fleet's outputs on fixed findings.

use super::prose::{p_value, per_event, per_event_range};
use super::*;
use crate::sentence::event_noun;
use crate::testdata::finding;

fn labels(instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "__name__".to_string(),
            "process_resident_memory_bytes".to_string(),
        ),
        ("instance".to_string(), instance.to_string()),
    ])
}

#[test]
fn table_json_and_page_list_the_same_rows() {
    let (leak, flat) = (finding(5e7), finding(0.0));
    let l1 = labels("api-01");
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
        counter: Some("http_requests_total"),
        ..FleetOutput::default()
    };
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], out.headline(), "{text}");
    assert!(
        lines[0].starts_with("1 of 2 instances leaks, 47.7 MiB/day"),
        "{text}"
    );
    assert!(lines[2].starts_with("series") && lines[2].contains("to limit"));
    let cells: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(cells[..2], ["instance=api-01", "leak"], "{text}");
    assert!(lines[4].starts_with("instance=<api-02>"));
    assert!(
        !text.contains("300 B"),
        "the whole-fleet regression stays out of the text: {text}"
    );
    assert!(
        text.contains("among the leakers: too few leaking instances have http_requests_total"),
        "{text}"
    );

    let j: serde_json::Value = serde_json::from_str(&out.json_text()).unwrap();
    assert_eq!(j["headline"], lines[0]);
    assert_eq!(
        (j["instances"].as_u64(), j["leaking"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(j["series"][0]["name"], "process_resident_memory_bytes");
    assert_eq!(
        j["series"][1]["name"], "up",
        "no __name__: the query names it"
    );
    assert!(j["series"][0]["labels"].get("__name__").is_none());
    assert_eq!(j["series"][0]["verdict"], "leak");
    assert_eq!(j["attribution"][0]["bytes_per_event_ci95"][1], 350.0);
    assert!(
        j.get("leakers").is_none() && j.get("groups").is_none(),
        "{j:#}"
    );

    let page = out.html();
    assert_eq!(page.matches("<tr class=").count(), 2);
    assert!(page.contains("&lt;api-02&gt;") && !page.contains("<api-02>"));
    assert!(page.contains("<p class=\"verdict leak\" id=\"verdict\">1 of 2 instances leaks"));
}

/// Three instances leaking about 4 B per request, five flat, the leakers all on 2.3.1.
fn mixed() -> (
    Vec<Finding>,
    Vec<BTreeMap<String, String>>,
    MixedAttribution,
    LabelSplit,
) {
    let findings = (0..8)
        .map(|k| finding(if k < 3 { 4e7 * (k + 1) as f64 } else { 0.0 }))
        .collect();
    let labels = (0..8).map(|k| labels(&format!("api-{k}"))).collect();
    let m = MixedAttribution {
        leaking: 3,
        others: 5,
        bytes_per_event: 4.02,
        bytes_per_event_ci95: (3.9, 4.1),
        explained: 0.99,
        others_flat_p: 0.4,
    };
    let split = LabelSplit {
        key: "version".into(),
        value: "2.3.1".into(),
        leaking_with: 3,
        leaking: 3,
        others_with: 0,
        others: 5,
        p: 0.0179,
    };
    (findings, labels, m, split)
}

fn rows<'a>(f: &'a [Finding], l: &'a [BTreeMap<String, String>]) -> Vec<FleetRow<'a>> {
    f.iter()
        .zip(l)
        .map(|(finding, labels)| FleetRow {
            instance: &labels["instance"],
            labels,
            finding,
        })
        .collect()
}

#[test]
fn a_mixed_fleet_leads_with_the_leakers_bytes_per_event_and_what_separates_them() {
    let (f, l, m, split) = mixed();
    // Its mirror image, as a two-valued label gives it: as surprising, saying nothing more.
    let mirror = LabelSplit {
        value: "2.3.0".into(),
        leaking_with: 0,
        others_with: 5,
        ..split.clone()
    };
    let splits = [split, mirror];
    let out = FleetOutput {
        query: "rss",
        rows: rows(&f, &l),
        counter: Some("http_requests_total{job=\"api\"}"),
        leakers: Some(&m),
        others_flat: Some(Flatness { p: 0.4, flat: true }),
        separation_level: 0.01,
        separating: Some(&splits),
        ..FleetOutput::default()
    };
    assert_eq!(
        out.headline(),
        "3 of 8 instances leak 4.02 B per request (95% CI 3.90 to 4.10 B); the other 5 are flat. \
         All 3 leaking instances have version=2.3.1; none of the 5 others do (Fisher p 0.018)."
    );
    let text = out.text();
    assert!(text.contains("among the leakers: leak rate tracks http_requests_total{job=\"api\"} at 4.02 B/request (95% CI 3.90 to 4.10 B), R² 0.99, over 3 leaking"), "{text}");
    assert!(
        text.contains("the others: 5 fit a rate of zero (χ² p 0.400)"),
        "{text}"
    );
    assert!(
        text.contains("what separates them: all 3 leaking instances have version=2.3.1"),
        "{text}"
    );
    assert!(!text.contains("version=2.3.0"), "{text}");
    let j = out.json();
    let l = j.leakers.as_ref().unwrap();
    assert_eq!((l.instances, l.bytes_per_event), (3, 4.02));
    assert_eq!(j.separating_labels.as_ref().unwrap()[0].value, "2.3.1");
    assert_eq!(j.others_flat_p, Some(0.4));
    let page = out.html();
    assert!(
        page.contains("<dt>what separates them</dt><dd>all 3 leaking"),
        "{page}"
    );

    // Others that grow a little, and no label that separates.
    let out = FleetOutput {
        others_flat: Some(Flatness {
            p: 0.0031,
            flat: false,
        }),
        separation_level: 0.01,
        separating: Some(&[]),
        ..out
    };
    assert!(out.headline().ends_with(
        "; the other 5 are not all flat (p 0.003). No label separates the leaking instances from the others."
    ), "{}", out.headline());
    // ... within the tolerance: a bounded pattern grows a little and does not leak.
    let within = |k: usize| FleetOutput {
        others_within: Some(Within {
            within: k,
            others: 5,
        }),
        ..out.clone()
    };
    assert!(
        within(5)
            .headline()
            .contains("; the other 5 grow a little, within the tolerance (not all flat, p 0.003)."),
        "{}",
        within(5).headline()
    );
    assert!(within(5).text().contains(
        "the others: 5 do not all fit a rate of zero (χ² p 0.003); all are within the tolerance"
    ));
    assert!(within(3)
        .headline()
        .contains("; 3 of them are known to be within the tolerance."));
    assert_eq!(within(3).json().others_within_tolerance, Some(3));
    let flat = FleetOutput {
        others_flat: Some(Flatness { p: 0.4, flat: true }),
        separation_level: 0.01,
        ..within(5)
    };
    assert!(flat
        .headline()
        .contains("; the other 5 are flat, within the tolerance."));
    assert_eq!(
        out.json().separating_labels.unwrap().len(),
        0,
        "present and empty"
    );
}

#[test]
fn groups_compare_like_compare_and_a_flat_group_gets_no_ratio() {
    let group = |value: &str, rate: f64, se: f64| GroupRate {
        value: value.into(),
        instances: 4,
        leaking: if rate > 1e6 { 4 } else { 0 },
        rate,
        se,
        ci95: (rate - 3.0 * se, rate + 3.0 * se),
    };
    let rates = [group("2.3.0", 1e4, 1e5), group("2.3.1", 4e7, 1e6)];
    let ratios = [None, leakhound_analysis::rate_ratio(4e7, 1e6, 4e7, 1e6)];
    let (f, l, _, _) = mixed();
    let out = FleetOutput {
        rows: rows(&f, &l),
        groups: Some(FleetGroups {
            label: "version",
            rates: &rates,
            ratios: &ratios,
        }),
        ..FleetOutput::default()
    };
    let text = out.text();
    assert!(text.contains("by version: only version=2.3.1 grows: 38.1 MiB/day per instance on average (95% CI 35.3 to 41.0 MiB/day); version=2.3.0 does not grow"), "{text}");
    assert!(
        text.contains("  version=2.3.0: 4 instances, 0 leak; mean 9.77 KiB/day"),
        "{text}"
    );
    let j = out.json().groups.unwrap();
    assert_eq!((j.groups[0].grows, j.groups[0].ratio), (false, None));

    let rates = [group("a", 2e7, 5e5), group("b", 4e7, 1e6)];
    let ratios = [
        leakhound_analysis::rate_ratio(2e7, 5e5, 2e7, 5e5),
        leakhound_analysis::rate_ratio(2e7, 5e5, 4e7, 1e6),
    ];
    let out = FleetOutput {
        groups: Some(FleetGroups {
            label: "version",
            rates: &rates,
            ratios: &ratios,
        }),
        ..out
    };
    assert!(
        out.text()
            .contains("by version: version=b leaks 2.00 ± 0.07 times faster than version=a (95% CI 1.87 to 2.14)"),
        "{}",
        out.text()
    );
}

#[test]
fn events_are_named_after_the_counter() {
    for (counter, noun) in [
        ("http_requests_total{job=\"api\"}", "request"),
        ("http_client_request_duration_seconds_count", "duration"),
        ("node.http.client.requests", "request"),
        ("sum(rate(x[5m]))", "event"),
        ("jobs_total", "job"),
    ] {
        assert_eq!(event_noun(counter), noun, "{counter}");
    }
    assert_eq!(per_event(4.0234), "4.02 B");
    assert_eq!(per_event(300.4), "300 B");
    assert_eq!(per_event(5000.0), "4.88 KiB");
    assert_eq!(per_event_range(3.91, 12.2), "3.9 to 12.2 B");
    assert_eq!(p_value(1.3597e-6), "1.4e-6");
}

#[test]
fn a_clean_fleet_says_so() {
    let f = finding(0.0);
    let labels = BTreeMap::new();
    let out = FleetOutput {
        query: "up",
        rows: vec![FleetRow {
            instance: "up",
            labels: &labels,
            finding: &f,
        }],
        ..FleetOutput::default()
    };
    let j: serde_json::Value = serde_json::from_str(&out.json_text()).unwrap();
    assert!(j.get("attribution").is_none(), "{j:#}");
    assert!(j.get("separating_labels").is_none(), "{j:#}");
    assert_eq!(out.headline(), "none of the 1 series leaks");
    assert_eq!(out.text().lines().count(), 4);
}
