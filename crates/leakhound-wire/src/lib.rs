//! What leakhound and the profilers it runs inside other processes agree on, in one place
//! that both sides compile: when a profiler reports ([`schedule`]) and the environment that
//! configures it ([`env`]), the lines it sends ([`lines`], written by the profiler and read by
//! leakhound with the same field names), and how stacks carry Python frames ([`python`]). The Node.js and
//! Python agents, written in their own languages, follow the same rules; their tests check
//! them against this crate's numbers. Also the field numbers of pprof profiles ([`pprof`]),
//! which leakhound reads (Go's) and writes.
//!
//! Dependency-free, so the native profiler (a `cdylib` loaded into the target) can use it; the
//! reading side of [`lines`] (feature `read`) uses serde.

pub mod env;
pub mod lines;
pub mod pprof;
pub mod python;
pub mod schedule;

pub use schedule::Schedule;
