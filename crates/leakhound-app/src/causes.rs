//! What explains a leak: the workload counters it follows (attribution) and, with a runtime's
//! own series, which kind of memory grows.

use leakhound_analysis::{memory_kind, Counter, MemoryKind, Verdict};

use crate::judged::Judged;

/// Process-level memory series, whose growth a runtime's own gauges can classify.
const PROCESS_MEMORY: &[&str] = &["rss", "pss", "uss", "anon"];
/// The Node.js agent's gauge of live JavaScript objects.
const JS_HEAP: &str = "node.heap_used";
/// The Node.js agent's gauge of memory held by Buffers and other C++ objects bound to JS.
const BUFFERS: &str = "node.external";

/// The heap series of the other runtimes, the first present of each taken: Go's heap profile
/// totals (`--pprof`) or its Prometheus collector (`--scrape`), Python's tracemalloc (the
/// agent with `--sites`), the JVM's heap after each collection (`--jvm`, from its flight
/// recording), its live bytes after a full GC (class histograms) or its heap in use.
const RUNTIME_HEAPS: [(&[&str], MemoryKind); 3] = [
    (
        &[
            "go.heap_inuse",
            "go_memstats_heap_inuse_bytes",
            "go_memstats_heap_alloc_bytes",
        ],
        MemoryKind::GoHeap,
    ),
    (
        &["python.traced_bytes", "python.sampled_bytes"],
        MemoryKind::PythonObjects,
    ),
    (
        &["java.heap_after_gc", "java.live_bytes", "java.heap_used"],
        MemoryKind::JavaHeap,
    ),
];

/// The leak of a heap series: its rate and whether its verdict is `leak`.
#[derive(Debug, Clone, Copy)]
struct Heap {
    rate: f64,
    leaks: bool,
}

fn heap(results: &[Judged], name: &str) -> Option<Heap> {
    results
        .iter()
        .find(|a| a.series.name == name)
        .and_then(|a| {
            Some(Heap {
                rate: a.finding.rate_per_day?,
                leaks: a.finding.verdict == Verdict::Leak,
            })
        })
}

/// Which memory grows in a process whose memory grows at `rate`, from the runtime's series.
enum Runtime {
    /// Node.js: the JS heap and Buffers, weighed against each other.
    Node { heap: Heap, buffers: Heap },
    /// Another runtime's heap.
    Other { heap: Heap, kind: MemoryKind },
}

impl Runtime {
    fn of(results: &[Judged]) -> Option<Runtime> {
        if let (Some(heap), Some(buffers)) = (heap(results, JS_HEAP), heap(results, BUFFERS)) {
            return Some(Runtime::Node { heap, buffers });
        }
        RUNTIME_HEAPS.iter().find_map(|(names, kind)| {
            names
                .iter()
                .find_map(|n| heap(results, n))
                .map(|heap| Runtime::Other { heap, kind: *kind })
        })
    }

    fn leaks(&self) -> bool {
        match self {
            Runtime::Node { heap, buffers } => heap.leaks || buffers.leaks,
            Runtime::Other { heap, .. } => heap.leaks,
        }
    }

    /// When exactly one of the runtime's own series leaks, it says which memory grows; rates
    /// of a short soak are too rough to weigh against each other.
    fn kind(&self, rate: f64) -> MemoryKind {
        match self {
            Runtime::Node { heap, buffers } => match (heap.leaks, buffers.leaks) {
                (true, false) => MemoryKind::JsHeap,
                (false, true) => MemoryKind::Buffers,
                _ => memory_kind(rate, heap.rate, buffers.rate),
            },
            Runtime::Other { heap, kind } => {
                if heap.leaks || heap.rate >= 0.5 * rate {
                    *kind
                } else {
                    MemoryKind::Native
                }
            }
        }
    }
}

/// Adds attribution to `counters` and, with a runtime's own series, the kind of memory that
/// grows, to every leaking memory series.
pub fn explain_causes(counters: &[Counter], results: &mut [Judged]) {
    let runtime = Runtime::of(results);
    // A runtime series that leaks says which memory grows, even while the process total is
    // still inconclusive (its own floor is noisier).
    let runtime_leaks = runtime.as_ref().is_some_and(Runtime::leaks);
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
        if let (true, true, Some(rt), Some(r)) =
            (is_process_memory, grows, &runtime, a.finding.rate_per_day)
        {
            a.finding.memory_kind = Some(rt.kind(r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::SeriesData;
    use crate::policy::Policy;
    use leakhound_store::SeriesKind;
    use std::collections::BTreeMap;

    /// Two days at 60 s: RSS grows 20 MB/day over 300 MB; `heap` (named `name`) grows
    /// `heap_rate` bytes/day over 80 MB.
    fn judged(name: &str, heap_rate: f64) -> Vec<Judged> {
        let t: Vec<f64> = (0..2880).map(|i| 1.7e9 + i as f64 * 60.0).collect();
        let day = |t: f64| (t - 1.7e9) / 86400.0;
        let saw = |i: usize| (i % 6) as f64 * 1e6;
        let series = |name: &str, v: Vec<f64>| SeriesData {
            name: name.into(),
            labels: BTreeMap::new(),
            unit: crate::kinds::Unit::Bytes,
            kind: SeriesKind::Gauge,
            t: t.clone(),
            v,
        };
        let rss = series(
            "rss",
            t.iter()
                .enumerate()
                .map(|(i, t)| 3e8 + 2e7 * day(*t) + saw(i))
                .collect(),
        );
        let heap = series(
            name,
            t.iter()
                .enumerate()
                .map(|(i, t)| 8e7 + heap_rate * day(*t) + saw(i))
                .collect(),
        );
        let input = crate::input::Input {
            series: vec![rss, heap],
            ..Default::default()
        };
        crate::judge::judge(&input, &[], &Policy::default()).unwrap()
    }

    #[test]
    fn each_runtime_heap_names_its_memory() {
        for (name, kind) in [
            ("go.heap_inuse", MemoryKind::GoHeap),
            ("go_memstats_heap_inuse_bytes", MemoryKind::GoHeap),
            ("python.traced_bytes", MemoryKind::PythonObjects),
            ("python.sampled_bytes", MemoryKind::PythonObjects),
            ("java.live_bytes", MemoryKind::JavaHeap),
            ("java.heap_after_gc", MemoryKind::JavaHeap),
        ] {
            let leaking = judged(name, 1.9e7);
            assert_eq!(leaking[1].finding.verdict, Verdict::Leak, "{name}");
            assert_eq!(leaking[0].finding.memory_kind, Some(kind), "{name}");
            let flat = judged(name, 0.0);
            assert_eq!(
                flat[0].finding.memory_kind,
                Some(MemoryKind::Native),
                "{name} flat: the growth is outside the heap"
            );
        }
        let unknown = judged("ruby.heap", 1.9e7);
        assert_eq!(unknown[0].finding.memory_kind, None);
    }
}
