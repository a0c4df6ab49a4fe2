//! `leakhound compare`: the ratio of two leak rates with a 95% interval.

use std::path::PathBuf;

use leakhound_analysis::{rate_ratio, RateRatio};
use leakhound_report::{CompareSide, ComparisonOutput};

use crate::cli::{CompareArgs, Format, VerdictArgs};
use crate::cmd::analyze::{analyse_input, Analysed};
use crate::error::user;
use crate::input::{self, Input};

/// Two analysed sides and their ratio.
pub struct Comparison {
    pub a: (String, Analysed),
    pub b: (String, Analysed),
    pub ratio: Option<RateRatio>,
    a_name: String,
    b_name: String,
}

impl Comparison {
    /// The output model of this comparison.
    pub fn output(&self) -> ComparisonOutput<'_> {
        ComparisonOutput {
            a: CompareSide {
                label: &self.a.0,
                series: &self.a_name,
                finding: &self.a.1.finding,
            },
            b: CompareSide {
                label: &self.b.0,
                series: &self.b_name,
                finding: &self.b.1.finding,
            },
            ratio: self.ratio,
            unit: &self.a.1.series.unit,
        }
    }

    /// Whether the comparison has an answer: both verdicts are in, and when both leak, their
    /// ratio's interval excludes 1.
    pub fn conclusive(&self) -> bool {
        use leakhound_analysis::Verdict::*;
        match (self.a.1.finding.verdict, self.b.1.finding.verdict) {
            (Inconclusive, _) | (_, Inconclusive) => false,
            (Leak, Leak) => self.ratio.is_some_and(|r| r.ci95.0 > 1.0 || r.ci95.1 < 1.0),
            _ => true,
        }
    }
}

fn one(
    input: &Input,
    name: &str,
    verdict: &VerdictArgs,
    confidence: f64,
) -> anyhow::Result<Analysed> {
    let mut r = analyse_input(input, &[name.to_string()], verdict, confidence)?;
    if r.len() != 1 {
        return Err(user(format!(
            "{name:?} names {} series; name one (e.g. rss{{target=\"A\"}})",
            r.len()
        )));
    }
    Ok(r.remove(0))
}

/// Compares the two variants (`target` labels `A` and `B`) of an `ab` run.
pub fn compare_variants(
    input: &Input,
    series: &str,
    verdict: &VerdictArgs,
    confidence: f64,
) -> anyhow::Result<Comparison> {
    let a = one(
        input,
        &format!("{series}{{target=\"A\"}}"),
        verdict,
        confidence,
    )?;
    let b = one(
        input,
        &format!("{series}{{target=\"B\"}}"),
        verdict,
        confidence,
    )?;
    Ok(make("A".into(), a, "B".into(), b))
}

fn make(la: String, a: Analysed, lb: String, b: Analysed) -> Comparison {
    let ratio = match (
        a.finding.rate_per_day,
        a.finding.rate_se_per_day,
        b.finding.rate_per_day,
        b.finding.rate_se_per_day,
    ) {
        (Some(ra), Some(sa), Some(rb), Some(sb)) => rate_ratio(ra, sa, rb, sb),
        _ => None,
    };
    Comparison {
        a_name: a.series.display_name(),
        b_name: b.series.display_name(),
        a: (la, a),
        b: (lb, b),
        ratio,
    }
}

pub fn run(db: &Option<PathBuf>, args: &CompareArgs) -> anyhow::Result<bool> {
    let cmp = match &args.b {
        None => compare_variants(
            &input::resolve(db, Some(&args.a))?,
            &args.series,
            &args.verdict,
            0.95,
        )?,
        Some(b) => {
            let ia = input::resolve(db, Some(&args.a))?;
            let ib = input::resolve(db, Some(b))?;
            let a = one(&ia, &args.series, &args.verdict, 0.95)?;
            let b = one(&ib, &args.series, &args.verdict, 0.95)?;
            make(ia.about.source.clone(), a, ib.about.source.clone(), b)
        }
    };
    match args.format {
        Format::Json => println!("{}", cmp.output().json_text()),
        Format::Text => println!("{}", cmp.output().text()),
    }
    Ok(false)
}
