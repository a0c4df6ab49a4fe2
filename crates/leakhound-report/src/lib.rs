//! Presentation: turns findings into sentences, terminal summaries and the JSON contract, and
//! reads and writes human units. Pure: strings in, strings out.
//!
//! Each command's output has one model here ([`AnalysisOutput`], [`ComparisonOutput`],
//! [`FleetOutput`]) that renders as text, JSON and HTML, so the formats cannot drift apart.
//! Allocation sites also export as profiles other tools read ([`SitesProfile`]: pprof and
//! folded stacks).
#![deny(missing_docs)]

pub mod analysis;
pub mod chart;
pub mod compare;
pub mod flame;
pub mod fleet;
pub mod headline;
pub mod holders;
pub mod html;
pub mod json;
pub mod markup;
pub mod pprof;
pub mod profile;
pub mod sentence;
pub mod sites;
pub mod terminal;
#[cfg(test)]
mod testdata;
pub mod units;

pub use analysis::{display_name, AnalysisOutput, SeriesOutput};
pub use compare::{CompareSide, ComparisonOutput};
pub use fleet::{FleetOutput, FleetRow};
pub use json::{AnalysisJson, SeriesJson};
pub use profile::{ProfileStack, ProfileValue, SitesProfile};
pub use sentence::{compare_sentence, explain};
