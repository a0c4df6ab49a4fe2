//! What the verdict says of one series ([`Finding`]), what it is asked ([`Config`]), and the
//! input it refuses ([`InputError`]): the types shared by the verdict, the load model, the
//! sequential looks and the sites, below all of them.

use crate::floor::Floor;
use crate::jumps::Shift;

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
    /// Clear for this series alone, but not among the many judged together (the allocation
    /// sites of a profile): a rise this clear is what chance gives one of them. Not called a
    /// leak yet.
    ChanceAmongMany,
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
    /// What is known of a series before any fit: its size, the configuration it is judged
    /// under, its floor; `inconclusive` until the verdict decides.
    pub(crate) fn before_fit(t: &[f64], span: f64, cfg: &Config, fl: &Floor) -> Finding {
        Finding {
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
        }
    }

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

pub(crate) fn check(t: &[f64], y: &[f64]) -> Result<(), InputError> {
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
