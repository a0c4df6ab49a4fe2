//! The verdict: from a memory series to `leak`, `no_leak` or `inconclusive`, with the rate of
//! the floor, an honest 95% interval, the pattern, the time to the limit and how much longer
//! to watch.

use crate::floor::{floor_of, median_interval, Floor};
use crate::jumps::{end_shift, find_shifts, level_change, Shift};
use crate::model::{fit, projected_slope_se, SlopeFit, Terms, DAY};
use crate::regression::normal_quantile;
use crate::step::best_step;
use crate::warmup::{best_saturation, warmup_ruled_out, with_time_constant, Warmup};

/// The answer for one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The floor grows faster than the tolerance with 95% confidence, and not as a bounded
    /// pattern.
    Leak,
    /// Growth is confidently below the tolerance, or bounded with a flat tail.
    NoLeak,
    /// Neither yet.
    Inconclusive,
}

impl Verdict {
    /// `leak`, `no_leak`, `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Leak => "leak",
            Verdict::NoLeak => "no_leak",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// The shape of the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// A ramp.
    Steady,
    /// Growth that speeds up with the daily load.
    LoadProportional,
    /// A staircase of jumps that never come back down.
    Stepwise,
    /// Each process lifetime grows; restarts hide it.
    Restarts,
    /// No growth.
    Flat,
    /// A daily or weekly cycle without growth.
    Seasonal,
    /// Growth that saturates (caches filling), flat after.
    Warmup,
    /// One jump, flat after.
    Step,
    /// An allocator high-water mark: a few jumps at peaks, flat after.
    Ratchet,
}

impl Pattern {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Steady => "steady",
            Pattern::LoadProportional => "load_proportional",
            Pattern::Stepwise => "stepwise",
            Pattern::Restarts => "restarts",
            Pattern::Flat => "flat",
            Pattern::Seasonal => "seasonal",
            Pattern::Warmup => "warmup",
            Pattern::Step => "step",
            Pattern::Ratchet => "ratchet",
        }
    }

    /// Whether the pattern, by itself, is bounded (not a leak).
    pub fn is_bounded(self) -> bool {
        matches!(
            self,
            Pattern::Flat | Pattern::Seasonal | Pattern::Warmup | Pattern::Step | Pattern::Ratchet
        )
    }
}

/// What drives the working set, as far as the user knows: whether a daily load cycle may be
/// hiding in (or posing as) growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// Constant load (a soak): no daily cycle to allow for.
    Constant,
    /// Production traffic: daily (and weekly) cycles.
    Cyclic,
    /// Decide from the data and the workload counters.
    #[default]
    Auto,
}

impl Load {
    /// `constant`, `cyclic`, `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            Load::Constant => "constant",
            Load::Cyclic => "cyclic",
            Load::Auto => "auto",
        }
    }
}

impl std::str::FromStr for Load {
    type Err = String;
    fn from_str(s: &str) -> Result<Load, String> {
        match s {
            "constant" => Ok(Load::Constant),
            "cyclic" => Ok(Load::Cyclic),
            "auto" => Ok(Load::Auto),
            _ => Err(format!("{s:?}: write constant, cyclic or auto")),
        }
    }
}

/// Confidence level of intervals and decisions unless told otherwise.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// What the analysis needs besides the samples.
#[derive(Debug, Clone)]
pub struct Config {
    /// Growth the user accepts, units per day.
    pub tolerance: f64,
    /// Memory limit, if known (same units as the series).
    pub limit: Option<f64>,
    /// Known restart times (unix seconds), e.g. from stored process instances.
    pub restarts: Vec<f64>,
    /// Confidence level of intervals and decisions ([`DEFAULT_CONFIDENCE`]; sequential looks
    /// decide at higher levels).
    pub confidence: f64,
    /// What drives the working set.
    pub load: Load,
}

impl Config {
    /// A config with the given tolerance (units per day) and defaults elsewhere.
    pub fn with_tolerance(tolerance: f64) -> Config {
        Config {
            tolerance,
            limit: None,
            restarts: Vec::new(),
            confidence: DEFAULT_CONFIDENCE,
            load: Load::Auto,
        }
    }
}

/// The tolerance used when the user gives none: 1 MiB/day for memory, 1/day for counts, or
/// 0.2% (counts: 1%) of the median level per day when that is larger, so large processes are
/// not held to a standard their noise cannot meet.
pub fn default_tolerance(values: &[f64], bytes: bool) -> f64 {
    let median = if values.is_empty() {
        0.0
    } else {
        let mut v = values.to_vec();
        let mid = v.len() / 2;
        *v.select_nth_unstable_by(mid, f64::total_cmp).1
    };
    if bytes {
        1048576.0f64.max(0.002 * median.abs())
    } else {
        1.0f64.max(0.01 * median.abs())
    }
}

