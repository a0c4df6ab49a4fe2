//! The runtime agents: the Node.js agent's JavaScript and the Python agent's
//! `sitecustomize.py` (embedded), the pieces of the environment that load them (`NODE_OPTIONS`,
//! `PYTHONPATH`; the whole environment is `leakhound_app::agent_env`'s), and the local socket
//! leakhound listens on for their reports (one JSON object per line).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The agent's source, written to disk for `node --require`.
pub const NODE_AGENT_JS: &str = include_str!("../agent/node-agent.js");

/// The Python agent, written as `sitecustomize.py` into a directory put first on `PYTHONPATH`.
pub const PYTHON_AGENT_PY: &str = include_str!("../agent/python/sitecustomize.py");
/// The Python agent's holders finder (`--retainers`), written beside it.
pub const PYTHON_HOLDERS_PY: &str = include_str!("../agent/python/leakhound_holders.py");

/// Most gauges or counters one runtime report may carry.
const MAX_NAMED: usize = 256;

/// Longest report line accepted; longer lines are dropped (a broken or hostile sender). A
/// sites report of 10,000 stacks is about 2 MiB; the Node.js agent's whole sampling profile
/// of 11,000 stacks (`node_profile`, turned into sites here) about 10 MB.
const MAX_LINE: usize = 64 << 20;

/// Most processes whose last report is kept at once. The sampler forgets the reports of
/// processes that exited ([`AgentListener::retain`]), so this bounds only a flood of reports
/// under made-up pids: beyond it, reports of new pids are rejected (and counted).
pub const MAX_PROCESSES: usize = 32_768;

/// One report of one Node.js process.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct AgentReport {
    /// Process id.
    pub pid: i32,
    /// Unix seconds when the agent took it.
    pub t: f64,
    /// `process.memoryUsage().rss`.
    pub rss: f64,
    /// V8 heap reserved.
    pub heap_total: f64,
    /// V8 heap used.
    pub heap_used: f64,
    /// Memory of C++ objects bound to JS objects (Buffers included).
    pub external: f64,
    /// ArrayBuffers and Buffers.
    #[serde(default)]
    pub array_buffers: f64,
    /// `malloced_memory` from `v8.getHeapStatistics()`.
    #[serde(default)]
    pub malloced: f64,
    /// Detached contexts (a classic leak of vm contexts / iframes).
    #[serde(default)]
    pub detached_contexts: f64,
    /// Mean event-loop delay over the interval, ms.
    #[serde(default)]
    pub event_loop_delay_ms: Option<f64>,
    /// Active handles and requests.
    #[serde(default)]
    pub handles: Option<f64>,
    /// Cumulative counters: GC, HTTP, sockets, `app.*`.
    #[serde(default)]
    pub counters: BTreeMap<String, f64>,
}

/// Parses one report line; every field is checked for being a finite number.
pub fn parse_report(line: &str) -> Result<AgentReport, String> {
    let r: AgentReport =
        serde_json::from_str(line).map_err(|e| format!("bad agent report: {e}"))?;
    let nums = [
        r.t,
        r.rss,
        r.heap_total,
        r.heap_used,
        r.external,
        r.array_buffers,
        r.malloced,
        r.detached_contexts,
    ];
    if nums.iter().any(|v| !v.is_finite() || *v < 0.0) || r.pid <= 0 {
        return Err("bad agent report: a value is negative or not finite".into());
    }
    if r.counters.values().any(|v| !v.is_finite() || *v < 0.0) || r.counters.len() > 256 {
        return Err(
            "bad agent report: counters must be at most 256 finite non-negative numbers".into(),
        );
    }
    Ok(r)
}

