//! Where the database lives: `--db`, `LEAKHOUND_DB`, else the user's data directory.

use std::path::{Path, PathBuf};

use leakhound_store::Store;

use crate::error::user;

pub fn default_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("leakhound")
        .join("leakhound.db")
}

fn resolve(db: &Option<PathBuf>) -> PathBuf {
    db.clone().unwrap_or_else(default_path)
}

/// Opens the database for writing, creating its directory.
pub fn open_rw(db: &Option<PathBuf>) -> anyhow::Result<(Store, PathBuf)> {
    let path = resolve(db);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            user(format!(
                "cannot create the database directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let store = Store::open(&path).map_err(|e| user(e.to_string()))?;
    Ok((store, path))
}

/// Opens an existing database for reading.
pub fn open_ro(db: &Option<PathBuf>) -> anyhow::Result<(Store, PathBuf)> {
    let path = resolve(db);
    if !Path::new(&path).exists() {
        return Err(user(format!(
            "no database at {} yet: record a run first (leakhound run -- CMD), or pass --db",
            path.display()
        )));
    }
    let store = Store::open_read_only(&path).map_err(|e| user(e.to_string()))?;
    Ok((store, path))
}
