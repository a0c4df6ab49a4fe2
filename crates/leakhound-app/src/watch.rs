//! `watch`: sample running processes (a tree by pid, every match of a name) or a cgroup until
//! time is up or they are gone, optionally serving `/metrics`, then judge the run.

use std::net::SocketAddr;
use std::path::Path;

use leakhound_net::exporter::{serve, Exposition};
use leakhound_probe::agent::AgentListener;
use leakhound_probe::inspector::is_node;
use leakhound_probe::{
    memory_limit_of_pid, total_physical_memory, CgroupReader, NameMatcher, ProbeError, ProcKey,
};
use leakhound_report::units::format_duration;

use crate::conclude::{conclude, Concluded};
use crate::database::{create_run, new_run, open_rw};
use crate::error::user;
use crate::inspect::{InspectOptions, NodeInspector, NodeProcess};
use crate::policy::Policy;
use crate::sampling::{Clock, Jvm, JvmProcess, Sampler, Target, TargetSpec};
use crate::session::{
    add_sources, sample_loop, stop_flag, Observer, Sampling, SessionOptions, Until,
    DEFAULT_MIN_SOAK,
};

/// How long `watch --jvm PID` waits for a Java launcher to load its JVM.
const JVM_START: std::time::Duration = std::time::Duration::from_secs(10);

/// The targets of a watch and the tightest memory limit that applies to them.
#[derive(Debug, Default)]
pub struct Targets {
    targets: Vec<Target>,
    limit: Option<u64>,
    /// The processes named by `--pid`.
    pids: Vec<i32>,
}

