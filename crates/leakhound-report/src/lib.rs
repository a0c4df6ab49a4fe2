//! Presentation: turns findings into sentences, terminal summaries and the JSON contract, and
//! reads and writes human units. Pure: strings in, strings out.
#![deny(missing_docs)]

pub mod chart;
pub mod flame;
pub mod html;
pub mod json;
pub mod sentence;
pub mod terminal;
pub mod units;

pub use json::{AnalysisJson, SeriesJson};
pub use sentence::{compare_sentence, explain};
