//! `--until-verdict` as a soak sees it: looks on the sequential schedule (from 30 s, each 1.5
//! times the last, spending the 5% error budget), a stop only after the minimum soak and, at
//! `leak`, only while the growth persists in the latest third. Scored on soaks sampled every
//! second under a constant load:
//! - bounded: wander only; a cache that fills linearly for 20-300 s and then stays (a Redis
//!   with `maxmemory`); saturating warm-ups with time constants of 10-120 s;
//! - leaks of 0.3-30 GiB/day, steady or in doubling steps (a hash table's rehashes).
//!
//! Prints how often a bounded soak was stopped at `leak`, how often a leak was stopped at
//! `no_leak`, and how soon leaks were stopped.
//!
//! `cargo run --release -p leakhound-bench --bin sequential [-- --cases 240 --min-soak 120]`

use leakhound_analysis::sequential::stops;
use leakhound_analysis::{analyze, Config, Load, SequentialLooks, Verdict};
use leakhound_bench::arg;
use leakhound_bench::rng::Rng;
use rayon::prelude::*;

const DAY: f64 = 86400.0;
/// Longest soak simulated, seconds.
const MAX_SOAK: f64 = 1800.0;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Wander,
    FillUp,
    Warmup,
    Leak,
    Stepwise,
}

impl Kind {
    fn leaks(self) -> bool {
        matches!(self, Kind::Leak | Kind::Stepwise)
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Wander => "wander only",
            Kind::FillUp => "cache filling, then flat",
            Kind::Warmup => "saturating warm-up",
            Kind::Leak => "steady leak",
            Kind::Stepwise => "leak in doubling steps",
        }
    }
}

/// One soak: 1 s samples of a process of `base` bytes, and when its bounded growth levels off
/// (seconds: a cache's fill time, three time constants of a warm-up; 0 otherwise).
fn soak(kind: Kind, seed: u64) -> (Vec<f64>, Vec<f64>, f64) {
    let mut r = Rng::new(seed);
    let base = r.log_range(5e6, 500e6);
    let sd = base * r.log_range(0.0005, 0.005);
    let tau = r.range(30.0, 600.0);
    let phi = (-1.0 / tau).exp();
    let innov = sd * (1.0 - phi * phi).sqrt();
    let mut wander = sd * r.normal();
    let gc = base * r.range(0.0, 0.05);
    let gc_period = r.range(5.0, 60.0);
    let rate = r.log_range(0.3, 30.0) * 1073741824.0 / DAY;
    let fill_for = r.range(20.0, 300.0);
    let fill_rate = base * r.range(0.2, 2.0) / fill_for;
    let warm_tau = r.range(10.0, 120.0);
    let warm = base * r.range(0.2, 1.0);
    let (mut t, mut y) = (Vec::new(), Vec::new());
    for i in 0..=(MAX_SOAK as usize) {
        let s = i as f64;
        let level = match kind {
            Kind::Wander => 0.0,
            Kind::FillUp => fill_rate * s.min(fill_for),
            Kind::Warmup => warm * (1.0 - (-s / warm_tau).exp()),
            Kind::Leak => rate * s,
            Kind::Stepwise => {
                // Memory doubles its table every time the keys outgrow it.
                let grown = rate * s;
                let step = (base * 0.05).max(1.0);
                let k = ((grown / step) + 1.0).log2().floor();
                step * (2f64.powf(k) - 1.0) + 0.3 * (grown - step * (2f64.powf(k) - 1.0))
            }
        };
        let saw = gc * ((s % gc_period) / gc_period);
        let v = base + level + saw + wander;
        t.push(1.8e9 + s);
        y.push((v / 4096.0).round() * 4096.0);
        wander = phi * wander + innov * r.normal();
    }
    let levels_off = match kind {
        Kind::FillUp => fill_for,
        Kind::Warmup => 3.0 * warm_tau,
        _ => 0.0,
    };
    (t, y, levels_off)
}

