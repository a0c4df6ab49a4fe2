//! leakhound's application: what the commands do, as a library the binary calls and tests use
//! without spawning it.
//!
//! - Sampling: [`sampling`] (targets, declared series, sources with their own schedule, the
//!   spool), run by a [`session`] loop for [`soak`] (`run`), [`watch`] and [`ab`], closed by
//!   [`conclude`].
//! - Judging: [`input`] (a stored run or a CSV file), [`judge`] under a typed [`policy`],
//!   [`causes`] of a leak, [`compare`] and [`fleet`]; [`export`] of samples and of
//!   allocation sites as profiles.
//! - The native profiler library leakhound carries: [`preload`] (written to the user's cache
//!   on first use), loaded by [`native`].
//!
//! Outputs are returned as models of `leakhound-report`; the binary prints them. Progress and
//! warnings of long sessions are printed to stderr as they happen, so a session that runs for
//! days says what it is doing.
#![deny(missing_docs)]

pub mod ab;
pub mod agent_env;
pub mod causes;
pub mod child;
pub mod compare;
pub mod conclude;
pub mod database;
pub mod error;
pub mod export;
pub mod fleet;
pub mod import;
pub mod input;
pub mod inspect;
pub mod judge;
pub mod judged;
pub mod kinds;
pub mod native;
pub mod policy;
pub mod preload;
pub mod retention;
pub mod sampling;
pub mod session;
pub mod soak;
pub mod traffic;
pub mod watch;

pub use error::{user, UserError};
pub use judge::judge;
pub use judged::Judged;
/// The analysis' types the commands name: the load assumed, a verdict, the default confidence.
pub use leakhound_analysis::{Load, Verdict, DEFAULT_CONFIDENCE};
/// What leakhound and its in-process profilers agree on (report schedule, environment).
pub use leakhound_wire as wire;
/// The workload the demo soaks and the tests drive (`leakhound workload`).
pub use leakhound_workload as workload;
pub use policy::Policy;
