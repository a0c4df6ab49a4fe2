//! Probes: read memory and resource use of processes and cgroups from `/proc` and `/sys`.
//!
//! This is the bottom layer of leakhound. It knows nothing about storage or analysis: it turns
//! kernel files into [`MemoryReading`]s. Processes are identified by pid *and* start time
//! ([`ProcKey`]), so a reused pid is never mistaken for the process it replaced.
//!
//! Parsers of kernel text are pure functions tested on fixtures; the readers around them
//! degrade (fewer fields, a [`ProbeError`]) rather than fail when a file is unreadable.
#![deny(missing_docs)]

pub mod agent;
mod cgroup;
mod error;
pub mod exposition;
pub mod heapsnapshot;
pub mod inspector;
pub mod jfr;
pub mod jvm;
pub mod native;
pub mod node_profile;
pub mod pprof;
mod process;
pub mod proctext;
pub mod python;
pub mod sites;
mod table;

pub use cgroup::{
    available_memory, cgroup_of_pid, memory_limit_of_pid, parse_cgroup_line, parse_memory_max,
    parse_memory_stat, total_physical_memory, CgroupReader, CgroupReading,
};
pub use error::ProbeError;
pub use process::{MemoryReading, ProcessReader, FD_EVERY};
pub use table::{descendants, NameMatcher, ProcInfo, ProcKey, ProcessTable};
