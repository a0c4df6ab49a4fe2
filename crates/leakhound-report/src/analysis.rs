//! The output of `analyze`, `report` and the verdict at the end of `run` and `watch`: judged
//! series (and, for the report, the counters beside them) as text, the JSON contract, or the
//! HTML report, all from one model.

use std::collections::BTreeMap;

use leakhound_analysis::sites::SitesJudged;
use leakhound_analysis::Finding;

use crate::headline;
use crate::html::{ReportMeta, ReportSeries};
use crate::json::{AnalysisJson, FunctionJson, SeriesJson, SiteJson};
use crate::terminal;

/// `name`, or `name{k="v",...}` when labelled: how a series is named to the user everywhere.
pub fn display_name(name: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", l.join(","))
}

/// One series with its samples; judged series carry a finding, counters shown beside them do
/// not.
#[derive(Debug, Clone, Copy)]
pub struct SeriesOutput<'a> {
    /// Series name.
    pub name: &'a str,
    /// Its labels (empty for CSV columns and single-target runs).
    pub labels: &'a BTreeMap<String, String>,
    /// `bytes` or `count`.
    pub unit: &'a str,
    /// Times, unix seconds.
    pub t: &'a [f64],
    /// Values.
    pub v: &'a [f64],
    /// The verdict, for judged series.
    pub finding: Option<&'a Finding>,
}

/// Judged series in the caller's order (the primary first), then counters, and the judged
/// allocation sites when the run collected them. Every format leads with the same headline:
/// the strongest conclusive finding ([`crate::headline`]).
#[derive(Debug, Clone)]
pub struct AnalysisOutput<'a> {
    /// Every series to show.
    pub series: Vec<SeriesOutput<'a>>,
    /// Allocation sites and their functions, ranked (leaks first by their
    /// rate).
    pub sites: &'a SitesJudged,
    /// What holds the memory that leaks (`--retainers`), largest first.
    pub holders: &'a [leakhound_analysis::retainers::Holder],
}

/// No allocation sites.
static NO_SITES: SitesJudged = SitesJudged {
    functions: Vec::new(),
    sites: Vec::new(),
    notes: Vec::new(),
    profiles: 0,
};

impl Default for AnalysisOutput<'_> {
    fn default() -> Self {
        AnalysisOutput {
            series: Vec::new(),
            sites: &NO_SITES,
            holders: &[],
        }
    }
}

/// Sites the terminal lists.
const SITES_SHOWN: usize = 10;

impl<'a> AnalysisOutput<'a> {
    fn judged(&self) -> impl Iterator<Item = (&SeriesOutput<'a>, &'a Finding)> {
        self.series.iter().filter_map(|s| s.finding.map(|f| (s, f)))
    }

    /// The headline and the index (among judged series) of the series it leads with.
    pub fn headline(&self) -> Option<(usize, String)> {
        let names: Vec<String> = self
            .judged()
            .map(|(s, _)| display_name(s.name, s.labels))
            .collect();
        let judged: Vec<headline::Judged> = self
            .judged()
            .zip(&names)
            .map(|((s, f), name)| headline::Judged {
                name,
                unit: s.unit,
                finding: f,
            })
            .collect();
        let (i, mut line) = headline::headline(&judged, self.sites)?;
        if let Some(c) = crate::holders::holder_clause(self.holders) {
            line.push_str("; ");
            line.push_str(&c);
        }
        Some((i, line))
    }

