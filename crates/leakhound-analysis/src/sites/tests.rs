//! Tests of [`super`].

use super::*;
use crate::Load;

fn stack(frames: &[&str]) -> Vec<String> {
    frames.iter().map(|s| s.to_string()).collect()
}

/// Ten minutes of a profile every 10 s: a leaking site at 50 KB/s, a churning one, a cache
/// that fills in two minutes and stays, and the remainder.
/// A site's frames and live bytes.
type Profiled = (Vec<String>, Vec<f64>);

fn profile() -> (Vec<f64>, Vec<Profiled>) {
    let t: Vec<f64> = (0..60).map(|i| 1.7e9 + 10.0 * i as f64).collect();
    let wobble = |i: usize| ((i * 7919) % 13) as f64 * 2e4;
    let leak: Vec<f64> = (0..60).map(|i| 5e5 * i as f64 + wobble(i)).collect();
    let churn: Vec<f64> = (0..60).map(|i| 4e6 + wobble(i + 3) * 5.0).collect();
    let cache: Vec<f64> = (0..60)
        .map(|i| 2e6 * (i.min(12) as f64 / 12.0) + wobble(i + 5))
        .collect();
    let other: Vec<f64> = (0..60).map(|i| 1e6 + wobble(i + 7)).collect();
    (
        t,
        vec![
            (
                stack(&["remember (server.js:12)", "onRequest (server.js:40)"]),
                leak,
            ),
            (
                stack(&["parse (server.js:20)", "onRequest (server.js:40)"]),
                churn,
            ),
            (
                stack(&["lruSet (cache.js:8)", "lookup (cache.js:30)"]),
                cache,
            ),
            (Vec::new(), other),
        ],
    )
}

#[test]
fn the_leaking_site_ranks_first_and_churn_and_cache_do_not_leak() {
    let (t, sites) = profile();
    let keys = ["a", "b", "c", OTHER];
    let series: Vec<SiteSeries> = sites
        .iter()
        .zip(keys)
        .map(|((frames, bytes), key)| SiteSeries {
            key,
            source: "node",
            frames,
            t: &t,
            bytes,
        })
        .collect();
    let mut cfg = Config::with_tolerance(1048576.0);
    cfg.load = Load::Constant;
    let all = judge_sites(&series, &cfg, &[]);
    let judged = &all.sites;
    assert_eq!(judged.len(), 3, "the remainder is not ranked");
    assert_eq!(judged[0].key, "a");
    assert_eq!(judged[0].finding.verdict, Verdict::Leak);
    assert!(
        judged[0].share_of_growth > 0.8,
        "{}",
        judged[0].share_of_growth
    );
    for j in &judged[1..] {
        assert_ne!(
            j.finding.verdict,
            Verdict::Leak,
            "{}: {:?}",
            j.key,
            j.finding
        );
    }
    assert_eq!(all.functions[0].function, "remember (server.js)");
    assert_eq!(all.functions[0].lines, ["remember (server.js:12)"]);
    assert!(all.notes.is_empty(), "{:?}", all.notes);
    let g = flame(&all);
    assert_eq!(g.children[0].frame, "onRequest (server.js:40)");
    let leaf = &g.children[0].children[0];
    assert_eq!(leaf.frame, "remember (server.js)");
    assert_eq!(leaf.verdict, Verdict::Leak);
    assert!(leaf.rate >= 0.8 * g.rate);
}

/// Deterministic noise in [-1, 1).
fn noise(i: usize, seed: usize) -> f64 {
    let x = (i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) % 10_007;
    x as f64 / 5003.5 - 1.0
}

/// Judges `stacks` (frames, bytes per profile) reported every 5 s for `n` profiles, the
/// remainder flat.
fn judge_stacks(source: &str, stacks: &[(Vec<String>, Vec<f64>)], n: usize) -> SitesJudged {
    let t: Vec<f64> = (0..n).map(|i| 1.7e9 + 5.0 * i as f64).collect();
    let keys: Vec<String> = (0..stacks.len()).map(|i| format!("s{i}")).collect();
    let other = vec![1e6; n];
    let no_frames: Vec<String> = Vec::new();
    let mut series: Vec<SiteSeries> = stacks
        .iter()
        .zip(&keys)
        .map(|((frames, bytes), key)| SiteSeries {
            key,
            source,
            frames,
            t: &t,
            bytes,
        })
        .collect();
    series.push(SiteSeries {
        key: OTHER,
        source,
        frames: &no_frames,
        t: &t,
        bytes: &other,
    });
    let mut cfg = Config::with_tolerance(1048576.0);
    cfg.load = Load::Constant;
    judge_sites(&series, &cfg, &[])
}

