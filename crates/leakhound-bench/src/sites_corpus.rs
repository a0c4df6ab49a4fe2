//! Allocation sites with known truth, for scoring how leaking code is named: one leak spread
//! over several stacks (V8 tiers, a builtin inside it, two callers), C++ stacks that all start
//! in the allocator, sibling functions leaking at one rate over one or several paths, and
//! programs that do not leak (with runtime internals still filling, in one family). Each stack's live bytes are what a sampling profiler reports:
//! the true live bytes counted in samples of a mean size (Poisson), on the profilers' default
//! schedule.

use leakhound_wire::Schedule;

use crate::rng::Rng;

/// The kinds of site sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteFamily {
    /// One leaking function over 2-6 stacks, among churn, caches and flat internals.
    SplitLeak,
    /// Several leaking C++ functions at different rates, over 1-3 paths each, every stack
    /// starting in `operator new`.
    AllocatorFrames,
    /// Two functions leaking at the same rate, one over a single stack, one over three.
    Siblings,
    /// Churn, caches and flat internals only.
    NoLeak,
    /// No leak, and runtime internals still filling through much of the soak (JIT state,
    /// timer and socket pools: Node's `processTimers` rose for a minute in a CI run), each
    /// counted as the samples of what stays (a sample kept once is kept).
    Filling,
}

impl SiteFamily {
    /// Every family.
    pub const ALL: [SiteFamily; 5] = [
        SiteFamily::SplitLeak,
        SiteFamily::AllocatorFrames,
        SiteFamily::Siblings,
        SiteFamily::NoLeak,
        SiteFamily::Filling,
    ];

    /// Whether its cases leak.
    pub fn leaks(self) -> bool {
        !matches!(self, SiteFamily::NoLeak | SiteFamily::Filling)
    }

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            SiteFamily::SplitLeak => "one leak over several stacks",
            SiteFamily::AllocatorFrames => "C++ functions behind operator new",
            SiteFamily::Siblings => "siblings at one rate, 1 vs 3 stacks",
            SiteFamily::NoLeak => "no leak",
            SiteFamily::Filling => "no leak, internals filling",
        }
    }
}

/// One stack of a case: its frames and its reported live bytes.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Frames, innermost first.
    pub frames: Vec<String>,
    /// Live bytes at each report.
    pub bytes: Vec<f64>,
}

/// A generated case and its truth.
#[derive(Debug, Clone)]
pub struct SiteCase {
    /// Its family.
    pub family: SiteFamily,
    /// The profiler (`node`, `native`).
    pub source: &'static str,
    /// Report times, unix seconds.
    pub t: Vec<f64>,
    /// The stacks.
    pub stacks: Vec<Stack>,
    /// The leaking functions (`name (file)`) with their true rates (bytes/day), fastest first.
    pub leaks: Vec<(String, f64)>,
}

/// Live bytes as a sampling profiler with `mean` bytes between samples reports them.
fn sampled(rng: &mut Rng, live: f64, mean: f64) -> f64 {
    let lambda = (live / mean).max(0.0);
    // Poisson by its normal approximation above 30, by inversion below.
    let n = if lambda > 30.0 {
        (lambda + lambda.sqrt() * rng.normal()).round().max(0.0)
    } else {
        let (mut k, mut p, l) = (0.0, 1.0, (-lambda).exp());
        loop {
            p *= rng.uniform();
            if p <= l {
                break k;
            }
            k += 1.0;
        }
    };
    n * mean
}

