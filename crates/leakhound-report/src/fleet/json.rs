//! The fleet as a JSON document.

use leakhound_analysis::fleet::LabelSplit;
use serde::Serialize;

use super::prose::groups_sentence;
use super::FleetOutput;
use crate::json::SeriesJson;

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

/// Bytes per event among the leaking instances, in the JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct LeakersJson {
    /// The counter query.
    pub counter: String,
    /// Leaking instances with a counter: the points of the fit.
    pub instances: usize,
    /// Leak per event.
    pub bytes_per_event: f64,
    /// 95% interval.
    pub bytes_per_event_ci95: [f64; 2],
    /// Share of the leakers' spread of rates their event rates explain (R² through zero).
    pub explained: f64,
}

/// One group of `--group-by`, in the JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct GroupJson {
    /// The label's value.
    pub value: String,
    /// Instances in the group.
    pub instances: usize,
    /// Those that leak.
    pub leaking: usize,
    /// Mean leak rate of its instances.
    pub rate_bytes_per_day: f64,
    /// 95% interval of the mean.
    pub rate_ci95_bytes_per_day: [f64; 2],
    /// Whether the mean is above zero with 95% confidence.
    pub grows: bool,
    /// Times the rate of the slowest growing group (`null` when it does not grow).
    pub ratio: Option<f64>,
    /// 95% interval of the ratio.
    pub ratio_ci95: Option<[f64; 2]>,
}

/// `--group-by`, in the JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct GroupsJson {
    /// The label.
    pub label: String,
    /// One entry per value.
    pub groups: Vec<GroupJson>,
    /// The comparison as a sentence, as in the text.
    pub explanation: String,
}

/// The `fleet --format json` document: the `analyze` contract's `series`, plus what the fleet
/// says together.
#[derive(Debug, Clone, Serialize)]
pub struct FleetJson {
    /// The strongest finding, as the text's first line.
    pub headline: String,
    /// Instances (series) judged.
    pub instances: usize,
    /// Those that leak.
    pub leaking: usize,
    /// One entry per series, worst first.
    pub series: Vec<SeriesJson>,
    /// Leak rate against event rate across all instances, leaking or not: present when
    /// `--counter` was given and enough instances had it. Diluted when only some leak; see
    /// `leakers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<[FleetAttributionJson; 1]>,
    /// Bytes per event among the leaking instances (with `--counter`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leakers: Option<LeakersJson>,
    /// p-value of "the instances that do not leak have a rate of zero" (χ²); absent when all
    /// leak.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub others_flat_p: Option<f64>,
    /// How many of the instances that do not leak are known to grow slower than their
    /// tolerance (the upper end of the rate's interval below it); absent when all leak. A
    /// bounded pattern grows a little without leaking: not flat, and within the tolerance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub others_within_tolerance: Option<usize>,
    /// Label values that separate leaking from other instances (Fisher's exact test,
    /// Bonferroni-adjusted `p` below 0.01), most surprising first; empty when none does;
    /// absent unless some instances leak and some do not, and enough of them for a label to
    /// separate them with confidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub separating_labels: Option<Vec<LabelSplit>>,
    /// `--group-by`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupsJson>,
}

impl FleetOutput<'_> {
    /// The JSON document.
    pub fn json(&self) -> FleetJson {
        let (n, leaking) = self.counts();
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
        let groups = self.groups.as_ref().map(|g| GroupsJson {
            label: g.label.to_string(),
            groups: g
                .rates
                .iter()
                .zip(g.ratios)
                .map(|(r, x)| GroupJson {
                    value: r.value.clone(),
                    instances: r.instances,
                    leaking: r.leaking,
                    rate_bytes_per_day: r.rate,
                    rate_ci95_bytes_per_day: [r.ci95.0, r.ci95.1],
                    grows: r.grows(),
                    ratio: x.as_ref().map(|x| x.ratio),
                    ratio_ci95: x.as_ref().map(|x| [x.ci95.0, x.ci95.1]),
                })
                .collect(),
            explanation: groups_sentence(g),
        });
        FleetJson {
            headline: self.headline(),
            instances: n,
            leaking,
            series,
            attribution: self.attribution.map(|a| {
                [FleetAttributionJson {
                    counter: a.counter.clone(),
                    bytes_per_event: a.bytes_per_event,
                    bytes_per_event_ci95: [a.bytes_per_event_ci95.0, a.bytes_per_event_ci95.1],
                    explained: a.explained,
                }]
            }),
            leakers: self.leakers.zip(self.counter).map(|(m, c)| LeakersJson {
                counter: c.to_string(),
                instances: m.leaking,
                bytes_per_event: m.bytes_per_event,
                bytes_per_event_ci95: [m.bytes_per_event_ci95.0, m.bytes_per_event_ci95.1],
                explained: m.explained,
            }),
            others_flat_p: self.others_flat.map(|f| f.p).filter(|_| leaking < n),
            others_within_tolerance: self.others_within.filter(|_| leaking < n).map(|w| w.within),
            separating_labels: self.separating.map(<[LabelSplit]>::to_vec),
            groups,
        }
    }

    /// The JSON document as printed.
    pub fn json_text(&self) -> String {
        crate::json::sorted_pretty(&self.json())
    }
}