/// Gauges of the agent, summed over processes, as (series name, value).
pub fn gauges(reports: &[&AgentReport]) -> Vec<(&'static str, f64)> {
    let sum = |f: fn(&AgentReport) -> f64| reports.iter().map(|r| f(r)).sum::<f64>();
    let mut out = vec![
        ("node.heap_total", sum(|r| r.heap_total)),
        ("node.heap_used", sum(|r| r.heap_used)),
        ("node.external", sum(|r| r.external)),
        ("node.array_buffers", sum(|r| r.array_buffers)),
        ("node.malloced", sum(|r| r.malloced)),
        ("node.detached_contexts", sum(|r| r.detached_contexts)),
    ];
    if reports.iter().all(|r| r.handles.is_some()) {
        out.push(("node.handles", sum(|r| r.handles.unwrap_or(0.0))));
    }
    let delays: Vec<f64> = reports
        .iter()
        .filter_map(|r| r.event_loop_delay_ms)
        .collect();
    if !delays.is_empty() {
        out.push((
            "node.event_loop_delay_ms",
            delays.iter().copied().fold(0.0, f64::max),
        ));
    }
    out
}

/// One report of a runtime other than Node.js (`"type":"runtime"`): named gauges and
/// cumulative counters, e.g. `python.traced_bytes`, `python.gc.collections.gen0`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct RuntimeReport {
    /// `python`.
    pub runtime: String,
    /// Process id.
    pub pid: i32,
    /// Unix seconds when the agent took it.
    pub t: f64,
    /// Gauges by series name.
    #[serde(default)]
    pub gauges: BTreeMap<String, f64>,
    /// Cumulative counters by series name.
    #[serde(default)]
    pub counters: BTreeMap<String, f64>,
}

/// Whether `name` is a series name an agent may use: `[A-Za-z0-9_.:-]{1,64}`.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

/// Parses one runtime report line: finite non-negative numbers, at most 256 of each kind,
/// valid names.
pub fn parse_runtime_report(line: &str) -> Result<RuntimeReport, String> {
    let r: RuntimeReport =
        serde_json::from_str(line).map_err(|e| format!("bad runtime report: {e}"))?;
    if r.pid <= 0 || !r.t.is_finite() || !valid_name(&r.runtime) {
        return Err("bad runtime report: pid, time or runtime".into());
    }
    for named in [&r.gauges, &r.counters] {
        if named.len() > MAX_NAMED
            || named
                .iter()
                .any(|(k, v)| !valid_name(k) || !v.is_finite() || *v < 0.0)
        {
            return Err(format!(
                "bad runtime report: gauges and counters must be at most {MAX_NAMED} finite \
                 non-negative numbers with names of [A-Za-z0-9_.:-]"
            ));
        }
    }
    Ok(r)
}

/// Gauges of runtime reports, summed over processes by name.
pub fn runtime_gauges(reports: &[RuntimeReport]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for r in reports {
        for (k, v) in &r.gauges {
            *out.entry(k.clone()).or_insert(0.0) += v;
        }
    }
    out
}

/// Sites reports held per process and source until the sampler takes them.
pub const SITES_KEPT: usize = 8;

/// Keeps `report` under `key` (dropping the oldest beyond [`SITES_KEPT`]); false when a new
/// process would exceed the bound on processes.
fn keep_sites(
    sites: &mut HashMap<(i32, String), Vec<crate::sites::SitesReport>>,
    key: (i32, String),
    report: crate::sites::SitesReport,
) -> bool {
    if sites.len() >= MAX_PROCESSES && !sites.contains_key(&key) {
        return false;
    }
    let held = sites.entry(key).or_default();
    if held.len() >= SITES_KEPT {
        held.remove(0);
    }
    held.push(report);
    true
}

#[derive(Debug, Default)]
struct Reports {
    latest: HashMap<i32, AgentReport>,
    /// The latest report of each process of a runtime other than Node.js.
    runtime: HashMap<i32, RuntimeReport>,
    /// The newest sites reports of each process and source not taken yet, oldest first (at
    /// most [`SITES_KEPT`]: profilers report densely at first, faster than a slow interval
    /// takes them).
    sites: HashMap<(i32, String), Vec<crate::sites::SitesReport>>,
    /// What the native profiler said about each process it runs in.
    native: HashMap<i32, NativeStatus>,
    /// What agents said about their sites and not taken yet (at most a few per process).
    notices: HashMap<i32, Vec<String>>,
    /// The latest holders each agent found and not taken yet (`--retainers`).
    holders: HashMap<i32, crate::sites::HoldersReport>,
    rejected: u64,
}

