//! Reproducing a leak with real traffic: a recording reverse proxy that writes HAR files, and a
//! replayer that drives a service with them.
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
