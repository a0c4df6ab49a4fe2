//! Short soaks the way a newcomer runs them (issue 22), each with a known truth: an obvious
//! climb is a leak with its assumption stated, an event at the very end of a run is reported
//! and the rate judged before it, and a warm-up, a filled cache or one lasting step is not a
//! leak.

mod common;

use common::Noise;
use leakhound_analysis::{analyze, Config, Finding, Load, Note, Pattern, Verdict};

const DAY: f64 = 86400.0;
const MIB: f64 = 1048576.0;
/// A Monday, 22:00 UTC.
const START: f64 = 1_795_478_400.0 + 22.0 * 3600.0;

/// `seconds` of samples every `dt` from `START`, valued by `level(s, noise)` and rounded to
/// pages as RSS is.
fn series(
    seconds: f64,
    dt: f64,
    seed: u64,
    mut level: impl FnMut(f64, &mut Noise) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut rng = Noise(seed);
    (0..=(seconds / dt) as usize)
        .map(|i| {
            let s = i as f64 * dt;
            let v = level(s, &mut rng);
            (START + s, (v.max(4096.0) / 4096.0).round() * 4096.0)
        })
        .unzip()
}

/// How `run` judges a soak: constant load, the default tolerance.
fn soak(t: &[f64], y: &[f64]) -> Finding {
    let mut cfg = Config::with_tolerance(leakhound_analysis::default_tolerance(y, true));
    cfg.load = Load::Constant;
    analyze(t, y, &cfg).unwrap()
}

#[track_caller]
fn holds(f: &Finding, truth: f64) {
    let (lo, hi) = f.rate_ci_per_day.unwrap();
    assert!(
        lo <= truth && truth <= hi,
        "truth {truth} outside {lo}..{hi}: {f:?}"
    );
}

#[test]
fn a_c_program_climbing_through_seven_minutes_is_a_leak() {
    // 13 MiB to 40 MiB in 7 min at 500 ms, with a MiB of allocator scatter from one reading to
    // the next: the floor is rougher than a slow wander, and that scatter is not wander that
    // could explain the climb (it was 95% CI -2.0 to 12.9 GiB/day).
    let truth = 27.0 * MIB / 420.0 * DAY;
    for seed in 1..=3 {
        let (t, y) = series(420.0, 0.5, seed, |s, r| {
            (13.0 + 27.0 * s / 420.0 + r.normal()) * MIB
        });
        let f = soak(&t, &y);
        assert_eq!(
            (f.verdict, f.pattern),
            (Verdict::Leak, Pattern::Steady),
            "{seed}: {f:?}"
        );
        holds(&f, truth);
        // What the verdict assumes is said: no warm-up longer than this is still running.
        assert!(
            f.warmup_ruled_out_seconds.is_some_and(|s| s >= 420.0),
            "{f:?}"
        );
    }
}

#[test]
fn a_python_program_climbing_to_one_and_a_half_gib_in_thirty_seconds_is_a_leak() {
    // From exec (1.4 MiB) to 1.5 GiB without a dip, then freeing it at exit and the last two
    // readings of a process already gone (0).
    let (t, mut y) = series(33.0, 0.5, 7, |s, r| {
        if s == 0.0 {
            1.4 * MIB
        } else {
            (3.0 + 50.0 * s.min(31.5) + 0.5 * r.normal()) * MIB
        }
    });
    let n = y.len();
    y[n - 3] = 1576.0 * MIB;
    (y[n - 2], y[n - 1]) = (0.0, 0.0);
    let f = soak(&t, &y);
    assert_eq!(f.verdict, Verdict::Leak, "{f:?}");
    assert!(f.notes.contains(&Note::DropAtEnd), "{f:?}");
    holds(&f, 50.0 * MIB * DAY);
}

#[test]
fn a_go_server_climbing_in_a_straight_line_is_a_leak_not_a_warm_up() {
    // 18 MiB to 464 MiB in 100 s: the heap grows in arenas, a few MiB at a time. A straight
    // line fits a warm-up of any long time constant as well; only curvature is evidence of
    // one, and there is none.
    let (t, y) = series(100.0, 0.5, 3, |s, r| {
        let live = 18.0 + 4.46 * s;
        ((live / 4.0).ceil() * 4.0 + 0.2 * r.normal()) * MIB
    });
    let f = soak(&t, &y);
    assert_eq!(f.verdict, Verdict::Leak, "{f:?}");
    assert!(!f.notes.contains(&Note::WarmupNotRuledOut), "{f:?}");
    holds(&f, 4.46 * MIB * DAY);
}

