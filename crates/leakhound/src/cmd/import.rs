//! `leakhound import FILE.csv`: store an external series as a run.

use std::path::Path;

use leakhound_app::import::import_csv;

use crate::cli::ImportArgs;
use crate::options::size;

pub fn run(db: &Path, args: &ImportArgs) -> anyhow::Result<bool> {
    let limit = args
        .limit
        .as_deref()
        .map(|s| size("--limit", s))
        .transpose()?;
    let done = import_csv(db, &args.file, limit.map(|l| l as u64), args.load)?;
    println!(
        "imported {} samples of {} series from {} as run {}",
        done.samples,
        done.series,
        args.file.display(),
        done.run
    );
    Ok(false)
}
