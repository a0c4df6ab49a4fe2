//! `leakhound export RUN`: samples as contract CSV or JSON; allocation sites as a pprof profile
//! or folded stacks; one site's samples over time.

use std::io::IsTerminal;
use std::path::Path;

use leakhound_app::database::open_ro;
use leakhound_app::export::{samples_csv, samples_json, site_samples, sites_profile};
use leakhound_app::{input, user};
use leakhound_report::ProfileValue;

use crate::cli::{ExportArgs, ExportFormat, FoldedValue};
use crate::options::input_policy;

pub fn run(db: &Path, args: &ExportArgs) -> anyhow::Result<bool> {
    let store = open_ro(db)?;
    let input = input::from_run(&store, args.run)?;
    if args.value.is_some() && args.format != ExportFormat::Folded {
        return Err(user(
            "--value weighs folded stacks (--format folded); a pprof profile holds all three",
        ));
    }
    let bytes = if let Some(which) = &args.site_series {
        let policy = input_policy(&args.verdict, &input)?;
        let s = site_samples(input, &policy, which)?;
        if let Some(note) = s.note {
            eprintln!("leakhound: {note}");
        }
        s.csv.into_bytes()
    } else {
        match args.format {
            ExportFormat::Csv => samples_csv(&input).into_bytes(),
            ExportFormat::Json => samples_json(&store, args.run, &input)?.into_bytes(),
            ExportFormat::Pprof => {
                if args.out.is_none() && std::io::stdout().is_terminal() {
                    return Err(user(
                        "--format pprof writes a binary (gzipped) profile: name a file with \
                         --out FILE, or redirect standard output",
                    ));
                }
                let policy = input_policy(&args.verdict, &input)?;
                sites_profile(input, &policy)?.pprof()
            }
            ExportFormat::Folded => {
                let policy = input_policy(&args.verdict, &input)?;
                let value = match args.value.unwrap_or(FoldedValue::LeakRate) {
                    FoldedValue::LeakRate => ProfileValue::LeakRate,
                    FoldedValue::LiveBytes => ProfileValue::LiveBytes,
                    FoldedValue::Objects => ProfileValue::Objects,
                };
                let folded = sites_profile(input, &policy)?.folded(value);
                if folded.is_empty() {
                    eprintln!(
                        "leakhound: no allocation site has a positive {}; nothing to write \
                         (--value live-bytes weighs what the sites hold)",
                        match value {
                            ProfileValue::LeakRate => "leak rate",
                            ProfileValue::LiveBytes => "live bytes",
                            ProfileValue::Objects => "object count",
                        }
                    );
                }
                folded.into_bytes()
            }
        }
    };
    match &args.out {
        Some(p) => std::fs::write(p, bytes)
            .map_err(|e| user(format!("cannot write {}: {e}", p.display())))?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error.
            if let Err(e) = out.write_all(&bytes) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(false)
}
