//! `run`: start a command, sample its process tree (with the Node.js and Python agents
//! injected, and recorded traffic replayed against it) until it ends, then judge it.

use std::path::PathBuf;
use std::sync::Arc;

use leakhound_analysis::Load;
use leakhound_net::replay::Pacing;
use leakhound_probe::agent::{AgentListener, SitesRequest};
use leakhound_probe::{memory_limit_of_pid, ProcKey};
use leakhound_report::units::format_duration;
use leakhound_wire::env as wire;

use crate::agent_env::{native_agent, runtime_agents, Env};
use crate::child::{display_command, spawn, stop_child};
use crate::conclude::{conclude, Concluded};
use crate::database::{create_run, new_run, open_rw};
use crate::error::user;
use crate::native::{check_command, NativeSites};
use crate::sampling::{Clock, Jvm, JvmProcess, ReplayCounter, Sampler, Target, TargetSpec};
use crate::session::add_sources;
use crate::session::{sample_loop, stop_flag, End, Observer, Sampling, SessionOptions, Until};
use crate::traffic::{Driver, ReplayPlan};

/// A soak of one command.
#[derive(Debug, Clone)]
pub struct Soak {
    /// Sampling and verdict options.
    pub sampling: Sampling,
    /// Stop as soon as a sequential look is conclusive.
    pub until_verdict: bool,
    /// The shortest soak a verdict stops, seconds ([`crate::session::DEFAULT_MIN_SOAK`]).
    pub min_soak: f64,
    /// Where the command's output goes, instead of leakhound's stdout and stderr.
    pub output: Option<PathBuf>,
    /// Seconds between SIGTERM and SIGKILL when stopping the command.
    pub grace: f64,
    /// Inject the Node.js and Python agents.
    pub agent: bool,
    /// The command runs a JVM to read with `jcmd`.
    pub jvm: bool,
    /// Inject the native allocation profiler (`--native-sites`).
    pub native: Option<NativeSites>,
    /// Traffic to drive the command with.
    pub replay: Option<ReplayPlan>,
    /// The command and its arguments.
    pub command: Vec<String>,
}

/// The load a soak assumes unless told: a soak's load is constant, but replaying traffic at
/// its recorded pace carries the recorded daily cycle, so then the data decide.
pub fn default_load(replay_pacing: Option<Pacing>) -> Load {
    match replay_pacing {
        Some(Pacing::Original { .. }) => Load::Auto,
        Some(Pacing::Rate(_)) | None => Load::Constant,
    }
}

/// How a soak ended.
#[derive(Debug)]
pub struct Soaked {
    /// Why sampling stopped.
    pub end: End,
    /// Seconds sampled.
    pub elapsed: f64,
    /// The run and its verdicts.
    pub concluded: Concluded,
}

/// The agents' listener and the environment that loads them: the Node.js and Python agents
/// (`node`: injected into every command, since Node.js reads NODE_OPTIONS, Python imports
/// `sitecustomize` from PYTHONPATH and every other program ignores both, so leakhound need not
/// guess which runtime a command or a shell script will start) and the native profiler when
/// asked. Without the native profiler, a listener that cannot be set up is a warning; with it,
/// an error.
fn agents(
    interval: f64,
    node: bool,
    sites: Option<SitesRequest>,
    native: Option<&NativeSites>,
) -> anyhow::Result<Option<(AgentListener, Env)>> {
    if !node && native.is_none() {
        return Ok(None);
    }
    let bound = AgentListener::bind_private().and_then(|l| {
        let scripts = if node {
            Some((l.write_agent()?, l.write_python_agent()?))
        } else {
            None
        };
        Ok((l, scripts))
    });
    let (l, scripts) = match bound {
        Ok(a) => a,
        Err(e) if native.is_some() => {
            return Err(user(format!(
                "--native-sites: cannot create the agent socket in {}: {e}",
                std::env::temp_dir().display()
            )))
        }
        Err(e) => {
            eprintln!("leakhound: warning: Node.js and Python agents disabled: {e}");
            return Ok(None);
        }
    };
    let mut env = vec![(
        wire::AGENT_SOCKET.to_string(),
        l.socket().display().to_string(),
    )];
    if let Some((script, python)) = scripts {
        env.push((
            wire::AGENT_INTERVAL_MS.into(),
            format!("{}", ((interval * 1000.0) as u64).max(100)),
        ));
        env.extend(runtime_agents(&script, &python));
        if let Some(s) = sites {
            env.push((
                wire::SITES_INTERVAL_MS.into(),
                s.sites_interval_ms.to_string(),
            ));
            env.push((
                wire::SITES_MIN_INTERVAL_MS.into(),
                s.sites_min_interval_ms.to_string(),
            ));
            env.push((wire::SITES_SAMPLING.into(), s.sites_sampling.to_string()));
        }
    }
    if let Some(n) = native {
        env.extend(native_agent(n, l.socket()));
    }
    Ok(Some((l, env)))
}