/// Notes that qualify a finding; the presentation turns them into sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Note {
    /// Fewer than 10 floor points: too little to say anything.
    TooFewSamples,
    /// The span is under two days and the load may be cyclic: the interval allows for a daily
    /// cycle the window cannot show whole.
    DailyCycleNotResolved,
    /// The floor noise is strongly autocorrelated; intervals were widened for it.
    Autocorrelated,
    /// The rate comes from the tail after a warm-up, step or last jump.
    RateFromTail,
    /// The floor grew overall but not in the most recent third: not called a leak yet.
    GrowthStopped,
    /// The growth may be a warm-up that has not levelled off yet: not called a leak yet.
    WarmupNotRuledOut,
    /// The first samples, far below the rest, were taken while the program was loading and
    /// were left out.
    StartupSkipped,
    /// The growth may be one lasting step up rather than a ramp: not called a leak yet.
    StepNotRuledOut,
    /// The floor jumped up in the last few points (a dump at exit, say): the jump is listed
    /// and the rate was judged on the floor before it.
    JumpAtEnd,
    /// The floor dropped in the last few points (memory given back at exit, a process already
    /// gone): the rate was judged on the floor before it.
    DropAtEnd,
}

/// The full result for one series: the contract fields plus what charts and sentences need.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// Number of samples analysed.
    pub samples: usize,
    /// Time from first to last sample, seconds.
    pub span_seconds: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// The pattern.
    pub pattern: Pattern,
    /// Sustained growth of the floor, units per day.
    pub rate_per_day: Option<f64>,
    /// Interval of the rate at [`Finding::confidence`].
    pub rate_ci_per_day: Option<(f64, f64)>,
    /// Confidence level of the interval and the verdict.
    pub confidence: f64,
    /// The load the verdict assumed (never `auto`: what auto decided).
    pub load: Load,
    /// The workload counter whose event rate was used as the working set's covariate, if any.
    pub load_counter: Option<String>,
    /// Standard error of the rate (per day), for comparisons between runs.
    pub rate_se_per_day: Option<f64>,
    /// The tolerance used, units per day.
    pub tolerance_per_day: f64,
    /// The rate these data would call a leak 80% of the time (tolerance plus 2.8 standard
    /// errors).
    pub detectable_rate_per_day: Option<f64>,
    /// For `inconclusive`: about how much longer to watch, seconds.
    pub time_to_verdict_seconds: Option<f64>,
    /// The limit used.
    pub limit: Option<f64>,
    /// For `leak` with a limit: time until peaks reach the limit at this rate, seconds.
    pub time_to_limit_seconds: Option<f64>,
    /// Floor level at the end of the series.
    pub level_now: Option<f64>,
    /// Where the fitted trend ends: (time, level). With the rate it draws the trend line and
    /// its projection.
    pub trend_end: Option<(f64, f64)>,
    /// Start (unix seconds) of the stretch the rate was estimated on.
    pub rate_from: f64,
    /// The floor.
    pub floor: Floor,
    /// Up-jumps found in the floor.
    pub jumps: Vec<Shift>,
    /// A level shift in the last few floor points ([`Note::JumpAtEnd`], [`Note::DropAtEnd`]):
    /// the rate was judged on the floor before it. An up-jump is also among `jumps`.
    pub end_shift: Option<EndShift>,
    /// Restarts (drops in the floor, or given), unix seconds.
    pub restarts: Vec<f64>,
    /// Warm-up knee, unix seconds.
    pub knee: Option<f64>,
    /// For `leak`: the growth has outlasted any warm-up that levels off within this many
    /// seconds (three time constants of the longest saturating curve that cannot explain it).
    /// A longer warm-up still running is what the verdict cannot rule out.
    pub warmup_ruled_out_seconds: Option<f64>,
    /// Fitted daily profile of the floor, 24 hourly offsets (UTC hours), when a daily cycle
    /// was modelled.
    pub daily_profile: Option<Vec<f64>>,
    /// Qualifications.
    pub notes: Vec<Note>,
    /// Which workload counters explain the growth (set by [`Finding::attribute`] for leaks).
    pub attribution: Option<crate::attribution::AttributionReport>,
    /// Which kind of memory grows, when the runtime's own gauges are known.
    pub memory_kind: Option<crate::attribution::MemoryKind>,
}

impl Finding {
    /// For a leak, attributes the floor's growth to `counters` (see
    /// [`attribute`](crate::attribution::attribute)); nothing for other verdicts, so a clean
    /// run is not decorated with spurious causes.
    pub fn attribute(&mut self, counters: &[crate::attribution::Counter]) {
        if self.verdict == Verdict::Leak && !counters.is_empty() {
            let r = crate::attribution::attribute(&self.floor, counters);
            if !r.items.is_empty() {
                self.attribution = Some(r);
            }
        }
    }
}

/// A level shift in the last moments of a series.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EndShift {
    /// The shift (positive up).
    pub shift: Shift,
    /// Seconds from it to the last sample.
    pub before_end: f64,
}

/// Why the input cannot be analysed at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    /// Times and values differ in length.
    #[error("{t} times but {y} values")]
    Length {
        /// Number of times.
        t: usize,
        /// Number of values.
        y: usize,
    },
    /// A time or value is NaN or infinite.
    #[error("sample {0} is not a finite number")]
    NotFinite(usize),
    /// Times are not strictly increasing.
    #[error("time at sample {0} is not after the one before")]
    Unsorted(usize),
    /// A value or time so large that sums of squares overflow (beyond an exabyte, or a time
    /// past the year 5000).
    #[error("sample {0} is out of range: values up to 1e18 and times up to 1e11 s (the year 5138) can be analysed")]
    OutOfRange(usize),
}

