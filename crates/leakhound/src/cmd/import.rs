//! `leakhound import FILE.csv`: store an external series as a run.

use std::collections::BTreeMap;
use std::path::Path;

use leakhound_analysis::floor::median_interval;
use leakhound_app::database::{new_run, open_rw};
use leakhound_app::input;
use leakhound_store::{Upkeep, UpkeepCursor};

use crate::cli::ImportArgs;
use crate::options::size;

pub fn run(db: &Path, args: &ImportArgs) -> anyhow::Result<bool> {
    let limit = args
        .limit
        .as_deref()
        .map(|s| size("--limit", s))
        .transpose()?;
    let input = input::from_csv(&args.file)?;
    let mut store = open_rw(db)?;
    let first_t = input
        .series
        .iter()
        .filter_map(|s| s.t.first().copied())
        .fold(f64::INFINITY, f64::min);
    let all_t: Vec<f64> = input
        .series
        .first()
        .map(|s| s.t.clone())
        .unwrap_or_default();
    let run = store.create_run(&new_run(
        "import",
        args.file.display().to_string(),
        first_t,
        Some(median_interval(&all_t)).filter(|d| *d > 0.0),
        limit.map(|l| l as u64),
    ))?;
    let mut rows = Vec::new();
    for s in &input.series {
        let id = store.series(run, &s.name, &BTreeMap::new(), s.kind, &s.unit)?;
        rows.extend(s.t.iter().zip(&s.v).map(|(&t, &v)| (id, t, v)));
    }
    store.write_batch(run, &rows, &[])?;
    let last_t = input
        .series
        .iter()
        .filter_map(|s| s.t.last().copied())
        .fold(f64::NEG_INFINITY, f64::max);
    store.finish_run(run, last_t, "finished", None)?;
    // Compress the run now rather than at the next writer's idle moments.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let u = Upkeep {
        now: now.max(last_t + 2.0 * 86400.0),
        retention: None,
        run: Some(run),
    };
    store.upkeep(&u, &mut UpkeepCursor::default(), None)?;
    println!(
        "imported {} samples of {} series from {} as run {run}",
        rows.len(),
        input.series.len(),
        args.file.display()
    );
    Ok(false)
}