fn frames(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Churn, caches and flat internals of a Node program: functions that do not leak.
fn neighbours(rng: &mut Rng, t: &[f64], mean: f64, node: bool, out: &mut Vec<Stack>) {
    let n = 5 + (rng.uniform() * 10.0) as usize;
    let t0 = t[0];
    let span = t[t.len() - 1] - t0;
    for k in 0..n {
        let level = rng.log_range(1e4, 5e6);
        let kind = k % 3;
        let fill = span * rng.range(0.05, 0.3);
        let name = format!("helper{k}");
        let f = if node {
            if kind == 2 {
                frames(&["(V8 API)"])
            } else {
                vec![
                    format!("{name} (lib.js:{})", 10 + k),
                    "handle (app.js:40)".into(),
                ]
            }
        } else {
            vec![
                "malloc (libleakhound_preload.so)".into(),
                format!("{name} (lib.c:{})", 10 + k),
                "main (app.c:90)".into(),
            ]
        };
        let bytes = t
            .iter()
            .map(|&ti| {
                let live = match kind {
                    // Churn: a level that comes and goes.
                    0 => level * rng.range(0.0, 2.0),
                    // A cache filling then full.
                    1 => level * ((ti - t0) / fill).min(1.0),
                    // Flat.
                    _ => level,
                };
                sampled(rng, live, mean)
            })
            .collect();
        out.push(Stack { frames: f, bytes });
    }
}

/// Runtime internals that fill with a time constant of a tenth to half the soak and stay:
/// each report counts the samples taken so far of what stays (Poisson increments).
fn filling(rng: &mut Rng, t: &[f64], mean: f64, node: bool, out: &mut Vec<Stack>) {
    let n = 10 + (rng.uniform() * 20.0) as usize;
    let t0 = t[0];
    let span = t[t.len() - 1] - t0;
    for k in 0..n {
        // Up to a few hundred samples when full.
        let level = mean * rng.log_range(2.0, 300.0);
        let tau = span * rng.range(0.1, 0.5);
        let f = if node {
            vec![format!("internal{k} (node:internal/timers:{})", 400 + k)]
        } else {
            vec![
                "malloc (libleakhound_preload.so)".into(),
                format!("runtime{k} (runtime.c:{})", 10 + k),
            ]
        };
        let (mut held, mut before) = (0.0, 0.0);
        let bytes = t
            .iter()
            .map(|&ti| {
                let live = level * (1.0 - (-(ti - t0) / tau).exp());
                held += sampled(rng, live - before, mean);
                before = live;
                held
            })
            .collect();
        out.push(Stack { frames: f, bytes });
    }
}

/// A leak of `rate` bytes/day split over `paths` (frames, share), as sampled.
fn leak_stacks(
    rng: &mut Rng,
    t: &[f64],
    mean: f64,
    rate: f64,
    paths: &[(Vec<String>, f64)],
    out: &mut Vec<Stack>,
) {
    let t0 = t[0];
    for (f, share) in paths {
        let bytes = t
            .iter()
            .map(|&ti| sampled(rng, rate * share * (ti - t0) / 86_400.0, mean))
            .collect();
        out.push(Stack {
            frames: f.clone(),
            bytes,
        });
    }
}

/// Uneven shares summing to one.
fn shares(rng: &mut Rng, n: usize) -> Vec<f64> {
    let w: Vec<f64> = (0..n).map(|_| rng.log_range(0.2, 5.0)).collect();
    let sum: f64 = w.iter().sum();
    w.iter().map(|x| x / sum).collect()
}

/// Case `i` of `family` from `seed`.
pub fn site_case(family: SiteFamily, seed: u64, i: u64) -> SiteCase {
    let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(i));
    // A soak of one to ten minutes on the default schedule.
    let span_ms = (rng.log_range(60.0, 600.0) * 1000.0) as u64;
    let t: Vec<f64> = Schedule::thinning()
        .times_ms(span_ms)
        .map(|ms| 1.8e9 + ms as f64 / 1000.0)
        .collect();
    // Samples of the leak by the end: 50 to 2,000.
    let mut stacks = Vec::new();
    let mut leaks = Vec::new();
    let span_days = span_ms as f64 / 86_400_000.0;
    let node = matches!(
        family,
        SiteFamily::SplitLeak | SiteFamily::NoLeak | SiteFamily::Filling
    ) && rng.uniform() < 0.5;
    let source = if node { "node" } else { "native" };
    let rate = rng.log_range(1e8, 1e11);
    let mean = rate * span_days / rng.log_range(50.0, 2000.0);
    match family {
        SiteFamily::SplitLeak => {
            let n = 2 + (rng.uniform() * 5.0) as usize;
            let s = shares(&mut rng, n);
            let paths: Vec<(Vec<String>, f64)> = (0..n)
                .map(|k| {
                    let caller = if k % 2 == 0 {
                        "onRequest (server.js:40)"
                    } else {
                        "onAdmin (server.js:60)"
                    };
                    let mut f = Vec::new();
                    if k % 3 == 1 {
                        f.push(if node {
                            "repeat".to_string()
                        } else {
                            "memcpy (libc.so.6)".into()
                        });
                    }
                    f.push(format!("remember (server.js:{})", 12 + k % 2));
                    f.push(caller.into());
                    (f, s[k])
                })
                .collect();
            leak_stacks(&mut rng, &t, mean, rate, &paths, &mut stacks);
            leaks.push(("remember (server.js)".to_string(), rate));
            neighbours(&mut rng, &t, mean, node, &mut stacks);
        }
        SiteFamily::AllocatorFrames => {
            let k = 2 + (rng.uniform() * 2.0) as usize;
            for j in 0..k {
                // Rates at least 25% apart.
                let r = rate * 1.25f64.powi(j as i32) * rng.range(1.0, 1.1);
                let n = 1 + (rng.uniform() * 3.0) as usize;
                let s = shares(&mut rng, n);
                let paths: Vec<(Vec<String>, f64)> = (0..n)
                    .map(|p| {
                        (
                            vec![
                                "operator new (libstdc++.so.6)".into(),
                                format!("app::keep{j} (app.cpp:{})", 20 + j),
                                format!("app::path{p} (app.cpp:{})", 50 + p),
                                "main (app.cpp:90)".into(),
                            ],
                            s[p],
                        )
                    })
                    .collect();
                leak_stacks(&mut rng, &t, mean, r, &paths, &mut stacks);
                leaks.push((format!("app::keep{j} (app.cpp)"), r));
            }
            neighbours(&mut rng, &t, mean, false, &mut stacks);
        }
        SiteFamily::Siblings => {
            for (j, n) in [(0usize, 1usize), (1, 3)] {
                let s = shares(&mut rng, n);
                let paths: Vec<(Vec<String>, f64)> = (0..n)
                    .map(|p| {
                        (
                            vec![
                                "malloc (libleakhound_preload.so)".into(),
                                format!("keep{j} (app.c:{})", 20 + j),
                                format!("path{p} (app.c:{})", 50 + p),
                            ],
                            s[p],
                        )
                    })
                    .collect();
                leak_stacks(&mut rng, &t, mean, rate, &paths, &mut stacks);
                leaks.push((format!("keep{j} (app.c)"), rate));
            }
            neighbours(&mut rng, &t, mean, false, &mut stacks);
        }
        SiteFamily::NoLeak => neighbours(&mut rng, &t, mean, node, &mut stacks),
        SiteFamily::Filling => {
            neighbours(&mut rng, &t, mean, node, &mut stacks);
            filling(&mut rng, &t, mean, node, &mut stacks);
        }
    }
    leaks.sort_by(|a, b| b.1.total_cmp(&a.1));
    SiteCase {
        family,
        source,
        t,
        stacks,
        leaks,
    }
}
