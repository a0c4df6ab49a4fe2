//! Measuring leakhound: a labelled synthetic corpus with known truth, and the methods people
//! use today, scored side by side (`cargo run --release -p leakhound-bench --bin scorer`).
#![deny(missing_docs)]

pub mod corpus;
pub mod families;
pub mod rng;
pub mod score;
pub mod service;
pub mod sites_corpus;
pub mod soaks;
pub mod storage;

/// The number after `--name` on the command line, or `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
