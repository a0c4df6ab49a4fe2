//! `leakhound ab`: two variants of a command side by side, differing only in environment,
//! sampled together and compared; stops early once the comparison is conclusive.

use std::path::PathBuf;

use leakhound_probe::{memory_limit_of_pid, ProcKey};
use leakhound_report::units::format_duration;

use crate::cli::{AbArgs, Format};
use crate::cmd::compare::compare_variants;
use crate::cmd::run::{display_command, spawn, stop_child};
use crate::cmd::{new_run, timing};
use crate::dbpath;
use crate::error::user;
use crate::input;
use crate::sampler::{Clock, Sampler, Target, TargetSpec};
use crate::session::{sample_loop, stop_flag, Options, Until};

fn parse_env(pairs: &[String], flag: &str) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(user(format!("{flag} {p:?}: write KEY=VALUE"))),
        })
        .collect()
}

pub fn run(db: &Option<PathBuf>, args: &AbArgs) -> anyhow::Result<bool> {
    let (interval, duration) = timing(&args.sampling)?;
    let env_a = parse_env(&args.env_a, "--a")?;
    let env_b = parse_env(&args.env_b, "--b")?;
    crate::cmd::analyze::analyse_check(&args.sampling.verdict)?;
    if let Some(d) = &args.output_dir {
        std::fs::create_dir_all(d)
            .map_err(|e| user(format!("--output-dir {}: {e}", d.display())))?;
    }
    let (store, _) = dbpath::open_rw(db)?;
    let stop = stop_flag()?;
    let clock = Clock::start();
    let log = |name: &str| args.output_dir.as_ref().map(|d| d.join(name));
    let mut children = Vec::new();
    for (env, name) in [(&env_a, "a.log"), (&env_b, "b.log")] {
        let out = log(name).unwrap_or_else(|| PathBuf::from("/dev/null"));
        children.push(spawn(&args.command, Some(&out), env)?);
    }
    let keys: Vec<ProcKey> = children
        .iter()
        .map(|c| ProcKey::of_pid(c.id() as i32))
        .collect::<Result<_, _>>()
        .map_err(|e| {
            user(format!(
                "{} exited immediately: {e}",
                display_command(&args.command)
            ))
        })?;
    let command = display_command(&args.command);
    let target = format!(
        "A: {} | B: {} | {command}",
        args.env_a.join(" "),
        args.env_b.join(" ")
    );
    let limit = memory_limit_of_pid(keys[0].pid);
    let run_id = store.create_run(&new_run(
        "ab",
        target,
        clock.start_time(),
        Some(interval),
        limit,
    ))?;
    eprintln!(
        "leakhound: run {run_id}: A ({}) pid {} and B ({}) pid {}, every {}",
        args.env_a.join(" "),
        keys[0].pid,
        args.env_b.join(" "),
        keys[1].pid,
        format_duration(interval)
    );
    let targets = vec![
        Target::new("A".into(), TargetSpec::Tree(keys[0])),
        Target::new("B".into(), TargetSpec::Tree(keys[1])),
    ];
    let mut sampler = Sampler::new(store, run_id, targets, clock, !args.sampling.no_smaps)?;
    let opts = Options {
        interval,
        duration,
        until: Until::AbConclusive(&args.sampling.verdict),
        report_looks: false,
    };
    let end = sample_loop(&mut sampler, &mut children, &stop, &opts);
    for c in &mut children {
        stop_child(c, 5.0);
    }
    let end = end?;
    sampler
        .store
        .finish_run(run_id, sampler.clock.now(), end.status(), None)?;
    let input = input::from_run(&sampler.store, run_id)?;
    let cmp = compare_variants(&input, "rss", &args.sampling.verdict, 0.95)?;
    let out = cmp.output();
    sampler.store.set_verdict(run_id, &out.text())?;
    match args.sampling.format {
        Format::Json => println!("{}", out.json_text()),
        Format::Text => eprintln!("{}", out.text()),
    }
    Ok(false)
}