impl Targets {
    fn add(&mut self, target: Target, limit: Option<u64>) {
        self.limit = match (self.limit, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.targets.push(target);
    }

    /// Whether process `pid` is watched as a tree of its own already.
    pub fn has_pid(&self, pid: i32) -> bool {
        let label = format!("pid {pid}");
        self.targets.iter().any(|t| t.label() == label)
    }

    /// Process `pid` and its descendants.
    pub fn pid(&mut self, pid: i32) -> Result<(), ProbeError> {
        let key = ProcKey::of_pid(pid)?;
        self.pids.push(pid);
        self.add(
            Target::new(format!("pid {pid}"), TargetSpec::Tree(key)),
            memory_limit_of_pid(pid),
        );
        Ok(())
    }

    /// Every process whose name or command line matches `pattern`, restarts followed.
    pub fn name(&mut self, pattern: &str) -> Result<(), String> {
        let m = NameMatcher::new(pattern)?;
        self.add(
            Target::new(format!("name {pattern}"), TargetSpec::Name(m)),
            total_physical_memory(),
        );
        Ok(())
    }

    /// The cgroup v2 at `path`.
    pub fn cgroup(&mut self, path: &str) -> Result<(), ProbeError> {
        let r = CgroupReader::open(path)?;
        let limit = r.limit().or_else(total_physical_memory);
        self.add(
            Target::new(format!("cgroup {path}"), TargetSpec::Cgroup(r)),
            limit,
        );
        Ok(())
    }

    /// The JVM `pid` to read with `jcmd` (watched as a tree of its own unless it already is):
    /// its pid and jcmd's path. Without jcmd `--jvm` cannot work whatever the pid, so that is
    /// said first; a pid that runs no JVM is named.
    pub fn jvm(&mut self, pid: i32) -> anyhow::Result<(i32, std::path::PathBuf)> {
        let jcmd = crate::sampling::require_jcmd()?;
        if !self.has_pid(pid) {
            self.pid(pid)
                .map_err(|e| user(format!("--jvm {pid}: {e}")))?;
        }
        // A `java` started a moment ago loads the JVM within milliseconds: wait for it.
        let started = std::time::Instant::now();
        while !leakhound_probe::jvm::is_jvm(pid)
            && leakhound_probe::jvm::starting_jvm(pid)
            && started.elapsed() < JVM_START
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if !leakhound_probe::jvm::is_jvm(pid) {
            return Err(user(format!(
                "--jvm {pid}: process {pid} runs no JVM (no libjvm.so mapped)"
            )));
        }
        Ok((pid, jcmd))
    }
}

/// Listens on `socket` for the reports of agents started with `leakhound agent`'s environment.
pub fn agent_listener(socket: &Path) -> anyhow::Result<AgentListener> {
    AgentListener::bind(socket)
        .map_err(|e| user(format!("--agent-socket {}: {e}", socket.display())))
}

/// A watch.
#[derive(Debug)]
pub struct Watch {
    /// What to sample.
    pub targets: Targets,
    /// Serve `/metrics` here.
    pub listen: Option<SocketAddr>,
    /// Reports of Node.js and Python agents started with `leakhound agent`'s environment.
    pub agent: Option<AgentListener>,
    /// A JVM among the targets to read with `jcmd` (at this path).
    pub jvm: Option<(i32, std::path::PathBuf)>,
    /// Sampling and verdict options.
    pub sampling: Sampling,
}

/// Reads the Node.js processes among `pids` over their inspectors: sites (`sites`: asked for
/// and no agent socket to get them from) and heap snapshots of the first one (`--retainers`;
/// with an `agent` socket, Python agents find their holders themselves).
fn add_inspectors(
    sampler: &mut Sampler,
    pids: &[i32],
    sites: Option<leakhound_probe::agent::SitesRequest>,
    sampling: &Sampling,
    agent: bool,
) -> anyhow::Result<()> {
    if sites.is_none() && sampling.retainers.is_none() {
        return Ok(());
    }
    if sampling.retainers.is_some() && sampling.sites.is_none() {
        eprintln!("leakhound: warning: --retainers takes heap snapshots once an allocation site leaks, and no sites are collected: add --sites");
    }
    let nodes: Vec<i32> = pids.iter().copied().filter(|p| is_node(*p)).collect();
    if nodes.is_empty() {
        if sites.is_some() {
            eprintln!("leakhound: warning: --sites: no --pid process runs Node.js, whose inspector gives sites without a restart; for Python and native sites start the program with `leakhound agent`'s environment and watch with --agent-socket");
        }
        if sampling.retainers.is_some() && !agent {
            eprintln!("leakhound: warning: --retainers: no --pid process runs Node.js, whose heap snapshots leakhound takes; Python programs started with `leakhound agent`'s environment find their holders themselves (with --agent-socket)");
        }
        return Ok(());
    }
    for (i, pid) in nodes.into_iter().enumerate() {
        let labels = sampler
            .targets()
            .iter()
            .find(|t| t.label() == format!("pid {pid}"))
            .map(|t| t.labels().clone())
            .unwrap_or_default();
        let opts = InspectOptions {
            which: NodeProcess::Pid(pid),
            sites: sites.map(|r| (r.schedule(), r.sites_sampling)),
            snapshots: sampling.retainers.clone().filter(|_| i == 0),
        };
        let (source, retainers) =
            NodeInspector::start(opts, labels).map_err(|e| user(format!("--pid {pid}: {e}")))?;
        sampler.add_source(Box::new(source));
        if let Some(r) = retainers {
            sampler.set_retainers(r);
        }
    }
    Ok(())
}

/// Runs the watch into the database at `db`.
pub fn watch(db: &Path, w: Watch, observer: &mut dyn Observer) -> anyhow::Result<Concluded> {
    let interval = w.sampling.interval;
    let description = w
        .targets
        .targets
        .iter()
        .map(|t| t.label().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut store = open_rw(db)?;
    let stop = stop_flag()?;
    let clock = Clock::start();
    let run = create_run(
        &mut store,
        &new_run(
            "watch",
            description.clone(),
            clock.start_time(),
            Some(interval),
            w.targets.limit,
        ),
        w.sampling.policy.load,
    )?;
    eprintln!(
        "leakhound: run {run}: watching {description} every {}",
        format_duration(interval)
    );
    let jvm_label = w.jvm.as_ref().map(|(pid, _)| format!("pid {pid}"));
    let mut sampler = Sampler::new(store, run, w.targets.targets, clock, w.sampling.smaps)?;
    crate::retention::keep(&mut sampler, w.sampling.retention);
    add_sources(&mut sampler, &w.sampling)?;
    if let Some((pid, jcmd)) = w.jvm {
        // The JVM's series go with its target (`watch --jvm PID` watches PID).
        let labels = sampler
            .targets()
            .iter()
            .find(|t| Some(t.label()) == jvm_label.as_deref())
            .map(|t| t.labels().clone())
            .unwrap_or_default();
        sampler.add_source(Box::new(Jvm::new(
            JvmProcess::Pid(pid),
            jcmd,
            &w.sampling.jvm_options(),
            labels,
        )?));
    }
    let inspect_sites = w.sampling.sites.filter(|_| w.agent.is_none());
    add_inspectors(
        &mut sampler,
        &w.targets.pids,
        inspect_sites,
        &w.sampling,
        w.agent.is_some(),
    )?;
    if let Some(agent) = w.agent {
        if let Some(mut req) = w.sampling.sites {
            req.retainers = w.sampling.retainers.is_some();
            agent.ask_for_sites(req);
        }
        sampler.with_agent(agent);
    }
    if let Some(addr) = w.listen {
        let text = Exposition::default();
        let bound = serve(addr, text.clone()).map_err(|e| user(format!("--listen {addr}: {e}")))?;
        let scope = if bound.ip().is_loopback() {
            "loopback only"
        } else {
            "reachable from other hosts"
        };
        eprintln!("leakhound: serving metrics on http://{bound}/metrics ({scope})");
        sampler.export_to(text);
    }
    let opts = SessionOptions {
        interval,
        duration: w.sampling.duration,
        until: Until::Never,
        look_always: true,
        // The looks (printed, exported) have always used the default tolerance and limit; the
        // verdict at the end takes the user's.
        looks: Policy::with_load(w.sampling.policy.load),
        min_soak: DEFAULT_MIN_SOAK,
    };
    let end = sample_loop(&mut sampler, &mut [], &stop, &opts, observer)?;
    sampler.finish_retainers();
    conclude(&mut sampler, &end, &w.sampling.policy)
}
