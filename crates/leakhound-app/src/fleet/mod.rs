//! `fleet`: every series a selector matches in a Prometheus-compatible TSDB, judged in
//! parallel ([`fetch`]), ranked worst first ([`rank`]); with a counter per instance
//! ([`counters`]), leak rates related to event rates among the instances that leak; and what
//! separates the leakers from the rest ([`leakers`]).

mod counters;
mod fetch;
mod leakers;
mod rank;

use std::collections::BTreeMap;
use std::time::Instant;

use leakhound_analysis::{fleet_attribution, Attribution, Finding, Verdict};
use leakhound_report::fleet::{Flatness, FleetGroups};
use leakhound_report::units::format_duration;
use leakhound_report::{FleetOutput, FleetRow};

use crate::error::user;
use crate::policy::Policy;
use crate::traffic::runtime;

pub use counters::{distinguishing, short_name};
pub use leakers::{Groups, Leakers};
/// The Prometheus-compatible API a fleet is read from.
pub use leakhound_net::prom::PromClient;
pub use rank::rank;

/// What to analyse.
pub struct FleetQuery {
    /// The TSDB.
    pub client: PromClient,
    /// Series selector.
    pub query: String,
    /// How far back, seconds.
    pub range: f64,
    /// Resolution, seconds.
    pub step: f64,
    /// A counter per instance to relate leak rates to.
    pub counter: Option<String>,
    /// A label to group instances by and compare the groups' leak rates.
    pub group_by: Option<String>,
    /// How each series is judged (all are memory).
    pub policy: Policy,
}

/// One judged series (its samples dropped once analysed).
#[derive(Debug, Clone)]
pub struct FleetSeries {
    /// Its labels, `__name__` included when the TSDB gives it.
    pub labels: BTreeMap<String, String>,
    /// Its verdict.
    pub finding: Finding,
}

/// The judged fleet.
#[derive(Debug)]
pub struct Fleet {
    /// The selector.
    pub query: String,
    /// Series, worst first.
    pub series: Vec<FleetSeries>,
    /// Short names of the series: the labels that tell them apart.
    pub names: Vec<String>,
    /// The counter query, when given.
    pub counter: Option<String>,
    /// Leak rate against event rate across all instances, leaking or not (diluted in a mixed
    /// fleet: kept for the JSON's `attribution`, which has always meant this).
    pub attribution: Option<Attribution>,
    /// The leakers: how many, bytes per event among them, what separates them, groups.
    pub leakers: Leakers,
    /// Requests that failed while others succeeded.
    pub errors: Vec<String>,
    /// Seconds spent fetching, summed over requests.
    pub fetch_seconds: f64,
    /// Seconds from the first fetch to the ranking, wall time.
    pub wall_seconds: f64,
}

impl Fleet {
    /// Whether any series leaks.
    pub fn any_leak(&self) -> bool {
        self.series
            .iter()
            .any(|j| j.finding.verdict == Verdict::Leak)
    }

    /// The output model.
    pub fn output(&self) -> FleetOutput<'_> {
        FleetOutput {
            query: &self.query,
            rows: self
                .series
                .iter()
                .zip(&self.names)
                .map(|(j, name)| FleetRow {
                    instance: name,
                    labels: &j.labels,
                    finding: &j.finding,
                })
                .collect(),
            attribution: self.attribution.as_ref(),
            counter: self.counter.as_deref(),
            leakers: self.leakers.attribution.as_ref(),
            others_flat: self.leakers.others_flat_p.map(|p| Flatness {
                p,
                flat: p >= leakers::FLAT,
            }),
            others_within: self.leakers.others_within,
            separating: self.leakers.separating.as_deref(),
            separation_level: leakers::SEPARATES,
            groups: self.leakers.groups.as_ref().map(|g| FleetGroups {
                label: &g.label,
                rates: &g.rates,
                ratios: &g.ratios,
            }),
        }
    }
}

/// Lists the series, then fetches and judges them on both cores, so the fleet never sits in
/// memory at once; ranks them, relates the leakers to the counter and to the labels.
pub fn fleet(q: &FleetQuery) -> anyhow::Result<Fleet> {
    let end = leakhound_time::unix_now();
    let start = end - q.range;
    let rt = runtime()?;
    let label_sets = rt
        .block_on(q.client.series(&q.query, start, end))
        .map_err(|e| user(format!("--query {:?}: {e}", q.query)))?;
    if label_sets.is_empty() {
        return Err(user(format!(
            "--query {:?} matches no series in the last {}",
            q.query,
            format_duration(q.range)
        )));
    }
    if let Some(label) = &q.group_by {
        check_label(label, &label_sets)?;
    }
    let started = Instant::now();
    let span = fetch::Span {
        start,
        end,
        step: q.step,
    };
    let fetched = fetch::fetch_and_judge(&rt, &q.client, &label_sets, span, &q.policy);
    if let Some(first) = fetched.errors.first() {
        if fetched.series.is_empty() {
            return Err(user(first.clone()));
        }
        eprintln!(
            "leakhound: warning: {} series could not be fetched; first: {first}",
            fetched.errors.len()
        );
    }
    let mut series = fetched.series;
    rank(&mut series);
    let keys = distinguishing(&series);
    let events = match &q.counter {
        Some(cq) => {
            let counters = rt
                .block_on(q.client.query_range(cq, start, end, q.step))
                .map_err(|e| user(format!("--counter {cq:?}: {e}")))?;
            counters::event_rates(&series, &counters, &keys)
        }
        None => vec![None; series.len()],
    };
    let attribution = q.counter.as_deref().and_then(|cq| {
        let points: Vec<(f64, f64)> = series
            .iter()
            .zip(&events)
            .filter_map(|(j, e)| Some((j.finding.rate_per_day?, (*e)?)))
            .collect();
        fleet_attribution(cq, &points)
    });
    let group_by = q.group_by.as_deref();
    let leakers = leakers::leakers(&leakers::instances(&series, &events, group_by), group_by);
    let names = series
        .iter()
        .map(|j| short_name(&j.labels, &keys))
        .collect();
    Ok(Fleet {
        query: q.query.clone(),
        series,
        names,
        counter: q.counter.clone(),
        attribution,
        leakers,
        errors: fetched.errors,
        fetch_seconds: fetched.fetch_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

/// `--group-by LABEL` must name a label some series carries; the error lists those they do.
fn check_label(label: &str, label_sets: &[BTreeMap<String, String>]) -> anyhow::Result<()> {
    if label_sets.iter().any(|l| l.contains_key(label)) {
        return Ok(());
    }
    let mut present: Vec<&str> = label_sets
        .iter()
        .flat_map(|l| l.keys().map(String::as_str))
        .filter(|k| *k != "__name__")
        .collect();
    present.sort_unstable();
    present.dedup();
    Err(user(format!(
        "--group-by {label:?}: no series has this label; they have: {}",
        if present.is_empty() {
            "no labels".to_string()
        } else {
            present.join(", ")
        }
    )))
}
