//! What explains a leak: the workload counters it follows (attribution) and, with a runtime
//! agent's gauges, which kind of memory grows.

use leakhound_analysis::{memory_kind, Counter, Verdict};

use crate::judge::Judged;

/// Process-level memory series, whose growth a runtime's own gauges can classify.
const PROCESS_MEMORY: &[&str] = &["rss", "pss", "uss", "anon"];
/// The Node.js agent's gauge of live JavaScript objects.
const JS_HEAP: &str = "node.heap_used";
/// The Node.js agent's gauge of memory held by Buffers and other C++ objects bound to JS.
const BUFFERS: &str = "node.external";

/// Adds attribution to `counters` and, with a runtime agent's gauges, the kind of memory that
/// grows, to every leaking memory series.
pub fn explain_causes(counters: &[Counter], results: &mut [Judged]) {
    let rate_of = |results: &[Judged], name: &str| {
        results
            .iter()
            .find(|a| a.series.name == name)
            .and_then(|a| a.finding.rate_per_day)
    };
    // A runtime series that leaks says which memory grows, even while the process total is
    // still inconclusive (its own floor is noisier).
    let leaking = |results: &[Judged], name: &str| {
        results
            .iter()
            .find(|a| a.series.name == name)
            .filter(|a| a.finding.verdict == Verdict::Leak)
            .and_then(|a| a.finding.rate_per_day)
    };
    let heap = rate_of(results, JS_HEAP);
    let buffers = rate_of(results, BUFFERS);
    let heap_leaks = leaking(results, JS_HEAP).is_some();
    let buffers_leak = leaking(results, BUFFERS).is_some();
    let runtime_leaks = heap_leaks || buffers_leak;
    for a in results.iter_mut() {
        if !a.series.is_bytes() {
            continue;
        }
        a.finding.attribute(counters);
        let is_process_memory = PROCESS_MEMORY.contains(&a.series.name.as_str());
        let grows = match a.finding.verdict {
            Verdict::Leak => true,
            Verdict::Inconclusive => {
                runtime_leaks && a.finding.rate_per_day.is_some_and(|r| r > 0.0)
            }
            Verdict::NoLeak => false,
        };
        if let (true, true, Some(h), Some(b), Some(r)) = (
            is_process_memory,
            grows,
            heap,
            buffers,
            a.finding.rate_per_day,
        ) {
            // When exactly one of the runtime's own series leaks, it says which memory grows;
            // rates of a short soak are too rough to weigh against each other.
            a.finding.memory_kind = Some(match (heap_leaks, buffers_leak) {
                (true, false) => leakhound_analysis::MemoryKind::JsHeap,
                (false, true) => leakhound_analysis::MemoryKind::Buffers,
                _ => memory_kind(r, h, b),
            });
        }
    }
}
