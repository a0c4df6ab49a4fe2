//! The verdict: from a memory series to `leak`, `no_leak` or `inconclusive`, with the rate of
//! the floor, an honest 95% interval, the pattern, the time to the limit and how much longer
//! to watch.

use crate::floor::{floor_of, median_interval, Floor};
use crate::jumps::{end_shift, find_shifts, level_change, Shift};
use crate::model::{fit, projected_slope_se, SlopeFit, Terms, DAY};
use crate::regression::normal_quantile;
use crate::step::best_step;
use crate::warmup::{best_saturation, warmup_ruled_out};

mod shape;

use shape::*;

use crate::finding::check;
pub use crate::finding::{
    default_tolerance, Config, EndShift, Finding, InputError, Load, Note, Pattern, Verdict,
    DEFAULT_CONFIDENCE,
};

pub(crate) const MIN_FLOOR_POINTS: usize = 10;

/// BIC gain (over the effective number of points) from which a bounded shape, a levelled
/// warm-up or one lasting step, fits clearly better than the line.
pub(crate) const CLEARLY_BETTER: f64 = 10.0;

/// BIC gain above which one step, not clearly better than the line, is still a rival to it:
/// any gain (measured with the scorer, seeds 1 and 2: a threshold of 5 let through a 2%
/// false alarm on soaks from exec, which the rival holds off, for no recall).
const STEP_RIVAL: f64 = 0.0;

/// The verdict on a rate whose interval is `(lo, hi)`: `leak` when the whole interval is above
/// the tolerance and so is every bounded `rivals` fit's (a warm-up, a step), else
/// `inconclusive` with the note of the first rival under which the growth is not a leak;
/// `no_leak` when the interval is below the tolerance.
fn verdict_of(
    (lo, hi): (f64, f64),
    tol: f64,
    rivals: [(Option<SlopeFit>, Note); 2],
    confidence: f64,
) -> (Verdict, Option<Note>) {
    let blocked = rivals
        .into_iter()
        .find_map(|(r, note)| r.filter(|r| r.ci(confidence).0 <= tol).map(|_| note));
    match blocked {
        _ if lo > tol && blocked.is_none() => (Verdict::Leak, None),
        Some(note) if lo > tol => (Verdict::Inconclusive, Some(note)),
        _ if hi < tol => (Verdict::NoLeak, None),
        _ => (Verdict::Inconclusive, None),
    }
}

/// Seconds more to watch until the interval of an inconclusive `fit` (over `used` seconds of
/// `n` floor points, its interval `(lo, hi)`) clears the tolerance at the rate seen: projected
/// with the noise and load model as fitted (a daily cycle that a short window cannot show
/// whole stops mattering only as the span nears a day or two), else by the T^(-3/2) shrinking
/// of a trend interval at a fixed sampling rate. Between a minute and a year.
fn time_to_verdict(
    fit: &SlopeFit,
    base: &Terms,
    n: usize,
    used: f64,
    (lo, hi): (f64, f64),
    tol: f64,
    confidence: f64,
) -> f64 {
    let half = (hi - lo) / 2.0;
    let gap = (fit.slope - tol)
        .abs()
        .max(0.25 * tol.abs())
        .max(f64::MIN_POSITIVE);
    let z = normal_quantile(0.5 + confidence / 2.0);
    let cycle_prior = base.daily_prior.or(base.short_cycle_prior);
    let projected = cycle_prior.and_then(|_| {
        (1..=80).map(|k| used * 1.08f64.powi(k)).find(|&days_s| {
            projected_slope_se(fit, n, days_s / DAY, cycle_prior).is_some_and(|se| z * se < gap)
        })
    });
    let needed = projected.unwrap_or_else(|| used * (half / gap).powf(2.0 / 3.0));
    (needed - used).clamp(60.0, 365.0 * DAY)
}

/// The floor's level shifts, and which drops are restarts.
struct Shifts {
    /// Every shift found, jumps and drops.
    shifts: Vec<Shift>,
    /// Restarts the session recorded, within the floor.
    given: Vec<f64>,
    /// Drops of the floor taken for restarts the session did not record.
    detected: Vec<f64>,
}

/// Finds the floor's level shifts (`x` its times in days from its start, with `periods` the
/// cycles the model carries) and the restarts among its drops that `restarts` (recorded by the
/// session) do not already name. They are sought with the daily cycle taken out, so an evening
/// peak is not a jump and a restart is not lost in the night's trough.
fn level_shifts(fl: &Floor, x: &[f64], periods: &[f64], restarts: &[f64]) -> Shifts {
    let v = &fl.v;
    let adjusted = deseasonalise(x, v, periods);
    let shifts = find_shifts(&fl.t, &adjusted);
    let given: Vec<f64> = restarts
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
    Shifts {
        shifts,
        given,
        detected,
    }
}

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
    let mut finding = Finding::before_fit(t, span, cfg, &fl);
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
    // bounded step or a staircase.
    let Shifts {
        shifts,
        given,
        detected,
    } = level_shifts(&fl, &x, &periods, &cfg.restarts);
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
        // Only growth is doubted: on a floor that falls, a step up would be noise read as an
        // event (the property test's mirrored ramps found one), and nothing there is a leak.
        let step = best_step(&x, v, &base)
            .filter(|_| linear.slope > 0.0)
            .filter(|s| {
                s.size > 0.0
                    && s.gain > STEP_RIVAL
                    && warmup.as_ref().is_none_or(|w| s.gain > w.gain)
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
    let rivals = [
        (rival, Note::WarmupNotRuledOut),
        (step_rival, Note::StepNotRuledOut),
    ];
    let (verdict, blocked) = verdict_of((lo, hi), tol, rivals, cfg.confidence);
    finding.verdict = verdict;
    finding.notes.extend(blocked);
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
        finding.time_to_verdict_seconds = Some(time_to_verdict(
            &chosen,
            &base,
            x.len(),
            used,
            (lo, hi),
            tol,
            cfg.confidence,
        ));
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
