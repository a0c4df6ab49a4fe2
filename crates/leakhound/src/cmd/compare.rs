//! `leakhound compare`: the ratio of two leak rates with a 95% interval.

use std::path::Path;

use leakhound_analysis::Load;
use leakhound_app::compare::{compare_inputs, compare_variants};
use leakhound_app::input::resolve;

use crate::cli::{CompareArgs, Format};
use crate::options::verdict_policy;

pub fn run(db: &Path, args: &CompareArgs) -> anyhow::Result<bool> {
    let policy = verdict_policy(&args.verdict, Load::Auto)?;
    let cmp = match &args.b {
        None => compare_variants(&resolve(db, Some(&args.a))?, &args.series, &policy)?,
        Some(b) => {
            let (ia, ib) = (resolve(db, Some(&args.a))?, resolve(db, Some(b))?);
            compare_inputs(&ia, &ib, &args.series, &policy)?
        }
    };
    match args.format {
        Format::Json => println!("{}", cmp.output().json_text()),
        Format::Text => println!("{}", cmp.output().text()),
    }
    Ok(false)
}
