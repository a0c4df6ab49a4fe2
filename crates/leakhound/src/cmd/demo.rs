//! `leakhound demo`: a real process that really leaks, sampled and judged, in one command.

use std::path::Path;

use leakhound_app::session::Sampling;
use leakhound_app::soak::{default_load, Soak};
use leakhound_app::Policy;
use leakhound_report::units::format_duration;

use crate::cli::{DemoArgs, Format};
use crate::cmd::run::{soak_and_print, Printing};
use crate::options::duration;

/// The demo's tolerance: 1 MiB/day, the default for a service of its size, said explicitly.
const TOLERANCE: f64 = 1048576.0;

pub fn run(db: &Path, args: &DemoArgs) -> anyhow::Result<bool> {
    let secs = duration("--for", &args.duration)?;
    let exe = std::env::current_exe()?;
    eprintln!(
        "leakhound demo: a simulated service handles ~100 requests/s (swinging ±80% every 20 s),\n\
         frees its garbage in bursts (a sawtooth of ~4 MiB) and keeps 2 KiB of every request\n\
         forever. leakhound samples it every 0.5 s for {} and judges the floor.\n",
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
    let soak = Soak {
        sampling: Sampling {
            interval: 0.5,
            duration: Some(secs),
            smaps: true,
            scrapes: Vec::new(),
            sites: None,
            policy: Policy {
                tolerance: Some(TOLERANCE),
                ..Policy::with_load(default_load(None))
            },
        },
        until_verdict: false,
        output: Some(std::env::temp_dir().join("leakhound-demo-workload.log")),
        grace: 2.0,
        agent: false,
        native: None,
        replay: None,
        command,
    };
    let printing = Printing {
        format: Format::Text,
        fail_on: None,
    };
    let gate = soak_and_print(db, &soak, &printing)?;
    eprintln!(
        "\nNext: `leakhound runs` lists it, `leakhound analyze --format json` gives the verdict as JSON,\n\
         `leakhound export RUN` writes the samples as CSV."
    );
    Ok(gate)
}
