//! `leakhound agent`: the Node.js and Python agents (and with `--native`, the native allocation
//! profiler) for processes that `watch` attaches to.

use std::path::Path;

use leakhound_app::native::native_env;
use leakhound_app::wire::env as wire;
use leakhound_probe::agent::{node_options, python_path, write_python_agent, NODE_AGENT_JS};

use leakhound_app::user;

use crate::cli::AgentArgs;

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
    let socket_path = dir.join("leakhound-agent.sock").display().to_string();
    let existing = std::env::var("NODE_OPTIONS").ok();
    let existing_python = std::env::var("PYTHONPATH").ok();
    let socket = sh_quote(&socket_path);
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
    if let Some(lib) = leakhound_app::native::python_profiler() {
        println!(
            "export {}={}",
            wire::PYTHON_PROFILER,
            sh_quote(&lib.display().to_string())
        );
    }
    if args.native {
        let schedule =
            crate::options::schedule("--native-interval", args.native_interval.as_deref())?;
        let n = crate::options::native_profiler(args.native_sampling.as_deref(), schedule, false)?;
        for (name, value) in native_env(&n, Path::new(&socket_path)) {
            if name != wire::AGENT_SOCKET {
                println!("export {name}={}", sh_quote(&value));
            }
        }
    }
    println!("# and watch it with:");
    println!("# leakhound watch --name node --agent-socket {socket}");
    Ok(false)
}

/// Quotes `s` for a POSIX shell, so that `eval "$(leakhound agent)"` takes every path as it is.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
