//! Reproducing a leak with real traffic: a recording reverse proxy that writes HAR files
//! ([`record`], [`har`]), and a replayer that drives a service with them ([`replay`]). Also the
//! rest of leakhound's HTTP: the Prometheus query client `fleet` reads a TSDB with ([`prom`]),
//! the `/metrics` endpoint of `watch --listen` and the fetcher of `--scrape` and `--pprof`
//! endpoints ([`exporter`]), and the exposition text that endpoint serves ([`metrics`]).
//!
//! A recorder killed at any moment leaves a HAR file that reads back (the entries written so
//! far); bodies stream through it unchanged, only their first bytes kept for the file.
#![deny(missing_docs)]

mod body;
pub mod exporter;
pub mod har;
pub mod metrics;
pub mod prom;
pub mod record;
pub mod replay;

/// URIs as the recorder and replayer take them.
pub use hyper::Uri;