/// What the native profiler (the preload library) said about a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeStatus {
    /// Whether the program's malloc is the profiler's (false: the executable brings its own
    /// allocator and the profiler sees nothing).
    pub hooked: bool,
    /// Allocations sampled since the program started (0 after a while: nothing goes through
    /// malloc).
    pub samples: u64,
    /// Samples dropped because the profiler's table of live samples was full.
    pub dropped: u64,
    /// Reports received.
    pub reports: u64,
}

/// What one connection has said that later lines refer to: the module map of the native
/// profiler's process (each process, a forked child too, has its own connection).
#[derive(Debug, Default)]
struct Connection {
    maps: Option<crate::native::NativeMaps>,
    /// The functions of a Python process's sampling profiler.
    python: Option<crate::python::PythonCodes>,
}

/// A line an agent sends: a memory report of Node.js, a report of another runtime
/// (`"type":"runtime"`), live memory by allocation site (`"type":"sites"`), or the native
/// profiler's module map and raw stacks (`native_maps`, `native_sites`), which
/// are symbolized here into a sites report.
fn accept(
    shared: &Mutex<Reports>,
    symbolizer: &Mutex<crate::native::Symbolizer>,
    conn: &mut Connection,
    line: &str,
) {
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    if line.contains("\"type\":\"runtime\"") {
        match parse_runtime_report(line) {
            Ok(rep) => {
                let mut r = lock();
                if r.runtime.len() >= MAX_PROCESSES && !r.runtime.contains_key(&rep.pid) {
                    r.rejected += 1;
                } else {
                    r.runtime.insert(rep.pid, rep);
                }
            }
            Err(_) => lock().rejected += 1,
        }
        return;
    }
    if leakhound_wire::lines::is_kind(line, leakhound_wire::lines::PYTHON_CODE) {
        match crate::python::parse_python_code(line) {
            Ok(c) => conn.python.get_or_insert_with(Default::default).add(c),
            Err(_) => lock().rejected += 1,
        }
        return;
    }
    if line.contains("\"type\":\"notice\"") {
        let mut r = lock();
        match crate::sites::parse_notice(line) {
            Ok(n) if r.notices.len() < MAX_PROCESSES || r.notices.contains_key(&n.pid) => {
                let said = r.notices.entry(n.pid).or_default();
                if said.len() < 8 {
                    said.push(n.text);
                }
            }
            _ => r.rejected += 1,
        }
        return;
    }
    if line.contains("\"type\":\"holders\"") {
        let mut r = lock();
        match crate::sites::parse_holders(line) {
            Ok(h) if r.holders.len() < MAX_PROCESSES || r.holders.contains_key(&h.pid) => {
                r.holders.insert(h.pid, h);
            }
            _ => r.rejected += 1,
        }
        return;
    }
    if leakhound_wire::lines::is_kind(line, leakhound_wire::lines::NATIVE_MAPS) {
        match crate::native::parse_native_maps(line) {
            Ok(m) => {
                let mut r = lock();
                if r.native.len() >= MAX_PROCESSES && !r.native.contains_key(&m.pid) {
                    r.rejected += 1;
                    return;
                }
                let st = r.native.entry(m.pid).or_insert(NativeStatus {
                    hooked: m.hooked,
                    samples: 0,
                    dropped: 0,
                    reports: 0,
                });
                st.hooked = m.hooked;
                conn.maps = Some(m);
            }
            Err(_) => lock().rejected += 1,
        }
        return;
    }
    if leakhound_wire::lines::is_kind(line, leakhound_wire::lines::NATIVE_SITES) {
        let parsed = crate::native::parse_native_sites(line);
        let (Ok(raw), Some(maps)) = (parsed, conn.maps.as_ref()) else {
            lock().rejected += 1;
            return;
        };
        // Symbolize outside the reports' lock: loading a large module's symbols takes time.
        let report = symbolizer.lock().unwrap_or_else(|p| p.into_inner()).report(
            maps,
            &raw,
            conn.python.as_ref(),
        );
        let mut r = lock();
        if let Some(st) = r.native.get_mut(&raw.pid) {
            st.samples = raw.samples;
            st.dropped = raw.dropped;
            st.reports += 1;
        }
        let key = (report.pid, report.source.clone());
        if !keep_sites(&mut r.sites, key, report) {
            r.rejected += 1;
        }
        return;
    }
    // A Node.js agent's profile becomes sites here (outside the lock: a large one takes ms).
    let profile = line
        .contains("\"type\":\"node_profile\"")
        .then(|| crate::node_profile::parse_profile_line(line));
    let mut r = lock();
    if line.contains("\"type\":\"sites\"") || profile.is_some() {
        let parsed = match profile {
            Some(p) => p,
            None => crate::sites::parse_sites(line),
        };
        let kept = parsed.is_ok_and(|s| keep_sites(&mut r.sites, (s.pid, s.source.clone()), s));
        if !kept {
            r.rejected += 1;
        }
        return;
    }
    match parse_report(line) {
        Ok(rep) if r.latest.len() < MAX_PROCESSES || r.latest.contains_key(&rep.pid) => {
            r.latest.insert(rep.pid, rep);
        }
        _ => r.rejected += 1,
    }
}

