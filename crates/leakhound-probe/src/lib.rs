//! Probes: read memory and resource use of processes and cgroups from `/proc` and `/sys`, and
//! what the profilers leakhound puts into other processes report.
//!
//! This is the bottom layer of leakhound's pipeline. It knows nothing about storage or
//! analysis: it turns kernel files into [`MemoryReading`]s and [`CgroupReading`]s, and
//! profilers' reports into [`SitesReport`](sites::SitesReport)s. Processes are identified by pid
//! *and* start time ([`ProcKey`], in a [`ProcessTable`]), so a reused pid is never mistaken for
//! the process it replaced.
//!
//! Parsers of kernel and tool text are pure functions tested on fixtures; the readers around them
//! degrade (fewer fields, a [`ProbeError`]) rather than fail when a file is unreadable.
//!
//! Allocation sites come from many profilers and leave this crate in one shape ([`sites`]: live
//! bytes and objects per stack, frames innermost first, the top stacks and a remainder), so
//! storing, judging and drawing them never depends on where they came from:
//! - [`agent`], the runtime agents (the Node.js agent's JavaScript and the Python agent's
//!   `sitecustomize.py`, embedded from `agent/`) and the socket they report on, one JSON object
//!   per line ([`AgentListener`](agent::AgentListener)): Node's figures
//!   ([`AgentReport`](agent::AgentReport)), other runtimes' named gauges and counters
//!   ([`RuntimeReport`](agent::RuntimeReport)), sites, and `notice` lines saying why an agent
//!   fell back (the Python agent to tracemalloc: another CPython, no profiler library,
//!   `LEAKHOUND_PYTHON_TRACEMALLOC=1`), which the sampler prints as warnings. Its connection
//!   threads symbolize the native profiler's lines as they arrive, into sites of source
//!   `native` (`python` for a Python process's stacks): nothing downstream sees an address.
//! - [`native`], those lines (`native_maps`, `native_sites`, read with `leakhound_wire::lines`)
//!   and the [`Symbolizer`](native::Symbolizer) that turns return addresses into frames,
//!   cached per module and address; [`python`] names the Python frames of such stacks from the
//!   `python_code` lines sent before them.
//! - [`node_profile`], V8's sampling heap profile as sites, whether the agent sent it or the
//!   inspector read it; [`heapsnapshot`], V8 heap snapshots read as a stream into columns, for
//!   `--retainers`.
//! - [`pprof`], Go's heap and goroutine profiles, `profile.proto` decoded by hand.
//! - [`jvm`], the JVM through the JDK's `jcmd` ([`find_jcmd`](jvm::find_jcmd); attached only to
//!   a process that maps `libjvm.so`, [`is_jvm`](jvm::is_jvm)): `GC.heap_info`,
//!   `GC.class_histogram`, its threads' names; [`jfr`], its flight recordings (leakhound's
//!   `.jfc` settings, the `JFR.*` commands, `JFR.check` parsed to find orphans, a dump read with
//!   the `jfrs` crate into heap summaries and old-object samples with Java frames and paths to
//!   GC roots, and the estimate of live bytes per stack).
//!
//! The [`inspector`] reads a Node.js process started without leakhound, over its inspector:
//! `SIGUSR1` (sent only to a process that is Node.js), the port from its listening sockets in
//! `/proc`, the target from `/json/list`, and [`inspector::cdp`], a synchronous DevTools-protocol
//! client over tungstenite. The application's session on it (`inspect` in `leakhound-app`) calls
//! `Runtime.evaluate` of `agent/node-attach.js` (`install`, `read`, `remove`),
//! `HeapProfiler.startSampling`, `getSamplingProfile` and `stopSampling`, `takeHeapSnapshot`
//! (its `addHeapSnapshotChunk` events written to a file), and at the end `process._debugEnd()`
//! to close an inspector that leakhound opened.
//!
//! Also [`exposition`], the Prometheus text format (parsed for `--scrape`; the `/metrics`
//! exporter escapes with it), and [`proctext`], the hand-written parsers of `/proc/PID/stat`,
//! `statm` and `status`, read for every process every interval.
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
