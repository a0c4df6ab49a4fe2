//! The environment variables that configure the profilers leakhound puts into a process.
//! Written by leakhound (`run`, `leakhound agent`), read by the native profiler and the
//! Node.js and Python agents.

/// leakhound's socket: where agents and the native profiler send their reports.
pub const AGENT_SOCKET: &str = "LEAKHOUND_AGENT_SOCKET";
/// Milliseconds between a runtime agent's memory reports.
pub const AGENT_INTERVAL_MS: &str = "LEAKHOUND_AGENT_INTERVAL_MS";
/// Longest gap between allocation-site reports, milliseconds (the [`crate::Schedule`]'s
/// ceiling; without [`SITES_MIN_INTERVAL_MS`], a fixed gap).
pub const SITES_INTERVAL_MS: &str = "LEAKHOUND_SITES_INTERVAL_MS";
/// Shortest gap between allocation-site reports, milliseconds (the schedule's floor).
pub const SITES_MIN_INTERVAL_MS: &str = "LEAKHOUND_SITES_MIN_INTERVAL_MS";
/// Mean bytes between samples of a runtime's own heap profiler (Node's).
pub const SITES_SAMPLING: &str = "LEAKHOUND_SITES_SAMPLING";
/// Mean bytes between sampled allocations of the native profiler; without it, the mean
/// follows a budget of samples per second ([`NATIVE_BUDGET`]).
pub const NATIVE_SAMPLING: &str = "LEAKHOUND_NATIVE_SAMPLING";
/// Samples per second the native profiler aims at when no mean is given.
pub const NATIVE_BUDGET: &str = "LEAKHOUND_NATIVE_BUDGET";
/// Longest gap between native reports, milliseconds (see [`SITES_INTERVAL_MS`]).
pub const NATIVE_INTERVAL_MS: &str = "LEAKHOUND_NATIVE_INTERVAL_MS";
/// Shortest gap between native reports, milliseconds (see [`SITES_MIN_INTERVAL_MS`]).
pub const NATIVE_MIN_INTERVAL_MS: &str = "LEAKHOUND_NATIVE_MIN_INTERVAL_MS";
/// `1`: keep the native profiler in `LD_PRELOAD` for programs the target executes.
pub const NATIVE_CHILDREN: &str = "LEAKHOUND_NATIVE_CHILDREN";
/// The native profiler library to use instead of the one leakhound carries.
pub const PRELOAD: &str = "LEAKHOUND_PRELOAD";
/// The profiler library the Python agent loads to sample Python's allocations (set by
/// leakhound where it finds the library; without it the agent falls back to tracemalloc).
pub const PYTHON_PROFILER: &str = "LEAKHOUND_PYTHON_PROFILER";
/// `1`: Python sites from tracemalloc (every allocation traced, exact bytes, about ten times
/// slower on allocation-heavy code) instead of sampling.
pub const PYTHON_TRACEMALLOC: &str = "LEAKHOUND_PYTHON_TRACEMALLOC";

/// `1`: the Python agent finds who holds what stays (`--retainers`).
pub const RETAINERS: &str = "LEAKHOUND_RETAINERS";

/// The schedule the variables `max` and `min` (as read) describe: `min` absent means fixed.
pub fn schedule(max_ms: Option<u64>, min_ms: Option<u64>) -> crate::Schedule {
    match (max_ms.filter(|v| *v > 0), min_ms.filter(|v| *v > 0)) {
        (Some(max), Some(min)) => crate::Schedule {
            min_ms: min.min(max),
            max_ms: max,
        },
        (Some(max), None) => crate::Schedule::fixed(max),
        (None, _) => crate::Schedule::thinning(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_describe_a_schedule() {
        assert_eq!(schedule(None, None), crate::Schedule::thinning());
        assert_eq!(schedule(Some(5000), None), crate::Schedule::fixed(5000));
        assert_eq!(
            schedule(Some(30000), Some(3000)),
            crate::Schedule::thinning()
        );
        assert_eq!(
            schedule(Some(2000), Some(3000)),
            crate::Schedule::fixed(2000)
        );
    }
}
