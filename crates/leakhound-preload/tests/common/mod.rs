//! Running real programs under the preload library and reading what it reports, through
//! leakhound's own agent listener and symbolizer.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use leakhound_analysis::sites::{judge_sites, SiteFinding, SiteSeries, OTHER};
use leakhound_analysis::{Config, Load};
use leakhound_probe::agent::AgentListener;
use leakhound_probe::sites::SitesReport;

mod programs;
#[allow(unused_imports)]
pub use programs::compile_program;

/// The preload library, built into this test's target directory (target/<profile>).
pub fn preload() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>
    programs::build_preload(exe.parent().and_then(Path::parent).unwrap())
}

/// Compiles a test program into `dir`.
pub fn compile(dir: &Path, source: &str) -> PathBuf {
    compile_program(dir, source, &[])
}

/// A program running under the profiler, reporting to `listener`.
pub struct Profiled {
    pub listener: AgentListener,
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
}

/// Starts `program` with the preload library, reporting every `interval_ms` with a mean of
/// `sampling` bytes between samples, to a new listener or the one given.
pub fn start(
    listener: Option<AgentListener>,
    program: &Path,
    args: &[&str],
    sampling: u64,
    interval_ms: u64,
    env: &[(&str, &str)],
) -> Profiled {
    let listener = listener.unwrap_or_else(|| AgentListener::bind_private().unwrap());
    let mut cmd = Command::new(program);
    // node --perf-basic-prof writes a V8 log into its working directory.
    cmd.args(args)
        .current_dir(std::env::temp_dir())
        .env("LD_PRELOAD", preload())
        .env("LEAKHOUND_AGENT_SOCKET", listener.socket())
        .env("LEAKHOUND_NATIVE_SAMPLING", sampling.to_string())
        .env("LEAKHOUND_NATIVE_INTERVAL_MS", interval_ms.to_string())
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Profiled {
        listener,
        child,
        lines,
    }
}

impl Profiled {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Collects the sites reports of `pids`, and of processes the program names on a line
    /// `pid N`, until the program exits (or `limit` passes, then it is killed and the test
    /// fails); returns them with the program's output lines.
    pub fn collect(&mut self, pids: &[i32], limit: Duration) -> (Vec<SitesReport>, Vec<String>) {
        let start = Instant::now();
        let mut reports = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        let mut pids = pids.to_vec();
        loop {
            reports.extend(self.listener.take_sites(&pids));
            for line in self.lines.try_iter() {
                if let Some(pid) = line.strip_prefix("pid ").and_then(|p| p.parse().ok()) {
                    pids.push(pid);
                }
                lines.push(line);
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "program failed: {status}; output {lines:?}"
                );
                break;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("program still running after {limit:?}: a deadlock? output {lines:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Reports may still be in flight, or waiting for symbolization (slow in a debug build
        // on a busy machine): take them until a second passes without one.
        lines.extend(self.lines.try_iter());
        let mut quiet = Instant::now();
        while quiet.elapsed() < Duration::from_secs(1) && start.elapsed() < limit {
            let more = self.listener.take_sites(&pids);
            if !more.is_empty() {
                quiet = Instant::now();
            }
            reports.extend(more);
            std::thread::sleep(Duration::from_millis(20));
        }
        (reports, lines)
    }
}

/// Judges every site of `reports` as `run` would: each stack's live bytes over time is a
/// series held to 1 MiB/day (scaled by its share), under a constant load.
pub fn judge(reports: &[SitesReport]) -> Vec<SiteFinding> {
    let mut series: HashMap<Vec<String>, (Vec<f64>, Vec<f64>)> = HashMap::new();
    let mut other = (Vec::new(), Vec::new());
    for r in reports {
        for s in &r.sites {
            let e = series.entry(s.frames.clone()).or_default();
            e.0.push(r.t);
            e.1.push(s.bytes);
        }
        other.0.push(r.t);
        other.1.push(r.other_bytes);
    }
    let keys: Vec<String> = (0..series.len()).map(|i| i.to_string()).collect();
    let mut list: Vec<SiteSeries> = series
        .iter()
        .zip(&keys)
        .map(|((frames, (t, b)), key)| SiteSeries {
            key,
            source: "native",
            frames,
            t,
            bytes: b,
        })
        .collect();
    list.push(SiteSeries {
        key: OTHER,
        source: "native",
        frames: &[],
        t: &other.0,
        bytes: &other.1,
    });
    let mut cfg = Config::with_tolerance(1048576.0);
    cfg.load = Load::Constant;
    judge_sites(&list, &cfg, &[]).sites
}

/// The findings as lines a failing assertion can show.
pub fn describe(findings: &[SiteFinding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{:?} {:.3e} B/day {:?} {:?} {:?}: {}",
                f.finding.verdict,
                f.finding.rate_per_day.unwrap_or(f64::NAN),
                f.finding.rate_ci_per_day,
                f.finding.pattern,
                f.finding.notes,
                f.frames.join(" <- ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
