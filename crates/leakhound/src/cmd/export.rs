//! `leakhound export RUN`: samples as contract CSV, or JSON with labels and events.

use std::path::Path;

use leakhound_app::database::open_ro;
use leakhound_app::{input, user};
use leakhound_store::csv;

use crate::cli::{ExportArgs, ExportFormat};

pub fn run(db: &Path, args: &ExportArgs) -> anyhow::Result<bool> {
    let store = open_ro(db)?;
    let input = input::from_run(&store, args.run)?;
    let text = match args.format {
        ExportFormat::Csv => csv::write(
            &input
                .series
                .iter()
                .map(|s| (s.display_name(), s.t.clone(), s.v.clone()))
                .collect::<Vec<_>>(),
        ),
        ExportFormat::Json => {
            let run = store.run(args.run)?;
            let series: Vec<serde_json::Value> = input
                .series
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.name, "labels": s.labels, "kind": s.kind, "unit": s.unit,
                        "t": s.t, "v": s.v,
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "run": run, "series": series, "events": store.events(args.run)?,
            });
            serde_json::to_string_pretty(&doc)? + "\n"
        }
    };
    match &args.out {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| user(format!("cannot write {}: {e}", p.display())))?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error.
            if let Err(e) = out.write_all(text.as_bytes()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(false)
}