/// Largest magnitude of a value (an exabyte is far beyond any process) and of a time.
const MAX_VALUE: f64 = 1e18;
const MAX_TIME: f64 = 1e11;

fn check(t: &[f64], y: &[f64]) -> Result<(), InputError> {
    if t.len() != y.len() {
        return Err(InputError::Length {
            t: t.len(),
            y: y.len(),
        });
    }
    if let Some(i) = (0..t.len()).find(|&i| !t[i].is_finite() || !y[i].is_finite()) {
        return Err(InputError::NotFinite(i));
    }
    if let Some(i) = (1..t.len()).find(|&i| t[i] <= t[i - 1]) {
        return Err(InputError::Unsorted(i));
    }
    if let Some(i) = (0..t.len()).find(|&i| t[i].abs() > MAX_TIME || y[i].abs() > MAX_VALUE) {
        return Err(InputError::OutOfRange(i));
    }
    Ok(())
}

const MIN_FLOOR_POINTS: usize = 10;

/// BIC gain (over the effective number of points) from which a bounded shape, a levelled
/// warm-up or one lasting step, fits clearly better than the line.
const CLEARLY_BETTER: f64 = 10.0;

/// BIC gain above which one step, not clearly better than the line, is still a rival to it:
/// any gain (measured with the scorer, seeds 1 and 2: a threshold of 5 let through a 2%
/// false alarm on soaks from exec, which the rival holds off, for no recall).
const STEP_RIVAL: f64 = 0.0;

/// Analyses one series: times in unix seconds (sorted), values in bytes (or counts).
pub fn analyze(t: &[f64], y: &[f64], cfg: &Config) -> Result<Finding, InputError> {
    analyze_with(t, y, cfg, &[])
}

