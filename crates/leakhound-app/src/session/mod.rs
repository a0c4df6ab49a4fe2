//! A sampling session: the loop of `run`, `watch` and `ab` until the commands exit, time is
//! up, the user interrupts, the targets are gone, or (with `--until-verdict`, or for `ab`) the
//! verdict is in. Progress goes to an [`Observer`], so the loop knows nothing of terminals.

mod looks;

use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use leakhound_analysis::{SequentialLooks, Verdict};

use crate::judged::Judged;
use crate::kinds::RunStatus;
use crate::policy::Policy;
use crate::sampling::{GoHeap, Sampler, Scrapes};

/// Overall error budget of the sequential looks: the chance of any wrong conclusive verdict
/// over a whole session.
const LOOKS_ALPHA: f64 = 0.05;

/// Why the loop ended.
#[derive(Debug)]
pub enum End {
    /// Every command exited; the first one's status.
    Exited(ExitStatus),
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// `--for` elapsed.
    TimeUp,
    /// Every target is gone.
    TargetsGone,
    /// A sequential look was conclusive.
    Verdict(Verdict),
}

impl End {
    /// How the run ended.
    pub fn status(&self) -> RunStatus {
        match self {
            End::Exited(_) | End::TargetsGone => RunStatus::Finished,
            End::Interrupted => RunStatus::Interrupted,
            End::TimeUp | End::Verdict(_) => RunStatus::Stopped,
        }
    }
}

/// Ctrl-C and SIGTERM set a flag; a loop notices within 100 ms.
pub fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    Ok(flag)
}

/// When to stop before time is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Only at the end.
    Never,
    /// When the verdict on the primary series is conclusive.
    Verdict,
    /// When the A/B comparison is conclusive.
    AbConclusive,
}

/// How `run`, `watch` and `ab` sample and judge: everything the command line says about it,
/// parsed.
#[derive(Debug, Clone)]
pub struct Sampling {
    /// Seconds between samples.
    pub interval: f64,
    /// Stop after this many seconds.
    pub duration: Option<f64>,
    /// Read PSS/USS (smaps_rollup) too.
    pub smaps: bool,
    /// Prometheus/OpenMetrics endpoints read every interval.
    pub scrapes: Vec<leakhound_net::Uri>,
    /// The verdict policy.
    pub policy: Policy,
    /// Allocation sites to ask the runtime agents for.
    pub sites: Option<leakhound_probe::agent::SitesRequest>,
    /// When allocation profilers report (agents, the native profiler, Go's pprof unless
    /// `--pprof-interval`): dense at first and thinning, or fixed by `--sites-interval`.
    pub sites_schedule: leakhound_wire::Schedule,
    /// A Go program's heap profile (`--pprof`) and when to read it.
    pub pprof: Option<(leakhound_net::Uri, leakhound_wire::Schedule)>,
    /// Seconds between JVM class histograms when asked for (`--histogram-interval`; each is
    /// a full GC), when a JVM is read (`--jvm`).
    pub histogram_interval: Option<f64>,
    /// Samples older than this many seconds are kept as floor summaries; `None`: forever.
    pub retention: Option<f64>,
    /// Who holds what leaks (`--retainers`): heap snapshots of a Node.js process once a site
    /// leaks, into this directory (kept when `.1`, `--keep-snapshots`); for a JVM, paths to GC
    /// roots now and then.
    pub retainers: Option<(std::path::PathBuf, bool)>,
}

/// Adds the sources every session of `sampling` reads besides its targets: `--scrape`
/// endpoints and a Go program's heap profile (`--pprof`, labelled as the first target).
pub fn add_sources(sampler: &mut Sampler, sampling: &Sampling) -> anyhow::Result<()> {
    if !sampling.scrapes.is_empty() {
        sampler.add_source(Box::new(Scrapes::new(sampling.scrapes.clone())?));
    }
    if let Some((url, every)) = &sampling.pprof {
        let labels = sampler
            .targets()
            .first()
            .map(|t| t.labels().clone())
            .unwrap_or_default();
        sampler.add_source(Box::new(GoHeap::new(url.clone(), *every, labels)?));
    }
    Ok(())
}

impl Sampling {
    /// How a JVM is read (`--jvm`): its recording on the profilers' schedule.
    pub fn jvm_options(&self) -> crate::sampling::JvmOptions {
        crate::sampling::JvmOptions {
            schedule: self.sites_schedule,
            histogram_interval: self.histogram_interval,
            retainers: self.retainers.is_some(),
        }
    }
}

/// How a session runs.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Seconds between samples.
    pub interval: f64,
    /// Stop after this many seconds.
    pub duration: Option<f64>,
    /// When to stop early.
    pub until: Until,
    /// Look at the verdict at the sequential schedule even without `until` (watch shows the
    /// looks and exports them).
    pub look_always: bool,
    /// The policy of the looks and of the verdicts exported.
    pub looks: Policy,
    /// With `until`: the shortest soak a verdict may stop it at, seconds. Growth seen for less
    /// cannot be told from a cache or a pool that is still filling.
    pub min_soak: f64,
}

pub use leakhound_analysis::DEFAULT_MIN_SOAK;

/// What the loop tells about its progress.
pub trait Observer {
    /// After each interval: seconds since the start, intervals so far, the primary reading.
    fn sampled(&mut self, elapsed: f64, intervals: u64, primary: Option<f64>);
    /// The verdict on the primary series at a sequential look.
    fn looked(&mut self, _judged: &Judged) {}
    /// The loop has ended.
    fn finish(&mut self) {}
}

/// Samples until the session ends. `children` are the commands whose exit ends it.
pub fn sample_loop(
    sampler: &mut Sampler,
    children: &mut [Child],
    stop: &AtomicBool,
    opts: &SessionOptions,
    observer: &mut dyn Observer,
) -> anyhow::Result<End> {
    let mut looks = SequentialLooks::new((20.0 * opts.interval).max(30.0), LOOKS_ALPHA);
    let mut next = 0.0;
    let mut ticks = 0u64;
    let end = loop {
        if stop.load(Ordering::Relaxed) {
            break End::Interrupted;
        }
        if !children.is_empty() {
            // The session ends when every command has exited; the first one's status is kept.
            let mut statuses = Vec::with_capacity(children.len());
            for c in children.iter_mut() {
                statuses.push(c.try_wait()?);
            }
            if statuses.iter().all(Option::is_some) {
                break End::Exited(statuses[0].expect("checked"));
            }
        }
        let elapsed = sampler.clock().elapsed();
        if opts.duration.is_some_and(|d| elapsed >= d) {
            break End::TimeUp;
        }
        if elapsed >= next {
            let s = sampler.tick()?;
            ticks += 1;
            observer.sampled(elapsed, ticks, s.primary);
            next += opts.interval;
            if next < elapsed {
                // Fell behind (suspended laptop, overloaded host): skip, do not burst.
                next = elapsed + opts.interval;
            }
            if sampler.all_done() {
                break End::TargetsGone;
            }
            let judging = opts.until != Until::Never || opts.look_always;
            if judging || sampler.retainers_mut().is_some() {
                if let Some(conf) = looks.due(elapsed) {
                    looks::retainers(sampler, opts)?;
                    if judging {
                        if let Some(v) = looks::look(sampler, conf, opts, observer)? {
                            break End::Verdict(v);
                        }
                    }
                }
            }
        }
        let wait = (next - sampler.clock().elapsed()).clamp(0.0, 0.1);
        std::thread::sleep(Duration::from_secs_f64(wait));
    };
    observer.finish();
    Ok(end)
}
