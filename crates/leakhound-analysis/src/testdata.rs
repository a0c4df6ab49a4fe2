//! Reference vectors from scipy, statsmodels and pymannkendall
//! (`python3 tools/reference/make_reference.py`), for unit tests.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(crate) struct Reference {
    pub t_quantiles: Vec<Quantile>,
    pub normal_quantiles: Vec<Quantile>,
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Quantile {
    #[serde(default)]
    pub df: f64,
    pub p: f64,
    pub q: f64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Case {
    pub name: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub ols: Ols,
    pub hac: Vec<Hac>,
    pub theil_sen: TheilSen,
    pub mann_kendall: MannKendall,
    pub acf1: f64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Ols {
    pub slope: f64,
    pub slope_se: f64,
    pub ci95: [f64; 2],
}

#[derive(Debug, Deserialize)]
pub(crate) struct Hac {
    pub maxlags: usize,
    pub use_correction: bool,
    pub slope_se: f64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TheilSen {
    pub slope: f64,
    pub intercept: f64,
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MannKendall {
    pub s: f64,
    pub var_s: f64,
    pub z: f64,
    pub p: f64,
    pub slope: f64,
    pub intercept: f64,
}

pub(crate) fn reference() -> Reference {
    serde_json::from_str(include_str!("../tests/fixtures/reference.json"))
        .expect("reference.json parses")
}
