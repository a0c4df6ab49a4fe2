//! Command-line options as clap parses them: strings, checked and turned into the typed
//! options of `leakhound-app` once, by [`crate::options`].

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use leakhound_app::Load;

/// leakhound finds slow memory leaks in long-running services and tells you what causes them.
#[derive(Debug, Parser)]
#[command(name = "leakhound", version, about, max_term_width = 100)]
pub struct Cli {
    /// SQLite database of runs [default: the user's data directory]
    #[arg(long, global = true, env = "LEAKHOUND_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The command line, with `-V` and `--version` saying the commit and the build.
pub fn parse() -> Result<Cli, clap::Error> {
    // clap takes `'static` strings for versions: made once per process.
    let short: &'static str = Box::leak(crate::version::short().into_boxed_str());
    let long: &'static str = Box::leak(crate::version::long().into_boxed_str());
    let matches = Cli::command()
        .version(short)
        .long_version(long)
        .try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a command and sample its whole process tree until it exits
    Run(RunArgs),
    /// Sample running processes or a cgroup
    Watch(WatchArgs),
    /// Give a verdict on a stored run or a CSV file
    Analyze(AnalyzeArgs),
    /// Write a self-contained HTML report with charts
    Report(ReportArgs),
    /// Compare the leak rates of two runs (or of the two variants of an `ab` run)
    Compare(CompareArgs),
    /// Run two variants of a command side by side (different environment) and compare them
    Ab(AbArgs),
    /// Draw the main memory chart as SVG or PNG
    Plot(PlotArgs),
    /// List stored runs
    Runs(RunsArgs),
    /// Compact the database: compress closed blocks, keep samples older than the retention
    /// as floor summaries, give freed space back
    Gc(GcArgs),
    /// Write a run's samples as CSV or JSON, or its allocation sites as a pprof profile or
    /// folded stacks
    Export(ExportArgs),
    /// Store a CSV file (timestamp + series columns) as a run
    Import(ImportArgs),
    /// Run a bundled leaking workload for about a minute and show the whole pipeline
    Demo(DemoArgs),
    /// Write the Node.js agent to a directory and print how to load it (for `watch`)
    Agent(AgentArgs),
    /// Analyse every series of a Prometheus-compatible TSDB and rank the leaks
    Fleet(FleetArgs),
    /// Record HTTP traffic through a reverse proxy into a HAR file
    Record(RecordArgs),
    /// Replay the requests of a HAR file against a service
    Replay(ReplayArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The run's samples, one column per series (what `import` and `analyze` read)
    Csv,
    /// The run, its series with labels and units, and its events
    Json,
    /// Its allocation sites as a gzipped pprof profile (go tool pprof, Pyroscope, Parca,
    /// speedscope): leak rate, live bytes and objects per stack
    Pprof,
    /// Its allocation sites as folded stacks (flamegraph.pl, inferno, speedscope)
    Folded,
}

/// What each stack weighs in folded stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FoldedValue {
    /// Growth of its live bytes, bytes per day
    LeakRate,
    /// Live bytes at the run's last profile
    LiveBytes,
    /// Live objects at the run's last profile
    Objects,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Leak,
    Inconclusive,
}

/// Options that decide a verdict.
#[derive(Debug, Clone, Args)]
pub struct VerdictArgs {
    /// Growth you accept, e.g. 2MiB/day or 500KB/h [default: 1 MiB/day or 0.2% of the level
    /// per day, whichever is larger]
    #[arg(long, value_name = "RATE")]
    pub tolerance: Option<String>,
    /// Memory limit, e.g. 2GiB [default: the run's recorded limit]
    #[arg(long, value_name = "SIZE")]
    pub limit: Option<String>,
    /// What drives the working set: constant (a soak), cyclic (production traffic with daily
    /// cycles) or auto (the data and the workload counters decide) [default: constant for
    /// `run` (unless it replays traffic at the recorded pace) and `ab`; else auto]
    #[arg(long, value_name = "LOAD")]
    pub load: Option<Load>,
}

#[derive(Debug, Args)]
pub struct SamplingArgs {
    /// Time between samples, e.g. 1s, 500ms, 30s
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub interval: String,
    /// Stop after this long, e.g. 2h
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,
    /// Skip PSS/USS (smaps_rollup) readings
    #[arg(long)]
    pub no_smaps: bool,
    /// Also read a Prometheus/OpenMetrics endpoint each interval (repeatable), e.g.
    /// http://127.0.0.1:3000/metrics
    #[arg(long, value_name = "URL")]
    pub scrape: Vec<String>,
    /// Collect allocation sites from the runtime agents (Node.js: V8's sampling heap profiler;
    /// CPython 3.11: leakhound's sampling profiler on its allocator, or tracemalloc, which
    /// traces every allocation, with LEAKHOUND_PYTHON_TRACEMALLOC=1 or on other versions) and
    /// judge each site: where in the code memory grows. `watch --pid` of a Node.js process
    /// without an agent reads it over its inspector, which leakhound opens (SIGUSR1, loopback
    /// only) and closes when the watch ends
    #[arg(long)]
    pub sites: bool,
    /// Time between allocation-site profiles (of every profiler: --sites, --native-sites,
    /// --pprof), independent of --interval [default: every 3 s at first, the gap growing with
    /// the run to every 30 s from about 3 minutes on, so a short soak has enough profiles to
    /// judge and a long one costs no more]
    #[arg(long, value_name = "DURATION")]
    pub sites_interval: Option<String>,
    /// Mean bytes between sampled allocations (smaller: more precise, more overhead)
    #[arg(long, default_value = "32KiB", value_name = "SIZE")]
    pub sites_sampling: String,
    /// Read a Go program's heap profile (net/http/pprof) on its own schedule: allocation sites
    /// and go.heap_inuse, e.g. http://127.0.0.1:6060 (the path defaults to /debug/pprof/heap;
    /// `?gc=1`, a GC cycle before each profile, unless the URL has a query)
    #[arg(long, value_name = "URL")]
    pub pprof: Option<String>,
    /// Time between Go heap profiles, independent of --interval [default: as --sites-interval]
    #[arg(long, value_name = "DURATION")]
    pub pprof_interval: Option<String>,
    /// With --jvm: also take class histograms (`jcmd PID GC.class_histogram`, live bytes per
    /// class) this often. Each one runs a full, stop-the-world GC in the JVM [default: none]
    #[arg(long, value_name = "DURATION")]
    pub histogram_interval: Option<String>,
    /// Say what holds the memory that leaks. Node.js: once an allocation site leaks, take heap
    /// snapshots of the process over its inspector (two at looks, one at the end) and group the
    /// objects that survived between them by their retainer path; each snapshot pauses the
    /// process while V8 writes it (seconds for tens of MiB of JS heap, minutes for hundreds)
    /// and needs memory in it, up to 16 times the heap for the first (refused when MemAvailable
    /// is short). With --jvm: the paths from the old-object samples to GC roots (a
    /// stop-the-world walk of the heap, after a minute and then at most every 5 minutes)
    #[arg(long)]
    pub retainers: bool,
    /// With --retainers: keep the heap snapshots in this directory (for DevTools or memlab)
    /// instead of deleting them once compared
    #[arg(long, value_name = "DIR", requires = "retainers")]
    pub keep_snapshots: Option<PathBuf>,
    /// Output format of the final verdict
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit with code 1 when the verdict is this (or worse)
    #[arg(long, value_enum, value_name = "VERDICT")]
    pub fail_on: Option<FailOn>,
    /// Keep samples whole this long (e.g. 30d, or `forever`), then as floor summaries per
    /// window (min, 10th percentile, max, count); applies to every run in the database
    /// [default: 30d]
    #[arg(long, value_name = "DURATION")]
    pub retention: Option<String>,
    #[command(flatten)]
    pub verdict: VerdictArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Stop as soon as the verdict is conclusive (a sequential test: its error rate holds
    /// although the verdict is checked repeatedly)
    #[arg(long)]
    pub until_verdict: bool,
    /// With --until-verdict, the shortest soak a verdict may stop: growth seen for less cannot
    /// be told from a cache that is still filling
    #[arg(long, default_value = "2m", value_name = "DURATION")]
    pub min_soak: String,
    /// Send the command's stdout and stderr to this file instead of the terminal
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Seconds between SIGTERM and SIGKILL when stopping the command
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub grace: String,
    /// Do not inject the Node.js and Python agents (NODE_OPTIONS, PYTHONPATH) into the command
    #[arg(long)]
    pub no_agent: bool,
    /// The command runs a JVM: keep a flight recording in it (`jcmd PID JFR.start`: old-object
    /// samples and the heap at each GC) and read it every --sites-interval: the heap after GC
    /// and the allocation sites of what stays alive. Stopped when leakhound stops
    #[arg(long)]
    pub jvm: bool,
    /// Profile native allocations (malloc, C++ new) by call stack with a sampling profiler
    /// preloaded into the command (LD_PRELOAD), and judge each stack; every --sites-interval
    #[arg(long)]
    pub native_sites: bool,
    /// Mean bytes between sampled native allocations (smaller: more precise, more overhead)
    /// [default: adjusted to the program's allocation rate for about 1000 samples a second]
    #[arg(long, value_name = "SIZE", requires = "native_sites")]
    pub native_sampling: Option<String>,
    /// Keep profiling the programs the command executes (by default only the command itself
    /// and the processes it forks)
    #[arg(long, requires = "native_sites")]
    pub native_children: bool,
    /// Drive the command with the requests of this HAR file once it accepts connections
    #[arg(long, value_name = "FILE", requires = "target")]
    pub replay: Option<PathBuf>,
    /// Where the command listens, for --replay, e.g. http://127.0.0.1:3000
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    #[command(flatten)]
    pub pacing: ReplayPacing,
    /// The command and its arguments
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(true).args(["pid", "name", "cgroup", "jvm"])))]
pub struct WatchArgs {
    /// Process ids to watch (each with its descendants)
    #[arg(long, num_args = 1.., value_name = "PID")]
    pub pid: Vec<i32>,
    /// Regular expression over process names and command lines; restarts are followed
    #[arg(long, value_name = "REGEX")]
    pub name: Option<String>,
    /// cgroup v2 path, e.g. /system.slice/nginx.service
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<String>,
    /// Serve the samples and verdicts as Prometheus metrics at http://ADDR/metrics
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Listen for Node.js and Python agents and the native profiler on this socket (start the
    /// program with the environment that `leakhound agent [--native]` prints)
    #[arg(long, value_name = "PATH")]
    pub agent_socket: Option<PathBuf>,
    /// Watch this JVM (and its descendants) and keep a flight recording in it, as `run --jvm`
    /// does: the heap after GC and the allocation sites of what stays alive
    #[arg(long, value_name = "PID")]
    pub jvm: Option<i32>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Run id, or a CSV file [default: the latest run]
    pub input: Option<String>,
    /// Analyse only this series (repeatable)
    #[arg(long, value_name = "NAME")]
    pub series: Vec<String>,
    #[command(flatten)]
    pub verdict: VerdictArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit with code 1 when a verdict is this (or worse)
    #[arg(long, value_enum, value_name = "VERDICT")]
    pub fail_on: Option<FailOn>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run id, or a CSV file [default: the latest run]
    pub input: Option<String>,
    /// Where to write the report
    #[arg(
        long,
        short,
        default_value = "leakhound-report.html",
        value_name = "FILE"
    )]
    pub out: PathBuf,
    /// Open it in the default browser afterwards (xdg-open)
    #[arg(long)]
    pub open: bool,
    /// Show times in UTC instead of the viewer's time zone
    #[arg(long)]
    pub utc: bool,
    #[command(flatten)]
    pub verdict: VerdictArgs,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Run id, or a CSV file [default: the latest run]
    pub input: Option<String>,
    /// Output file: .svg or .png
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Series to draw [default: rss, or the first memory series]
    #[arg(long, value_name = "NAME")]
    pub series: Option<String>,
    /// Width and height in pixels
    #[arg(long, default_value = "1000x450", value_name = "WxH")]
    pub size: String,
    #[command(flatten)]
    pub verdict: VerdictArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run id or CSV file (A); an `ab` run alone compares its variants
    pub a: String,
    /// Run id or CSV file (B)
    pub b: Option<String>,
    /// Series to compare
    #[arg(long, default_value = "rss", value_name = "NAME")]
    pub series: String,
    #[command(flatten)]
    pub verdict: VerdictArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct AbArgs {
    /// Environment of variant A, KEY=VALUE (repeatable)
    #[arg(long = "a", required = true, value_name = "KEY=VALUE")]
    pub env_a: Vec<String>,
    /// Environment of variant B, KEY=VALUE (repeatable)
    #[arg(long = "b", required = true, value_name = "KEY=VALUE")]
    pub env_b: Vec<String>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Write each variant's output to DIR/a.log and DIR/b.log [default: discard]
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// The command and its arguments, run once per variant
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Keep samples whole this long (e.g. 30d, or `forever`), then as floor summaries
    #[arg(long, default_value = "30d", value_name = "DURATION")]
    pub retention: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run id
    pub run: i64,
    /// Output format
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// With --format folded, what each stack weighs [default: leak-rate]
    #[arg(long, value_enum, value_name = "VALUE")]
    pub value: Option<FoldedValue>,
    /// Instead, one allocation site's live bytes and objects over time, as CSV: its rank among
    /// the stacks of `analyze --format json` (`sites`, 1 is the first), or text of its
    /// allocating frame (leak_one)
    #[arg(long, value_name = "SITE", conflicts_with_all = ["format", "value"])]
    pub site_series: Option<String>,
    /// Write to this file instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub verdict: VerdictArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV file: header `timestamp,SERIES...`, unix seconds or RFC 3339 times
    pub file: PathBuf,
    /// Memory limit that applied, e.g. 2GiB
    #[arg(long, value_name = "SIZE")]
    pub limit: Option<String>,
    /// What drove the working set, assumed when the run is judged later: constant (a soak),
    /// cyclic (production traffic with daily cycles) or auto
    #[arg(long, value_name = "LOAD", default_value = "auto")]
    pub load: Load,
}

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Base URL of the Prometheus-compatible API, e.g. http://127.0.0.1:9090
    #[arg(long, value_name = "URL")]
    pub prometheus: String,
    /// Series selector, e.g. 'process_resident_memory_bytes{job="api"}'
    #[arg(long, value_name = "SELECTOR")]
    pub query: String,
    /// How far back to look
    #[arg(long, default_value = "14d", value_name = "DURATION")]
    pub range: String,
    /// Resolution of the query
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub step: String,
    /// Give up on a request that has no answer after this long (each request is tried 3 times)
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub timeout: String,
    /// A counter per instance (e.g. 'http_client_requests_total{job="api"}') to relate leak
    /// rates to event rates among the instances that leak
    #[arg(long, value_name = "QUERY")]
    pub counter: Option<String>,
    /// Compare the mean leak rates of the instances grouped by this label (e.g. version)
    #[arg(long, value_name = "LABEL")]
    pub group_by: Option<String>,
    /// Growth accepted per series, e.g. 2MiB/day
    #[arg(long, value_name = "RATE")]
    pub tolerance: Option<String>,
    /// Memory limit of each instance, e.g. 2GiB
    #[arg(long, value_name = "SIZE")]
    pub limit: Option<String>,
    /// What drives the working set: constant, cyclic (daily cycles) or auto
    #[arg(long, value_name = "LOAD", default_value = "auto")]
    pub load: Load,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write an HTML page of the ranking
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Exit with code 1 when a verdict is this (or worse)
    #[arg(long, value_enum, value_name = "VERDICT")]
    pub fail_on: Option<FailOn>,
    /// The old spelling of `--fail-on leak`, still understood (with a note)
    #[arg(long, hide = true, conflicts_with = "fail_on")]
    pub fail_on_leak: bool,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Address to listen on (loopback unless you say otherwise)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// The service to forward to, e.g. http://127.0.0.1:3000
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// The HAR file to write
    #[arg(long, short, default_value = "traffic.har", value_name = "FILE")]
    pub out: PathBuf,
    /// Keep Authorization, Cookie and token/key/secret/password values instead of redacting
    #[arg(long)]
    pub keep_credentials: bool,
    /// Bodies are kept up to this size, then truncated and marked
    #[arg(long, default_value = "64KiB", value_name = "SIZE")]
    pub max_body: String,
    /// Stop after this long [default: until Ctrl-C]
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,
}

