//! `leakhound demo`: a real process that really leaks, sampled and judged, in one command.

use std::path::Path;

use leakhound_app::session::Sampling;
use leakhound_app::soak::{default_load, Soak};
use leakhound_app::Policy;
use leakhound_report::units::format_duration;

use crate::cli::{DemoArgs, Format};
use crate::cmd::run::{soak_and_print, Printing};
use crate::options::duration;
use leakhound_app::{input, judge, user};

/// The demo's tolerance: 1 MiB/day, the default for a service of its size, said explicitly.
const TOLERANCE: f64 = 1048576.0;

pub fn run(db: &Path, args: &DemoArgs) -> anyhow::Result<bool> {
    let secs = duration("--for", &args.duration)?;
    let exe = std::env::current_exe()?;
    eprintln!(
        "leakhound demo: a simulated service handles ~100 requests/s (swinging ±80% every 20 s),\n\
         frees its garbage in bursts (a sawtooth of ~4 MiB) and keeps 2 KiB of every request\n\
         forever; it counts its requests on a Prometheus endpoint. leakhound samples it every\n\
         0.5 s for {}, scrapes the counter, and judges the floor.\n",
        format_duration(secs)
    );
    let workload = [
        "workload",
        "service",
        "--leak",
        "2048",
        "--rate",
        "100",
        "--period",
        "20",
        "--garbage",
        "4",
        "--garbage-chunk",
        "65536",
        "--for",
    ];
    let mut command = vec![exe.display().to_string()];
    command.extend(workload.iter().map(|s| s.to_string()));
    command.push(format!("{}", secs + 5.0));
    // The service counts its requests where Prometheus would read them; leakhound scrapes them
    // too, so the verdict can say what the leak follows.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())?;
    command.extend(["--metrics-port".to_string(), port.to_string()]);
    let metrics: leakhound_app::traffic::Uri = format!("http://127.0.0.1:{port}/metrics")
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let soak = Soak {
        sampling: Sampling {
            interval: 0.5,
            duration: Some(secs),
            smaps: true,
            scrapes: vec![metrics],
            sites: None,
            sites_schedule: leakhound_app::wire::Schedule::thinning(),
            retainers: None,
            pprof: None,
            histogram_interval: None,
            retention: Some(leakhound_app::retention::DEFAULT_RETENTION),
            policy: Policy {
                tolerance: Some(TOLERANCE),
                ..Policy::with_load(default_load(None))
            },
        },
        until_verdict: false,
        min_soak: leakhound_app::session::DEFAULT_MIN_SOAK,
        output: Some(std::env::temp_dir().join("leakhound-demo-workload.log")),
        grace: 2.0,
        agent: false,
        jvm: false,
        native: None,
        replay: None,
        command,
    };
    let printing = Printing {
        format: Format::Text,
        fail_on: None,
    };
    let gate = soak_and_print(db, &soak, &printing)?;
    let report = std::env::temp_dir().join("leakhound-demo-report.html");
    let input = input::resolve(db, None)?;
    let verdicts = judge::judge_all(&input, &[], &soak.sampling.policy)?;
    let page = judge::report_output(&input, &verdicts)
        .html(&judge::report_meta(&input))
        .map_err(|e| anyhow::anyhow!(e))?;
    std::fs::write(&report, page)
        .map_err(|e| user(format!("cannot write {}: {e}", report.display())))?;
    eprintln!(
        "\nThe report, with charts: {}\n\
         Next: `leakhound runs` lists it, `leakhound analyze --format json` gives the verdict as JSON,\n\
         `leakhound export RUN` writes the samples as CSV.",
        report.display()
    );
    Ok(gate)
}
