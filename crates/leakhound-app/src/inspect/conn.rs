//! One attached Node.js process: the inspector opened (or found open), the session on it,
//! what leakhound started in it, and how it is left at the end.

use std::time::{Duration, Instant};

use leakhound_probe::agent::AgentReport;
use leakhound_probe::inspector::cdp::{Cdp, Evaluate, NoParams, StartSampling, TakeSnapshot};
use leakhound_probe::inspector::{self, attach_expression, Opened};
use leakhound_probe::node_profile::{self, SamplingProfile};
use leakhound_probe::sites::SitesReport;
use leakhound_report::units::format_duration;

/// Stacks kept per profile (the rest is the remainder), as the in-process agent keeps.
const TOP_STACKS: usize = 200;
/// How long to wait for the port after `SIGUSR1`.
const OPEN_WAIT: Duration = Duration::from_secs(5);
/// How long a command may take (a profile of a large heap takes seconds to serialise).
const CALL: Duration = Duration::from_secs(60);

/// A session with the inspector of one process.
pub struct Conn {
    cdp: Cdp,
    opened: Opened,
    /// The process.
    pub pid: i32,
    since: Instant,
    sampling: Option<u64>,
    /// The process's working directory, with a trailing `/` (frames are named relative to it).
    cwd: String,
}

impl Conn {
    /// Opens the inspector of `pid`, connects, subscribes to the workload channels and, with
    /// `sampling`, starts V8's sampling heap profiler at that mean interval (bytes).
    pub fn attach(pid: i32, sampling: Option<u64>) -> Result<Conn, String> {
        let opened = inspector::open(pid, OPEN_WAIT)?;
        let scope = if opened.listen.ip().is_loopback() {
            "loopback only".to_string()
        } else {
            format!(
                "it listens on {}, as the process was started: reachable from other hosts",
                opened.listen
            )
        };
        if opened.by_us {
            eprintln!(
                "leakhound: opened the Node.js inspector of pid {pid} on {} ({scope}) for this session; it is closed when the session ends",
                opened.listen
            );
        } else {
            eprintln!(
                "leakhound: the Node.js inspector of pid {pid} was already open on {} ({scope}); leakhound uses it and leaves it open",
                opened.listen
            );
        }
        let mut cdp = Cdp::connect(&opened.ws_url, Duration::from_secs(10)).map_err(|e| {
            let conn = Conn::closing_note(&opened, pid);
            format!("cannot connect to the inspector of pid {pid}: {e}{conn}")
        })?;
        cdp.evaluate(&attach_expression("install"), CALL)?;
        if let Some(s) = sampling {
            cdp.call("HeapProfiler.enable", NoParams {}, CALL)?;
            cdp.call(
                "HeapProfiler.startSampling",
                StartSampling {
                    sampling_interval: s,
                    include_objects_collected_by_major_gc: false,
                    include_objects_collected_by_minor_gc: false,
                },
                CALL,
            )?;
        }
        let mut c = Conn {
            cdp,
            opened,
            pid,
            since: Instant::now(),
            sampling,
            cwd: String::new(),
        };
        c.cwd = c.memory().map(|(_, cwd)| cwd).unwrap_or_default();
        Ok(c)
    }

    fn closing_note(opened: &Opened, pid: i32) -> String {
        if opened.by_us {
            format!(
                " (the inspector leakhound opened stays open on {} until process {pid} ends)",
                opened.listen
            )
        } else {
            String::new()
        }
    }

    /// The memory figures and workload counts, as an agent report, and the working directory.
    pub fn memory(&mut self) -> Result<(AgentReport, String), String> {
        let v = self.cdp.evaluate(&attach_expression("read"), CALL)?;
        let cwd = v
            .get("cwd")
            .and_then(|c| c.as_str())
            .map(|c| format!("{}/", c.trim_end_matches('/')))
            .unwrap_or_default();
        let r = leakhound_probe::agent::parse_report(&v.to_string())?;
        Ok((r, cwd))
    }

