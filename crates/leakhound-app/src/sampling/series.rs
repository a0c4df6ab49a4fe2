//! The series each kind of target writes every interval, declared once: name, unit, and how to
//! read the value off that kind's reading. The sampler creates them in this order and keeps
//! their ids by position, so a name and its value cannot drift apart.

use leakhound_probe::{CgroupReading, MemoryReading};

use crate::kinds::Unit;

/// A series written every interval, read off a reading of type `R`.
#[derive(Debug)]
pub struct Gauge<R> {
    /// Series name.
    pub name: &'static str,
    /// What it measures.
    pub unit: Unit,
    /// Its value in a reading, when the reading has it (PSS needs smaps_rollup, fds need
    /// permission).
    pub read: fn(&R) -> Option<u64>,
}

/// What a process target (a tree, or every match of a name) reads in one interval: the sum over
/// its processes, and how many were read.
#[derive(Debug, Clone)]
pub struct ProcessesReading {
    /// Sum over the processes.
    pub total: MemoryReading,
    /// Processes read.
    pub processes: usize,
}

/// Series of process targets.
pub const PROCESS_GAUGES: [Gauge<ProcessesReading>; 10] = [
    Gauge {
        name: "rss",
        unit: Unit::Bytes,
        read: |r| Some(r.total.rss),
    },
    Gauge {
        name: "pss",
        unit: Unit::Bytes,
        read: |r| r.total.pss,
    },
    Gauge {
        name: "uss",
        unit: Unit::Bytes,
        read: |r| r.total.uss,
    },
    Gauge {
        name: "anon",
        unit: Unit::Bytes,
        read: |r| r.total.anon,
    },
    Gauge {
        name: "file",
        unit: Unit::Bytes,
        read: |r| r.total.file,
    },
    Gauge {
        name: "shmem",
        unit: Unit::Bytes,
        read: |r| r.total.shmem,
    },
    Gauge {
        name: "swap",
        unit: Unit::Bytes,
        read: |r| r.total.swap,
    },
    Gauge {
        name: "threads",
        unit: Unit::Count,
        read: |r| Some(r.total.threads),
    },
    Gauge {
        name: "fds",
        unit: Unit::Count,
        read: |r| r.total.fds,
    },
    Gauge {
        name: "processes",
        unit: Unit::Count,
        read: |r| Some(r.processes as u64),
    },
];

/// Series of cgroup targets.
pub const CGROUP_GAUGES: [Gauge<CgroupReading>; 6] = [
    Gauge {
        name: "memory.current",
        unit: Unit::Bytes,
        read: |c| Some(c.current),
    },
    Gauge {
        name: "anon",
        unit: Unit::Bytes,
        read: |c| c.anon,
    },
    Gauge {
        name: "file",
        unit: Unit::Bytes,
        read: |c| c.file,
    },
    Gauge {
        name: "shmem",
        unit: Unit::Bytes,
        read: |c| c.shmem,
    },
    Gauge {
        name: "swap",
        unit: Unit::Bytes,
        read: |c| c.swap,
    },
    Gauge {
        name: "processes",
        unit: Unit::Count,
        read: |c| Some(c.processes),
    },
];

/// The series a sequential look judges: the first present of these is a target's memory.
pub const PRIMARY: [&str; 2] = ["rss", "memory.current"];

/// Gauges of the Node.js agent and their units. The memory ones are bytes; a gauge the agent
/// adds before it is declared here is taken for bytes, the unit of most of them.
const NODE_GAUGES: [(&str, Unit); 8] = [
    ("node.heap_total", Unit::Bytes),
    ("node.heap_used", Unit::Bytes),
    ("node.external", Unit::Bytes),
    ("node.array_buffers", Unit::Bytes),
    ("node.malloced", Unit::Bytes),
    ("node.detached_contexts", Unit::Count),
    ("node.handles", Unit::Count),
    ("node.event_loop_delay_ms", Unit::Count),
];

/// Unit of an agent gauge.
pub fn agent_gauge_unit(name: &str) -> Unit {
    NODE_GAUGES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(Unit::Bytes, |(_, u)| *u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_probe::agent::{gauges, parse_report};

    #[test]
    fn every_gauge_reads_its_own_field() {
        let mut total = MemoryReading::zero();
        total.rss = 1;
        total.pss = Some(2);
        total.uss = Some(3);
        total.anon = Some(4);
        total.file = Some(5);
        total.shmem = Some(6);
        total.swap = Some(7);
        total.threads = 8;
        total.fds = Some(9);
        let r = ProcessesReading {
            total,
            processes: 10,
        };
        let values: Vec<Option<u64>> = PROCESS_GAUGES.iter().map(|g| (g.read)(&r)).collect();
        assert_eq!(values, (1..=10).map(Some).collect::<Vec<_>>());
        let c = CgroupReading {
            current: 1,
            anon: Some(2),
            file: Some(3),
            shmem: Some(4),
            swap: Some(5),
            processes: 6,
        };
        let values: Vec<Option<u64>> = CGROUP_GAUGES.iter().map(|g| (g.read)(&c)).collect();
        assert_eq!(values, (1..=6).map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn names_are_unique_and_units_fit() {
        for names in [
            PROCESS_GAUGES.iter().map(|g| g.name).collect::<Vec<_>>(),
            CGROUP_GAUGES.iter().map(|g| g.name).collect(),
        ] {
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "{names:?}");
        }
        for g in &PROCESS_GAUGES {
            let counts = ["threads", "fds", "processes"].contains(&g.name);
            assert_eq!(g.unit == Unit::Count, counts, "{}", g.name);
        }
        let all: Vec<&str> = PROCESS_GAUGES
            .iter()
            .map(|g| g.name)
            .chain(CGROUP_GAUGES.iter().map(|g| g.name))
            .collect();
        assert!(PRIMARY.iter().all(|p| all.contains(p)));
    }

    #[test]
    fn every_agent_gauge_is_declared() {
        let line = r#"{"pid":7,"t":1,"rss":1,"heap_total":1,"heap_used":1,"external":1,"handles":3,"event_loop_delay_ms":2.5}"#;
        let r = parse_report(line).unwrap();
        for (name, _) in gauges(&[&r]) {
            assert!(
                NODE_GAUGES.iter().any(|(n, _)| *n == name),
                "{name} is not declared"
            );
        }
        assert_eq!(agent_gauge_unit("node.heap_used"), Unit::Bytes);
        assert_eq!(agent_gauge_unit("node.event_loop_delay_ms"), Unit::Count);
    }
}
