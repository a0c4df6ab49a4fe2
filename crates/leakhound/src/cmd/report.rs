//! `leakhound report`: the self-contained HTML report.

use std::path::PathBuf;

use leakhound_report::html::ReportMeta;
use leakhound_report::SeriesOutput;
use leakhound_store::SeriesKind;

use crate::cli::ReportArgs;
use crate::cmd::analyze::analyse_input;
use crate::error::user;
use crate::input::{self, Input};

/// The report page for `input`, with the series analysed under `verdict` options.
pub fn page(input: &Input, verdict: &crate::cli::VerdictArgs) -> anyhow::Result<String> {
    let results = analyse_input(input, &[], verdict, 0.95)?;
    let mut out = crate::cmd::analyze::output(&results);
    out.series.extend(
        input
            .series
            .iter()
            .filter(|s| s.kind == SeriesKind::Counter)
            .map(|s| SeriesOutput {
                name: &s.name,
                labels: &s.labels,
                unit: &s.unit,
                t: &s.t,
                v: &s.v,
                finding: None,
            }),
    );
    let meta = ReportMeta {
        source: input.about.source.clone(),
        target: input.about.target.clone(),
        kind: input.about.kind.clone(),
        host: input.about.host.clone(),
        interval_s: input.about.interval_s,
        limit: input.limit,
        version: env!("CARGO_PKG_VERSION").into(),
    };
    out.html(&meta).map_err(|e| anyhow::anyhow!(e))
}

pub fn run(db: &Option<PathBuf>, args: &ReportArgs) -> anyhow::Result<bool> {
    let input = input::resolve(db, args.input.as_deref())?;
    let page = page(&input, &args.verdict)?;
    std::fs::write(&args.out, &page)
        .map_err(|e| user(format!("cannot write {}: {e}", args.out.display())))?;
    eprintln!(
        "leakhound: wrote {} ({} KiB)",
        args.out.display(),
        page.len() / 1024
    );
    if args.open {
        // Never through a shell: the path is an argument.
        match std::process::Command::new("xdg-open")
            .arg(&args.out)
            .spawn()
        {
            Ok(_) => {}
            Err(e) => eprintln!(
                "leakhound: could not open a browser ({e}); open {} yourself",
                args.out.display()
            ),
        }
    }
    Ok(false)
}
