//! The environment that brings leakhound's in-process agents into a program, one for `run`
//! (which starts the program itself) and for `leakhound agent` (which prints it for a program
//! started by hand and watched later): NODE_OPTIONS and PYTHONPATH with the user's own entries
//! kept, the Python profiler's library, the native profiler's settings.

use std::path::{Path, PathBuf};

use leakhound_probe::agent::{node_options, python_path, write_python_agent, NODE_AGENT_JS};
use leakhound_wire::env as wire;

use crate::error::user;
use crate::native::{native_env, NativeSites};

/// Environment variables, in the order they are set.
pub type Env = Vec<(String, String)>;

/// The variables that load the Node.js agent (`node_script`) and the Python agent (the
/// directory `python_dir` that holds its `sitecustomize.py`), after what the user has set.
pub fn runtime_agents(node_script: &Path, python_dir: &Path) -> Env {
    let mut env = vec![
        (
            "NODE_OPTIONS".to_string(),
            node_options(std::env::var("NODE_OPTIONS").ok().as_deref(), node_script),
        ),
        (
            "PYTHONPATH".to_string(),
            python_path(std::env::var("PYTHONPATH").ok().as_deref(), python_dir),
        ),
    ];
    if let Some(lib) = crate::native::python_profiler() {
        env.push((wire::PYTHON_PROFILER.into(), lib.display().to_string()));
    }
    env
}

/// The native profiler's variables for `n`, reporting to `socket`, without the socket itself.
pub fn native_agent(n: &NativeSites, socket: &Path) -> Env {
    native_env(n, socket)
        .into_iter()
        .filter(|(k, _)| k != wire::AGENT_SOCKET)
        .collect()
}

/// What `leakhound agent` sets up in a directory.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSetup {
    /// The socket the agents report to, which `watch --agent-socket` listens on.
    pub socket: PathBuf,
    /// Every variable to export, the socket's first.
    pub env: Env,
}

/// Writes the Node.js and Python agents into `dir` (the Python one in `dir/python`, its own
/// directory, so that nothing else of `dir` shadows the program's modules) and returns the
/// environment that loads them, with the native profiler's when `native` is given.
pub fn agent_setup(dir: &Path, native: Option<&NativeSites>) -> anyhow::Result<AgentSetup> {
    let dir =
        std::fs::canonicalize(dir).map_err(|e| user(format!("--dir {}: {e}", dir.display())))?;
    let script = dir.join("leakhound-node-agent.js");
    std::fs::write(&script, NODE_AGENT_JS)
        .map_err(|e| user(format!("cannot write {}: {e}", script.display())))?;
    let python = write_python_agent(&dir).map_err(|e| {
        user(format!(
            "cannot write {}: {e}",
            dir.join("python").display()
        ))
    })?;
    let socket = dir.join("leakhound-agent.sock");
    let mut env = vec![(wire::AGENT_SOCKET.to_string(), socket.display().to_string())];
    env.extend(runtime_agents(&script, &python));
    if let Some(n) = native {
        env.extend(native_agent(n, &socket));
    }
    Ok(AgentSetup { socket, env })
}
