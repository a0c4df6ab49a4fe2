//! `leakhound watch`: sample running processes or a cgroup.

use std::path::Path;

use leakhound_analysis::Load;
use leakhound_app::user;
use leakhound_app::watch::{watch, Targets, Watch};
use leakhound_probe::agent::AgentListener;
use leakhound_probe::jvm::{find_jcmd, is_jvm};

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
    let jvm = match args.jvm {
        Some(pid) => {
            // Without jcmd --jvm cannot work whatever the pid: say so first.
            let jcmd = find_jcmd().map_err(|e| user(format!("--jvm: {e}")))?;
            if !targets.has_pid(pid) {
                targets
                    .pid(pid)
                    .map_err(|e| user(format!("--jvm {pid}: {e}")))?;
            }
            if !is_jvm(pid) {
                return Err(user(format!(
                    "--jvm {pid}: process {pid} runs no JVM (no libjvm.so mapped)"
                )));
            }
            Some((pid, jcmd))
        }
        None => None,
    };
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
    let agent = match &args.agent_socket {
        Some(sock) => Some(
            AgentListener::bind(sock)
                .map_err(|e| user(format!("--agent-socket {}: {e}", sock.display())))?,
        ),
        None => None,
    };
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