/// [`analyze`] with the run's workload counters: a leak follows cumulative events while the
/// working set follows the current event rate, so a counter whose rate varies separates a
/// load cycle from growth.
pub fn analyze_with(
    t: &[f64],
    y: &[f64],
    cfg: &Config,
    counters: &[crate::attribution::Counter],
) -> Result<Finding, InputError> {
    check(t, y)?;
    let span = if t.is_empty() {
        0.0
    } else {
        t[t.len() - 1] - t[0]
    };
    // Readings taken while the program was still loading (the first sample of a `run` can be
    // the freshly exec'd binary) are startup, not a lifetime that restarted.
    let skip = startup_len(y);
    let fl = floor_of(&t[skip..], &y[skip..]);
    let mut finding = Finding {
        samples: t.len(),
        span_seconds: span,
        verdict: Verdict::Inconclusive,
        pattern: Pattern::Flat,
        rate_per_day: None,
        rate_ci_per_day: None,
        confidence: cfg.confidence,
        load: if cfg.load == Load::Auto {
            Load::Cyclic
        } else {
            cfg.load
        },
        load_counter: None,
        rate_se_per_day: None,
        tolerance_per_day: cfg.tolerance,
        detectable_rate_per_day: None,
        time_to_verdict_seconds: None,
        limit: cfg.limit,
        time_to_limit_seconds: None,
        level_now: fl.v.last().copied(),
        trend_end: None,
        rate_from: t.first().copied().unwrap_or(0.0),
        floor: fl.clone(),
        jumps: Vec::new(),
        end_shift: None,
        restarts: Vec::new(),
        knee: None,
        warmup_ruled_out_seconds: None,
        daily_profile: None,
        notes: Vec::new(),
        attribution: None,
        memory_kind: None,
    };
    if skip > 0 {
        finding.notes.push(Note::StartupSkipped);
    }
    // A shift in the last few points is an event at the end of the run (a dump at exit, a
    // process already gone), not a reason to doubt what came before: the rate is judged on
    // the floor before it.
    let end = end_shift(&fl.t, &fl.v).filter(|s| s.index + 1 >= MIN_FLOOR_POINTS);
    finding.end_shift = end.map(|shift| EndShift {
        shift,
        before_end: t[t.len() - 1] - shift.t,
    });
    let fl = match end {
        Some(s) => {
            finding.notes.push(if s.size > 0.0 {
                Note::JumpAtEnd
            } else {
                Note::DropAtEnd
            });
            Floor {
                t: fl.t[..=s.index].to_vec(),
                v: fl.v[..=s.index].to_vec(),
                window: fl.window,
            }
        }
        None => fl,
    };
    if fl.v.len() < MIN_FLOOR_POINTS {
        finding.notes.push(Note::TooFewSamples);
        if t.len() >= 2 {
            // Ten floor points need ten windows; at the default window that is the time to wait.
            let dt = median_interval(t).max(1.0);
            finding.time_to_verdict_seconds =
                Some((MIN_FLOOR_POINTS as f64 * 5.0 * dt - span).max(dt));
        }
        return Ok(finding);
    }
    let t0 = fl.t[0];
    let x: Vec<f64> = fl.t.iter().map(|t| (t - t0) / DAY).collect();
    let v = &fl.v;
    let span_days = x[x.len() - 1];
    let resolved = crate::load::resolve(cfg.load, span, &fl, counters);
    finding.load = resolved.load;
    finding.load_counter = resolved.workload.as_ref().map(|w| w.name.clone());
    let mut periods = Vec::new();
    if span / DAY >= 2.0 {
        periods.push(1.0);
    } else if resolved.cycle_prior.is_some() {
        finding.notes.push(Note::DailyCycleNotResolved);
    }
    if span / DAY >= 14.0 {
        periods.push(7.0);
    }

    // Level shifts: drops are restarts (each lifetime gets its own intercept), jumps may be a
    // bounded step or a staircase. They are sought with the daily cycle taken out, so an
    // evening peak is not a jump and a restart is not lost in the night's trough.
    let adjusted = deseasonalise(&x, v, &periods);
    let shifts = find_shifts(&fl.t, &adjusted);
    let given: Vec<f64> = cfg
        .restarts
        .iter()
        .copied()
        .filter(|&r| r > fl.t[0] && r < fl.t[fl.t.len() - 1])
        .collect();
    let drops: Vec<&Shift> = shifts.iter().filter(|s| s.size < 0.0).collect();
    // Restarts are rare events; drops recurring every few floor points are structure of the
    // floor itself (an unresolved sawtooth), not lifetimes. In a floor of a few points (a
    // short soak's GC troughs), a drop cannot be told from wander.
    let drops = if drops.len() * 10 > fl.v.len()
        || fl.v.len() < 2 * MIN_FLOOR_POINTS
        || collections(&drops, fl.t[fl.t.len() - 1] - fl.t[0])
    {
        Vec::new()
    } else {
        drops
    };
    // A restart gives memory back in the floor as it is, not only once the daily profile is
    // taken out: where the profile was estimated across a lasting step, taking it out leaves
    // a drop a day later that the floor never had.
    let detected: Vec<f64> = drops
        .into_iter()
        .filter(|s| level_change(v, s.index) < 0.5 * s.size)
        .map(|s| s.t)
        .filter(|t| given.iter().all(|r| (r - t).abs() > 2.0 * fl.window))
        .collect();
    let model = |restarts: &[f64]| Terms {
        segments: restarts.iter().map(|r| (r - t0) / DAY).collect(),
        periods: periods.clone(),
        daily_prior: resolved.cycle_prior,
        short_cycle_prior: (resolved.load == Load::Cyclic && resolved.workload.is_none())
            .then(|| crate::load::CYCLE_PRIOR * median(v).abs()),
        leak_clock: resolved.workload.as_ref().map(|w| w.clock.clone()),
        covariates: resolved.workload.iter().map(|w| w.rate.clone()).collect(),
        ..Terms::default()
    };
    let sorted = |a: &[f64], b: &[f64]| {
        let mut r = [a, b].concat();
        r.sort_by(f64::total_cmp);
        r
    };
    let restarts = sorted(&given, &detected);
    let mut jumps: Vec<Shift> = shifts.iter().copied().filter(|s| s.size > 0.0).collect();
    finding.restarts = restarts.clone();
    let base = model(&restarts);

    let Ok(linear) = fit(&x, v, &base) else {
        finding.notes.push(Note::TooFewSamples);
        return Ok(finding);
    };
    let tol = cfg.tolerance;
    let mut chosen = linear.clone();
    let mut pattern_if_bounded = Pattern::Flat;
    let mut pattern_if_leak = if restarts.is_empty() {
        Pattern::Steady
    } else {
        Pattern::Restarts
    };
    let mut from = 0.0;
    let mut rival: Option<SlopeFit> = None;
    let mut step_rival: Option<SlopeFit> = None;

    // Without jumps or restarts, two bounded shapes compete with the line: a saturating
    // warm-up and one lasting level shift that the jump detector, comparing a few points on
    // each side, could not resolve under noise. A step that fits clearly better than the line
    // and the warm-up is a jump.
    let mut warmup = None;
    if jumps.is_empty() && restarts.is_empty() {
        warmup = best_saturation(&x, v, &base);
        let step = best_step(&x, v, &base).filter(|s| {
            s.size > 0.0 && s.gain > STEP_RIVAL && warmup.as_ref().is_none_or(|w| s.gain > w.gain)
        });
        if let Some(s) = step {
            if s.gain >= CLEARLY_BETTER {
                jumps.push(Shift {
                    index: s.index,
                    t: (fl.t[s.index] + fl.t[s.index + 1]) / 2.0,
                    size: s.size,
                });
                warmup = None;
            } else if s.fit.slope < 0.5 * linear.slope {
                // A step that fits better than the line alone, not clearly, and explains most
                // of the growth (else it is one stair of a staircase): a leak must be a leak
                // with it taken out too.
                step_rival = Some(s.fit);
            }
        }
    }
    finding.jumps = jumps.clone();
    finding.jumps.extend(end.filter(|s| s.size > 0.0));

    // With restarts, lifetimes carry their own intercepts; a jump inside one is part of its
    // growth, not a bounded step.
    if !jumps.is_empty() && restarts.is_empty() {
        let no_restarts = Terms {
            segments: Vec::new(),
            ..base.clone()
        };
        loop {
            let jx: Vec<f64> = jumps.iter().map(|j| (j.t - t0) / DAY).collect();
            let tail = span_days - jx[jx.len() - 1];
            let max_gap = jx.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
            // A staircase leak jumps again within about one gap; a tail well past the longest
            // gap seen (and 30% of the span) is a bounded pattern.
            if tail < (0.3 * span_days).max(1.25 * max_gap) {
                // Jumps keep coming: the staircase itself is the growth. One jump is not a
                // staircase yet: a leak must be a leak with it taken out too.
                pattern_if_leak = Pattern::Stepwise;
                if let [j] = jumps.as_slice() {
                    let stepped = Terms {
                        steps: vec![(j.t - t0) / DAY],
                        ..base.clone()
                    };
                    step_rival = fit(&x, v, &stepped).ok();
                }
                break;
            }
            // The rate that matters is the tail's: a smooth rise detected as several jumps
            // would bend a whole-span fit.
            let last = (jumps[jumps.len() - 1].index + 2).min(x.len() - 1);
            pattern_if_bounded = if jumps.len() == 1 {
                Pattern::Step
            } else {
                Pattern::Ratchet
            };
            let Some(tf) = tail_fit(&x, v, last, &no_restarts) else {
                break;
            };
            chosen = tf;
            from = x[last];
            // The last, smallest jumps of a ratchet may be too small for the detector: a
            // step the tail shows clearly is one more, and one it shows at all a rival.
            let (tail_x, terms) = tail_terms(&x, last, &no_restarts);
            match best_step(&tail_x, &v[last..], &terms).filter(|s| s.size > 0.0) {
                Some(s) if s.gain >= CLEARLY_BETTER => {
                    jumps.push(Shift {
                        index: last + s.index,
                        t: (fl.t[last + s.index] + fl.t[last + s.index + 1]) / 2.0,
                        size: s.size,
                    });
                    continue;
                }
                Some(s) if s.gain > STEP_RIVAL => step_rival = Some(s.fit),
                _ => {}
            }
            // What follows the last jump may itself be a warm-up (a cache loaded in a jump and
            // then filling), or a jump may have been found on a steep warm-up's way up.
            let role = best_saturation(&tail_x, &v[last..], &terms)
                .and_then(|w| warmup_role(&tail_x, &v[last..], &terms, w));
            match role {
                Some(WarmupRole::Levelled { fit, knee }) => {
                    chosen = fit;
                    from = x[last] + knee;
                    finding.knee = Some(t0 + from * DAY);
                }
                Some(WarmupRole::Rival(fit)) => rival = Some(fit),
                None => {}
            }
            break;
        }
        if from > 0.0 {
            finding.notes.push(Note::RateFromTail);
        }
        finding.jumps = jumps.clone();
        finding.jumps.extend(end.filter(|s| s.size > 0.0));
    } else if let Some(w) = warmup {
        match warmup_role(&x, v, &base, w) {
            Some(WarmupRole::Levelled { fit, knee }) => {
                chosen = fit;
                from = knee;
                pattern_if_bounded = Pattern::Warmup;
                finding.knee = Some(t0 + from * DAY);
                finding.notes.push(Note::RateFromTail);
            }
            Some(WarmupRole::Rival(fit)) => rival = Some(fit),
            None => {}
        }
    }

    let seasonal = !periods.is_empty() && harmonics_matter(&x, v, &base, &linear);
    if pattern_if_bounded == Pattern::Flat && seasonal {
        pattern_if_bounded = Pattern::Seasonal;
    }
    if pattern_if_leak == Pattern::Steady && seasonal && growth_follows_cycle(&linear) {
        pattern_if_leak = Pattern::LoadProportional;
    }
    if periods.contains(&1.0) {
        finding.daily_profile = Some(daily_profile(&linear, t0));
    }
    if chosen.resid_acf1() > 0.5 {
        finding.notes.push(Note::Autocorrelated);
    }

    let (mut lo, mut hi) = chosen.ci(cfg.confidence);

    // Memory moves in pages: a series that sat on one page count still cannot tell a change
    // of less than a page over the span from none. The interval is never narrower.
    let quantum = quantum(&y[skip..]);
    let min_half = quantum / (span_days - from).max(1e-9);
    if (hi - lo) / 2.0 < min_half {
        let mid = chosen.slope;
        (lo, hi) = (mid - min_half, mid + min_half);
    }
    let rate = chosen.slope;
    finding.rate_per_day = Some(rate);
    finding.trend_end = Some(trend_end(&x, v, rate, t0));
    finding.rate_ci_per_day = Some((lo, hi));
    finding.rate_se_per_day = Some(chosen.se);
    finding.rate_from = t0 + from * DAY;
    let z = normal_quantile(0.5 + cfg.confidence / 2.0) + normal_quantile(0.8);
    finding.detectable_rate_per_day = Some(tol + z * chosen.se);
    // The first bounded shape under which the growth is not a leak.
    let blocked = [
        (rival, Note::WarmupNotRuledOut),
        (step_rival, Note::StepNotRuledOut),
    ]
    .into_iter()
    .find_map(|(r, note)| r.filter(|r| r.ci(cfg.confidence).0 <= tol).map(|_| note));
    finding.verdict = if lo > tol && blocked.is_none() {
        Verdict::Leak
    } else if let (true, Some(note)) = (lo > tol, blocked) {
        finding.notes.push(note);
        Verdict::Inconclusive
    } else if hi < tol {
        Verdict::NoLeak
    } else {
        Verdict::Inconclusive
    };
    if finding.verdict == Verdict::Leak && growth_stopped(&x, v, from, &base, tol, cfg.confidence) {
        // A leak keeps growing: if the latest third is confidently flat, the growth seen
        // earlier may have been a step or a warm-up that the model did not separate.
        finding.verdict = Verdict::Inconclusive;
        finding.notes.push(Note::GrowthStopped);
    }
    finding.pattern = match finding.verdict {
        Verdict::Leak => pattern_if_leak,
        Verdict::NoLeak => pattern_if_bounded,
        Verdict::Inconclusive if pattern_if_bounded != Pattern::Flat => pattern_if_bounded,
        Verdict::Inconclusive if rate > tol => pattern_if_leak,
        Verdict::Inconclusive => pattern_if_bounded,
    };
    if finding.verdict == Verdict::Inconclusive {
        let used = (span_days - from).max(1e-9) * DAY;
        let half = (hi - lo) / 2.0;
        let gap = (rate - tol)
            .abs()
            .max(0.25 * tol.abs())
            .max(f64::MIN_POSITIVE);
        // How long until the interval, at the rate seen, clears the tolerance: projected with
        // the noise and load model as fitted (a daily cycle that a short window cannot show
        // whole stops mattering only as the span nears a day or two), else by the T^(-3/2)
        // shrinking of a trend interval at a fixed sampling rate.
        let z = normal_quantile(0.5 + cfg.confidence / 2.0);
        let cycle_prior = base.daily_prior.or(base.short_cycle_prior);
        let projected = cycle_prior.and_then(|_| {
            (1..=80).map(|k| used * 1.08f64.powi(k)).find(|&days_s| {
                projected_slope_se(&chosen, x.len(), days_s / DAY, cycle_prior)
                    .is_some_and(|se| z * se < gap)
            })
        });
        let needed = projected.unwrap_or_else(|| used * (half / gap).powf(2.0 / 3.0));
        finding.time_to_verdict_seconds = Some((needed - used).clamp(60.0, 365.0 * DAY));
    }
    if finding.verdict == Verdict::Leak
        && from == 0.0
        && restarts.is_empty()
        && pattern_if_leak == Pattern::Steady
    {
        let q = crate::regression::interval_quantile(cfg.confidence, chosen.df);
        finding.warmup_ruled_out_seconds =
            warmup_ruled_out(&x, v, &base, &chosen, q, tol).map(|tau| 3.0 * tau * DAY);
    }
    if let (Verdict::Leak, Some(limit)) = (finding.verdict, cfg.limit) {
        finding.time_to_limit_seconds = Some(time_to_limit(t, y, &finding.floor, limit, rate));
    }
    Ok(finding)
}

