//! `leakhound fleet`: every series of a Prometheus-compatible TSDB, analysed in parallel,
//! ranked; with `--counter`, bytes per event among the instances that leak; with
//! `--group-by`, the groups' leak rates compared.

use leakhound_app::fleet::{fleet, FleetQuery, PromClient};
use leakhound_app::user;
use leakhound_report::units::{format_duration, parse_duration};

use crate::cli::{FailOn, FleetArgs, Format};
use crate::cmd::fails;
use crate::options::{duration, label_name, policy};

pub fn run(args: &FleetArgs) -> anyhow::Result<bool> {
    let fail_on = if args.fail_on_leak {
        eprintln!(
            "leakhound: --fail-on-leak is deprecated and will go; write --fail-on leak, as \
             every other command does"
        );
        Some(FailOn::Leak)
    } else {
        args.fail_on
    };
    let timeout = parse_duration(&args.timeout)
        .ok()
        .filter(|t| *t > 0.0)
        .ok_or_else(|| {
            user(format!(
                "--timeout {:?}: write a positive duration, e.g. 30s",
                args.timeout
            ))
        })?;
    let client = PromClient::new(&args.prometheus)
        .map_err(|e| user(format!("--prometheus {e}")))?
        .with_timeout(std::time::Duration::from_secs_f64(timeout));
    let range = duration("--range", &args.range)?;
    let step = duration("--step", &args.step)?;
    if step <= 0.0 || range <= 0.0 {
        return Err(user("--range and --step must be positive"));
    }
    let query = FleetQuery {
        client,
        query: args.query.clone(),
        range,
        step,
        counter: args.counter.clone(),
        group_by: args
            .group_by
            .as_deref()
            .map(|l| label_name("--group-by", l))
            .transpose()?,
        policy: policy(args.tolerance.as_deref(), args.limit.as_deref(), args.load)?,
    };
    let fleet = fleet(&query)?;
    let out = fleet.output();
    match args.format {
        Format::Json => println!("{}", out.json_text()),
        Format::Text => {
            print!("{}", out.text());
            eprintln!(
                "leakhound: {} series over {}; fetching {:.1} s (summed over requests), fetch + analysis {:.1} s wall",
                fleet.series.len(),
                format_duration(range),
                fleet.fetch_seconds,
                fleet.wall_seconds
            );
        }
    }
    if let Some(path) = &args.report {
        std::fs::write(path, out.html())
            .map_err(|e| user(format!("--report {}: {e}", path.display())))?;
        eprintln!("leakhound: wrote {}", path.display());
    }
    Ok(fleet
        .series
        .iter()
        .any(|s| fails(s.finding.verdict, fail_on)))
}
