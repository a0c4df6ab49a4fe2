//! Scores how leaking code is named: functions (stacks summed per allocating function, the
//! default) against ranking single stacks by their innermost frame (what leakhound did
//! before), on generated site sets with known truth ([`leakhound_bench::sites_corpus`]).
//!
//! `cargo run --release -p leakhound-bench --bin site_ranking [-- --cases 200 --seed 1]`

use leakhound_analysis::frames::Frame;
use leakhound_analysis::sites::{judge_sites, SiteSeries, SitesJudged, OTHER};
use leakhound_analysis::{Config, Load, Verdict};
use leakhound_bench::arg;
use leakhound_bench::sites_corpus::{site_case, SiteCase, SiteFamily};
use rayon::prelude::*;

fn judge(c: &SiteCase) -> SitesJudged {
    let keys: Vec<String> = (0..c.stacks.len()).map(|i| format!("s{i}")).collect();
    let none: Vec<String> = Vec::new();
    let flat = vec![1e6; c.t.len()];
    let mut series: Vec<SiteSeries> = c
        .stacks
        .iter()
        .zip(&keys)
        .map(|(s, key)| SiteSeries {
            key,
            source: c.source,
            frames: &s.frames,
            t: &c.t,
            bytes: &s.bytes,
        })
        .collect();
    series.push(SiteSeries {
        key: OTHER,
        source: c.source,
        frames: &none,
        t: &c.t,
        bytes: &flat,
    });
    let mut cfg = Config::with_tolerance(1048576.0);
    cfg.load = Load::Constant;
    judge_sites(&series, &cfg, &[])
}

/// What one case scored.
#[derive(Default, Clone, Copy)]
struct Score {
    /// The top function is the fastest leak (whatever its verdict); for siblings at one rate,
    /// the top two are the two.
    top_named: bool,
    /// ... and its verdict is leak.
    top_right: bool,
    /// The top stack's innermost frame names the fastest leak (the old way), as a leak.
    stack_top_right: bool,
    /// The leaking functions come out in their true order.
    order_right: bool,
    /// A function that does not leak was called a leak.
    false_leak: bool,
    /// Sibling functions of one rate got different verdicts.
    siblings_differ: bool,
    /// |top rate / true rate - 1|.
    rate_error: f64,
}

fn score(c: &SiteCase) -> Score {
    let j = judge(c);
    let truth: Vec<&str> = c.leaks.iter().map(|l| l.0.as_str()).collect();
    let mut s = Score::default();
    if let Some((name, rate)) = c.leaks.first() {
        if let Some(top) = j.functions.first() {
            s.top_named = if c.family == SiteFamily::Siblings {
                let two: Vec<&str> = j
                    .functions
                    .iter()
                    .take(2)
                    .map(|f| f.function.as_str())
                    .collect();
                truth.iter().all(|t| two.contains(t))
            } else {
                &top.function == name
            };
            s.top_right = s.top_named && top.finding.verdict == Verdict::Leak;
            s.rate_error = top
                .finding
                .rate_per_day
                .map_or(f64::NAN, |r| (r / rate - 1.0).abs());
        }
        s.stack_top_right = j.sites.first().is_some_and(|t| {
            Frame::parse(&t.frames[0]).function_key() == *name && t.finding.verdict == Verdict::Leak
        });
        let named: Vec<&str> = j
            .functions
            .iter()
            .filter(|f| truth.contains(&f.function.as_str()))
            .map(|f| f.function.as_str())
            .collect();
        s.order_right = named == truth;
    }
    s.false_leak = j
        .functions
        .iter()
        .any(|f| f.finding.verdict == Verdict::Leak && !truth.contains(&f.function.as_str()));
    if c.family == SiteFamily::Siblings {
        let verdicts: Vec<Verdict> = j
            .functions
            .iter()
            .filter(|f| truth.contains(&f.function.as_str()))
            .map(|f| f.finding.verdict)
            .collect();
        s.siblings_differ = verdicts.windows(2).any(|w| w[0] != w[1]);
    }
    s
}

fn pct(n: usize, of: usize) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / of as f64)
    }
}

fn main() {
    let n = arg("--cases", 200);
    let seed = arg("--seed", 1);
    let started = std::time::Instant::now();
    println!(
        "| family | cases | top function named | ... and `leak` | top stack right (per stack, innermost frame) | leaks in true order | a non-leak called leak | siblings' verdicts differ | median rate error of the top |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for family in SiteFamily::ALL {
        let scores: Vec<Score> = (0..n)
            .into_par_iter()
            .map(|i| score(&site_case(family, seed, i)))
            .collect();
        let count = |f: fn(&Score) -> bool| scores.iter().filter(|s| f(s)).count();
        let leaky = family.leaks();
        let mut errors: Vec<f64> = scores
            .iter()
            .map(|s| s.rate_error)
            .filter(|e| e.is_finite())
            .collect();
        errors.sort_by(f64::total_cmp);
        let median = errors
            .get(errors.len() / 2)
            .map_or("-".into(), |e| format!("{:.1}%", 100.0 * e));
        let when = |b: bool, v: String| if b { v } else { "-".into() };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            family.name(),
            scores.len(),
            when(leaky, pct(count(|s| s.top_named), scores.len())),
            when(leaky, pct(count(|s| s.top_right), scores.len())),
            when(leaky, pct(count(|s| s.stack_top_right), scores.len())),
            when(leaky, pct(count(|s| s.order_right), scores.len())),
            pct(count(|s| s.false_leak), scores.len()),
            when(
                family == SiteFamily::Siblings,
                pct(count(|s| s.siblings_differ), scores.len())
            ),
            when(leaky, median),
        );
    }
    eprintln!("{:.1} s", started.elapsed().as_secs_f64());
}
