//! `leakhound analyze`: verdicts for the series of a run or a CSV file.

use std::path::PathBuf;

use leakhound_analysis::{
    analyze, default_tolerance, memory_kind, Config, Counter, Finding, Verdict,
};
use leakhound_report::units::{parse_rate, parse_size};
use leakhound_report::{AnalysisOutput, SeriesOutput};
use leakhound_store::SeriesKind;

use crate::cli::{AnalyzeArgs, FailOn, Format, VerdictArgs};
use crate::error::user;
use crate::input::{self, Input, SeriesData};

/// Series never analysed by default: they count things whose growth is not a leak.
const SKIP_BY_DEFAULT: &[&str] = &["processes"];

/// A verdict on one series.
pub struct Analysed {
    pub series: SeriesData,
    pub finding: Finding,
}

/// The tolerance for a series: the user's, else 1 MiB/day (1/day for counts) or 0.2% (1%) of
/// the median level per day, whichever is larger, so large processes are not held to a
/// standard their noise cannot meet.
fn tolerance_for(user_tol: Option<f64>, s: &SeriesData) -> f64 {
    // `--tolerance` is a memory rate; count series (fds, threads) keep their own default.
    if let Some(t) = user_tol.filter(|_| s.unit == "bytes") {
        return t;
    }
    default_tolerance(&s.v, s.unit == "bytes")
}

fn parse_verdict_args(v: &VerdictArgs) -> anyhow::Result<(Option<f64>, Option<f64>)> {
    let tol = v
        .tolerance
        .as_deref()
        .map(|s| parse_rate(s).map_err(|e| user(format!("--tolerance: {e}"))))
        .transpose()?;
    let limit = v
        .limit
        .as_deref()
        .map(|s| parse_size(s).map_err(|e| user(format!("--limit: {e}"))))
        .transpose()?;
    Ok((tol, limit))
}

/// Analyses the gauges of `input` (or the named series).
pub fn analyse_input(
    input: &Input,
    names: &[String],
    v: &VerdictArgs,
    confidence: f64,
) -> anyhow::Result<Vec<Analysed>> {
    let (tol, limit) = parse_verdict_args(v)?;
    for n in names {
        if !input
            .series
            .iter()
            .any(|s| &s.name == n || &s.display_name() == n)
        {
            let known: Vec<String> = input.series.iter().map(|s| s.display_name()).collect();
            return Err(user(format!(
                "no series {n:?}; available: {}",
                known.join(", ")
            )));
        }
    }
    let mut out = Vec::new();
    for s in &input.series {
        let wanted = if names.is_empty() {
            s.kind == SeriesKind::Gauge && !SKIP_BY_DEFAULT.contains(&s.name.as_str())
        } else {
            names.iter().any(|n| n == &s.name || n == &s.display_name())
        };
        if !wanted {
            continue;
        }
        let cfg = Config {
            tolerance: tolerance_for(tol, s),
            limit: if s.unit == "bytes" {
                limit.or(input.limit)
            } else {
                None
            },
            restarts: input.restarts.clone(),
            confidence,
            load: leakhound_analysis::Load::Auto,
        };
        let finding = analyze(&s.t, &s.v, &cfg)
            .map_err(|e| user(format!("series {}: {e}", s.display_name())))?;
        out.push(Analysed {
            series: s.clone(),
            finding,
        });
    }
    if out.is_empty() {
        return Err(user("no memory series to analyse (counters are not analysed on their own; name one with --series)"));
    }
    explain_causes(input, &mut out);
    Ok(out)
}

/// Counters that are workload (not effects of allocation, like GC counts).
fn is_workload_counter(name: &str) -> bool {
    !name.starts_with("node.gc.")
}

/// Adds attribution to counters and, with a runtime agent's gauges, the kind of memory that
/// grows, to every leaking memory series.
fn explain_causes(input: &Input, results: &mut [Analysed]) {
    let counters: Vec<Counter> = input
        .series
        .iter()
        .filter(|s| s.kind == SeriesKind::Counter && is_workload_counter(&s.name))
        .map(|s| Counter {
            name: &s.name,
            t: &s.t,
            v: &s.v,
        })
        .collect();
    let rate_of = |results: &[Analysed], name: &str| {
        results
            .iter()
            .find(|a| a.series.name == name)
            .and_then(|a| a.finding.rate_per_day)
    };
    // A runtime series that leaks says which memory grows, even while the process total is
    // still inconclusive (its own floor is noisier).
    let leaking = |results: &[Analysed], name: &str| {
        results
            .iter()
            .find(|a| a.series.name == name)
            .filter(|a| a.finding.verdict == Verdict::Leak)
            .and_then(|a| a.finding.rate_per_day)
    };
    let heap = rate_of(results, "node.heap_used");
    let buffers = rate_of(results, "node.external");
    let runtime_leaks =
        leaking(results, "node.heap_used").is_some() || leaking(results, "node.external").is_some();
    for a in results.iter_mut() {
        if a.series.unit != "bytes" {
            continue;
        }
        a.finding.attribute(&counters);
        let is_process_memory = ["rss", "pss", "uss", "anon"].contains(&a.series.name.as_str());
        let grows = match a.finding.verdict {
            Verdict::Leak => true,
            Verdict::Inconclusive => {
                runtime_leaks && a.finding.rate_per_day.is_some_and(|r| r > 0.0)
            }
            Verdict::NoLeak => false,
        };
        if let (true, true, Some(h), Some(b), Some(r)) = (
            is_process_memory,
            grows,
            heap,
            buffers,
            a.finding.rate_per_day,
        ) {
            a.finding.memory_kind = Some(memory_kind(r, h, b));
        }
    }
}

/// The output model of these verdicts (judged series only).
pub fn output(results: &[Analysed]) -> AnalysisOutput<'_> {
    AnalysisOutput {
        series: results.iter().map(Analysed::output).collect(),
    }
}

impl Analysed {
    /// This series and its finding, as the outputs show them.
    pub fn output(&self) -> SeriesOutput<'_> {
        SeriesOutput {
            name: &self.series.name,
            labels: &self.series.labels,
            unit: &self.series.unit,
            t: &self.series.t,
            v: &self.series.v,
            finding: Some(&self.finding),
        }
    }
}

/// Exit code 1 when `fail_on` matches a verdict.
pub fn gate(results: &[Analysed], fail_on: Option<FailOn>) -> bool {
    results.iter().any(|a| match fail_on {
        Some(FailOn::Leak) => a.finding.verdict == Verdict::Leak,
        Some(FailOn::Inconclusive) => a.finding.verdict != Verdict::NoLeak,
        None => false,
    })
}

pub fn run(db: &Option<PathBuf>, args: &AnalyzeArgs) -> anyhow::Result<bool> {
    let input = input::resolve(db, args.input.as_deref())?;
    let results = analyse_input(&input, &args.series, &args.verdict, 0.95)?;
    match args.format {
        Format::Json => println!("{}", output(&results).json_text()),
        Format::Text => print!("{}", output(&results).text()),
    }
    Ok(gate(&results, args.fail_on))
}

/// Checks `--tolerance` and `--limit` without analysing anything.
pub fn analyse_check(v: &VerdictArgs) -> anyhow::Result<()> {
    parse_verdict_args(v).map(|_| ())
}