/// Adds `--inspect-port=0` to the `NODE_OPTIONS` of `env` (or of leakhound's environment).
fn inspect_any_port(env: &mut Env) {
    const FLAG: &str = "--inspect-port=0";
    match env.iter_mut().find(|(k, _)| k == "NODE_OPTIONS") {
        Some((_, v)) => {
            v.push(' ');
            v.push_str(FLAG);
        }
        None => {
            let mut v = std::env::var("NODE_OPTIONS").unwrap_or_default();
            if !v.is_empty() {
                v.push(' ');
            }
            v.push_str(FLAG);
            env.push(("NODE_OPTIONS".into(), v));
        }
    }
}

/// Starts the JVM with a larger old-object queue ([`jfr::QUEUE_SIZE`], through
/// `JAVA_TOOL_OPTIONS`) so that leak sites are judged in a short soak, unless the options
/// already set one or the JDK beside `jcmd` does not know the option (it would not start).
fn larger_old_object_queue(jcmd: &std::path::Path, env: &mut Env) {
    use leakhound_probe::jfr;
    const VAR: &str = "JAVA_TOOL_OPTIONS";
    let mut options = std::env::var(VAR).unwrap_or_default();
    if jfr::queue_size_in(options.split_whitespace()).is_some() {
        return;
    }
    let option = jfr::queue_option(jfr::QUEUE_SIZE);
    if !leakhound_probe::jvm::java_accepts(&jcmd.with_file_name("java"), &option) {
        eprintln!(
            "leakhound: warning: --jvm: the java beside {} does not take {option}; the JVM keeps \
             its default of {} old-object samples, which a busy program's garbage crowds out: \
             leak sites may need a long soak",
            jcmd.display(),
            jfr::DEFAULT_QUEUE_SIZE
        );
        return;
    }
    if !options.is_empty() {
        options.push(' ');
    }
    options.push_str(&option);
    eprintln!(
        "leakhound: --jvm: starting the JVM with {option} (through {VAR}, which the JVM repeats \
         on its stderr): its old-object sampler keeps {} objects instead of {}, enough for the \
         objects that stay to be sampled in a short soak",
        jfr::QUEUE_SIZE,
        jfr::DEFAULT_QUEUE_SIZE
    );
    env.push((VAR.into(), options));
}

