//! The cases the scorer judges: the classic corpus ([`crate::corpus`]) and the families that
//! the first version of the corpus lacked, each a trap seen in real use:
//!
//! - production windows of 1 h to 2 days from any hour of the day (leak and no-leak twins,
//!   half of them with the request counter): the phase of a daily cycle poses as growth;
//! - constant-load soaks of 2-14 h with a saturating warm-up (time constant 2-12% of the run,
//!   10-80% of the base) and no leak;
//! - one step of 5-30% of the base at 25-60% of a 3.5-day production span, flat after;
//! - soaks whose first sample was taken at exec, before the program had loaded;
//! - page-quantised flat series, the way RSS of an idle process looks.

use leakhound_analysis::Load;

use crate::corpus::{Shape, Spec};
use crate::rng::Rng;
use crate::service::Service;

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
}

impl Family {
    /// The new families, in the order the scorer prints them.
    pub const NEW: [Family; 5] = [
        Family::ProductionWindow,
        Family::SoakWarmup,
        Family::MultidayStep,
        Family::FromExec,
        Family::Quantised,
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
        }
    }
}

#[derive(Debug, Clone)]
enum Source {
    Spec(Spec),
    Service { service: Service, counter: bool },
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
    /// Post-processing: the first sample at exec, values in pages.
    from_exec: bool,
    quantised: bool,
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
        };
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
    let true_rate = if leaking {
        // The leak is per request: what it realises over this window.
        let w = service.generate();
        let days = span / DAY;
        service.bytes_per_request() * (w.requests[w.requests.len() - 1] - w.requests[0]) / days
    } else {
        0.0
    };
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

fn soak_warmup(rng: &mut Rng, id: usize) -> Case {
    let span = (rng.range(2.0, 14.0) * 3600.0).round();
    let dt = *rng.pick(&[1.0, 2.0, 5.0]);
    let mut spec = soak_spec(rng, id, Shape::Warmup, span, dt);
    spec.feature = spec.baseline * rng.range(0.1, 0.8);
    spec.feature_at = rng.range(0.02, 0.12);
    Case {
        id,
        family: Family::SoakWarmup,
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
    }
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
