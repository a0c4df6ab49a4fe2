//! `leakhound runs`: the stored runs.

use std::path::Path;

use leakhound_report::units::{format_bytes, format_duration, format_rfc3339};

use leakhound_app::database::open_ro;

use crate::cli::{Format, RunsArgs};

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

pub fn run(db: &Path, args: &RunsArgs) -> anyhow::Result<bool> {
    let store = open_ro(db)?;
    let runs = store.runs()?;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(false);
    }
    if runs.is_empty() {
        println!("no runs in {}", db.display());
        return Ok(false);
    }
    println!(
        "{:>4}  {:<6}  {:<36}  {:<20}  {:>9}  {:>8}  {:>9}  {:<11}  verdict",
        "id", "kind", "target", "started (UTC)", "duration", "samples", "size", "status"
    );
    for r in runs {
        let end = r.ended_at.or(r.last_sample_at).unwrap_or(r.started_at);
        println!(
            "{:>4}  {:<6}  {:<36}  {:<20}  {:>9}  {:>8}  {:>9}  {:<11}  {}",
            r.id,
            r.kind,
            clip(&r.target, 36),
            format_rfc3339(r.started_at),
            format_duration(end - r.started_at),
            r.samples,
            format_bytes(r.size_bytes as f64),
            r.status,
            r.last_verdict
                .as_deref()
                .map(|v| clip(v, 70))
                .unwrap_or_default()
        );
    }
    Ok(false)
}
