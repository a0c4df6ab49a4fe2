//! `leakhound run -- CMD`: start a command, sample its process tree until it ends.

use std::path::Path;

use leakhound_app::session::End;
use leakhound_app::soak::{default_load, soak, Soak};
use leakhound_report::units::format_duration;

use crate::cli::{FailOn, Format, RunArgs};
use crate::cmd::print_concluded;
use crate::live::Live;
use crate::options::{duration, native_sites, replay_plan, sampling};

/// How the soak is printed.
pub struct Printing {
    /// Text or JSON.
    pub format: Format,
    /// Exit 1 when a verdict is this or worse.
    pub fail_on: Option<FailOn>,
}

pub fn run(db: &Path, args: &RunArgs) -> anyhow::Result<bool> {
    let replay = match (&args.replay, &args.target) {
        (Some(har), Some(target)) => Some(replay_plan(har, target, &args.pacing)?),
        _ => None,
    };
    let soak = Soak {
        sampling: sampling(
            &args.sampling,
            default_load(replay.as_ref().map(|p| p.pacing)),
        )?,
        until_verdict: args.until_verdict,
        min_soak: duration("--min-soak", &args.min_soak)?,
        output: args.output.clone(),
        grace: duration("--grace", &args.grace)?,
        agent: !args.no_agent,
        jvm: args.jvm,
        native: native_sites(args)?,
        replay,
        command: args.command.clone(),
    };
    let printing = Printing {
        format: args.sampling.format,
        fail_on: args.sampling.fail_on,
    };
    soak_and_print(db, &soak, &printing)
}

/// Runs `soak` and prints its verdict; shared with `demo`.
pub fn soak_and_print(db: &Path, soak_opts: &Soak, printing: &Printing) -> anyhow::Result<bool> {
    let soaked = soak(db, soak_opts, &mut Live::new(false))?;
    let note = match &soaked.end {
        End::Exited(st) if !st.success() => {
            Some(format!("leakhound: the command exited with {st}"))
        }
        End::Verdict(v) => Some(format!(
            "leakhound: stopped after {}: the verdict is {}",
            format_duration(soaked.elapsed),
            v.as_str()
        )),
        End::Interrupted => Some("leakhound: interrupted; the command was stopped".into()),
        _ => None,
    };
    Ok(print_concluded(
        soaked.concluded,
        printing.format,
        printing.fail_on,
        note,
    ))
}
