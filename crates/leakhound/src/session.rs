//! A sampling session: the loop of `run` and `watch` until the command exits, time is up, the
//! user interrupts, the targets are gone, or (with `--until-verdict`) the verdict is in.

use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use leakhound_analysis::{SequentialLooks, Verdict};

use crate::cli::VerdictArgs;
use crate::cmd::analyze::analyse_input;
use crate::input;
use crate::live::Live;
use crate::sampler::Sampler;

/// Why the loop ended.
#[derive(Debug)]
pub enum End {
    Exited(ExitStatus),
    Interrupted,
    TimeUp,
    TargetsGone,
    Verdict(Verdict),
}

impl End {
    pub fn status(&self) -> &'static str {
        match self {
            End::Exited(_) => "finished",
            End::Interrupted => "interrupted",
            End::TimeUp | End::Verdict(_) => "stopped",
            End::TargetsGone => "finished",
        }
    }
}

/// Ctrl-C and SIGTERM set a flag; the loop notices within 100 ms.
pub fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    Ok(flag)
}

/// When to stop before time is up.
#[derive(Debug, Clone, Copy)]
pub enum Until<'a> {
    /// Only at the end.
    Never,
    /// When the verdict on the primary series is conclusive.
    Verdict(&'a VerdictArgs),
    /// When the A/B comparison is conclusive.
    AbConclusive(&'a VerdictArgs),
}

pub struct Options<'a> {
    pub interval: f64,
    pub duration: Option<f64>,
    pub until: Until<'a>,
    /// Print the verdict line at each sequential look (watch).
    pub report_looks: bool,
}

pub fn sample_loop(
    sampler: &mut Sampler,
    children: &mut [Child],
    stop: &AtomicBool,
    opts: &Options,
) -> anyhow::Result<End> {
    let mut live = Live::new();
    let mut looks = SequentialLooks::new((20.0 * opts.interval).max(30.0), 0.05);
    let mut next = 0.0;
    let mut ticks = 0u64;
    let end = loop {
        if stop.load(Ordering::Relaxed) {
            break End::Interrupted;
        }
        if !children.is_empty() {
            // The session ends when every command has exited; the first one's status is kept.
            let mut statuses = Vec::with_capacity(children.len());
            for c in children.iter_mut() {
                statuses.push(c.try_wait()?);
            }
            if statuses.iter().all(Option::is_some) {
                break End::Exited(statuses[0].expect("checked"));
            }
        }
        let elapsed = sampler.clock.elapsed();
        if opts.duration.is_some_and(|d| elapsed >= d) {
            break End::TimeUp;
        }
        if elapsed >= next {
            let s = sampler.tick()?;
            ticks += 1;
            live.update(elapsed, ticks, s.primary);
            next += opts.interval;
            if next < elapsed {
                // Fell behind (suspended laptop, overloaded host): skip, do not burst.
                next = elapsed + opts.interval;
            }
            if sampler.all_done() {
                break End::TargetsGone;
            }
            if !matches!(opts.until, Until::Never) || opts.report_looks {
                if let Some(conf) = looks.due(elapsed) {
                    if let Some(v) = look(sampler, conf, opts)? {
                        break End::Verdict(v);
                    }
                }
            }
        }
        let wait = (next - sampler.clock.elapsed()).clamp(0.0, 0.1);
        std::thread::sleep(Duration::from_secs_f64(wait));
    };
    live.finish();
    Ok(end)
}

/// Puts the verdict on each target's primary series into the `/metrics` text.
fn publish_verdicts(sampler: &mut Sampler, input: &crate::input::Input) {
    let args = VerdictArgs {
        tolerance: None,
        limit: None,
    };
    let names = vec!["rss".to_string(), "memory.current".to_string()];
    let present: Vec<String> = names
        .into_iter()
        .filter(|n| input.series.iter().any(|s| &s.name == n))
        .collect();
    if present.is_empty() {
        return;
    }
    if let Ok(results) = analyse_input(input, &present, &args, 0.95) {
        sampler.verdicts = results
            .into_iter()
            .map(|a| {
                let target = a.series.labels.get("target").cloned().unwrap_or_else(|| {
                    sampler
                        .targets
                        .first()
                        .map(|t| t.label.clone())
                        .unwrap_or_default()
                });
                leakhound_net::metrics::VerdictMetrics {
                    target,
                    series: a.series.name.clone(),
                    verdict: a.finding.verdict.as_str(),
                    rate_per_day: a.finding.rate_per_day,
                    rate_ci_per_day: a.finding.rate_ci_per_day,
                    time_to_limit_seconds: a.finding.time_to_limit_seconds,
                }
            })
            .collect();
        sampler.publish();
    }
}

/// Most samples per series a look reads. Looking at the whole run grew leakhound's own RSS in
/// a staircase, one step per look (bench/self_watch.sh: 8.1 -> 9.2 MiB in 21 minutes); beyond
/// this many samples a look reads the lowest value per span (about 5.5 hours at 1 s). The
/// verdict at the end reads everything.
const LOOK_POINTS: usize = 20_000;

/// One sequential look: analyse the primary series stored so far at confidence `conf`. Returns
/// the verdict when `--until-verdict` is on and it is conclusive.
fn look(sampler: &mut Sampler, conf: f64, opts: &Options) -> anyhow::Result<Option<Verdict>> {
    let input = input::from_run_bounded(
        &sampler.store,
        sampler.run,
        &["rss", "memory.current"],
        LOOK_POINTS,
    )?;
    if sampler.exposition.is_some() {
        publish_verdicts(sampler, &input);
    }
    if let Until::AbConclusive(args) = opts.until {
        return Ok(
            crate::cmd::compare::compare_variants(&input, "rss", args, conf)
                .ok()
                .filter(|c| c.conclusive())
                .map(|c| c.b.1.finding.verdict),
        );
    }
    let default_args = VerdictArgs {
        tolerance: None,
        limit: None,
    };
    let args = match opts.until {
        Until::Verdict(a) => a,
        _ => &default_args,
    };
    let primary = ["rss", "memory.current"]
        .iter()
        .find(|n| input.series.iter().any(|s| s.name == **n));
    let names: Vec<String> = primary.iter().map(|n| n.to_string()).collect();
    let Ok(results) = analyse_input(&input, &names, args, conf) else {
        return Ok(None);
    };
    let Some(first) = results.first() else {
        return Ok(None);
    };
    if opts.report_looks {
        eprintln!(
            "leakhound: {}",
            leakhound_report::explain(
                &first.series.display_name(),
                &first.finding,
                &first.series.unit
            )
        );
    }
    let v = first.finding.verdict;
    Ok((matches!(opts.until, Until::Verdict(_)) && v != Verdict::Inconclusive).then_some(v))
}
