//! One module per subcommand.

pub mod ab;
pub mod agent;
pub mod analyze;
pub mod compare;
pub mod demo;
pub mod export;
pub mod fleet;
pub mod import;
pub mod plot;
pub mod report;
pub mod run;
pub mod runs;
pub mod traffic;
pub mod watch;

use leakhound_report::units::parse_duration;
use leakhound_store::NewRun;

use crate::cli::{Format, SamplingArgs};
use crate::error::user;
use crate::input;
use crate::sampler::Sampler;
use crate::session::End;

pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

pub fn new_run(
    kind: &str,
    target: String,
    started_at: f64,
    interval: Option<f64>,
    limit: Option<u64>,
) -> NewRun {
    NewRun {
        kind: kind.into(),
        target,
        host: host_name(),
        started_at,
        interval_s: interval,
        limit_bytes: limit,
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// `--scrape` URLs, checked.
pub fn scrape_urls(s: &SamplingArgs) -> anyhow::Result<Vec<leakhound_net::Uri>> {
    s.scrape
        .iter()
        .map(|u| {
            let uri: leakhound_net::Uri = u
                .parse()
                .map_err(|_| user(format!("--scrape {u:?}: not a URL")))?;
            if uri.scheme_str() != Some("http") || uri.authority().is_none() {
                return Err(user(format!(
                    "--scrape {u:?}: write http://HOST:PORT/metrics"
                )));
            }
            Ok(uri)
        })
        .collect()
}

/// `--for` in seconds, checked.
pub fn for_duration(d: Option<&str>) -> anyhow::Result<Option<f64>> {
    d.map(|d| parse_duration(d).map_err(|e| user(format!("--for: {e}"))))
        .transpose()
}

/// `--interval` and `--for` in seconds, checked.
pub fn timing(s: &SamplingArgs) -> anyhow::Result<(f64, Option<f64>)> {
    let interval = parse_duration(&s.interval).map_err(|e| user(format!("--interval: {e}")))?;
    if interval < 0.01 {
        return Err(user(format!(
            "--interval {}: must be at least 10ms",
            s.interval
        )));
    }
    let duration = for_duration(s.duration.as_deref())?;
    Ok((interval, duration))
}

/// Ends the run in the database, prints the verdict, stores it. Returns whether `--fail-on`
/// matched.
pub fn conclude(
    sampler: &mut Sampler,
    end: &End,
    s: &SamplingArgs,
    note: Option<String>,
) -> anyhow::Result<bool> {
    sampler.flush()?;
    let now = sampler.clock.now();
    let code = match end {
        End::Exited(st) => st.code(),
        _ => None,
    };
    sampler
        .store
        .finish_run(sampler.run, now, end.status(), code)?;
    let input = input::from_run(&sampler.store, sampler.run)?;
    let results = match analyze::analyse_input(&input, &[], &s.verdict, 0.95) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("leakhound: run {}: no verdict: {e:#}", sampler.run);
            return Ok(false);
        }
    };
    if let Some(first) = results.first() {
        let sentence = leakhound_report::explain(
            &first.series.display_name(),
            &first.finding,
            &first.series.unit,
        );
        sampler.store.set_verdict(sampler.run, &sentence)?;
    }
    match s.format {
        Format::Json => println!("{}", analyze::output(&results).json_text()),
        Format::Text => {
            let mut out = String::new();
            if let Some(n) = note {
                out.push_str(&n);
                out.push('\n');
            }
            out.push_str(&analyze::output(&results).text());
            // The command's own stdout may be the terminal too; the verdict goes to stderr so a
            // pipe of the command's output stays clean.
            eprint!("{out}");
        }
    }
    Ok(analyze::gate(&results, s.fail_on))
}
