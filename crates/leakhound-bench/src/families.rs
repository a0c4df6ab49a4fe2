//! The cases the scorer judges: the classic corpus ([`crate::corpus`]) and the families that
//! the first version of the corpus lacked, each a trap seen in real use:
//!
//! - production windows of 1 h to 2 days from any hour of the day (leak and no-leak twins,
//!   half of them with the request counter): the phase of a daily cycle poses as growth;
//! - constant-load soaks of 2-14 h with a saturating warm-up (time constant 2-12% of the run,
//!   10-80% of the base) and no leak;
//! - one step of 5-30% of the base at 25-60% of a 3.5-day production span, flat after;
//! - soaks whose first sample was taken at exec, before the program had loaded;
//! - page-quantised flat series, the way RSS of an idle process looks;
//!
//! and those of issue 22, short soaks as a newcomer runs them:
//! - soaks of 30 s to 10 min whose memory climbs 2-500 times through the whole run (leaks),
//!   next to caches that fill as much and level off within it ([`crate::soaks`]);
//! - soaks of 1-30 min that end with a jump in their last seconds (a dump at exit), leaking
//!   or flat;
//! - soaks of 4-8 h with a fast warm-up (time constant 8-12% of the run, 20-60% of the base)
//!   and a long flat tail;
//! - production services of 2.5-7 days from any hour with one lasting step up of 5-20% at
//!   30-65% of the span, without and with a leak.

use leakhound_analysis::Load;

use crate::corpus::{Shape, Spec};
use crate::rng::Rng;
use crate::service::Service;
use crate::soaks::Ramp;

const DAY: f64 = 86400.0;

/// Which family a case belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// The classic corpus, by shape.
    Classic(Shape),
    /// A production window shorter than two days.
    ProductionWindow,
    /// A constant-load soak with a warm-up and no leak.
    SoakWarmup,
    /// One step in a multi-day production span.
    MultidayStep,
    /// A soak sampled from exec on.
    FromExec,
    /// A page-quantised flat series.
    Quantised,
    /// A soak of 30 s-10 min: a straight climb 2-500 times over, or a fill that levels off.
    ShortRamp,
    /// A soak that ends with a jump in its last seconds.
    EndJump,
    /// A long soak with a fast warm-up and a long flat tail.
    FlatTail,
    /// A production service with one lasting step up.
    ProductionStep,
}

impl Family {
    /// The new families, in the order the scorer prints them.
    pub const NEW: [Family; 9] = [
        Family::ProductionWindow,
        Family::SoakWarmup,
        Family::MultidayStep,
        Family::FromExec,
        Family::Quantised,
        Family::ShortRamp,
        Family::EndJump,
        Family::FlatTail,
        Family::ProductionStep,
    ];

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Classic(s) => s.name(),
            Family::ProductionWindow => "production window 1 h-2 d",
            Family::SoakWarmup => "soak warm-up",
            Family::MultidayStep => "step in 3.5 days",
            Family::FromExec => "soak from exec",
            Family::Quantised => "page-quantised flat",
            Family::ShortRamp => "soak 30 s-10 min, 2-500x",
            Family::EndJump => "soak ending with a jump",
            Family::FlatTail => "warm-up, long flat tail",
            Family::ProductionStep => "production step",
        }
    }
}

#[derive(Debug, Clone)]
enum Source {
    Spec(Spec),
    Service { service: Service, counter: bool },
    Ramp(Ramp),
}

/// One labelled case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Case number.
    pub id: usize,
    /// Its family.
    pub family: Family,
    /// Whether it leaks.
    pub leak: bool,
    /// True sustained growth, bytes/day, as realised over the span.
    pub true_rate: f64,
    /// A leak any good method should find (counts for recall).
    pub detectable: bool,
    /// What the user would tell leakhound about the load.
    pub load: Load,
    /// Counts for interval coverage (linear truth).
    pub linear: bool,
    /// Span, seconds.
    pub span: f64,
    /// Sampling interval, seconds.
    pub dt: f64,
    /// Baseline, bytes.
    pub baseline: f64,
    source: Source,
    /// Post-processing: the first sample at exec, values in pages, a lasting shift (seconds
    /// after the start, bytes) added to every later sample.
    from_exec: bool,
    quantised: bool,
    shift: Option<(f64, f64)>,
}

