//! `leakhound analyze`: verdicts for the series of a run or a CSV file.

use std::path::Path;

use leakhound_app::Load;
use leakhound_app::{input, judge};

use crate::cli::{AnalyzeArgs, Format};
use crate::cmd::gate;
use crate::options::{input_policy, verdict_policy};

pub fn run(db: &Path, args: &AnalyzeArgs) -> anyhow::Result<bool> {
    // Bad options fail before any input is read.
    verdict_policy(&args.verdict, Load::Auto)?;
    let input = input::resolve(db, args.input.as_deref())?;
    let policy = input_policy(&args.verdict, &input)?;
    let verdicts = judge::judge_all(&input, &args.series, &policy)?;
    match args.format {
        Format::Json => println!("{}", judge::output(&verdicts).json_text()),
        Format::Text => print!("{}", judge::output(&verdicts).text()),
    }
    Ok(gate(&verdicts.series, args.fail_on))
}