/// What a warm-up fitted to the floor means for the verdict.
enum WarmupRole {
    /// It levelled off (its knee, three time constants, leaves 30% of the span flat) and fits
    /// clearly better than a line: growth that saturated, caches filling. The fit's time slope
    /// is the growth that remains once it is over, estimated on all the points with the
    /// uncertainty of the time constant; `knee` is where it ends (days from the first point).
    Levelled { fit: SlopeFit, knee: f64 },
    /// It bends but has not levelled off: it competes with the line, and a leak must be a leak
    /// under it too. A straight rise is no such rival, however long a warm-up might be; that
    /// assumption is stated with the verdict (`warmup_ruled_out_seconds`).
    Rival(SlopeFit),
}

/// The role of warm-up `w` fitted to `(x, v)` over `base`, if it has one.
fn warmup_role(x: &[f64], v: &[f64], base: &Terms, w: Warmup) -> Option<WarmupRole> {
    let span = x[x.len() - 1] - x[0];
    if w.gain >= CLEARLY_BETTER && 3.0 * w.tau <= 0.7 * span {
        Some(WarmupRole::Levelled {
            knee: 3.0 * w.tau,
            fit: with_time_constant(x, v, base, &w).unwrap_or(w.fit),
        })
    } else if w.curvature >= crate::regression::t_quantile(0.95, w.fit.df) {
        Some(WarmupRole::Rival(w.fit))
    } else {
        None
    }
}