/// The samples of a case and the counters leakhound may use (same times).
#[derive(Debug, Clone)]
pub struct Sample {
    /// Unix seconds.
    pub t: Vec<f64>,
    /// Bytes.
    pub y: Vec<f64>,
    /// Workload counters: name and cumulative counts.
    pub counters: Vec<(String, Vec<f64>)>,
}

impl Case {
    /// A case of the classic corpus.
    pub fn classic(spec: Spec, tolerance: f64) -> Case {
        Case {
            id: spec.id,
            family: Family::Classic(spec.shape),
            leak: spec.shape.is_leak(),
            true_rate: spec.true_rate(),
            detectable: spec.clearly_detectable(tolerance),
            load: if spec.is_soak() {
                Load::Constant
            } else {
                Load::Auto
            },
            linear: matches!(
                spec.shape,
                Shape::Steady | Shape::LoadProportional | Shape::Flat | Shape::Seasonal
            ),
            span: spec.span,
            dt: spec.dt,
            baseline: spec.baseline,
            source: Source::Spec(spec),
            from_exec: false,
            quantised: false,
            shift: None,
        }
    }

    /// The samples.
    pub fn generate(&self) -> Sample {
        let mut s = match &self.source {
            Source::Spec(spec) => {
                let (t, y) = spec.generate();
                Sample {
                    t,
                    y,
                    counters: Vec::new(),
                }
            }
            Source::Service { service, counter } => {
                let w = service.generate();
                Sample {
                    t: w.t,
                    y: w.y,
                    counters: if *counter {
                        vec![("http.server.requests".to_string(), w.requests)]
                    } else {
                        Vec::new()
                    },
                }
            }
            Source::Ramp(r) => {
                let (t, y) = r.generate();
                Sample {
                    t,
                    y,
                    counters: Vec::new(),
                }
            }
        };
        if let (Some((at, size)), Some(&t0)) = (self.shift, s.t.first()) {
            for (t, v) in s.t.iter().zip(&mut s.y) {
                if t - t0 >= at {
                    *v += size;
                }
            }
        }
        if self.quantised {
            for v in &mut s.y {
                *v = (*v / 4096.0).round() * 4096.0;
            }
        }
        if self.from_exec && s.y.len() > 2 {
            // The first reading is the freshly exec'd program (240 KiB), the second halfway
            // through loading.
            s.y[0] = 240.0 * 1024.0;
            s.y[1] *= 0.5;
        }
        s
    }
}

/// `n` cases of `family`, seeded by `seed`; ids start at `first_id`.
pub fn cases(family: Family, seed: u64, n: usize, first_id: usize, tolerance: f64) -> Vec<Case> {
    let mut rng = Rng::new(seed ^ family_salt(family));
    (0..n)
        .map(|k| {
            let id = first_id + k;
            match family {
                Family::ProductionWindow => production_window(seed, id, k),
                Family::SoakWarmup => soak_warmup(&mut rng, id),
                Family::MultidayStep => multiday_step(&mut rng, id),
                Family::FromExec => from_exec(&mut rng, id, k, tolerance),
                Family::Quantised => quantised(&mut rng, id),
                Family::ShortRamp => short_ramp(&mut rng, id, k),
                Family::EndJump => end_jump(&mut rng, id, k, tolerance),
                Family::FlatTail => flat_tail(&mut rng, id),
                Family::ProductionStep => production_step(seed, id, k),
                Family::Classic(_) => unreachable!("classic cases come from corpus()"),
            }
        })
        .collect()
}

fn family_salt(f: Family) -> u64 {
    match f {
        Family::Classic(_) => 0,
        Family::ProductionWindow => 0x51,
        Family::SoakWarmup => 0x52,
        Family::MultidayStep => 0x53,
        Family::FromExec => 0x54,
        Family::Quantised => 0x55,
        Family::ShortRamp => 0x56,
        Family::EndJump => 0x57,
        Family::FlatTail => 0x58,
        Family::ProductionStep => 0x59,
    }
}

