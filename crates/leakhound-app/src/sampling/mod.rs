//! Sampling, split by responsibility: the [`clock`], the [`series`] each kind of target
//! writes (declared once), the [`target`]s and their instances, runtime agents in them,
//! [`source`]s with their own schedule (scrapes, the replay counter, Go heap profiles, the
//! JVM's flight recording), allocation [`sites`], slow readings off the sampler's thread ([`worker`]), the
//! [`sampler`] that ties them together each interval, and the [`writer`] thread that stores
//! the intervals (held in the [`spool`] while the database refuses) and keeps the database up.

mod agent;
pub mod catalog;
pub mod clock;
mod exporter;
pub mod go;
pub mod jfr;
pub mod jvm;
pub mod replay_counter;
pub mod sampler;
pub mod scrape;
pub mod series;
pub mod sites;
pub mod source;
pub mod spool;
pub mod target;
mod warnings;
pub mod worker;
pub mod writer;

pub use catalog::SeriesSpec;
pub use clock::Clock;
pub use go::GoHeap;
pub use jvm::{require_jcmd, Jvm, JvmOptions, JvmProcess};
/// What the Node.js and Python agents are asked for about allocation sites.
pub use leakhound_probe::agent::SitesRequest;
pub use replay_counter::ReplayCounter;
pub use sampler::{Sampler, TickSummary};
pub use scrape::Scrapes;
pub use source::{Readings, Source};
pub use target::{Target, TargetSpec};
