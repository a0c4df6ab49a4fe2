//! `leakhound plot`: the main memory chart alone, for pasting into an issue tracker.

use std::path::Path;

use leakhound_app::Load;
use leakhound_app::{input, judge, user};
use leakhound_report::chart::{memory_png, memory_svg, ChartSeries};

use crate::cli::PlotArgs;
use crate::options::{input_policy, verdict_policy};

fn parse_size(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.split_once('x')?;
    let (w, h) = (w.trim().parse().ok()?, h.trim().parse().ok()?);
    ((100..=8000).contains(&w) && (100..=8000).contains(&h)).then_some((w, h))
}

pub fn run(db: &Path, args: &PlotArgs) -> anyhow::Result<bool> {
    let size = parse_size(&args.size).ok_or_else(|| {
        user(format!(
            "--size {:?}: write WIDTHxHEIGHT in pixels, e.g. 1000x450",
            args.size
        ))
    })?;
    let ext = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("svg" | "png")) {
        return Err(user(format!(
            "--out {}: the file must end in .svg or .png",
            args.out.display()
        )));
    }
    // Bad options fail before any input is read.
    verdict_policy(&args.verdict, Load::Auto)?;
    let input = input::resolve(db, args.input.as_deref())?;
    let policy = input_policy(&args.verdict, &input)?;
    let names: Vec<String> = match &args.series {
        Some(n) => vec![n.clone()],
        None => input
            .series
            .iter()
            .find(|s| s.name == "rss")
            .map(|s| vec![s.name.clone()])
            .unwrap_or_default(),
    };
    let judged = judge::judge(&input, &names, &policy)?;
    let a = judged.first().ok_or_else(|| user("nothing to plot"))?;
    let name = a.series.display_name();
    let cs = ChartSeries {
        name: &name,
        unit: a.series.unit.as_str(),
        t: &a.series.t,
        v: &a.series.v,
    };
    let limit = a.finding.limit;
    let bytes = if ext.as_deref() == Some("svg") {
        memory_svg(&cs, &a.finding, limit, size).map(String::into_bytes)
    } else {
        memory_png(&cs, &a.finding, limit, size)
    }
    .map_err(|e| anyhow::anyhow!(e))?;
    std::fs::write(&args.out, bytes)
        .map_err(|e| user(format!("cannot write {}: {e}", args.out.display())))?;
    eprintln!("leakhound: wrote {}", args.out.display());
    Ok(false)
}