/// Shortest typical time between restarts found from drops, seconds. A process that restarts
/// every few minutes is followed as such by `watch --name` (restarts given); drops that recur
/// that often within one process are its garbage collector's, too slow for the floor's windows
/// to span one.
const MIN_RESTART_INTERVAL: f64 = 600.0;

/// Whether `drops` in a floor spanning `span` seconds are a sawtooth rather than restarts:
/// the floor is too short to hold two lifetimes of [`MIN_RESTART_INTERVAL`], or the drops
/// recur within it of each other (median gap).
fn collections(drops: &[&Shift], span: f64) -> bool {
    let gaps: Vec<f64> = drops.windows(2).map(|w| w[1].t - w[0].t).collect();
    span < 2.0 * MIN_RESTART_INTERVAL || (!gaps.is_empty() && median(&gaps) < MIN_RESTART_INTERVAL)
}

/// The level of the trend at the last floor point: the last tenth of the floor carried to the
/// end along the rate, averaged.
fn trend_end(x: &[f64], v: &[f64], rate: f64, t0: f64) -> (f64, f64) {
    let end = x[x.len() - 1];
    let k = (x.len() / 10).max(1);
    let level = x[x.len() - k..]
        .iter()
        .zip(&v[v.len() - k..])
        .map(|(xi, vi)| vi + rate * (end - xi))
        .sum::<f64>()
        / k as f64;
    (t0 + end * DAY, level)
}

