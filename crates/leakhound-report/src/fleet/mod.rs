//! The output of `fleet`: every series of a TSDB ranked, led by what the fleet says together
//! (how many instances leak, bytes per event among them, which labels separate them from the
//! others, groups by a label), as a table ([`prose`]), JSON ([`json`]) or an HTML page in the
//! report's look ([`html`]).

use std::collections::BTreeMap;

use leakhound_analysis::fleet::{GroupRate, LabelSplit, MixedAttribution, Within};
use leakhound_analysis::{Attribution, Finding, RateRatio, Verdict};

mod html;
mod json;
mod prose;
#[cfg(test)]
mod tests;

pub use json::{FleetAttributionJson, FleetJson, GroupJson, GroupsJson, LeakersJson};

/// One instance's series.
#[derive(Debug, Clone, Copy)]
pub struct FleetRow<'a> {
    /// Short name: the labels that tell instances apart (`instance=api-03`).
    pub instance: &'a str,
    /// All labels of the series, `__name__` included when the TSDB gave it.
    pub labels: &'a BTreeMap<String, String>,
    /// Its finding.
    pub finding: &'a Finding,
}

/// `fleet --group-by`: the groups' mean rates and their ratios to the slowest growing group.
#[derive(Debug, Clone, Copy)]
pub struct FleetGroups<'a> {
    /// The label grouped by.
    pub label: &'a str,
    /// One entry per value of the label.
    pub rates: &'a [GroupRate],
    /// Ratio of each group (aligned with `rates`) to the slowest growing group; `None` for a
    /// group that does not grow.
    pub ratios: &'a [Option<RateRatio>],
}

/// The test of "the instances that do not leak have a rate of zero".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flatness {
    /// Its p-value.
    pub p: f64,
    /// Whether they are said to be flat (`p` at or above the level the application chose).
    pub flat: bool,
}

/// The ranked fleet and what its instances say together.
#[derive(Debug, Clone, Default)]
pub struct FleetOutput<'a> {
    /// The selector the series came from (their name when the TSDB gave none).
    pub query: &'a str,
    /// Series, worst first.
    pub rows: Vec<FleetRow<'a>>,
    /// Leak rate against event rate across all instances (JSON only: diluted in a mixed fleet).
    pub attribution: Option<&'a Attribution>,
    /// The counter query (`--counter`).
    pub counter: Option<&'a str>,
    /// Bytes per event among the leaking instances.
    pub leakers: Option<&'a MixedAttribution>,
    /// Whether the instances that do not leak fit a rate of zero, as the application decided.
    pub others_flat: Option<Flatness>,
    /// How many of the instances that do not leak are known to be within their tolerance.
    pub others_within: Option<Within>,
    /// Label values that separate leaking from other instances, most surprising first (empty:
    /// none does; `None`: not examined, the fleet is not mixed or too small to tell).
    pub separating: Option<&'a [LabelSplit]>,
    /// The adjusted p-value under which a label value is said to separate the leakers.
    pub separation_level: f64,
    /// `--group-by`.
    pub groups: Option<FleetGroups<'a>>,
}

impl FleetOutput<'_> {
    fn counts(&self) -> (usize, usize) {
        let leaking = self
            .rows
            .iter()
            .filter(|r| r.finding.verdict == Verdict::Leak)
            .count();
        (self.rows.len(), leaking)
    }
}
