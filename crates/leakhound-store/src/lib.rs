//! Storage of leakhound runs: an embedded SQLite database (WAL) holding runs, their series,
//! samples and events, plus the CSV format that moves series in and out.
//!
//! Writers batch each sampling interval into one transaction, so killing the process at any
//! moment loses at most the interval being written. Readers open the same file while a writer
//! is active (WAL lets them see the last committed interval).
//!
//! Samples land as rows; [`Store::upkeep`] later moves each closed block of a series into one
//! compressed chunk (about 2 bytes per page-aligned memory sample instead of 27) and turns
//! blocks older than the retention into floor summaries. Reads merge chunks and rows.
#![deny(missing_docs)]

mod chunk;
pub mod csv;
mod db;
mod error;
mod read;
mod records;
mod schema;
mod upkeep;

pub use chunk::{FloorWindow, LOW_QUANTILE};
pub use db::{
    site_hash, Event, NewRun, NewSeries, NewSite, RunId, RunInfo, SeriesId, SeriesInfo, SeriesKind,
    SiteInfo, Store,
};
pub use error::StoreError;
pub use upkeep::{block_width, window_width, Upkeep, UpkeepCursor, UpkeepDone, GRACE};