/// When (seconds) and at what the sequential procedure stops the soak, if it does.
fn stop(t: &[f64], y: &[f64], min_soak: f64) -> Option<(f64, Verdict)> {
    let mut looks = SequentialLooks::new(30.0, 0.05);
    let mut cfg = Config::with_tolerance(1048576.0);
    cfg.load = Load::Constant;
    for n in 2..t.len() {
        let span = t[n - 1] - t[0];
        let Some(conf) = looks.due(span) else {
            continue;
        };
        cfg.confidence = conf;
        cfg.tolerance = leakhound_analysis::default_tolerance(&y[..n], true);
        let f = analyze(&t[..n], &y[..n], &cfg).expect("valid");
        if stops(&t[..n], &y[..n], &cfg, &f, min_soak) {
            return Some((span, f.verdict));
        }
    }
    None
}

fn main() {
    let per_kind = arg("--cases", 240) as usize / 5;
    let min_soak = arg("--min-soak", leakhound_analysis::DEFAULT_MIN_SOAK as u64) as f64;
    let kinds = [
        Kind::Wander,
        Kind::FillUp,
        Kind::Warmup,
        Kind::Leak,
        Kind::Stepwise,
    ];
    let jobs: Vec<(Kind, u64)> = kinds
        .iter()
        .flat_map(|&k| (0..per_kind as u64).map(move |s| (k, s * 7919 + k as u64)))
        .collect();
    let started = std::time::Instant::now();
    // Per soak: its kind, when and at what it stopped, when its growth levelled off.
    type Judged = (Kind, Option<(f64, Verdict)>, f64);
    let judged: Vec<Judged> = jobs
        .into_par_iter()
        .map(|(k, seed)| {
            let (t, y, levels_off) = soak(k, seed);
            (k, stop(&t, &y, min_soak), levels_off)
        })
        .collect();
    let out: Vec<(Kind, Option<(f64, Verdict)>)> = judged.iter().map(|j| (j.0, j.1)).collect();
    println!(
        "`--until-verdict` on {} soaks of up to {} min at 1 s, constant load, minimum soak {} s, looks from 30 s; {:.0} s\n",
        out.len(),
        MAX_SOAK / 60.0,
        min_soak,
        started.elapsed().as_secs_f64()
    );
    println!(
        "| soak | cases | stopped at leak | stopped at no_leak | not stopped | median stop (s) |"
    );
    println!("|---|---|---|---|---|---|");
    for k in kinds {
        let of: Vec<&Option<(f64, Verdict)>> =
            out.iter().filter(|o| o.0 == k).map(|o| &o.1).collect();
        let at = |v: Verdict| of.iter().filter(|o| o.is_some_and(|x| x.1 == v)).count();
        let mut times: Vec<f64> = of.iter().filter_map(|o| o.map(|x| x.0)).collect();
        times.sort_by(f64::total_cmp);
        let med = times
            .get(times.len() / 2)
            .map_or("-".to_string(), |t| format!("{t:.0}"));
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            k.name(),
            of.len(),
            at(Verdict::Leak),
            at(Verdict::NoLeak),
            of.iter().filter(|o| o.is_none()).count(),
            med
        );
    }
    let leaks: Vec<_> = out.iter().filter(|o| o.0.leaks()).collect();
    let false_clear = leaks
        .iter()
        .filter(|o| o.1.is_some_and(|x| x.1 == Verdict::NoLeak))
        .count();
    // Growth still going when the minimum soak ends looks like a leak at it: that is the
    // assumption the verdict states ("unless a warm-up that takes longer than ... is still
    // running"). Growth that levelled off before must never stop a soak at `leak`.
    for (label, longer) in [
        (
            "level off within the minimum soak (wander, fills, warm-ups)",
            false,
        ),
        ("are still filling when the minimum soak ends", true),
    ] {
        let cases: Vec<_> = judged
            .iter()
            .filter(|j| !j.0.leaks() && (j.2 > min_soak) == longer)
            .collect();
        let stopped = cases
            .iter()
            .filter(|j| j.1.is_some_and(|x| x.1 == Verdict::Leak))
            .count();
        println!(
            "bounded soaks that {label}: {stopped} of {} stopped at `leak`{}",
            cases.len(),
            if longer { "" } else { " (target 0)" }
        );
    }
    println!(
        "leaks stopped at `no_leak`: {false_clear} of {} (target 0)",
        leaks.len()
    );
}