/// Whether the most recent third of the stretch the rate was estimated on is confidently
/// growing slower than the tolerance.
fn growth_stopped(
    x: &[f64],
    v: &[f64],
    from: f64,
    base: &Terms,
    tol: f64,
    confidence: f64,
) -> bool {
    let end = x[x.len() - 1];
    let start = end - (end - from) / 3.0;
    x.iter()
        .position(|&xi| xi >= start)
        .and_then(|i| tail_fit(x, v, i, base))
        .is_some_and(|f| f.ci(confidence).1 < tol)
}

/// The floor model `base` fitted on points `from..` only (at least 10 of them): see
/// [`tail_terms`].
fn tail_fit(x: &[f64], v: &[f64], from: usize, base: &Terms) -> Option<SlopeFit> {
    if x.len().saturating_sub(from) < MIN_FLOOR_POINTS {
        return None;
    }
    let (tail_x, terms) = tail_terms(x, from, base);
    fit(&tail_x, &v[from..], &terms).ok()
}

/// The times of points `from..` from the first of them, and the floor model `base` cut to
/// them: the restarts that fall inside, the per-point covariates cut to the tail, harmonics
/// only where the tail holds two periods (a cycle under a prior stays).
fn tail_terms(x: &[f64], from: usize, base: &Terms) -> (Vec<f64>, Terms) {
    let tail_x: Vec<f64> = x[from..].iter().map(|xi| xi - x[from]).collect();
    let span = tail_x[tail_x.len() - 1];
    let terms = Terms {
        segments: base
            .segments
            .iter()
            .map(|s| s - x[from])
            .filter(|&s| s > 0.0 && s < span)
            .collect(),
        steps: Vec::new(),
        periods: base
            .periods
            .iter()
            .copied()
            .filter(|p| span >= 2.0 * p)
            .collect(),
        // A cyclic load keeps its cycle in a tail too short to fit one freely.
        daily_prior: base.daily_prior.or_else(|| {
            base.short_cycle_prior
                .filter(|_| base.periods.contains(&1.0) && span < 2.0)
        }),
        short_cycle_prior: base.short_cycle_prior,
        leak_clock: base.leak_clock.as_ref().map(|c| {
            let c0 = c[from];
            c[from..].iter().map(|v| v - c0).collect()
        }),
        covariates: base.covariates.iter().map(|c| c[from..].to_vec()).collect(),
        saturation: None,
    };
    (tail_x, terms)
}

/// `v` with its daily cycle removed (unchanged without periods): the median profile by hour of
/// what is left after a running one-period median, so jumps and ramps (which a line cannot
/// follow) do not leak into it.
fn deseasonalise(x: &[f64], v: &[f64], periods: &[f64]) -> Vec<f64> {
    let Some(&shortest) = periods.iter().min_by(|a, b| a.total_cmp(b)) else {
        return v.to_vec();
    };
    let n = x.len();
    let mut lo = 0;
    let mut hi = 0;
    let trend: Vec<f64> = (0..n)
        .map(|k| {
            while x[lo] < x[k] - shortest / 2.0 {
                lo += 1;
            }
            while hi < n && x[hi] <= x[k] + shortest / 2.0 {
                hi += 1;
            }
            let mut w = v[lo..hi].to_vec();
            let m = w.len() / 2;
            *w.select_nth_unstable_by(m, f64::total_cmp).1
        })
        .collect();
    // Median of the detrended floor per hour of the cycle: a jump disturbs the running median
    // for one period only, so it touches one value of each hour and the median shrugs it off.
    let bins = 24;
    let mut by_bin: Vec<Vec<f64>> = vec![Vec::new(); bins];
    let bin_of = |xi: f64| ((xi / shortest).rem_euclid(1.0) * bins as f64) as usize % bins;
    for k in 0..n {
        by_bin[bin_of(x[k])].push(v[k] - trend[k]);
    }
    let profile: Vec<f64> = by_bin
        .iter_mut()
        .map(|b| {
            if b.is_empty() {
                return 0.0;
            }
            let m = b.len() / 2;
            *b.select_nth_unstable_by(m, f64::total_cmp).1
        })
        .collect();
    (0..n).map(|k| v[k] - profile[bin_of(x[k])]).collect()
}

