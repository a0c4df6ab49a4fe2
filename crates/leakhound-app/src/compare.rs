//! Comparing the leak rates of two runs, or of the two variants of an `ab` run.

use leakhound_analysis::{rate_ratio, RateRatio, Verdict};
use leakhound_report::{CompareSide, ComparisonOutput};

use crate::error::user;
use crate::input::Input;
use crate::judge::{judge, Judged};
use crate::policy::Policy;

/// One side: its label (`A`, `run 3`) and verdict.
#[derive(Debug, Clone)]
pub struct Side {
    /// `A`, `B`, or where the side came from.
    pub label: String,
    /// Display name of the series compared.
    pub name: String,
    /// The verdict on it.
    pub judged: Judged,
}

impl Side {
    fn output(&self) -> CompareSide<'_> {
        CompareSide {
            label: &self.label,
            series: &self.name,
            finding: &self.judged.finding,
        }
    }
}

/// Two judged sides and the ratio of their rates.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The baseline.
    pub a: Side,
    /// The side compared with it.
    pub b: Side,
    /// b / a, when both rates are positive.
    pub ratio: Option<RateRatio>,
}

impl Comparison {
    /// Compares two judged series.
    pub fn new(a: (String, Judged), b: (String, Judged)) -> Comparison {
        let fa = &a.1.finding;
        let fb = &b.1.finding;
        let ratio = match (
            fa.rate_per_day,
            fa.rate_se_per_day,
            fb.rate_per_day,
            fb.rate_se_per_day,
        ) {
            (Some(ra), Some(sa), Some(rb), Some(sb)) => rate_ratio(ra, sa, rb, sb),
            _ => None,
        };
        let side = |(label, judged): (String, Judged)| Side {
            label,
            name: judged.series.display_name(),
            judged,
        };
        Comparison {
            a: side(a),
            b: side(b),
            ratio,
        }
    }

    /// Whether the comparison has an answer: both verdicts are in, and when both leak, their
    /// ratio's interval excludes 1.
    pub fn conclusive(&self) -> bool {
        use Verdict::*;
        match (self.a.judged.finding.verdict, self.b.judged.finding.verdict) {
            (Inconclusive, _) | (_, Inconclusive) => false,
            (Leak, Leak) => self.ratio.is_some_and(|r| r.ci95.0 > 1.0 || r.ci95.1 < 1.0),
            _ => true,
        }
    }

    /// The output model of this comparison.
    pub fn output(&self) -> ComparisonOutput<'_> {
        ComparisonOutput {
            a: self.a.output(),
            b: self.b.output(),
            ratio: self.ratio,
            unit: self.a.judged.series.unit.as_str(),
        }
    }
}

/// The verdict on the one series `name` names in `input`.
fn one(input: &Input, name: &str, policy: &Policy) -> anyhow::Result<Judged> {
    let mut r = judge(input, &[name.to_string()], policy)?;
    if r.len() != 1 {
        return Err(user(format!(
            "{name:?} names {} series; name one (e.g. rss{{target=\"A\"}})",
            r.len()
        )));
    }
    Ok(r.remove(0))
}

/// Compares series `series` of two inputs, each labelled by where it came from.
pub fn compare_inputs(
    a: &Input,
    b: &Input,
    series: &str,
    policy: &Policy,
) -> anyhow::Result<Comparison> {
    let ja = one(a, series, policy)?;
    let jb = one(b, series, policy)?;
    Ok(Comparison::new(
        (a.about.source.clone(), ja),
        (b.about.source.clone(), jb),
    ))
}

/// Compares the two variants (`target` labels `A` and `B`) of an `ab` run.
pub fn compare_variants(
    input: &Input,
    series: &str,
    policy: &Policy,
) -> anyhow::Result<Comparison> {
    let a = one(input, &format!("{series}{{target=\"A\"}}"), policy)?;
    let b = one(input, &format!("{series}{{target=\"B\"}}"), policy)?;
    Ok(Comparison::new(("A".into(), a), ("B".into(), b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::SeriesData;
    use leakhound_store::SeriesKind;
    use std::collections::BTreeMap;

    /// An `ab` run: A leaks 20 MB/day, B `b_rate`, over a day at 30 s.
    fn ab_run(b_rate: f64) -> Input {
        let t: Vec<f64> = (0..2880).map(|i| 1.7e9 + i as f64 * 30.0).collect();
        let side = |target: &str, rate: f64| SeriesData {
            name: "rss".into(),
            labels: BTreeMap::from([("target".to_string(), target.to_string())]),
            unit: crate::kinds::Unit::Bytes,
            kind: SeriesKind::Gauge,
            t: t.clone(),
            v: t.iter()
                .enumerate()
                .map(|(i, t)| 2e8 + rate * (t - 1.7e9) / 86400.0 + (i % 5) as f64 * 2e5)
                .collect(),
        };
        Input {
            series: vec![side("A", 2e7), side("B", b_rate)],
            ..Input::default()
        }
    }

    #[test]
    fn variants_of_an_ab_run() {
        let c = compare_variants(&ab_run(6e7), "rss", &Policy::default()).unwrap();
        assert_eq!((c.a.label.as_str(), c.b.label.as_str()), ("A", "B"));
        assert_eq!(c.b.name, "rss{target=\"B\"}");
        let r = c.ratio.expect("both rates are positive");
        assert!((r.ratio - 3.0).abs() < 0.2, "{r:?}");
        assert!(c.conclusive(), "both leak, and 3x is far from 1");
        assert!(c.output().text().starts_with("B leaks "));
    }

    #[test]
    fn equal_leaks_are_not_conclusive_and_ambiguous_names_are_errors() {
        let c = compare_variants(&ab_run(2e7), "rss", &Policy::default()).unwrap();
        assert!(!c.conclusive(), "{:?}", c.ratio);
        let e = compare_inputs(&ab_run(2e7), &ab_run(2e7), "rss", &Policy::default()).unwrap_err();
        assert!(e.to_string().contains("\"rss\" names 2 series"), "{e}");
    }
}