    /// The live allocation sites of the sampling heap profiler, when it runs. No collection is
    /// forced before a read (it cost a loaded server failed requests, bench/sites_overhead.sh):
    /// garbage not yet collected reads as held, and a flat site's bytes wander with it.
    pub fn sites(&mut self) -> Result<Option<SitesReport>, String> {
        let Some(sampling) = self.sampling else {
            return Ok(None);
        };
        let started = Instant::now();
        let r = self
            .cdp
            .call("HeapProfiler.getSamplingProfile", NoParams {}, CALL)?;
        let took_ms = started.elapsed().as_secs_f64() * 1000.0;
        let profile: SamplingProfile =
            serde_json::from_value(r.get("profile").cloned().unwrap_or_default())
                .map_err(|e| format!("HeapProfiler.getSamplingProfile: {e}"))?;
        let mut report = node_profile::sites(
            &profile,
            &self.cwd,
            sampling as f64,
            TOP_STACKS,
            self.pid,
            leakhound_time::unix_now(),
        );
        report.took_ms = Some(took_ms);
        Ok(Some(report))
    }

    /// Takes a heap snapshot into `out` (the process pauses while V8 writes it).
    pub fn snapshot(&mut self, out: &mut dyn std::io::Write) -> Result<(), String> {
        self.cdp.call("HeapProfiler.enable", NoParams {}, CALL)?;
        let mut failed = None;
        self.cdp.call_with(
            "HeapProfiler.takeHeapSnapshot",
            TakeSnapshot {
                report_progress: false,
            },
            Duration::from_secs(1800),
            &mut |method, params| {
                if method == "HeapProfiler.addHeapSnapshotChunk" && failed.is_none() {
                    let chunk = params.get("chunk").and_then(|c| c.as_str()).unwrap_or("");
                    if let Err(e) = out.write_all(chunk.as_bytes()) {
                        failed = Some(e.to_string());
                    }
                }
                Ok(())
            },
        )?;
        match failed {
            Some(e) => Err(format!("writing the heap snapshot: {e}")),
            None => Ok(()),
        }
    }

    /// Leaves the process as it was found: the profiler stopped, the subscriptions removed,
    /// and the inspector closed if leakhound opened it. Says what it did.
    pub fn leave(mut self) {
        let pid = self.pid;
        if self.sampling.is_some() {
            let _ = self
                .cdp
                .call("HeapProfiler.stopSampling", NoParams {}, CALL);
        }
        let _ = self.cdp.evaluate(&attach_expression("remove"), CALL);
        let _ = self.cdp.call("HeapProfiler.disable", NoParams {}, CALL);
        let open_for = format_duration(self.since.elapsed().as_secs_f64());
        if !self.opened.by_us {
            self.cdp.close();
            eprintln!(
                "leakhound: detached from the inspector of pid {pid}, left open as it was found"
            );
            return;
        }
        // Closing the inspector ends this session too: no answer is awaited.
        let _ = self.cdp.send(
            "Runtime.evaluate",
            Evaluate {
                expression: "process._debugEnd()",
                include_command_line_api: true,
                return_by_value: false,
                silent: false,
            },
        );
        let listen = self.opened.listen;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut closed = false;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            match inspector::listening_of(pid) {
                Ok(l) if l.contains(&listen) => continue,
                // Gone, or the process ended.
                _ => {
                    closed = true;
                    break;
                }
            }
        }
        self.cdp.close();
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!(
                "leakhound: process {pid} ended; its inspector on {listen} was open {open_for}"
            );
        } else if closed {
            eprintln!(
                "leakhound: closed the inspector of pid {pid} on {listen} (it was open {open_for}); the heap profiler is stopped"
            );
        } else {
            eprintln!(
                "leakhound: warning: the inspector of pid {pid} on {listen} did not close; it stays open until the process ends"
            );
        }
    }
}