/// What leakhound asks of the agents that connect: allocation sites on a schedule (gaps from
/// `sites_min_interval_ms` at the start, growing with the time profiled, up to
/// `sites_interval_ms`: [`leakhound_wire::Schedule`]), sampling one allocation per
/// `sites_sampling` bytes on average.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SitesRequest {
    /// Longest gap between site reports, milliseconds.
    pub sites_interval_ms: u64,
    /// Shortest gap (the first report's delay), milliseconds; equal to the longest when fixed.
    pub sites_min_interval_ms: u64,
    /// Mean bytes between sampled allocations.
    pub sites_sampling: u64,
    /// Who holds what stays, where an agent can find it (`--retainers`; Python's).
    pub retainers: bool,
}

impl SitesRequest {
    /// Sites on `schedule`, sampling every `sampling` bytes on average.
    pub fn new(schedule: leakhound_wire::Schedule, sampling: u64) -> SitesRequest {
        SitesRequest {
            sites_interval_ms: schedule.max_ms,
            sites_min_interval_ms: schedule.min_ms,
            sites_sampling: sampling,
            retainers: false,
        }
    }

    /// The schedule asked for.
    pub fn schedule(&self) -> leakhound_wire::Schedule {
        leakhound_wire::Schedule {
            min_ms: self.sites_min_interval_ms.min(self.sites_interval_ms),
            max_ms: self.sites_interval_ms,
        }
    }
}

/// Listens on a Unix socket in a private directory for agent reports.
#[derive(Debug)]
pub struct AgentListener {
    dir: PathBuf,
    socket: PathBuf,
    owned_dir: bool,
    reports: Arc<Mutex<Reports>>,
    request: Arc<Mutex<Option<SitesRequest>>>,
}

