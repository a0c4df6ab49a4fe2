//! `leakhound watch`: sample running processes or a cgroup.

use std::path::PathBuf;

use leakhound_probe::agent::AgentListener;
use leakhound_probe::{
    memory_limit_of_pid, total_physical_memory, CgroupReader, NameMatcher, ProcKey,
};
use leakhound_report::units::format_duration;

use crate::cli::WatchArgs;
use crate::cmd::{conclude, new_run, timing};
use crate::dbpath;
use crate::error::user;
use crate::sampler::{Clock, Sampler, Target, TargetSpec};
use crate::session::{sample_loop, stop_flag, Options, Until};

pub fn run(db: &Option<PathBuf>, args: &WatchArgs) -> anyhow::Result<bool> {
    let (interval, duration) = timing(&args.sampling)?;
    let scrapes = crate::cmd::scrape_urls(&args.sampling)?;
    crate::cmd::analyze::analyse_check(&args.sampling.verdict)?;
    let mut targets = Vec::new();
    let mut limit: Option<u64> = None;
    let tighter = |l: Option<u64>, new: Option<u64>| match (l, new) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    for &pid in &args.pid {
        let key = ProcKey::of_pid(pid).map_err(|e| user(format!("--pid {pid}: {e}")))?;
        limit = tighter(limit, memory_limit_of_pid(pid));
        targets.push(Target::new(format!("pid {pid}"), TargetSpec::Tree(key)));
    }
    if let Some(pattern) = &args.name {
        let m = NameMatcher::new(pattern).map_err(|e| user(format!("--name {pattern:?}: {e}")))?;
        limit = tighter(limit, total_physical_memory());
        targets.push(Target::new(format!("name {pattern}"), TargetSpec::Name(m)));
    }
    if let Some(cg) = &args.cgroup {
        let r = CgroupReader::open(cg).map_err(|e| user(format!("--cgroup {cg}: {e}")))?;
        limit = tighter(limit, r.limit().or_else(total_physical_memory));
        targets.push(Target::new(format!("cgroup {cg}"), TargetSpec::Cgroup(r)));
    }
    let agent = match &args.agent_socket {
        Some(sock) => Some(
            AgentListener::bind(sock)
                .map_err(|e| user(format!("--agent-socket {}: {e}", sock.display())))?,
        ),
        None => None,
    };
    let listen: Option<std::net::SocketAddr> = args
        .listen
        .as_deref()
        .map(|a| {
            a.parse().map_err(|_| {
                user(format!(
                    "--listen {a:?}: write IP:PORT, e.g. 127.0.0.1:9464"
                ))
            })
        })
        .transpose()?;
    let description = targets
        .iter()
        .map(|t| t.label.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let (store, _) = dbpath::open_rw(db)?;
    let stop = stop_flag()?;
    let clock = Clock::start();
    let run_id = store.create_run(&new_run(
        "watch",
        description.clone(),
        clock.start_time(),
        Some(interval),
        limit,
    ))?;
    eprintln!(
        "leakhound: run {run_id}: watching {description} every {}",
        format_duration(interval)
    );
    let mut sampler = Sampler::new(store, run_id, targets, clock, !args.sampling.no_smaps)?;
    sampler.scrape(scrapes)?;
    sampler.agent = agent;
    if let Some(addr) = listen {
        let text: leakhound_net::exporter::Exposition = Default::default();
        let bound = leakhound_net::exporter::serve(addr, std::sync::Arc::clone(&text))
            .map_err(|e| user(format!("--listen {addr}: {e}")))?;
        let scope = if bound.ip().is_loopback() {
            "loopback only"
        } else {
            "reachable from other hosts"
        };
        eprintln!("leakhound: serving metrics on http://{bound}/metrics ({scope})");
        sampler.exposition = Some(text);
    }
    let opts = Options {
        interval,
        duration,
        until: Until::Never,
        report_looks: true,
    };
    let end = sample_loop(&mut sampler, &mut [], &stop, &opts)?;
    conclude(&mut sampler, &end, &args.sampling, None)
}