/// Twins in turn: even `k` leaks, odd `k` is the same service without the leak.
fn production_window(seed: u64, id: usize, k: usize) -> Case {
    let rng = &mut Rng::new(seed.wrapping_mul(1_000_003) ^ (k as u64 / 2) ^ 0x51);
    let pair_seed = rng.next_u64() % 1_000_000 + 20_000;
    let leaking = k.is_multiple_of(2);
    let start = rng.range(0.0, 24.0);
    let span = (rng.log_range(3600.0, 2.0 * DAY) / 30.0).round() * 30.0;
    let counter = rng.uniform() < 0.5;
    // Service::varied draws the service from its seed modulo 10,000: the twins share it and
    // differ in their noise.
    let mut service = Service::varied(
        pair_seed + if leaking { 0 } else { 1_000_000 },
        leaking,
        start,
    );
    service.span = span;
    let true_rate = realised_rate(&service, leaking);
    Case {
        id,
        family: Family::ProductionWindow,
        leak: leaking,
        true_rate,
        detectable: false,
        load: Load::Auto,
        linear: false,
        span,
        dt: service.dt,
        baseline: service.base,
        source: Source::Service { service, counter },
        from_exec: false,
        quantised: false,
        shift: None,
    }
}

fn soak_spec(rng: &mut Rng, id: usize, shape: Shape, span: f64, dt: f64) -> Spec {
    let baseline = rng.log_range(60e6, 1e9);
    Spec {
        id,
        seed: rng.next_u64(),
        shape,
        baseline,
        dt,
        span,
        rate: 0.0,
        gc: (
            baseline * rng.range(0.01, 0.08),
            rng.range(5.0, 120.0).max(3.0 * dt),
        ),
        wander: (
            baseline * rng.log_range(0.0005, 0.005),
            rng.range(60.0, 1200.0),
        ),
        cycle: 0.0,
        feature: 0.0,
        feature_at: 0.0,
    }
}

/// The leak rate a service realises over its span: its leak is per request, so it is what the
/// requests of this window bring (zero for a service that does not leak).
fn realised_rate(service: &Service, leaking: bool) -> f64 {
    if !leaking {
        return 0.0;
    }
    let w = service.generate();
    let days = service.span / DAY;
    service.bytes_per_request() * (w.requests[w.requests.len() - 1] - w.requests[0]) / days
}

/// A bounded soak of `family` under a constant load, sampled like `run` samples (page-quantised).
fn bounded_soak(id: usize, family: Family, span: f64, dt: f64, spec: Spec) -> Case {
    Case {
        id,
        family,
        leak: false,
        true_rate: 0.0,
        detectable: false,
        load: Load::Constant,
        linear: false,
        span,
        dt,
        baseline: spec.baseline,
        source: Source::Spec(spec),
        from_exec: false,
        quantised: true,
        shift: None,
    }
}

fn soak_warmup(rng: &mut Rng, id: usize) -> Case {
    let span = (rng.range(2.0, 14.0) * 3600.0).round();
    let dt = *rng.pick(&[1.0, 2.0, 5.0]);
    let mut spec = soak_spec(rng, id, Shape::Warmup, span, dt);
    spec.feature = spec.baseline * rng.range(0.1, 0.8);
    spec.feature_at = rng.range(0.02, 0.12);
    bounded_soak(id, Family::SoakWarmup, span, dt, spec)
}

fn multiday_step(rng: &mut Rng, id: usize) -> Case {
    let baseline = rng.log_range(60e6, 1e9);
    let dt = *rng.pick(&[30.0, 60.0]);
    let spec = Spec {
        id,
        seed: rng.next_u64(),
        shape: Shape::Step,
        baseline,
        dt,
        span: 3.5 * DAY,
        rate: 0.0,
        gc: (baseline * rng.range(0.01, 0.08), rng.range(60.0, 1800.0)),
        wander: (
            baseline * rng.log_range(0.0005, 0.005),
            rng.range(600.0, 10800.0),
        ),
        cycle: if rng.uniform() < 0.7 {
            baseline * rng.range(0.02, 0.10)
        } else {
            0.0
        },
        feature: baseline * rng.range(0.05, 0.3),
        feature_at: rng.range(0.25, 0.6),
    };
    Case {
        id,
        family: Family::MultidayStep,
        leak: false,
        true_rate: 0.0,
        detectable: false,
        load: Load::Auto,
        linear: false,
        span: spec.span,
        dt,
        baseline,
        source: Source::Spec(spec),
        from_exec: false,
        quantised: true,
        shift: None,
    }
}

