//! `analyze` end to end on generated CSVs with a known truth, one per pattern.

mod util;

use leakhound_bench::corpus::{Shape, Spec};
use util::{write, Dir};

const DAY: f64 = 86400.0;

/// A production-like series: 250 MB, 60 s samples, GC sawtooth and wander, daily cycle.
fn spec(shape: Shape, span_days: f64, rate: f64) -> Spec {
    Spec {
        id: 0,
        seed: 42 + shape as u64,
        shape,
        baseline: 250e6,
        dt: 60.0,
        span: span_days * DAY,
        rate,
        gc: (8e6, 600.0),
        wander: (0.5e6, 3600.0),
        cycle: if shape == Shape::Seasonal { 20e6 } else { 5e6 },
        feature: 40e6,
        feature_at: match shape {
            Shape::Warmup => 0.08,
            Shape::Step => 0.3,
            Shape::Ratchet => 0.2,
            Shape::Stepwise => 20.0 / 24.0,
            _ => 0.5,
        },
    }
}

fn analyze(d: &Dir, s: &Spec) -> serde_json::Value {
    let (t, y) = s.generate();
    let mut text = String::from("timestamp,rss\n");
    for (a, b) in t.iter().zip(&y) {
        text.push_str(&format!("{a},{b}\n"));
    }
    let p = d.path(&format!("{:?}.csv", s.shape));
    write(&p, &text);
    let r = d.run(&[
        "analyze",
        p.to_str().unwrap(),
        "--tolerance",
        "2MiB/day",
        "--format",
        "json",
    ]);
    r.expect_code(0);
    r.json()["series"][0].clone()
}

#[track_caller]
fn expect(v: &serde_json::Value, verdict: &str, pattern: &str) {
    assert_eq!(v["verdict"], verdict, "{v:#}");
    assert_eq!(v["pattern"], pattern, "{v:#}");
}

fn rate_within_ci(v: &serde_json::Value, truth: f64) {
    let ci = v["rate_ci95_bytes_per_day"].as_array().unwrap();
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(
        lo <= truth && truth <= hi,
        "truth {truth} outside [{lo}, {hi}]: {v:#}"
    );
}

#[test]
fn steady_leak() {
    let d = Dir::new();
    let s = spec(Shape::Steady, 7.0, 8e6);
    let v = analyze(&d, &s);
    expect(&v, "leak", "steady");
    rate_within_ci(&v, 8e6);
}

#[test]
fn flat_is_cleared() {
    let d = Dir::new();
    let v = analyze(&d, &spec(Shape::Flat, 7.0, 0.0));
    assert_eq!(v["verdict"], "no_leak", "{v:#}");
    rate_within_ci(&v, 0.0);
}

#[test]
fn daily_cycle_is_seasonal_not_a_leak() {
    let d = Dir::new();
    expect(
        &analyze(&d, &spec(Shape::Seasonal, 7.0, 0.0)),
        "no_leak",
        "seasonal",
    );
}

#[test]
fn warmup_is_bounded() {
    let d = Dir::new();
    expect(
        &analyze(&d, &spec(Shape::Warmup, 7.0, 0.0)),
        "no_leak",
        "warmup",
    );
}

#[test]
fn one_step_is_a_red_herring() {
    let d = Dir::new();
    expect(
        &analyze(&d, &spec(Shape::Step, 7.0, 0.0)),
        "no_leak",
        "step",
    );
}

#[test]
fn ratchet_is_bounded() {
    let d = Dir::new();
    // Jumps of 80, 40, 20 and 10 MB. Jumps under ~8 times the floor's wander are not resolved
    // and leave the verdict inconclusive (see the scorer's ratchet row), never a leak.
    let mut s = spec(Shape::Ratchet, 7.0, 0.0);
    s.cycle = 0.0;
    s.feature = 80e6;
    expect(&analyze(&d, &s), "no_leak", "ratchet");
}

#[test]
fn staircase_is_a_leak() {
    let d = Dir::new();
    let v = analyze(&d, &spec(Shape::Stepwise, 7.0, 20e6));
    expect(&v, "leak", "stepwise");
}

#[test]
fn restarts_hide_a_leak_that_is_still_found() {
    let d = Dir::new();
    let v = analyze(&d, &spec(Shape::Restarts, 7.0, 20e6));
    expect(&v, "leak", "restarts");
    rate_within_ci(&v, 20e6);
}

#[test]
fn load_proportional_leak() {
    let d = Dir::new();
    let mut s = spec(Shape::LoadProportional, 7.0, 20e6);
    s.cycle = 0.0;
    let v = analyze(&d, &s);
    expect(&v, "leak", "load_proportional");
    rate_within_ci(&v, s.true_rate());
}

#[test]
fn an_hour_is_not_enough_and_says_how_long_to_wait() {
    let d = Dir::new();
    let v = analyze(&d, &spec(Shape::Steady, 1.0 / 24.0, 8e6));
    assert_eq!(v["verdict"], "inconclusive", "{v:#}");
    let wait = v["time_to_verdict_seconds"].as_f64().unwrap();
    assert!(wait > 3600.0, "{v:#}");
    assert!(
        v["explanation"].as_str().unwrap().contains("watch about"),
        "{v:#}"
    );
}
