//! `leakhound watch`: sample running processes or a cgroup.

use std::path::Path;

use leakhound_app::user;
use leakhound_app::watch::{agent_listener, watch, Targets, Watch};
use leakhound_app::Load;

use crate::cli::WatchArgs;
use crate::cmd::print_concluded;
use crate::live::Live;
use crate::options::sampling;

pub fn run(db: &Path, args: &WatchArgs) -> anyhow::Result<bool> {
    let sampling = sampling(&args.sampling, Load::Auto)?;
    let mut targets = Targets::default();
    for &pid in &args.pid {
        targets
            .pid(pid)
            .map_err(|e| user(format!("--pid {pid}: {e}")))?;
    }
    let jvm = args.jvm.map(|pid| targets.jvm(pid)).transpose()?;
    if let Some(pattern) = &args.name {
        targets
            .name(pattern)
            .map_err(|e| user(format!("--name {pattern:?}: {e}")))?;
    }
    if let Some(cg) = &args.cgroup {
        targets
            .cgroup(cg)
            .map_err(|e| user(format!("--cgroup {cg}: {e}")))?;
    }
    let agent = args
        .agent_socket
        .as_deref()
        .map(agent_listener)
        .transpose()?;
    let listen = args
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
    let w = Watch {
        targets,
        listen,
        agent,
        jvm,
        sampling,
    };
    let concluded = watch(db, w, &mut Live::new(true))?;
    Ok(print_concluded(
        concluded,
        args.sampling.format,
        args.sampling.fail_on,
        None,
    ))
}