impl AgentListener {
    /// Binds `socket` (its directory must exist). Reports are read on background threads.
    pub fn bind(socket: &Path) -> std::io::Result<AgentListener> {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket)?;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
        let reports = Arc::new(Mutex::new(Reports::default()));
        // One symbolizer for every connection: processes share modules (libc, the program).
        let symbols = Arc::new(Mutex::new(crate::native::Symbolizer::new()));
        let shared = Arc::clone(&reports);
        let request: Arc<Mutex<Option<SitesRequest>>> = Arc::new(Mutex::new(None));
        let asked = Arc::clone(&request);
        std::thread::Builder::new()
            .name("agent-accept".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let shared = Arc::clone(&shared);
                    let symbols = Arc::clone(&symbols);
                    // An agent started without sites in its environment starts them when
                    // asked on connecting (`watch --sites`). A failed write changes nothing.
                    let ask = *asked.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(req) = ask {
                        if let Ok(line) = serde_json::to_string(&req) {
                            let _ = (&stream).write_all(format!("{line}\n").as_bytes());
                        }
                    }
                    let _ =
                        std::thread::Builder::new()
                            .name("agent-conn".into())
                            .spawn(move || {
                                let mut reader = BufReader::new(stream.take(u64::MAX));
                                let mut line = String::new();
                                let mut conn = Connection::default();
                                loop {
                                    line.clear();
                                    match reader.by_ref().take(MAX_LINE as u64).read_line(&mut line)
                                    {
                                        Ok(0) | Err(_) => break,
                                        Ok(_) => {}
                                    }
                                    if !line.ends_with('\n') && line.len() >= MAX_LINE {
                                        // Too long: drop the connection rather than buffer without bound.
                                        break;
                                    }
                                    accept(&shared, &symbols, &mut conn, line.trim_end());
                                }
                            });
                }
            })?;
        Ok(AgentListener {
            dir: socket.parent().map(Path::to_path_buf).unwrap_or_default(),
            socket: socket.to_path_buf(),
            owned_dir: false,
            reports,
            request,
        })
    }

    /// Creates a private directory (0700) under the temp dir and binds `agent.sock` in it.
    pub fn bind_private() -> std::io::Result<AgentListener> {
        let dir =
            std::env::temp_dir().join(format!("leakhound-{}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let mut l = AgentListener::bind(&dir.join("agent.sock"))?;
        l.owned_dir = true;
        Ok(l)
    }

    /// The socket path to give agents (`LEAKHOUND_AGENT_SOCKET`).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Writes the agent script next to the socket and returns its path.
    pub fn write_agent(&self) -> std::io::Result<PathBuf> {
        let p = self.dir.join("leakhound-node-agent.js");
        std::fs::write(&p, NODE_AGENT_JS)?;
        Ok(p)
    }

    /// Writes the Python agent next to the socket; returns the directory to put on
    /// `PYTHONPATH` (see [`python_path`]).
    pub fn write_python_agent(&self) -> std::io::Result<PathBuf> {
        write_python_agent(&self.dir)
    }

    /// The latest report of each of `pids` that has one.
    pub fn latest(&self, pids: &[i32]) -> Vec<AgentReport> {
        let r = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        pids.iter()
            .filter_map(|p| r.latest.get(p).cloned())
            .collect()
    }

    /// The latest report of another runtime of each of `pids` that has one.
    pub fn latest_runtime(&self, pids: &[i32]) -> Vec<RuntimeReport> {
        let r = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        pids.iter()
            .filter_map(|p| r.runtime.get(p).cloned())
            .collect()
    }

    /// Counters summed over the processes in `pids`, which should hold every process of the
    /// target ever seen: an exited process keeps its last counts, so sums never go backwards.
    pub fn counters(&self, pids: &std::collections::HashSet<i32>) -> BTreeMap<String, f64> {
        let r = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        let node = r.latest.values().map(|rep| (rep.pid, &rep.counters));
        let others = r.runtime.values().map(|rep| (rep.pid, &rep.counters));
        let mut out = BTreeMap::new();
        for (_, counters) in node.chain(others).filter(|(pid, _)| pids.contains(pid)) {
            for (k, v) in counters {
                *out.entry(k.clone()).or_insert(0.0) += v;
            }
        }
        out
    }

    /// Asks every agent that connects from now on for allocation sites.
    pub fn ask_for_sites(&self, request: SitesRequest) {
        *self.request.lock().unwrap_or_else(|p| p.into_inner()) = Some(request);
    }

    /// The counters of the last report of `pid`, if it sent one.
    pub fn last_counters(&self, pid: i32) -> Option<BTreeMap<String, f64>> {
        let r = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        let node = r.latest.get(&pid).map(|rep| &rep.counters);
        let other = r.runtime.get(&pid).map(|rep| &rep.counters);
        if node.is_none() && other.is_none() {
            return None;
        }
        let mut out = BTreeMap::new();
        for (k, v) in node.into_iter().chain(other).flatten() {
            *out.entry(k.clone()).or_insert(0.0) += v;
        }
        Some(out)
    }

    /// Forgets what the processes for which `keep` is false reported: the sampler keeps those
    /// of the processes its targets list, and of any other process still alive.
    pub fn retain(&self, keep: impl Fn(i32) -> bool) {
        let mut r = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        r.latest.retain(|pid, _| keep(*pid));
        r.runtime.retain(|pid, _| keep(*pid));
        r.sites.retain(|(pid, _), _| keep(*pid));
        r.native.retain(|pid, _| keep(*pid));
        r.notices.retain(|pid, _| keep(*pid));
        r.holders.retain(|pid, _| keep(*pid));
    }

    /// Processes whose reports are held now.
    pub fn held(&self) -> usize {
        let r = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        r.latest.len()
            + r.runtime.len()
            + r.sites.len()
            + r.native.len()
            + r.notices.len()
            + r.holders.len()
    }

    /// The holders the agents of `pids` found since the last call (`--retainers`).
    pub fn take_holders(&self, pids: &[i32]) -> Vec<crate::sites::HoldersReport> {
        let mut r = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        pids.iter().filter_map(|p| r.holders.remove(p)).collect()
    }

    /// What the agents of `pids` said about their sites since the last call (why Python
    /// sites come from tracemalloc, say), as (pid, text).
    pub fn take_notices(&self, pids: &[i32]) -> Vec<(i32, String)> {
        let mut r = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        pids.iter()
            .filter_map(|p| r.notices.remove(p).map(|t| (*p, t)))
            .flat_map(|(p, t)| t.into_iter().map(move |t| (p, t)))
            .collect()
    }

    /// The sites reports of `pids` received since the last call (each is returned once, at
    /// most [`SITES_KEPT`] per process and source, oldest first), of every source (a Node.js
    /// process may send `node` and `native` sites).
    pub fn take_sites(&self, pids: &[i32]) -> Vec<crate::sites::SitesReport> {
        let mut r = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        let keys: Vec<(i32, String)> = r
            .sites
            .keys()
            .filter(|(pid, _)| pids.contains(pid))
            .cloned()
            .collect();
        let mut out: Vec<_> = keys
            .iter()
            .filter_map(|k| r.sites.remove(k))
            .flatten()
            .collect();
        out.sort_by(|a, b| {
            (a.pid, &a.source, a.t)
                .partial_cmp(&(b.pid, &b.source, b.t))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        out
    }

    /// What the native profiler said about each of `pids` it runs in.
    pub fn native_status(&self, pids: &[i32]) -> Vec<(i32, NativeStatus)> {
        let r = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        pids.iter()
            .filter_map(|p| r.native.get(p).map(|s| (*p, *s)))
            .collect()
    }

    /// Reports rejected as malformed so far.
    pub fn rejected(&self) -> u64 {
        self.reports.lock().map(|r| r.rejected).unwrap_or(0)
    }
}

impl Drop for AgentListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        if self.owned_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Writes the Python agent as `DIR/python/sitecustomize.py` (and its holders finder beside
/// it); returns `DIR/python`.
pub fn write_python_agent(dir: &Path) -> std::io::Result<PathBuf> {
    let p = dir.join("python");
    std::fs::create_dir_all(&p)?;
    std::fs::write(p.join("sitecustomize.py"), PYTHON_AGENT_PY)?;
    std::fs::write(p.join("leakhound_holders.py"), PYTHON_HOLDERS_PY)?;
    Ok(p)
}

/// `PYTHONPATH` with the agent's directory first (its `sitecustomize` runs the program's own),
/// keeping what the user already set.
pub fn python_path(existing: Option<&str>, agent_dir: &Path) -> String {
    let dir = agent_dir.display().to_string();
    match existing.filter(|s| !s.is_empty()) {
        Some(e) => format!("{dir}:{e}"),
        None => dir,
    }
}

/// `NODE_OPTIONS` with the agent required, keeping what the user already set.
pub fn node_options(existing: Option<&str>, agent: &Path) -> String {
    // Node reads NODE_OPTIONS with double quotes and backslash escapes, so any path survives.
    let path = agent
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let require = format!("--require \"{path}\"");
    match existing.map(str::trim).filter(|s| !s.is_empty()) {
        Some(e) => format!("{e} {require}"),
        None => require,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Whatever an agent (or anything else on the socket) sends, parsing answers.
        #[test]
        fn any_line_is_handled(line in r#"(\{|\}|"[a-z_]{0,8}"|:|,|-?[0-9.e]{0,6}|null|\[|\]){0,40}"#) {
            let _ = super::parse_report(&line);
            let _ = super::parse_runtime_report(&line);
        }
    }
}
