//! `leakhound agent`: the Node.js agent for processes that `watch` attaches to.

use leakhound_probe::agent::{node_options, NODE_AGENT_JS};

use crate::cli::AgentArgs;
use crate::error::user;

pub fn run(args: &AgentArgs) -> anyhow::Result<bool> {
    let dir = std::fs::canonicalize(&args.dir)
        .map_err(|e| user(format!("--dir {}: {e}", args.dir.display())))?;
    let script = dir.join("leakhound-node-agent.js");
    std::fs::write(&script, NODE_AGENT_JS)
        .map_err(|e| user(format!("cannot write {}: {e}", script.display())))?;
    let socket = dir.join("leakhound-agent.sock");
    let existing = std::env::var("NODE_OPTIONS").ok();
    println!("# start node with:");
    println!("export LEAKHOUND_AGENT_SOCKET='{}'", socket.display());
    println!(
        "export NODE_OPTIONS='{}'",
        node_options(existing.as_deref(), &script)
    );
    println!("# and watch it with:");
    println!(
        "# leakhound watch --name node --agent-socket '{}'",
        socket.display()
    );
    Ok(false)
}
