//! Storage of leakhound runs: an embedded SQLite database (WAL) holding runs, their series,
//! samples, allocation sites and events, plus the CSV format that moves series in and out.
//!
//! Writers batch each sampling interval into one transaction, so killing the process at any
//! moment loses at most the interval being written. Readers open the same file while a writer
//! is active (WAL lets them see the last committed interval).
//!
//! Samples land as rows; [`Store::upkeep`] later moves each closed block of a series into one
//! compressed chunk (about 2 bytes per page-aligned memory sample instead of 27) and turns
//! blocks older than the retention into floor summaries. Reads merge chunks and rows.
//!
//! Where things are:
//! - `records`: what the database holds, as values ([`RunInfo`], [`SeriesInfo`], [`SiteInfo`],
//!   [`Event`]), and what a writer creates with them ([`NewRun`], [`NewSeries`], [`NewSite`]).
//! - `db`: the [`Store`]: opening (migrations applied), runs created and finished, and one
//!   interval per transaction ([`Store::write_interval`]: the series it is the first to use,
//!   whose samples name them by a negative alias, its sites, samples and events);
//!   `db/listing.rs`: runs with their sizes, a run's series, sites and events.
//! - `read`: a series whole, or at most so many points (each span's lowest, so the floor
//!   survives), chunks and the rows since merged in one read transaction.
//! - `upkeep` and `chunk`: blocks aligned to multiples of their width, so a block is the same
//!   whoever compacts it; each rewritten in one transaction (chunk in, rows out), lossless for
//!   samples; chunks are columns compressed with pco.
//! - `schema`: the migrations, counted by `PRAGMA user_version`; `tests/migration.rs` opens a
//!   database written by the previous version (`tests/fixtures/v2.db`).
//! - [`csv`], the CSV contract.
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
