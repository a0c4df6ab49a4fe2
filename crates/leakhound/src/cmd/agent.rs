//! `leakhound agent`: the Node.js and Python agents (and with `--native`, the native allocation
//! profiler) for processes that `watch` attaches to.

use leakhound_app::native::{ld_preload, locate_preload};
use leakhound_probe::agent::{node_options, python_path, write_python_agent, NODE_AGENT_JS};

use leakhound_app::user;

use crate::cli::AgentArgs;
use crate::options::{duration, size};

pub fn run(args: &AgentArgs) -> anyhow::Result<bool> {
    let dir = std::fs::canonicalize(&args.dir)
        .map_err(|e| user(format!("--dir {}: {e}", args.dir.display())))?;
    let script = dir.join("leakhound-node-agent.js");
    std::fs::write(&script, NODE_AGENT_JS)
        .map_err(|e| user(format!("cannot write {}: {e}", script.display())))?;
    // The Python agent goes into DIR/python, as `sitecustomize.py` (its own directory, so that
    // nothing else of DIR shadows the program's modules).
    let python = write_python_agent(&dir).map_err(|e| {
        user(format!(
            "cannot write {}: {e}",
            dir.join("python").display()
        ))
    })?;
    let socket = dir.join("leakhound-agent.sock");
    let existing = std::env::var("NODE_OPTIONS").ok();
    let existing_python = std::env::var("PYTHONPATH").ok();
    let socket = sh_quote(&socket.display().to_string());
    println!("# start node or python with:");
    println!("export LEAKHOUND_AGENT_SOCKET={socket}");
    println!(
        "export NODE_OPTIONS={}",
        sh_quote(&node_options(existing.as_deref(), &script))
    );
    println!(
        "export PYTHONPATH={}",
        sh_quote(&python_path(existing_python.as_deref(), &python))
    );
    if args.native {
        let sampling = size("--native-sampling", &args.native_sampling)?;
        let every = duration("--native-interval", &args.native_interval)?;
        if !(1.0..=1e9).contains(&sampling) || every < 1.0 {
            return Err(user(format!(
                "--native-sampling {} / --native-interval {}: write a size from 1B to 1GB and \
                 a time of at least 1s",
                args.native_sampling, args.native_interval
            )));
        }
        let lib = locate_preload(std::env::var("LEAKHOUND_PRELOAD").ok().as_deref())?;
        let existing = std::env::var("LD_PRELOAD").ok();
        println!(
            "export LD_PRELOAD={}",
            sh_quote(&ld_preload(existing.as_deref(), &lib))
        );
        println!("export LEAKHOUND_NATIVE_SAMPLING={}", sampling as u64);
        println!(
            "export LEAKHOUND_NATIVE_INTERVAL_MS={}",
            (every * 1000.0) as u64
        );
    }
    println!("# and watch it with:");
    println!("# leakhound watch --name node --agent-socket {socket}");
    Ok(false)
}

/// Quotes `s` for a POSIX shell, so that `eval "$(leakhound agent)"` takes every path as it is.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
