//! Where in the code: every allocation site (a call stack, with the live bytes a profiler
//! estimates for it over time) is a series judged by the same engine as RSS, and the leaking
//! ones are ranked by the lower bound of their rate.
//!
//! A site's tolerance is the process tolerance scaled by the site's share of the live bytes
//! the profiler sees (never below 1% of it): a site holding a twentieth of the heap is held
//! to a twentieth of the growth the user accepts for the whole process.

use crate::attribution::Counter;
use crate::verdict::{analyze_with, Config, Finding, Verdict};

/// The key of the remainder: live bytes of the sites not in a profile's top list.
pub const OTHER: &str = "other";

/// One site's series.
#[derive(Debug, Clone, Copy)]
pub struct SiteSeries<'a> {
    /// Stable key (a hash of the frames), or [`OTHER`].
    pub key: &'a str,
    /// Frames, innermost (allocating) first.
    pub frames: &'a [String],
    /// Times, unix seconds.
    pub t: &'a [f64],
    /// Live bytes.
    pub bytes: &'a [f64],
}

/// The verdict on one site.
#[derive(Debug, Clone)]
pub struct SiteFinding {
    /// Its key.
    pub key: String,
    /// Its frames, innermost first.
    pub frames: Vec<String>,
    /// The finding on its live bytes.
    pub finding: Finding,
    /// Its share of the growth: its rate over the sum of the positive rates of all sites
    /// (the remainder included), 0 when it does not grow.
    pub share_of_growth: f64,
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut a = v.to_vec();
    let m = a.len() / 2;
    *a.select_nth_unstable_by(m, f64::total_cmp).1
}

/// Judges every site under `cfg` (the process series' tolerance, scaled per site) and ranks
/// them: leaks first by the lower bound of their rate, then the rest by rate. Sites with too
/// few samples to analyse are left out; so is the remainder from the ranking (it still counts
/// in the shares).
pub fn judge_sites(sites: &[SiteSeries], cfg: &Config, counters: &[Counter]) -> Vec<SiteFinding> {
    let levels: Vec<f64> = sites.iter().map(|s| median(s.bytes).max(0.0)).collect();
    let total: f64 = levels.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut out: Vec<SiteFinding> = Vec::new();
    let mut growth = 0.0;
    for (s, level) in sites.iter().zip(&levels) {
        if s.t.len() < 3 {
            continue;
        }
        let mut c = cfg.clone();
        c.tolerance = cfg.tolerance * (level / total).max(0.01);
        c.limit = None;
        let Ok(finding) = analyze_with(s.t, s.bytes, &c, counters) else {
            continue;
        };
        growth += finding.rate_per_day.unwrap_or(0.0).max(0.0);
        if s.key != OTHER {
            out.push(SiteFinding {
                key: s.key.to_string(),
                frames: s.frames.to_vec(),
                finding,
                share_of_growth: 0.0,
            });
        }
    }
    for f in &mut out {
        f.share_of_growth = if growth > 0.0 {
            f.finding.rate_per_day.unwrap_or(0.0).max(0.0) / growth
        } else {
            0.0
        };
    }
    let low = |f: &SiteFinding| f.finding.rate_ci_per_day.map_or(f64::NEG_INFINITY, |c| c.0);
    let rate = |f: &SiteFinding| f.finding.rate_per_day.unwrap_or(f64::NEG_INFINITY);
    out.sort_by(|a, b| {
        let leak = |f: &SiteFinding| f.finding.verdict == Verdict::Leak;
        leak(b).cmp(&leak(a)).then_with(|| {
            if leak(a) {
                low(b).total_cmp(&low(a))
            } else {
                rate(b).total_cmp(&rate(a))
            }
        })
    });
    out
}

/// A frame of the growth flame graph: its width is the leak rate of the stacks beneath it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlameNode {
    /// The frame.
    pub frame: String,
    /// Sum of the positive rates of the sites beneath (bytes/day).
    pub rate: f64,
    /// The verdict that holds most of that rate beneath this frame.
    pub verdict: Verdict,
    /// Frames it calls.
    pub children: Vec<FlameNode>,
}

/// The growth flame graph of judged sites: roots are outermost frames, widths are the positive
/// leak rates summed over the stacks beneath. Sites that do not grow have no width.
pub fn flame(sites: &[SiteFinding]) -> FlameNode {
    // Per node, the rate held beneath by each verdict: leak, inconclusive, no_leak.
    #[derive(Default)]
    struct Acc {
        children: Vec<(String, Acc)>,
        by_verdict: [f64; 3],
    }
    fn index(v: Verdict) -> usize {
        match v {
            Verdict::Leak => 0,
            Verdict::Inconclusive => 1,
            Verdict::NoLeak => 2,
        }
    }
    fn build(frame: String, a: Acc) -> FlameNode {
        let rate: f64 = a.by_verdict.iter().sum();
        let k = (0..3)
            .max_by(|&i, &j| a.by_verdict[i].total_cmp(&a.by_verdict[j]).then(j.cmp(&i)))
            .unwrap_or(2);
        let verdict = [Verdict::Leak, Verdict::Inconclusive, Verdict::NoLeak][k];
        let mut children: Vec<FlameNode> = a
            .children
            .into_iter()
            .map(|(f, c)| build(f, c))
            .filter(|n| n.rate > 0.0)
            .collect();
        children.sort_by(|x, y| y.rate.total_cmp(&x.rate).then(x.frame.cmp(&y.frame)));
        FlameNode {
            frame,
            rate,
            verdict,
            children,
        }
    }
    let mut root = Acc::default();
    for s in sites {
        let r = s.finding.rate_per_day.unwrap_or(0.0);
        if r <= 0.0 || s.frames.is_empty() {
            continue;
        }
        let k = index(s.finding.verdict);
        root.by_verdict[k] += r;
        let mut node = &mut root;
        for f in s.frames.iter().rev() {
            let i = match node.children.iter().position(|(name, _)| name == f) {
                Some(i) => i,
                None => {
                    node.children.push((f.clone(), Acc::default()));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[i].1;
            node.by_verdict[k] += r;
        }
    }
    build("all".into(), root)
}

#[cfg(test)]
mod tests {
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
                frames,
                t: &t,
                bytes,
            })
            .collect();
        let mut cfg = Config::with_tolerance(1048576.0);
        cfg.load = Load::Constant;
        let judged = judge_sites(&series, &cfg, &[]);
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
        let g = flame(&judged);
        assert_eq!(g.children[0].frame, "onRequest (server.js:40)");
        let leaf = &g.children[0].children[0];
        assert_eq!(leaf.frame, "remember (server.js:12)");
        assert_eq!(leaf.verdict, Verdict::Leak);
        assert!(leaf.rate >= 0.8 * g.rate);
    }
}
