//! Runtime agents in a target's processes (Node.js today): their gauges (heap, buffers,
//! handles) summed over the processes reporting now, and their counters (requests, GC, app
//! events) summed over every process the target ever had, so a restart does not reset them.

use leakhound_probe::agent::{gauges, AgentListener};
use leakhound_probe::ProcInfo;
use leakhound_store::SeriesKind;

use super::catalog::SeriesSpec;
use super::series::agent_gauge_unit;
use super::source::Readings;
use super::target::Target;
use crate::kinds::Unit;

/// Reads what the agents of `procs` (the processes of `target` now) reported.
pub(crate) fn read_agents(
    agent: &AgentListener,
    target: &mut Target,
    procs: &[ProcInfo],
    out: &mut Readings<'_>,
) {
    let pids: Vec<i32> = procs.iter().map(|p| p.key.pid).collect();
    target.saw(&pids);
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
            // The targets' catalog has no bound.
            let _ = out.record(&spec, v);
        }
    }
    for (name, v) in agent.counters(target.pids_seen()) {
        let spec = SeriesSpec {
            name: &name,
            labels,
            kind: SeriesKind::Counter,
            unit: Unit::Count,
        };
        let _ = out.record(&spec, v);
    }
}
