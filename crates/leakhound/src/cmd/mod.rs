//! One module per subcommand: parse the options, call `leakhound-app`, print. Each returns
//! whether `--fail-on` matched (exit code 1).

pub mod ab;
pub mod agent;
pub mod analyze;
pub mod compare;
pub mod demo;
pub mod export;
pub mod fleet;
pub mod gc;
pub mod import;
pub mod plot;
pub mod record;
pub mod replay;
pub mod report;
pub mod run;
pub mod runs;
pub mod watch;

use leakhound_app::conclude::Concluded;
use leakhound_app::Verdict;
use leakhound_app::{judge, Judged};

use crate::cli::{FailOn, Format};

/// Whether `fail_on` matches a verdict.
pub fn gate(judged: &[Judged], fail_on: Option<FailOn>) -> bool {
    judged.iter().any(|a| fails(a.finding.verdict, fail_on))
}

/// Whether `verdict` is `fail_on` or worse.
pub fn fails(verdict: Verdict, fail_on: Option<FailOn>) -> bool {
    match fail_on {
        Some(FailOn::Leak) => verdict == Verdict::Leak,
        Some(FailOn::Inconclusive) => verdict != Verdict::NoLeak,
        None => false,
    }
}

/// Prints the verdicts of a sampling session (`run`, `watch`), after `note` when given.
/// Text goes to stderr: the command's own stdout may be the terminal too, and a pipe of the
/// command's output stays clean.
pub fn print_concluded(
    concluded: Concluded,
    format: Format,
    fail_on: Option<FailOn>,
    note: Option<String>,
) -> bool {
    let verdicts = match concluded.verdicts {
        Ok(j) => j,
        Err(e) => {
            eprintln!("leakhound: run {}: no verdict: {e:#}", concluded.run);
            return false;
        }
    };
    match format {
        Format::Json => println!("{}", judge::output(&verdicts).json_text()),
        Format::Text => {
            let mut out = String::new();
            if let Some(n) = note {
                out.push_str(&n);
                out.push('\n');
            }
            out.push_str(&judge::output(&verdicts).text());
            eprint!("{out}");
        }
    }
    gate(&verdicts.series, fail_on)
}
