//! `leakhound demo`: a real process that really leaks, sampled and judged, in one command.

use std::path::PathBuf;

use crate::cli::{DemoArgs, Format, RunArgs, SamplingArgs, VerdictArgs};
use crate::error::user;

pub fn run(db: &Option<PathBuf>, args: &DemoArgs) -> anyhow::Result<bool> {
    let secs = leakhound_report::units::parse_duration(&args.duration)
        .map_err(|e| user(format!("--for: {e}")))?;
    let exe = std::env::current_exe()?;
    eprintln!(
        "leakhound demo: a simulated service handles ~100 requests/s (swinging ±80% every 20 s),\n\
         frees its garbage in bursts (a sawtooth of ~4 MiB) and keeps 2 KiB of every request\n\
         forever. leakhound samples it every 0.5 s for {} and judges the floor.\n",
        leakhound_report::units::format_duration(secs)
    );
    let command = vec![
        exe.display().to_string(),
        "workload".into(),
        "service".into(),
        "--leak".into(),
        "2048".into(),
        "--rate".into(),
        "100".into(),
        "--period".into(),
        "20".into(),
        "--garbage".into(),
        "4".into(),
        "--garbage-chunk".into(),
        "65536".into(),
        "--for".into(),
        format!("{}", secs + 5.0),
    ];
    let run_args = RunArgs {
        sampling: SamplingArgs {
            interval: "500ms".into(),
            duration: Some(args.duration.clone()),
            no_smaps: false,
            scrape: Vec::new(),
            format: Format::Text,
            fail_on: None,
            verdict: VerdictArgs {
                tolerance: Some("1MiB/day".into()),
                limit: None,
            },
        },
        until_verdict: false,
        output: Some(std::env::temp_dir().join("leakhound-demo-workload.log")),
        grace: "2s".into(),
        no_agent: true,
        replay: None,
        target: None,
        pacing: crate::cli::ReplayPacing {
            speed: None,
            rate: None,
            concurrency: 16,
            repeat: false,
        },
        command,
    };
    let gate = crate::cmd::run::run(db, &run_args)?;
    eprintln!(
        "\nNext: `leakhound runs` lists it, `leakhound analyze --format json` gives the verdict as JSON,\n\
         `leakhound export RUN` writes the samples as CSV."
    );
    Ok(gate)
}