/// Whether the harmonic terms explain a good share (30%) of what the line leaves.
fn harmonics_matter(x: &[f64], v: &[f64], base: &Terms, with: &SlopeFit) -> bool {
    let without = Terms {
        periods: Vec::new(),
        ..base.clone()
    };
    match fit(x, v, &without) {
        Ok(f) if f.rss > 0.0 => (f.rss - with.rss) / f.rss > 0.3,
        _ => false,
    }
}

/// Whether growth follows the daily load (a load-proportional leak): the fitted floor rises
/// much faster at some hours than others yet never falls during the day. A level that only
/// swings with the load (more objects in flight at the peak) falls every night, so a steady
/// leak under a daily cycle is not mistaken for one.
fn growth_follows_cycle(f: &SlopeFit) -> bool {
    let r = f.coef[1];
    if r <= 0.0 || f.harmonic_cols.len() < 4 {
        return false;
    }
    let c = &f.coef;
    let h0 = f.harmonic_cols.start;
    let rates: Vec<f64> = (0..96)
        .map(|k| {
            let x = k as f64 / 96.0;
            let mut d = r;
            for h in 1..=2 {
                let w = std::f64::consts::TAU * h as f64;
                let (a, b) = (c[h0 + 2 * (h - 1)], c[h0 + 2 * (h - 1) + 1]);
                d += w * (-a * (w * x).sin() + b * (w * x).cos());
            }
            d
        })
        .collect();
    let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    lo > -0.2 * r && hi - lo > 0.5 * r
}

/// Hourly offsets of the fitted daily cycle (UTC hours 0..24).
fn daily_profile(f: &SlopeFit, t0: f64) -> Vec<f64> {
    let cols = f.harmonic_cols.clone();
    (0..24)
        .map(|h| {
            // x in days since t0 at UTC hour h of some day.
            let abs = (h as f64 * 3600.0 - t0.rem_euclid(DAY)) / DAY;
            let hv = crate::model::harmonic_columns(&[abs], &[1.0]);
            cols.clone()
                .take(4)
                .zip(hv)
                .map(|(j, c)| f.coef[j] * c[0])
                .sum()
        })
        .collect()
}

/// How many leading samples are startup: each far below (under half of) the median of the
/// five after it. At most a tenth of the series, and never more than 20 samples.
fn startup_len(y: &[f64]) -> usize {
    let limit = (y.len() / 10).min(20);
    let mut i = 0;
    while i < limit {
        let next = &y[i + 1..(i + 6).min(y.len())];
        if next.is_empty() || y[i] >= 0.5 * median(next) {
            break;
        }
        i += 1;
    }
    i
}

/// The resolution of the values: the greatest common divisor of their differences when they
/// are whole numbers (4096 for RSS in pages); for a constant whole value, 1 below 4096 (a count)
/// and the largest power of two up to 4096 that divides it above (a size); else a millionth of
/// the level.
fn quantum(y: &[f64]) -> f64 {
    let Some(&first) = y.first() else {
        return 0.0;
    };
    let whole = y.iter().all(|v| v.fract() == 0.0 && v.abs() < 9e15);
    if !whole {
        return 1e-6 * first.abs();
    }
    fn gcd(mut a: u64, mut b: u64) -> u64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    let mut g = 0u64;
    for v in y {
        g = gcd(g, (v - first).abs() as u64);
        if g == 1 {
            break;
        }
    }
    if g == 0 {
        let v = first.abs() as u64;
        g = if v == 0 {
            1
        } else {
            1 << v.trailing_zeros().min(12)
        };
    }
    g as f64
}

/// Median of `v` (0 for none).
fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut a = v.to_vec();
    let m = a.len() / 2;
    *a.select_nth_unstable_by(m, f64::total_cmp).1
}

/// Seconds until the peaks reach `limit` growing at `rate` per day: headroom above the current
/// floor plus the typical peak excess over the floor (99th percentile in the last tenth).
fn time_to_limit(t: &[f64], y: &[f64], fl: &Floor, limit: f64, rate: f64) -> f64 {
    let end = t[t.len() - 1];
    let start = end - (end - t[0]) * 0.1;
    let floor_now = fl.v[fl.v.len().saturating_sub(3)..]
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let mut recent: Vec<f64> = t
        .iter()
        .zip(y)
        .filter(|(ti, _)| **ti >= start)
        .map(|(_, yi)| yi - floor_now)
        .collect();
    let k = ((recent.len() - 1) as f64 * 0.99) as usize;
    let excess = recent.select_nth_unstable_by(k, f64::total_cmp).1.max(0.0);
    let headroom = (limit - floor_now - excess).max(0.0);
    if rate <= 0.0 {
        return f64::INFINITY;
    }
    headroom / rate * DAY
}
