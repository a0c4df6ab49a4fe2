//! `ab`: two variants of a command side by side, differing only in environment, sampled
//! together and compared; stops early once the comparison is conclusive.

use std::path::{Path, PathBuf};

use leakhound_probe::{memory_limit_of_pid, ProcKey};
use leakhound_report::units::format_duration;

use crate::child::{display_command, spawn, stop_child};
use crate::compare::{compare_variants, Comparison};
use crate::database::{create_run, new_run, open_rw};
use crate::error::user;
use crate::input;
use crate::sampling::{Clock, Sampler, Target, TargetSpec};
use crate::session::{
    sample_loop, stop_flag, Observer, Sampling, SessionOptions, Until, DEFAULT_MIN_SOAK,
};

/// Seconds between SIGTERM and SIGKILL when stopping the variants.
const GRACE: f64 = 5.0;

/// An A/B soak.
#[derive(Debug, Clone)]
pub struct Ab {
    /// Environment of variant A.
    pub env_a: Vec<(String, String)>,
    /// Environment of variant B.
    pub env_b: Vec<(String, String)>,
    /// Sampling and verdict options.
    pub sampling: Sampling,
    /// Write each variant's output to DIR/a.log and DIR/b.log.
    pub output_dir: Option<PathBuf>,
    /// The command, run once per variant.
    pub command: Vec<String>,
}

fn env_text(env: &[(String, String)]) -> String {
    env.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs both variants into the database at `db` and compares them.
pub fn ab(db: &Path, a: &Ab, observer: &mut dyn Observer) -> anyhow::Result<Comparison> {
    let interval = a.sampling.interval;
    let mut store = open_rw(db)?;
    let stop = stop_flag()?;
    let clock = Clock::start();
    let mut children = Vec::new();
    for (env, name) in [(&a.env_a, "a.log"), (&a.env_b, "b.log")] {
        let out = a
            .output_dir
            .as_ref()
            .map_or_else(|| PathBuf::from("/dev/null"), |d| d.join(name));
        children.push(spawn(&a.command, Some(&out), env)?);
    }
    let command = display_command(&a.command);
    let keys: Vec<ProcKey> = children
        .iter()
        .map(|c| ProcKey::of_pid(c.id() as i32))
        .collect::<Result<_, _>>()
        .map_err(|e| user(format!("{command} exited immediately: {e}")))?;
    let (ea, eb) = (env_text(&a.env_a), env_text(&a.env_b));
    let limit = memory_limit_of_pid(keys[0].pid);
    let run = create_run(
        &mut store,
        &new_run(
            "ab",
            format!("A: {ea} | B: {eb} | {command}"),
            clock.start_time(),
            Some(interval),
            limit,
        ),
        a.sampling.policy.load,
    )?;
    eprintln!(
        "leakhound: run {run}: A ({ea}) pid {} and B ({eb}) pid {}, every {}",
        keys[0].pid,
        keys[1].pid,
        format_duration(interval)
    );
    let targets = vec![
        Target::new("A".into(), TargetSpec::Tree(keys[0])),
        Target::new("B".into(), TargetSpec::Tree(keys[1])),
    ];
    let mut sampler = Sampler::new(store, run, targets, clock, a.sampling.smaps)?;
    crate::retention::keep(&mut sampler, a.sampling.retention);
    let opts = SessionOptions {
        interval,
        duration: a.sampling.duration,
        until: Until::AbConclusive,
        look_always: false,
        looks: a.sampling.policy.clone(),
        min_soak: DEFAULT_MIN_SOAK,
    };
    let end = sample_loop(&mut sampler, &mut children, &stop, &opts, observer);
    for c in &mut children {
        stop_child(c, GRACE);
    }
    let end = end?;
    sampler.flush()?;
    let store = sampler.store();
    store.finish_run(run, sampler.clock().now(), end.status().as_str(), None)?;
    let input = input::from_run(store, run)?;
    let cmp = compare_variants(&input, "rss", &a.sampling.policy)?;
    store.set_verdict(run, &cmp.output().text())?;
    Ok(cmp)
}
