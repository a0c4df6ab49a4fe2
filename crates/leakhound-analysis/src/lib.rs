//! leakhound's analysis: pure functions from samples to findings. No I/O.
//!
//! The pipeline for one memory series: the [`floor`] (lower envelope, where leaks accumulate),
//! level [`jumps`] (steps, staircases, restarts), regression [`model`]s with intervals that hold
//! under autocorrelated noise ([`regression`]), and the [`verdict`].
//!
//! ```
//! use leakhound_analysis::{analyze, Config, Verdict};
//! // Two days of samples every 60 s: a 250 MB process leaking 8 MB/day, with a sawtooth.
//! let t: Vec<f64> = (0..2880).map(|i| i as f64 * 60.0).collect();
//! let y: Vec<f64> = t.iter().map(|t| 250e6 + 8e6 * t / 86400.0 + (t % 600.0) * 5e3).collect();
//! let f = analyze(&t, &y, &Config::with_tolerance(2e6)).unwrap();
//! assert_eq!(f.verdict, Verdict::Leak);
//! let rate = f.rate_per_day.unwrap();
//! assert!((rate - 8e6).abs() < 0.5e6, "{rate}");
//! ```
#![deny(missing_docs)]

pub mod attribution;
pub mod baselines;
pub mod finding;
pub mod fleet;
pub mod floor;
pub mod frames;
pub mod jumps;
mod load;
mod model;
pub mod noise;
pub mod regression;
pub mod retainers;
pub mod sequential;
pub mod sites;
mod step;
#[cfg(test)]
mod testdata;
pub mod verdict;
mod warmup;

pub use attribution::{
    attribute, fleet_attribution, memory_kind, rate_ratio, Attribution, AttributionReport, Counter,
    MemoryKind, RateRatio,
};
pub use sequential::{SequentialLooks, DEFAULT_MIN_SOAK};
pub use verdict::{
    analyze, analyze_with, default_tolerance, Config, EndShift, Finding, InputError, Load, Note,
    Pattern, Verdict, DEFAULT_CONFIDENCE,
};