/// Runs the soak into the database at `db`.
pub fn soak(db: &std::path::Path, s: &Soak, observer: &mut dyn Observer) -> anyhow::Result<Soaked> {
    let interval = s.sampling.interval;
    // Before anything starts: without jcmd, --jvm cannot work.
    let jcmd = if s.jvm {
        Some(crate::sampling::require_jcmd()?)
    } else {
        None
    };
    let mut store = open_rw(db)?;
    let stop = stop_flag()?;
    let clock = Clock::start();
    let agent = agents(interval, s.agent, s.sampling.sites, s.native.as_ref())?;
    if let Some(warning) = s.native.as_ref().and_then(|_| check_command(&s.command[0])) {
        eprintln!("leakhound: warning: {warning}");
    }
    let mut env = agent
        .as_ref()
        .map(|(_, env)| env.clone())
        .unwrap_or_default();
    if s.sampling.retainers.is_some() && !s.jvm {
        // The inspector, when a snapshot opens it, takes any free port rather than 9229, which
        // another Node.js may hold.
        inspect_any_port(&mut env);
        // A Python program's agent finds its holders itself.
        env.push((leakhound_wire::env::RETAINERS.into(), "1".into()));
    }
    if let Some(jcmd) = &jcmd {
        larger_old_object_queue(jcmd, &mut env);
    }
    let mut child = spawn(&s.command, s.output.as_deref(), &env)?;
    let pid = child.id() as i32;
    let Ok(key) = ProcKey::of_pid(pid) else {
        // Exited before it could be read: nothing to sample, but say what happened.
        let status = child.wait()?;
        return Err(user(format!(
            "{} exited immediately ({status})",
            display_command(&s.command)
        )));
    };
    let target = display_command(&s.command);
    let limit = memory_limit_of_pid(pid);
    let run = create_run(
        &mut store,
        &new_run(
            "run",
            target.clone(),
            clock.start_time(),
            Some(interval),
            limit,
        ),
        s.sampling.policy.load,
    )?;
    eprintln!(
        "leakhound: run {run}: sampling `{target}` (pid {pid}) every {}",
        format_duration(interval)
    );
    let targets = vec![Target::new(target, TargetSpec::Tree(key))];
    let mut sampler = Sampler::new(store, run, targets, clock, s.sampling.smaps)?;
    crate::retention::keep(&mut sampler, s.sampling.retention);
    if let Some((listener, _)) = agent {
        sampler.with_agent(listener);
    }
    if let Some(n) = &s.native {
        sampler.expect_native(n.schedule);
    }
    let mut driver = match &s.replay {
        Some(plan) => {
            let d = Driver::start(plan, s.sampling.duration)?;
            eprintln!(
                "leakhound: replaying {} against {} once it accepts connections",
                plan.har.display(),
                plan.target
            );
            let labels = sampler.targets()[0].labels().clone();
            sampler.add_source(Box::new(ReplayCounter::new(Arc::clone(&d.stats), labels)));
            Some(d)
        }
        None => None,
    };
    add_sources(&mut sampler, &s.sampling)?;
    if let Some(jcmd) = jcmd {
        let labels = sampler.targets()[0].labels().clone();
        sampler.add_source(Box::new(Jvm::new(
            JvmProcess::InTree(key),
            jcmd,
            &s.sampling.jvm_options(),
            labels,
        )?));
    }
    if let Some(snapshots) = s.sampling.retainers.as_ref().filter(|_| !s.jvm) {
        if s.sampling.sites.is_none() {
            eprintln!("leakhound: warning: --retainers takes heap snapshots once an allocation site leaks, and no sites are collected: add --sites");
        }
        // Only for snapshots: the agent gives the sites and the memory figures.
        let labels = sampler.targets()[0].labels().clone();
        let opts = crate::inspect::InspectOptions {
            which: crate::inspect::NodeProcess::InTree(key),
            sites: None,
            snapshots: Some(snapshots.clone()),
        };
        let (source, retainers) =
            crate::inspect::NodeInspector::start(opts, labels).map_err(anyhow::Error::msg)?;
        sampler.add_source(Box::new(source));
        if let Some(r) = retainers {
            sampler.set_retainers(r);
        }
    }
    let opts = SessionOptions {
        interval,
        duration: s.sampling.duration,
        until: if s.until_verdict {
            Until::Verdict
        } else {
            Until::Never
        },
        look_always: false,
        looks: s.sampling.policy.clone(),
        min_soak: s.min_soak,
    };
    let mut children = [child];
    let end = sample_loop(&mut sampler, &mut children, &stop, &opts, observer);
    let [mut child] = children;
    sampler.finish_retainers();
    if let Some(d) = &mut driver {
        d.stop();
        eprintln!("leakhound: replayed {}", d.summary());
    }
    stop_child(&mut child, s.grace);
    let end = end?;
    let elapsed = sampler.clock().elapsed();
    let concluded = conclude(&mut sampler, &end, &s.sampling.policy)?;
    Ok(Soaked {
        end,
        elapsed,
        concluded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaying_at_the_recorded_pace_lets_the_data_decide_the_load() {
        assert_eq!(default_load(None), Load::Constant);
        assert_eq!(default_load(Some(Pacing::Rate(200.0))), Load::Constant);
        assert_eq!(
            default_load(Some(Pacing::Original { speed: 4.0 })),
            Load::Auto
        );
    }
}
