//! How long samples stay whole, and `leakhound gc`: compaction of closed blocks, floor
//! summaries for what is older than the retention, and the freed pages given back.
//!
//! A sampling session applies its retention at idle moments of its writer (to every run in
//! the database: it is one file in the user's home); `gc` applies one on demand.

use std::path::Path;

use leakhound_report::units::format_duration;
use leakhound_store::{Upkeep, UpkeepCursor, UpkeepDone};

use crate::database::open_rw;
use crate::error::user;
use crate::sampling::Sampler;

/// Samples stay whole this long by default (30 days), then only their floor summaries do:
/// `watch --name` of 100 processes every second keeps about 1 GB whole at the measured ~3
/// bytes per sample, and a year of summaries of one series takes a few megabytes.
pub const DEFAULT_RETENTION: f64 = 30.0 * 86400.0;

/// Shortest retention accepted: the looks and the verdict at the end of a session read whole
/// samples of the last hour at least.
pub const MIN_RETENTION: f64 = 3600.0;

/// The sentence that says what a retention keeps.
pub fn describe(retention: Option<f64>) -> String {
    match retention {
        Some(r) => format!(
            "samples older than {} are kept as floor summaries (min, 10th percentile, max per window; --retention)",
            format_duration(r)
        ),
        None => "samples are kept whole however old (--retention forever)".into(),
    }
}

/// Applies `retention` while `sampler` samples, and says so.
pub fn keep(sampler: &mut Sampler, retention: Option<f64>) {
    sampler.set_retention(retention);
    eprintln!("leakhound: {}", describe(retention));
}

/// What `gc` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Collected {
    /// The database.
    pub database: String,
    /// The retention applied, seconds (`None`: forever).
    pub retention_seconds: Option<f64>,
    /// Blocks rewritten, samples compacted and summarized, windows written.
    #[serde(flatten)]
    pub upkeep: UpkeepDone,
    /// Bytes of the file (and its write-ahead log) before and after.
    pub bytes_before: u64,
    /// After.
    pub bytes_after: u64,
    /// Why the file was not shrunk, if it was not (another leakhound held it).
    pub not_shrunk: Option<String>,
}

fn file_bytes(db: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    len(db) + len(Path::new(&wal))
}

/// Compacts every closed block of the database at `db`, keeps samples older than
/// `retention` as floor summaries, and gives the freed pages back to the file system.
pub fn gc(db: &Path, retention: Option<f64>) -> anyhow::Result<Collected> {
    if !db.exists() {
        return Err(user(format!(
            "no database at {} yet: nothing to collect (pass --db)",
            db.display()
        )));
    }
    let bytes_before = file_bytes(db);
    let store = open_rw(db)?;
    let now = leakhound_time::unix_now();
    let upkeep = store.upkeep(
        &Upkeep {
            now,
            retention,
            run: None,
        },
        &mut UpkeepCursor::default(),
        None,
    )?;
    let not_shrunk = match store.shrink() {
        Ok(()) => None,
        Err(e) if e.is_busy() => Some(format!(
            "{} is busy (a watch is writing); its freed pages are reused by later writes",
            db.display()
        )),
        Err(e) => return Err(e.into()),
    };
    Ok(Collected {
        database: db.display().to_string(),
        retention_seconds: retention,
        upkeep,
        bytes_before,
        bytes_after: file_bytes(db),
        not_shrunk,
    })
}
