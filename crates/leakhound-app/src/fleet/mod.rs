//! `fleet`: every series a selector matches in a Prometheus-compatible TSDB, judged in
//! parallel ([`fetch`]), ranked worst first ([`rank`]), and with a counter per instance, leak
//! rates related to event rates across the fleet ([`counters`]).

mod counters;
mod fetch;
mod rank;

use std::collections::BTreeMap;
use std::time::Instant;

use leakhound_analysis::{fleet_attribution, Attribution, Finding, Verdict};
use leakhound_net::prom::PromClient;
use leakhound_report::units::format_duration;
use leakhound_report::{FleetOutput, FleetRow};

use crate::error::user;
use crate::policy::Policy;
use crate::traffic::runtime;

pub use counters::{distinguishing, short_name};
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
    /// Leak rate against event rate across instances.
    pub attribution: Option<Attribution>,
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
        }
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Lists the series, then fetches and judges them on both cores, so the fleet never sits in
/// memory at once; ranks them and relates them to the counter.
pub fn fleet(q: &FleetQuery) -> anyhow::Result<Fleet> {
    let end = now();
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
    let attribution = match &q.counter {
        Some(cq) => {
            let counters = rt
                .block_on(q.client.query_range(cq, start, end, q.step))
                .map_err(|e| user(format!("--counter {cq:?}: {e}")))?;
            fleet_attribution(
                cq,
                &counters::leak_and_event_rates(&series, &counters, &keys),
            )
        }
        None => None,
    };
    let names = series
        .iter()
        .map(|j| short_name(&j.labels, &keys))
        .collect();
    Ok(Fleet {
        query: q.query.clone(),
        series,
        names,
        attribution,
        errors: fetched.errors,
        fetch_seconds: fetched.fetch_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}
