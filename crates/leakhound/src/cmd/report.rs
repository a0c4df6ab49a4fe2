//! `leakhound report`: the self-contained HTML report.

use std::path::Path;

use leakhound_app::Load;
use leakhound_app::{input, judge, user};

use crate::cli::ReportArgs;
use crate::options::{input_policy, verdict_policy};

pub fn run(db: &Path, args: &ReportArgs) -> anyhow::Result<bool> {
    // Bad options fail before any input is read.
    verdict_policy(&args.verdict, Load::Auto)?;
    let input = input::resolve(db, args.input.as_deref())?;
    let policy = input_policy(&args.verdict, &input)?;
    let verdicts = judge::judge_all(&input, &[], &policy)?;
    let page = judge::report_output(&input, &verdicts)
        .html(&leakhound_report::html::ReportMeta {
            utc: args.utc,
            ..judge::report_meta(&input)
        })
        .map_err(|e| anyhow::anyhow!(e))?;
    std::fs::write(&args.out, &page)
        .map_err(|e| user(format!("cannot write {}: {e}", args.out.display())))?;
    eprintln!(
        "leakhound: wrote {} ({} KiB)",
        args.out.display(),
        page.len() / 1024
    );
    if args.open {
        // Never through a shell: the path is an argument.
        if let Err(e) = std::process::Command::new("xdg-open")
            .arg(&args.out)
            .spawn()
        {
            eprintln!(
                "leakhound: could not open a browser ({e}); open {} yourself",
                args.out.display()
            );
        }
    }
    Ok(false)
}