#[test]
fn one_leak_over_five_stacks_is_one_function_with_all_of_the_growth() {
    // rememberVisitor keeps 1 MB/min, split unevenly over five stacks (V8 tiers, a
    // builtin inside it, two callers), each noisy on its own; a churning neighbour.
    let split = [0.56, 0.2, 0.1, 0.07, 0.07];
    let frames = [
        vec![
            "repeat",
            "rememberVisitor (server.js:12)",
            "onRequest (server.js:40)",
        ],
        vec!["rememberVisitor (server.js:12)", "onRequest (server.js:40)"],
        vec!["rememberVisitor (server.js:13)", "onRequest (server.js:40)"],
        vec![
            "repeat",
            "rememberVisitor (server.js:12)",
            "onAdmin (server.js:60)",
        ],
        vec!["rememberVisitor (server.js:12)", "onAdmin (server.js:60)"],
    ];
    let n = 14;
    let mut stacks: Vec<(Vec<String>, Vec<f64>)> = frames
        .iter()
        .zip(split)
        .enumerate()
        .map(|(k, (f, share))| {
            let bytes = (0..n)
                .map(|i| share * 1e6 / 12.0 * i as f64 + 3e4 * noise(i, k))
                .map(|v: f64| v.max(0.0))
                .collect();
            (stack(f), bytes)
        })
        .collect();
    stacks.push((
        stack(&["parse (server.js:20)", "onRequest (server.js:40)"]),
        (0..n).map(|i| 4e6 + 3e5 * noise(i, 9)).collect(),
    ));
    let j = judge_stacks("node", &stacks, n);
    let top = &j.functions[0];
    assert_eq!(top.function, "rememberVisitor (server.js)");
    assert_eq!(top.finding.verdict, Verdict::Leak, "{:?}", top.finding);
    assert_eq!(top.stacks.len(), 5);
    assert_eq!(
        top.lines,
        [
            "rememberVisitor (server.js:12)",
            "rememberVisitor (server.js:13)"
        ]
    );
    assert!(top.share_of_growth > 0.9, "{}", top.share_of_growth);
    let rate = top.finding.rate_per_day.unwrap();
    let truth = 1e6 / 60.0 * 86400.0;
    assert!((rate / truth - 1.0).abs() < 0.1, "{rate:e} vs {truth:e}");
    // Every stack knows its function; the builtin is not it.
    assert!(j
        .sites
        .iter()
        .filter(|s| s.frames.iter().any(|f| f.starts_with("rememberVisitor")))
        .all(|s| s.function == "rememberVisitor (server.js)"));
    assert_ne!(j.functions[1].finding.verdict, Verdict::Leak);
}

#[test]
fn a_function_leaking_on_two_paths_outranks_a_larger_single_path_leak() {
    // C++: `twice` leaks 3 B per call on each of two paths, `once` 5 B on one; every
    // stack starts in operator new.
    let n = 14;
    let per_call = |bytes: f64, k: usize| -> Vec<f64> {
        (0..n)
            .map(|i| bytes * 2e5 * i as f64 + 2e4 * noise(i, k))
            .map(|v: f64| v.max(0.0))
            .collect()
    };
    let stacks = vec![
        (
            stack(&[
                "operator new (libstdc++.so.6)",
                "once (leak.cpp:20)",
                "main (leak.cpp:40)",
            ]),
            per_call(5.0, 1),
        ),
        (
            stack(&[
                "operator new (libstdc++.so.6)",
                "twice (leak.cpp:10)",
                "a (leak.cpp:30)",
            ]),
            per_call(3.0, 2),
        ),
        (
            stack(&[
                "operator new (libstdc++.so.6)",
                "twice (leak.cpp:10)",
                "b (leak.cpp:33)",
            ]),
            per_call(3.0, 3),
        ),
    ];
    let j = judge_stacks("native", &stacks, n);
    let names: Vec<&str> = j.functions.iter().map(|f| f.function.as_str()).collect();
    assert_eq!(names, ["twice (leak.cpp)", "once (leak.cpp)"]);
    assert!(j
        .functions
        .iter()
        .all(|f| f.finding.verdict == Verdict::Leak));
    assert!(
        !j.functions
            .iter()
            .any(|f| f.function.starts_with("operator new")),
        "never named by the allocator"
    );
    // Per stack, the single path comes first: that is what grouping fixes.
    assert!(
        j.sites[0].frames[1].starts_with("once"),
        "{:?}",
        j.sites[0].frames
    );
}

#[test]
fn too_few_profiles_are_said_not_left_silent() {
    let stacks = vec![(
        stack(&["leak (a.c:3)"]),
        (0..2).map(|i| 1e6 * i as f64).collect(),
    )];
    let j = judge_stacks("native", &stacks, 2);
    assert!(j.sites.is_empty());
    assert!(
        matches!(j.notes[0], SitesNote::TooFewProfiles { profiles: 2, .. }),
        "{:?}",
        j.notes
    );
    assert!(
        matches!(j.notes[1], SitesNote::Unjudged { stacks: 1, .. }),
        "{:?}",
        j.notes
    );
}