#[test]
fn a_jump_in_the_last_seconds_is_reported_and_the_rate_judged_before_it() {
    // A Go program leaking 1 MiB/s for 60 s that takes 30 MiB more in its last two seconds
    // (its goroutines' stacks dumped at exit).
    let (t, y) = series(62.0, 0.5, 5, |s, r| {
        let dump = if s >= 60.0 { 30.0 } else { 0.0 };
        (1.5 + s.min(60.0) + dump + 0.05 * r.normal()) * MIB
    });
    let f = soak(&t, &y);
    assert_eq!(f.verdict, Verdict::Leak, "{f:?}");
    assert!(f.notes.contains(&Note::JumpAtEnd), "{f:?}");
    let end = f.end_shift.expect("the jump at the end");
    assert!((end.shift.size / MIB - 30.0).abs() < 3.0, "{end:?}");
    assert!((1.5..=2.5).contains(&end.before_end), "{end:?}");
    assert!(
        f.jumps.iter().any(|j| j.t == end.shift.t),
        "listed among the jumps"
    );
    holds(&f, MIB * DAY);
}

#[test]
fn a_cache_that_fills_and_levels_off_in_a_short_soak_is_no_leak() {
    // 20 MiB filling 200 MiB more with a time constant of 20 s, flat for the last 4 minutes.
    for seed in 1..=3 {
        let (t, y) = series(300.0, 0.5, seed, |s, r| {
            (20.0 + 200.0 * (1.0 - (-s / 20.0).exp()) + 0.3 * r.normal()) * MIB
        });
        let f = soak(&t, &y);
        assert_ne!(f.verdict, Verdict::Leak, "{seed}: {f:?}");
    }
}

#[test]
fn a_long_soak_with_a_fast_warm_up_and_a_flat_tail_is_no_leak() {
    // Six hours at 2 s: the floor rises 40% with a time constant of a tenth of the run and is
    // flat for the last 60%; wander of 0.2% with a 5-minute correlation, a GC sawtooth.
    for seed in 1..=3 {
        let mut wander = 0.0;
        let (t, y) = series(6.0 * 3600.0, 2.0, seed, |s, r| {
            wander = 0.9934 * wander + 0.002 * (1.0f64 - 0.9934 * 0.9934).sqrt() * r.normal();
            let base = 500.0 * MIB;
            base * (1.0 + 0.4 * (1.0 - (-s / 2160.0).exp()) + wander)
                + 10.0 * MIB * ((s % 30.0) / 30.0)
        });
        let f = soak(&t, &y);
        assert_ne!(f.verdict, Verdict::Leak, "{seed}: {f:?}");
        assert!(f.knee.is_some(), "the warm-up is seen: {f:?}");
    }
}

/// Daily load shape, mean 0, peak 1 at 20:00 UTC.
fn shape(t: f64) -> f64 {
    let th = std::f64::consts::TAU * (t.rem_euclid(DAY) / 3600.0 - 20.0) / 24.0;
    (th.cos() + 0.35 * (2.0 * th).cos() + 0.1 * (3.0 * th).cos()) / 1.45
}

#[test]
fn one_lasting_step_in_a_service_of_several_days_is_no_leak() {
    // 600 MB at 30 s for 3-5 days: a working set that swings ±8% with the day, AR(1) noise of
    // 1% (φ 0.9), a 5% GC sawtooth; one step up of 5% at the middle, nothing after. At 1% noise
    // the jump detector, comparing three points on each side, does not resolve it.
    for (seed, days) in [(1, 3.0), (2, 4.0), (3, 5.0)] {
        let mut ar = 0.0;
        let base = 600e6;
        let (t, y) = series(days * DAY, 30.0, seed, |s, r| {
            ar = 0.9 * ar + 0.01 * base * (1.0f64 - 0.81).sqrt() * r.normal();
            let step = if s >= days * DAY / 2.0 {
                0.05 * base
            } else {
                0.0
            };
            base + 0.08 * base * shape(START + s) + step + ar + 0.05 * base * ((s % 120.0) / 120.0)
        });
        let f = analyze(&t, &y, &Config::with_tolerance(2.0 * MIB)).unwrap();
        assert_ne!(f.verdict, Verdict::Leak, "{days} days: {f:?}");
        assert!(!f.jumps.is_empty(), "the step is seen: {f:?}");
    }
}
