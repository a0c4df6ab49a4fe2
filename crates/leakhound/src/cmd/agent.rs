//! `leakhound agent`: the Node.js and Python agents (and with `--native`, the native allocation
//! profiler) for processes that `watch` attaches to.

use leakhound_app::agent_env::agent_setup;

use crate::cli::AgentArgs;

pub fn run(args: &AgentArgs) -> anyhow::Result<bool> {
    let native = if args.native {
        let schedule =
            crate::options::schedule("--native-interval", args.native_interval.as_deref())?;
        Some(crate::options::native_profiler(
            args.native_sampling.as_deref(),
            schedule,
            false,
        )?)
    } else {
        None
    };
    let setup = agent_setup(&args.dir, native.as_ref())?;
    println!("# start node or python with:");
    for (name, value) in &setup.env {
        println!("export {name}={}", sh_quote(value));
    }
    println!("# and watch it with:");
    println!(
        "# leakhound watch --name node --agent-socket {}",
        sh_quote(&setup.socket.display().to_string())
    );
    Ok(false)
}

/// Quotes `s` for a POSIX shell, so that `eval "$(leakhound agent)"` takes every path as it is.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
