//! Storage of leakhound runs: an embedded SQLite database (WAL) holding runs, their series,
//! samples and events, plus the CSV format that moves series in and out.
//!
//! Writers batch each sampling interval into one transaction, so killing the process at any
//! moment loses at most the interval being written. Readers open the same file while a writer
//! is active (WAL lets them see the last committed interval).
#![deny(missing_docs)]

pub mod csv;
mod db;
mod error;
mod schema;

pub use db::{
    site_hash, Event, NewRun, RunId, RunInfo, SeriesId, SeriesInfo, SeriesKind, SiteInfo, Store,
};
pub use error::StoreError;
