//! Measuring leakhound: a labelled synthetic corpus with known truth, and the methods people
//! use today, scored side by side (`cargo run --release -p leakhound-bench --bin scorer`).
#![deny(missing_docs)]

pub mod corpus;
pub mod rng;
pub mod score;
