//! Where the database lives (`--db`, `LEAKHOUND_DB`, else the user's data directory), opening
//! it, and what a new run records about itself.

use std::path::{Path, PathBuf};

use leakhound_store::{NewRun, Store};

use crate::error::user;
use crate::kinds::EventKind;

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
pub const LOAD_EVENT: &str = EventKind::Load.as_str();

/// Event kind that records what holds the memory that leaks (`--retainers`): its detail is
/// `{"site": [frames], "holders": [{"path": [...], "bytes": N, "objects": N, ...}]}`, the
/// holders of one site's objects (`site` empty: of the process's growth), read back into
/// [`crate::input::Input::holders`] (the latest event per site).
pub const HOLDERS_EVENT: &str = EventKind::Holders.as_str();

/// The detail of a [`HOLDERS_EVENT`].
pub fn holders_detail(
    site: &[String],
    holders: &[leakhound_analysis::retainers::Holder],
) -> String {
    #[derive(serde::Serialize)]
    struct Detail<'a> {
        site: &'a [String],
        holders: &'a [leakhound_analysis::retainers::Holder],
    }
    serde_json::to_string(&Detail { site, holders }).unwrap_or_default()
}

/// The holders recorded in a run's [`HOLDERS_EVENT`]s: the latest per site, largest first.
pub fn holders_of(events: &[leakhound_store::Event]) -> Vec<leakhound_analysis::retainers::Holder> {
    #[derive(serde::Deserialize)]
    struct Detail {
        #[serde(default)]
        site: Vec<String>,
        holders: Vec<leakhound_analysis::retainers::Holder>,
    }
    let mut latest = std::collections::BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == HOLDERS_EVENT) {
        if let Ok(d) = serde_json::from_str::<Detail>(&e.detail) {
            latest.insert(d.site, d.holders);
        }
    }
    let mut all: Vec<_> = latest.into_values().flatten().collect();
    all.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
    all
}

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
        &[EventKind::Load.at(new.started_at, load.as_str().into())],
    )?;
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_analysis::retainers::Holder;

    fn event(detail: String) -> leakhound_store::Event {
        leakhound_store::Event {
            t: 1.0,
            kind: HOLDERS_EVENT.into(),
            detail,
        }
    }

    #[test]
    fn holders_are_the_latest_per_site_largest_first() {
        let h = |p: &str, bytes: f64| Holder {
            path: vec![p.into()],
            bytes,
            objects: 1.0,
            source: "node".into(),
            pid: Some(3),
        };
        let site = vec!["Leak$Session".to_string()];
        let events = [
            event(holders_detail(&site, &[h("old", 9e9)])),
            event(holders_detail(&site, &[h("Leak.SESSIONS (static)", 10.0)])),
            event(holders_detail(&[], &[h("visitors (Array)", 20.0)])),
            // A JVM's holder as its events carry it: path, bytes, objects.
            event(r#"{"site":["X"],"holders":[{"path":["a","b"],"bytes":5,"objects":2}]}"#.into()),
            event("not json".into()),
        ];
        let got = holders_of(&events);
        let paths: Vec<&str> = got.iter().map(|h| h.path[0].as_str()).collect();
        assert_eq!(paths, ["visitors (Array)", "Leak.SESSIONS (static)", "a"]);
        assert_eq!(got[2].source, "", "runtimes that do not say are left blank");
    }
}
