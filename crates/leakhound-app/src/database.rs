//! Where the database lives (`--db`, `LEAKHOUND_DB`, else the user's data directory), opening
//! it, and what a new run records about itself.

use std::path::{Path, PathBuf};

use leakhound_store::{NewRun, Store};

use crate::error::user;

/// `~/.local/share/leakhound/leakhound.db` (the user's data directory).
pub fn default_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("leakhound")
        .join("leakhound.db")
}

/// Opens the database for writing, creating its directory.
pub fn open_rw(path: &Path) -> anyhow::Result<Store> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            user(format!(
                "cannot create the database directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    Store::open(path).map_err(|e| user(e.to_string()))
}

/// Opens an existing database for reading.
pub fn open_ro(path: &Path) -> anyhow::Result<Store> {
    if !path.exists() {
        return Err(user(format!(
            "no database at {} yet: record a run first (leakhound run -- CMD), or pass --db",
            path.display()
        )));
    }
    Store::open_read_only(path).map_err(|e| user(e.to_string()))
}

/// This machine's name, for the runs it records.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// What a run of `kind` records when it starts.
pub fn new_run(
    kind: &str,
    target: String,
    started_at: f64,
    interval: Option<f64>,
    limit: Option<u64>,
) -> NewRun {
    NewRun {
        kind: kind.into(),
        target,
        host: host_name(),
        started_at,
        interval_s: interval,
        limit_bytes: limit,
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// Event kind that records the load a sampling session assumed, so that judging the run later
/// assumes it too (a soak's constant load) unless told otherwise.
pub const LOAD_EVENT: &str = "load";

/// Event kind that records what holds the memory that leaks (`--retainers`): its detail is
/// the JSON list of holders (`leakhound_analysis::retainers::Holder`), read back into
/// [`crate::input::Input::holders`].
pub const HOLDERS_EVENT: &str = "holders";

/// Creates the run described by `new` and records the `load` it assumes.
pub fn create_run(
    store: &mut Store,
    new: &NewRun,
    load: leakhound_analysis::Load,
) -> anyhow::Result<leakhound_store::RunId> {
    let run = store.create_run(new)?;
    store.write_batch(
        run,
        &[],
        &[leakhound_store::Event {
            t: new.started_at,
            kind: LOAD_EVENT.into(),
            detail: load.as_str().into(),
        }],
    )?;
    Ok(run)
}
