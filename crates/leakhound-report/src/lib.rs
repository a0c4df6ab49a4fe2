//! Presentation: turns findings into sentences, terminal summaries, charts, the HTML report and
//! the JSON contract, and reads and writes human units. Pure: findings in, strings out.
//!
//! Each command's output has one model here ([`AnalysisOutput`], [`ComparisonOutput`],
//! [`FleetOutput`]) that renders as text, JSON and HTML, so the formats cannot drift apart.
//! Allocation sites also export as profiles other tools read ([`SitesProfile`]: pprof and
//! folded stacks).
//!
//! Nothing is decided here, only said: the confidence printed is the one the findings were
//! judged at ([`sentence::ci_label`], [`sentence::rate_column`]), and whether a fleet's other
//! instances are flat ([`fleet::Flatness`]) and the level at which a label separates the leakers
//! come from the application. JSON field names are a contract (DESIGN.md).
//!
//! Where things are:
//! - The models: [`analysis`] (`analyze`, `report`, the verdict of `run` and `watch`),
//!   [`compare`] (`compare`, `ab`), [`fleet`] (the model in `fleet/mod.rs`: [`FleetOutput`],
//!   [`FleetRow`], [`fleet::FleetGroups`], [`fleet::Flatness`]; one file per format:
//!   `prose.rs`, `json.rs`, `html.rs`).
//! - What every format says the same way: [`headline`] (the strongest conclusive finding and
//!   the site where it grows, which every format of an analysis leads with), [`sentence`] (the
//!   verdict in words; [`sentence::event_noun`], one rule for naming a counter's events),
//!   [`sites`] (the sites section, text and HTML), [`holders`] (what holds the memory),
//!   [`units`].
//! - The formats' own parts: [`terminal`], [`json`], [`html`] with [`chart`] (SVG, PNG) and
//!   [`flame`] (the growth flame graph), [`markup`] (escaping, the sparkline); [`profile`] and
//!   [`pprof`] (a [`SitesProfile`] as folded stacks or gzipped `profile.proto`).
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