/// Leaking and flat soaks in turn, sampled from exec on.
fn from_exec(rng: &mut Rng, id: usize, k: usize, tolerance: f64) -> Case {
    let leaking = k.is_multiple_of(2);
    let span = (rng.log_range(600.0, 7200.0)).round();
    let dt = *rng.pick(&[0.5, 1.0, 2.0, 5.0]);
    let mut spec = soak_spec(
        rng,
        id,
        if leaking { Shape::Steady } else { Shape::Flat },
        span,
        dt,
    );
    if leaking {
        spec.rate = rng.log_range(0.5e9, 20e9);
    }
    Case {
        id,
        family: Family::FromExec,
        leak: leaking,
        true_rate: spec.rate,
        detectable: spec.clearly_detectable(tolerance),
        load: Load::Constant,
        linear: true,
        span,
        dt,
        baseline: spec.baseline,
        source: Source::Spec(spec),
        from_exec: true,
        quantised: true,
        shift: None,
    }
}

/// An idle process: RSS on one page count, with an occasional page coming and going.
fn quantised(rng: &mut Rng, id: usize) -> Case {
    let span = rng.log_range(480.0, 7200.0).round();
    let mut spec = soak_spec(rng, id, Shape::Flat, span, 1.0);
    spec.baseline = rng.log_range(2e6, 200e6);
    // Far below a page: the series sits on one page count and flickers by one now and then.
    spec.gc = (0.0, 60.0);
    spec.wander = (rng.range(0.0, 2000.0), 600.0);
    Case {
        id,
        family: Family::Quantised,
        leak: false,
        true_rate: 0.0,
        detectable: false,
        load: Load::Constant,
        linear: true,
        span,
        dt: 1.0,
        baseline: spec.baseline,
        source: Source::Spec(spec),
        from_exec: false,
        quantised: true,
        shift: None,
    }
}

/// Ramps and fills in turn: even `k` climbs through the whole run, odd `k` fills and levels
/// off within it.
fn short_ramp(rng: &mut Rng, id: usize, k: usize) -> Case {
    let r = Ramp::draw(rng, k.is_multiple_of(2));
    Case {
        id,
        family: Family::ShortRamp,
        leak: r.fill_tau.is_none(),
        true_rate: r.rate(),
        // Hundreds of times its own scatter: any method that sees the run should call it.
        detectable: r.fill_tau.is_none(),
        load: Load::Constant,
        linear: r.fill_tau.is_none(),
        span: r.span,
        dt: r.dt,
        baseline: r.base,
        source: Source::Ramp(r),
        from_exec: false,
        quantised: false,
        shift: None,
    }
}

/// Leaking and flat soaks of 1-30 min in turn, each ending with a jump in its last seconds:
/// 10-100% of a leak's growth over the run, 5-30% of a flat one's base.
fn end_jump(rng: &mut Rng, id: usize, k: usize, tolerance: f64) -> Case {
    let leaking = k.is_multiple_of(2);
    let span = rng.log_range(60.0, 1800.0).round();
    let dt = *rng.pick(&[0.5, 1.0, 2.0]);
    let mut spec = soak_spec(
        rng,
        id,
        if leaking { Shape::Steady } else { Shape::Flat },
        span,
        dt,
    );
    // Collections frequent enough for the floor to see twenty cycles: a sawtooth as slow as
    // the run is a trap of its own (the classic corpus has it), not this family's.
    spec.gc.1 = spec.gc.1.min(span / 20.0).max(3.0 * dt);
    let size = if leaking {
        spec.rate = rng.log_range(0.5e9, 20e9);
        spec.rate * span / DAY * rng.range(0.1, 1.0)
    } else {
        spec.baseline * rng.range(0.05, 0.3)
    };
    // The last seconds: up to two and a half of the floor's windows (about 300 over the run,
    // at least five samples each), at least one sample.
    let window = (span / 300.0).max(5.0 * dt);
    let last = (window * rng.range(0.2, 2.5)).max(dt);
    Case {
        id,
        family: Family::EndJump,
        leak: leaking,
        true_rate: spec.rate,
        detectable: spec.clearly_detectable(tolerance),
        load: Load::Constant,
        linear: false,
        span,
        dt,
        baseline: spec.baseline,
        source: Source::Spec(spec),
        from_exec: false,
        quantised: true,
        shift: Some((span - last, size)),
    }
}

