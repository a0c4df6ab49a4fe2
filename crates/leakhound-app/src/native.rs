//! `run --native-sites`: the native allocation profiler (`libleakhound_preload.so`, the
//! `leakhound-preload` crate) injected with `LD_PRELOAD`, reporting on the agent socket; its
//! reports become sites like the Node agent's (symbolized in `leakhound-probe`).
//!
//! What cannot work is said, not left silent: a statically linked program (the dynamic loader,
//! which reads LD_PRELOAD, never runs) is named before it starts; a program whose executable
//! brings its own malloc, one that allocates nothing through malloc, and one from which no
//! report ever comes are named while it runs.

use std::path::{Path, PathBuf};

use leakhound_probe::agent::NativeStatus;
use leakhound_probe::native::is_dynamically_linked;

use crate::error::user;
use leakhound_wire::env as wire;

/// The library's file name, as cargo builds it.
pub const PRELOAD_FILE: &str = "libleakhound_preload.so";

/// What `run --native-sites` asks of the profiler.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeSites {
    /// The library to preload.
    pub preload: PathBuf,
    /// Mean bytes between sampled allocations; `None`: the profiler's budget of samples per
    /// second sets it from the allocation rate.
    pub sampling: Option<u64>,
    /// When to report: dense at first and thinning, or fixed (`--sites-interval`).
    pub schedule: leakhound_wire::Schedule,
    /// Keep profiling programs the command executes (else only the command itself, and the
    /// children it forks without executing anything).
    pub children: bool,
}

/// Finds the profiler library: `LEAKHOUND_PRELOAD` (`env`) when set, else the one leakhound
/// carries, in the user's cache ([`crate::preload`]).
pub fn locate_preload(env: Option<&str>) -> anyhow::Result<PathBuf> {
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(p);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(user(format!(
                "LEAKHOUND_PRELOAD={p} is not a file (it should name {PRELOAD_FILE}; unset it \
                 to use the library leakhound carries)"
            )))
        };
    }
    crate::preload::carried_library()
}

/// The profiler library for the Python agent (which loads it itself to sample Python's
/// allocations), where [`locate_preload`] finds it; without it the agent uses tracemalloc.
pub fn python_profiler() -> Option<PathBuf> {
    locate_preload(std::env::var(wire::PRELOAD).ok().as_deref()).ok()
}

/// `LD_PRELOAD` with the library added after the user's own entries, which are kept.
pub fn ld_preload(existing: Option<&str>, lib: &Path) -> String {
    match existing.map(str::trim).filter(|s| !s.is_empty()) {
        Some(e) => format!("{e}:{}", lib.display()),
        None => lib.display().to_string(),
    }
}

/// The environment that loads the profiler into a command reporting to `socket`.
pub fn native_env(n: &NativeSites, socket: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "LD_PRELOAD".to_string(),
            ld_preload(std::env::var("LD_PRELOAD").ok().as_deref(), &n.preload),
        ),
        (wire::AGENT_SOCKET.into(), socket.display().to_string()),
        (
            wire::NATIVE_INTERVAL_MS.into(),
            n.schedule.max_ms.to_string(),
        ),
        (
            wire::NATIVE_MIN_INTERVAL_MS.into(),
            n.schedule.min_ms.to_string(),
        ),
    ];
    if let Some(mean) = n.sampling {
        env.push((wire::NATIVE_SAMPLING.into(), mean.to_string()));
    }
    if n.children {
        env.push((wire::NATIVE_CHILDREN.into(), "1".into()));
    }
    env
}

/// The program `argv0` names, looked up in `PATH` as the command will be.
fn resolve(argv0: &str) -> Option<PathBuf> {
    if argv0.contains('/') {
        return Some(PathBuf::from(argv0));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(argv0))
        .find(|p| p.is_file())
}

/// A warning when the command cannot be profiled through LD_PRELOAD at all.
pub fn check_command(argv0: &str) -> Option<String> {
    let program = resolve(argv0)?;
    (is_dynamically_linked(&program) == Some(false)).then(|| {
        format!(
            "--native-sites: {} is statically linked: LD_PRELOAD cannot reach it, so no native \
             sites will come from it (only from dynamically linked programs it starts)",
            program.display()
        )
    })
}

