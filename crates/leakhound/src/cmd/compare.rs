//! `leakhound compare`: the ratio of two leak rates with a 95% interval.

use std::path::Path;

use leakhound_app::compare::{compare_inputs, compare_variants};
use leakhound_app::input::resolve;
use leakhound_app::Load;

use crate::cli::{CompareArgs, Format};
use crate::options::{input_policy, verdict_policy};

pub fn run(db: &Path, args: &CompareArgs) -> anyhow::Result<bool> {
    // Bad options fail before any input is read.
    verdict_policy(&args.verdict, Load::Auto)?;
    let cmp = match &args.b {
        None => {
            let input = resolve(db, Some(&args.a))?;
            compare_variants(&input, &args.series, &input_policy(&args.verdict, &input)?)?
        }
        Some(b) => {
            let (ia, ib) = (resolve(db, Some(&args.a))?, resolve(db, Some(b))?);
            compare_inputs(&ia, &ib, &args.series, &input_policy(&args.verdict, &ia)?)?
        }
    };
    match args.format {
        Format::Json => println!("{}", cmp.output().json_text()),
        Format::Text => println!("{}", cmp.output().text()),
    }
    Ok(false)
}