/// How to drive a service with recorded traffic (shared by `replay` and `run --replay`).
#[derive(Debug, Clone, Args)]
pub struct ReplayPacing {
    /// Replay at the recorded pace times this factor, e.g. 2x
    #[arg(long, value_name = "FACTOR", conflicts_with = "rate")]
    pub speed: Option<String>,
    /// Replay at a fixed rate instead, e.g. 200/s
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,
    /// Most requests in flight at once
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// Start over at the end of the file until stopped (or until --for)
    #[arg(long = "loop")]
    pub repeat: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// HAR file (from `record` or browser devtools)
    pub har: PathBuf,
    /// The service, e.g. http://127.0.0.1:3000
    #[arg(long, value_name = "URL")]
    pub target: String,
    #[command(flatten)]
    pub pacing: ReplayPacing,
    /// Replay (in a loop) for this long
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Directory for the agent script and its socket
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// Also print the LD_PRELOAD that loads the native allocation profiler (any dynamically
    /// linked program), so `watch --agent-socket` gets its native sites
    #[arg(long)]
    pub native: bool,
    /// Mean bytes between sampled native allocations [default: adjusted to the program's
    /// allocation rate for about 1000 samples a second]
    #[arg(long, value_name = "SIZE", requires = "native")]
    pub native_sampling: Option<String>,
    /// Time between native site reports [default: every 3 s at first, thinning to every 30 s]
    #[arg(long, value_name = "DURATION", requires = "native")]
    pub native_interval: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to run the workload
    #[arg(long = "for", default_value = "60s", value_name = "DURATION")]
    pub duration: String,
}