/// Watches what the profiler reports about a target, to say when it sees nothing.
#[derive(Debug)]
pub struct NativeWatch {
    started: f64,
    /// When the second report is due, seconds after the start.
    second_report: f64,
    said_silent: bool,
    said_unhooked: Vec<i32>,
    said_no_malloc: Vec<i32>,
}

impl NativeWatch {
    /// Starts watching at `now` (unix seconds), reports expected on `schedule`.
    pub fn new(now: f64, schedule: leakhound_wire::Schedule) -> NativeWatch {
        let second = schedule.times_ms(u64::MAX).nth(1).unwrap_or(u64::MAX);
        NativeWatch {
            started: now,
            second_report: second as f64 / 1000.0,
            said_silent: false,
            said_unhooked: Vec::new(),
            said_no_malloc: Vec::new(),
        }
    }

    /// Warnings (each said once) about the processes `pids` of `target` at `now`.
    pub fn check(
        &mut self,
        now: f64,
        target: &str,
        pids: &[i32],
        status: &[(i32, NativeStatus)],
    ) -> Vec<String> {
        let mut out = Vec::new();
        let waited = now - self.started;
        // Two reports' time and some slack for a slow start.
        if status.is_empty() && !pids.is_empty() && waited > self.second_report + 5.0 {
            if !self.said_silent {
                self.said_silent = true;
                out.push(format!(
                    "--native-sites: no report from the native profiler in `{target}` after \
                     {waited:.0}s: LD_PRELOAD did not reach it (a statically linked or setuid \
                     program, or a wrapper that clears the environment)"
                ));
            }
            return out;
        }
        for &(pid, st) in status {
            if !st.hooked && !self.said_unhooked.contains(&pid) {
                self.said_unhooked.push(pid);
                out.push(format!(
                    "--native-sites: pid {pid} of `{target}` has its own malloc compiled into \
                     the executable; the native profiler interposes the C library's and sees \
                     none of its allocations"
                ));
            } else if st.hooked
                && st.samples == 0
                && st.reports >= 2
                && !self.said_no_malloc.contains(&pid)
            {
                self.said_no_malloc.push(pid);
                out.push(format!(
                    "--native-sites: pid {pid} of `{target}` has allocated less than the sampling \
                     mean through malloc so far: if its memory grows, it allocates another way \
                     (its own allocator over mmap, a runtime's heap), which native sites do not see"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_users_ld_preload() {
        let lib = Path::new("/opt/lh/libleakhound_preload.so");
        assert_eq!(ld_preload(None, lib), "/opt/lh/libleakhound_preload.so");
        assert_eq!(
            ld_preload(Some(" "), lib),
            "/opt/lh/libleakhound_preload.so"
        );
        assert_eq!(
            ld_preload(Some("/usr/lib/libjemalloc.so.2"), lib),
            "/usr/lib/libjemalloc.so.2:/opt/lh/libleakhound_preload.so"
        );
    }

    #[test]
    fn a_missing_override_is_a_user_error_naming_it() {
        let e = locate_preload(Some("/nonexistent/lib.so")).unwrap_err();
        assert!(e.downcast_ref::<crate::UserError>().is_some());
        assert!(e.to_string().contains("/nonexistent/lib.so"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join(PRELOAD_FILE);
        std::fs::write(&lib, b"").unwrap();
        assert_eq!(locate_preload(lib.to_str()).unwrap(), lib);
    }

    #[test]
    fn says_once_what_the_profiler_cannot_see() {
        let mut w = NativeWatch::new(0.0, leakhound_wire::Schedule::fixed(10_000));
        assert!(w.check(20.0, "t", &[7], &[]).is_empty(), "too early");
        let said = w.check(26.0, "t", &[7], &[]);
        assert!(said[0].contains("no report"), "{said:?}");
        assert!(w.check(40.0, "t", &[7], &[]).is_empty(), "once");
        let st = |hooked, samples, reports| NativeStatus {
            hooked,
            samples,
            dropped: 0,
            reports,
        };
        let said = w.check(50.0, "t", &[7], &[(7, st(false, 0, 1))]);
        assert!(said[0].contains("own malloc"), "{said:?}");
        assert!(w.check(50.0, "t", &[8], &[(8, st(true, 0, 1))]).is_empty());
        let said = w.check(60.0, "t", &[8], &[(8, st(true, 0, 2))]);
        assert!(said[0].contains("less than the sampling mean"), "{said:?}");
        assert!(w.check(70.0, "t", &[8], &[(8, st(true, 5, 3))]).is_empty());
    }
}
