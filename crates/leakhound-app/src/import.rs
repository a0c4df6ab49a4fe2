//! `leakhound import FILE.csv`: an external series stored as a run, created the way sessions
//! create theirs (with the load it assumes), and compacted at once.

use std::collections::BTreeMap;
use std::path::Path;

use leakhound_analysis::floor::median_interval;
use leakhound_analysis::Load;
use leakhound_store::{Upkeep, UpkeepCursor};

use crate::database::{create_run, new_run, open_rw};
use crate::input;
use crate::kinds::RunStatus;

/// What an import stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The new run.
    pub run: i64,
    /// Samples stored.
    pub samples: usize,
    /// Series stored.
    pub series: usize,
}

/// Stores the contract CSV `file` as a run in the database `db`, with the memory `limit` that
/// applied; judging it later assumes `load` unless told otherwise.
pub fn import_csv(
    db: &Path,
    file: &Path,
    limit: Option<u64>,
    load: Load,
) -> anyhow::Result<Imported> {
    let input = input::from_csv(file)?;
    let mut store = open_rw(db)?;
    let first_t = input
        .series
        .iter()
        .filter_map(|s| s.t.first().copied())
        .fold(f64::INFINITY, f64::min);
    let interval = input
        .series
        .first()
        .map(|s| median_interval(&s.t))
        .filter(|d| *d > 0.0);
    let new = new_run(
        "import",
        file.display().to_string(),
        first_t,
        interval,
        limit,
    );
    let run = create_run(&mut store, &new, load)?;
    let mut rows = Vec::new();
    for s in &input.series {
        let id = store.series(run, &s.name, &BTreeMap::new(), s.kind, s.unit.as_str())?;
        rows.extend(s.t.iter().zip(&s.v).map(|(&t, &v)| (id, t, v)));
    }
    store.write_batch(run, &rows, &[])?;
    let last_t = input
        .series
        .iter()
        .filter_map(|s| s.t.last().copied())
        .fold(f64::NEG_INFINITY, f64::max);
    store.finish_run(run, last_t, RunStatus::Finished.as_str(), None)?;
    store.upkeep(
        &Upkeep::whole_run(run, last_t),
        &mut UpkeepCursor::default(),
        None,
    )?;
    Ok(Imported {
        run,
        samples: rows.len(),
        series: input.series.len(),
    })
}