    /// The headline with the summary of the series it leads with, a table row for each other
    /// judged series, then the top allocation sites.
    pub fn text(&self) -> String {
        let judged: Vec<(&SeriesOutput, &Finding)> = self.judged().collect();
        let Some((lead, line)) = self.headline() else {
            return String::new();
        };
        let (s, f) = judged[lead];
        let mut out = terminal::summary_under(&line, s.unit, f);
        let rows: Vec<terminal::Row> = judged
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != lead)
            .map(|(_, (s, f))| terminal::Row {
                name: display_name(s.name, s.labels),
                unit: s.unit.to_string(),
                finding: f,
            })
            .collect();
        if !rows.is_empty() {
            out.push('\n');
            out.push_str(&terminal::table(&rows));
        }
        let sites = crate::sites::text_table(self.sites, SITES_SHOWN);
        if !sites.is_empty() {
            out.push('\n');
            out.push_str(&sites);
        }
        if !self.holders.is_empty() {
            out.push('\n');
            out.push_str(&crate::holders::holders_text(self.holders));
        }
        out
    }

    /// The JSON contract document.
    pub fn json(&self) -> AnalysisJson {
        AnalysisJson {
            headline: self.headline().map(|h| h.1),
            series: self
                .judged()
                .map(|(s, f)| {
                    let mut j = SeriesJson::new(s.name, s.unit, f);
                    j.labels = s.labels.clone();
                    j
                })
                .collect(),
            functions: self
                .sites
                .functions
                .iter()
                .map(|f| FunctionJson::new(f, self.sites))
                .collect(),
            sites: self.sites.sites.iter().map(SiteJson::new).collect(),
            sites_notes: crate::sites::notes(self.sites),
            holders: self.holders.to_vec(),
        }
    }

    /// The JSON contract document as printed (pretty, no trailing newline).
    pub fn json_text(&self) -> String {
        serde_json::to_string_pretty(&self.json()).expect("analysis serialises")
    }

    /// The self-contained HTML report.
    pub fn html(&self, meta: &ReportMeta) -> Result<String, String> {
        let series: Vec<ReportSeries> = self
            .series
            .iter()
            .map(|s| ReportSeries {
                name: display_name(s.name, s.labels),
                unit: s.unit.to_string(),
                t: s.t,
                v: s.v,
                finding: s.finding,
            })
            .collect();
        crate::html::page(meta, &series, self.headline(), self.sites, self.holders)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{finding, series};
    use leakhound_analysis::{analyze, Config};

    #[test]
    fn text_json_and_html_show_the_same_judged_series() {
        let (t, rss) = series(5e7);
        let f_rss = finding(5e7);
        let fds: Vec<f64> = vec![12.0; t.len()];
        let f_fds = analyze(&t, &fds, &Config::with_tolerance(1.0)).unwrap();
        let requests: Vec<f64> = (0..t.len()).map(|i| i as f64 * 10.0).collect();
        let labels = BTreeMap::from([("target".to_string(), "A".to_string())]);
        let none = BTreeMap::new();
        let out = AnalysisOutput {
            series: vec![
                SeriesOutput {
                    name: "rss",
                    labels: &labels,
                    unit: "bytes",
                    t: &t,
                    v: &rss,
                    finding: Some(&f_rss),
                },
                SeriesOutput {
                    name: "fds",
                    labels: &none,
                    unit: "count",
                    t: &t,
                    v: &fds,
                    finding: Some(&f_fds),
                },
                SeriesOutput {
                    name: "requests",
                    labels: &none,
                    unit: "count",
                    t: &t,
                    v: &requests,
                    finding: None,
                },
            ],
            sites: &SitesJudged::default(),
            holders: &[],
        };
        let text = out.text();
        assert!(
            text.starts_with("leak: rss{target=\"A\"} floor grows"),
            "{text}"
        );
        assert!(
            text.lines().any(|l| l.trim_start().starts_with("fds ")),
            "{text}"
        );
        assert!(
            !text.contains("requests"),
            "counters are not judged: {text}"
        );

        let json: serde_json::Value = serde_json::from_str(&out.json_text()).unwrap();
        let names: Vec<&str> = json["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["rss", "fds"]);
        assert_eq!(json["series"][0]["labels"]["target"], "A");
        assert!(
            json["series"][1].get("labels").is_none(),
            "no labels, no field"
        );

        let page = out.html(&ReportMeta::default()).unwrap();
        assert!(page.contains("rss{target=&quot;A&quot;}"));
        assert!(page.contains("<h2>Counters</h2>"));
    }

    #[test]
    fn display_names_carry_labels_in_order() {
        let labels = BTreeMap::from([
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "1".to_string()),
        ]);
        assert_eq!(display_name("rss", &labels), "rss{a=\"1\",b=\"2\"}");
        assert_eq!(display_name("rss", &BTreeMap::new()), "rss");
    }
}
