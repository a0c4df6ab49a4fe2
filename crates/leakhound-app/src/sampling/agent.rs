//! Runtime agents in a target's processes (Node.js, Python): their gauges (heap, buffers,
//! handles; traced bytes, GC generations) summed over the processes reporting now, and their counters (requests, GC, app
//! events) summed over every process the target ever had, so a restart does not reset them:
//! the processes reporting now, plus a base that each exited process's last counts join
//! before the listener forgets it.

use leakhound_probe::agent::{gauges, runtime_gauges, AgentListener};
use leakhound_probe::ProcInfo;
use leakhound_store::SeriesKind;

use super::catalog::SeriesSpec;
use super::series::agent_gauge_unit;
use super::source::{Readings, MAX_SOURCE_SERIES};
use super::target::{Target, MAX_COUNTER_NAMES};
use crate::kinds::unit_of_name;
use crate::kinds::Unit;

/// Reads what the agents of `procs` (the processes of `target` now) reported.
pub(crate) fn read_agents(
    agent: &AgentListener,
    target: &mut Target,
    procs: &[ProcInfo],
    out: &mut Readings<'_>,
) {
    let pids: Vec<i32> = procs.iter().map(|p| p.key.pid).collect();
    for gone in target.agent_pids_now(&pids) {
        if let Some(last) = agent.last_counters(gone) {
            target.fold_counters(&last);
        }
    }
    if target.counters_left_out() > 0 {
        out.warn(format!(
            "{}: agents of exited processes counted under more than {MAX_COUNTER_NAMES} names; the counts of the rest are left out",
            target.label()
        ));
    }
    let labels = target.labels();
    let reports = agent.latest(&pids);
    if !reports.is_empty() {
        let refs: Vec<&_> = reports.iter().collect();
        for (name, v) in gauges(&refs) {
            let spec = SeriesSpec {
                name,
                labels,
                kind: SeriesKind::Gauge,
                unit: agent_gauge_unit(name),
            };
            if out.record(&spec, v).is_err() {
                full(out, target.label());
                return;
            }
        }
    }
    let others = agent.latest_runtime(&pids);
    for (name, v) in runtime_gauges(&others) {
        let spec = SeriesSpec {
            name: &name,
            labels,
            kind: SeriesKind::Gauge,
            unit: unit_of_name(&name),
        };
        if out.record(&spec, v).is_err() {
            full(out, target.label());
            return;
        }
    }
    let mut counters = target.counter_base().clone();
    let node = reports.iter().map(|r| &r.counters);
    for (name, v) in node.chain(others.iter().map(|r| &r.counters)).flatten() {
        *counters.entry(name.clone()).or_insert(0.0) += v;
    }
    for (name, v) in counters {
        let spec = SeriesSpec {
            name: &name,
            labels,
            kind: SeriesKind::Counter,
            unit: Unit::Count,
        };
        if out.record(&spec, v).is_err() {
            full(out, target.label());
            return;
        }
    }
}

fn full(out: &mut Readings<'_>, label: &str) {
    out.warn(format!(
        "agents of {label}: more than {MAX_SOURCE_SERIES} series; the rest are skipped"
    ));
}
