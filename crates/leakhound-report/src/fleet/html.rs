//! The fleet as an HTML page in the report's look.

use leakhound_analysis::{Finding, Verdict};

use super::FleetOutput;

impl FleetOutput<'_> {
    /// The ranking as an HTML page in the report's look, under the same headline and findings.
    pub fn html(&self) -> String {
        let rows: Vec<(&str, &Finding)> =
            self.rows.iter().map(|r| (r.instance, r.finding)).collect();
        let (_, leaking) = self.counts();
        let verdict = if leaking > 0 {
            Verdict::Leak
        } else if self
            .rows
            .iter()
            .any(|r| r.finding.verdict == Verdict::Inconclusive)
        {
            Verdict::Inconclusive
        } else {
            Verdict::NoLeak
        };
        let mut card = self.findings();
        card.extend(self.group_rows());
        crate::html::fleet_html(self.query, (verdict, &self.headline()), &card, &rows)
    }
}
