//! leakhound's analysis: pure functions from samples to findings. No I/O: plain slices in.
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
//!
//! Where things are:
//! - The types shared by the verdict, the load model, the sequential looks and the sites, below
//!   all of them, in [`finding`]: [`Verdict`], [`Pattern`], [`Load`], [`Config`] (tolerance,
//!   limit, restarts, confidence, load), [`Note`], [`Finding`], [`EndShift`], [`InputError`].
//! - The [`verdict`]: [`analyze`], and [`analyze_with`] with workload counters as covariates;
//!   `verdict/shape.rs` reads the floor's shape beside the trend (what a warm-up is to the line,
//!   collections versus restarts, where growth ended and the tail after it, the daily profile,
//!   the start-up left out, the page quantum, the time to the limit).
//! - What competes with the line (what a trendline would take for growth or for no growth):
//!   warm-ups (`warmup`), a daily cycle or a workload counter (`load`), one lasting step
//!   (`step`), and the noise ([`noise`]: a slow wander and fast noise split by REML; AR(1) GLS
//!   with coefficients under a prior, [`regression::gls_ar1_prior`]). Short soaks (issue 22)
//!   rest on these and on [`jumps::end_shift`]: a shift in the last floor points is reported,
//!   and the rate judged before it.
//! - Where and why: [`frames`] (a stack's allocating function, past allocator and runtime
//!   frames), [`sites`] (sites judged per stack and per function, ranked: leaks by rate; the
//!   flame graph's tree), [`attribution`] (what a workload counter explains beyond time, bytes
//!   per event, lockstep groups, which kind of memory grows), [`retainers`] (who holds what
//!   grew, from heap snapshots), [`fleet`] (bytes per event among a fleet's leakers, the labels
//!   that separate them, groups).
//! - Over a soak: [`sequential`] (looks at a share of the error budget each, and when they may
//!   stop it). For comparison: [`baselines`], the methods people use today.
//!
//! Every estimator is tested on reference vectors (scipy, statsmodels, pymannkendall) or on a
//! synthetic truth.
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