/// A soak of 4-8 h at 1-2 s whose floor rises 20-60% with a time constant of 8-12% of the run,
/// flat for the last 60% of it.
fn flat_tail(rng: &mut Rng, id: usize) -> Case {
    let span = (rng.range(4.0, 8.0) * 3600.0).round();
    let dt = *rng.pick(&[1.0, 2.0]);
    let mut spec = soak_spec(rng, id, Shape::Warmup, span, dt);
    spec.baseline = rng.log_range(100e6, 2e9);
    spec.gc.0 = spec.baseline * rng.range(0.01, 0.08);
    spec.wander.0 = spec.baseline * rng.log_range(0.0005, 0.005);
    spec.feature = spec.baseline * rng.range(0.2, 0.6);
    spec.feature_at = rng.range(0.08, 0.12);
    bounded_soak(id, Family::FlatTail, span, dt, spec)
}

/// Production services of 2.5-7 days from any hour, with one lasting step up of 5-20% of the
/// base at 30-65% of the span; even `k` without a leak, odd `k` with one (per request); half
/// with the request counter.
fn production_step(seed: u64, id: usize, k: usize) -> Case {
    let rng = &mut Rng::new(seed.wrapping_mul(7_000_003) ^ k as u64 ^ 0x59);
    let leaking = !k.is_multiple_of(2);
    let mut service = Service::varied(rng.next_u64() % 1_000_000, leaking, rng.range(0.0, 24.0));
    service.span = (rng.range(2.5, 7.0) * DAY / 30.0).round() * 30.0;
    let counter = rng.uniform() < 0.5;
    let shift = Some((
        service.span * rng.range(0.3, 0.65),
        service.base * rng.range(0.05, 0.2),
    ));
    let true_rate = realised_rate(&service, leaking);
    Case {
        id,
        family: Family::ProductionStep,
        leak: leaking,
        true_rate,
        detectable: false,
        load: Load::Auto,
        linear: false,
        span: service.span,
        dt: service.dt,
        baseline: service.base,
        source: Source::Service { service, counter },
        from_exec: false,
        quantised: false,
        shift,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_generate_what_they_promise() {
        let tol = 2.0 * 1048576.0;
        for f in Family::NEW {
            let cs = cases(f, 1, 6, 0, tol);
            assert_eq!(cs.len(), 6);
            for c in &cs {
                let s = c.generate();
                assert_eq!(s.t.len(), s.y.len(), "{f:?}");
                assert!(
                    (s.t[s.t.len() - 1] - s.t[0] - c.span).abs() <= c.dt,
                    "{f:?}"
                );
                match f {
                    Family::Quantised => assert!(s.y.iter().all(|v| v % 4096.0 == 0.0)),
                    Family::FromExec => assert_eq!(s.y[0], 240.0 * 1024.0),
                    Family::ProductionWindow => {
                        assert!(c.span <= 2.0 * DAY && c.span >= 3600.0);
                        for (_, v) in &s.counters {
                            assert_eq!(v.len(), s.t.len());
                        }
                    }
                    _ => {}
                }
            }
        }
        // Twins: even leaks, odd does not; the pair shares its service.
        let pw = cases(Family::ProductionWindow, 1, 2, 0, tol);
        assert!(pw[0].leak && !pw[1].leak && pw[0].true_rate > 0.0);
        assert_eq!((pw[0].span, pw[0].baseline), (pw[1].span, pw[1].baseline));
    }
}
