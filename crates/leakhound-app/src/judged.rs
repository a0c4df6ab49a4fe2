//! A series with its verdict: what judging gives and what the causes, the sessions and the
//! outputs take (its own module, below all of them).

use leakhound_analysis::Finding;
use leakhound_report::SeriesOutput;

use crate::input::SeriesData;

/// A verdict on one series.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The series judged.
    pub series: SeriesData,
    /// Its verdict and everything behind it.
    pub finding: Finding,
}

impl Judged {
    /// This series and its finding, as the outputs show them.
    pub fn output(&self) -> SeriesOutput<'_> {
        series_output(&self.series, Some(&self.finding))
    }
}

pub(crate) fn series_output<'a>(
    s: &'a SeriesData,
    finding: Option<&'a Finding>,
) -> SeriesOutput<'a> {
    SeriesOutput {
        name: &s.name,
        labels: &s.labels,
        unit: s.unit.as_str(),
        t: &s.t,
        v: &s.v,
        finding,
    }
}
