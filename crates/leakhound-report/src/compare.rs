//! The output of `compare` and `ab`: two judged sides and the ratio of their rates, as a
//! sentence or as JSON.

use leakhound_analysis::{Finding, RateRatio};
use serde::Serialize;

use crate::sentence::compare_sentence;

/// One side of a comparison.
#[derive(Debug, Clone, Copy)]
pub struct CompareSide<'a> {
    /// `A`, `B`, or where the side came from (`run 3`, a file).
    pub label: &'a str,
    /// Display name of the series compared.
    pub series: &'a str,
    /// Its finding.
    pub finding: &'a Finding,
}

/// A comparison of two leak rates.
#[derive(Debug, Clone, Copy)]
pub struct ComparisonOutput<'a> {
    /// The baseline.
    pub a: CompareSide<'a>,
    /// The side compared with it.
    pub b: CompareSide<'a>,
    /// b / a, when both rates are positive.
    pub ratio: Option<RateRatio>,
    /// `bytes` or `count`, of both sides.
    pub unit: &'a str,
}

/// One side in the JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct SideJson {
    /// Label of the side.
    pub label: String,
    /// Series compared.
    pub series: String,
    /// `leak`, `no_leak`, `inconclusive`.
    pub verdict: &'static str,
    /// Rate of the floor per day.
    pub rate_bytes_per_day: Option<f64>,
    /// Interval of the rate.
    pub rate_ci95_bytes_per_day: Option<(f64, f64)>,
}

/// The `compare --format json` document. Field names and meanings are a contract.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonJson {
    /// Side A.
    pub a: SideJson,
    /// Side B.
    pub b: SideJson,
    /// b / a.
    pub ratio: Option<f64>,
    /// Standard error of the ratio.
    pub ratio_se: Option<f64>,
    /// 95% interval of the ratio.
    pub ratio_ci95: Option<[f64; 2]>,
    /// b - a per day.
    pub difference_bytes_per_day: Option<f64>,
    /// 95% interval of the difference.
    pub difference_ci95_bytes_per_day: Option<[f64; 2]>,
    /// The comparison as a sentence.
    pub explanation: String,
}

impl CompareSide<'_> {
    fn json(&self) -> SideJson {
        SideJson {
            label: self.label.to_string(),
            series: self.series.to_string(),
            verdict: self.finding.verdict.as_str(),
            rate_bytes_per_day: self.finding.rate_per_day,
            rate_ci95_bytes_per_day: self.finding.rate_ci_per_day,
        }
    }
}

impl ComparisonOutput<'_> {
    /// "B leaks 2.04 ± 0.11 times faster than A (95% CI ...)".
    pub fn text(&self) -> String {
        compare_sentence(
            self.a.label,
            self.b.label,
            self.ratio.as_ref(),
            self.a.finding,
            self.b.finding,
            self.unit,
        )
    }

    /// The JSON document.
    pub fn json(&self) -> ComparisonJson {
        ComparisonJson {
            a: self.a.json(),
            b: self.b.json(),
            ratio: self.ratio.map(|r| r.ratio),
            ratio_se: self.ratio.map(|r| r.se),
            ratio_ci95: self.ratio.map(|r| [r.ci95.0, r.ci95.1]),
            difference_bytes_per_day: self.ratio.map(|r| r.difference),
            difference_ci95_bytes_per_day: self
                .ratio
                .map(|r| [r.difference_ci95.0, r.difference_ci95.1]),
            explanation: self.text(),
        }
    }

    /// The JSON document as printed.
    pub fn json_text(&self) -> String {
        crate::json::sorted_pretty(&self.json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::finding;
    use leakhound_analysis::rate_ratio;

    #[test]
    fn sentence_and_json_agree() {
        let (fa, fb) = (finding(2e7), finding(6e7));
        let ratio = rate_ratio(
            fa.rate_per_day.unwrap(),
            fa.rate_se_per_day.unwrap(),
            fb.rate_per_day.unwrap(),
            fb.rate_se_per_day.unwrap(),
        );
        let out = ComparisonOutput {
            a: CompareSide {
                label: "A",
                series: "rss{target=\"A\"}",
                finding: &fa,
            },
            b: CompareSide {
                label: "B",
                series: "rss{target=\"B\"}",
                finding: &fb,
            },
            ratio,
            unit: "bytes",
        };
        let j: serde_json::Value = serde_json::from_str(&out.json_text()).unwrap();
        assert_eq!(j["explanation"], out.text());
        assert!(out.text().starts_with("B leaks "), "{}", out.text());
        assert_eq!(j["a"]["verdict"], "leak");
        assert_eq!(j["b"]["series"], "rss{target=\"B\"}");
        let r = j["ratio"].as_f64().unwrap();
        let ci = j["ratio_ci95"].as_array().unwrap();
        assert!(
            ci[0].as_f64().unwrap() < r && r < ci[1].as_f64().unwrap(),
            "{j:#}"
        );
        assert!((r - 3.0).abs() < 0.3, "{r}");
    }
}
