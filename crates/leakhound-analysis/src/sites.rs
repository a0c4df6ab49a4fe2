//! Where in the code: every allocation site (a call stack, with the live bytes a profiler
//! estimates for it over time) is a series judged by the same engine as RSS, and the leaking
//! ones are ranked by their rate.
//!
//! One leak often shows as several stacks (two callers, V8's tiers, a helper inside it): each
//! stack is attributed to its allocating **function** (the first frame of the user's code, see
//! [`crate::frames`]), the stacks of a function are summed, and the function is judged on the
//! sum. Functions are what the headline names and what a person fixes; their verdict is the
//! one that counts for every stack under them.
//!
//! A site's tolerance is the process tolerance scaled by the site's share of the live bytes
//! the profiler sees (never below 1% of it): a site holding a twentieth of the heap is held
//! to a twentieth of the growth the user accepts for the whole process.

use std::collections::BTreeMap;

use crate::attribution::Counter;
use crate::finding::Note;
use crate::frames::{allocating_frame, Frame, Runtime};
use crate::regression::{normal_cdf, normal_quantile};
use crate::verdict::{analyze_with, Config, Finding, Verdict};

/// The key of the remainder: live bytes of the sites not in a profile's top list.
pub const OTHER: &str = "other";

/// Fewest profiles over which a site can be judged (the verdict needs ten floor points).
pub const MIN_PROFILES: usize = 10;

/// One site's series.
#[derive(Debug, Clone, Copy)]
pub struct SiteSeries<'a> {
    /// Stable key (a hash of the frames), or [`OTHER`].
    pub key: &'a str,
    /// The profiler that reported it (`node`, `native`, `go`, `python`, `jvm`).
    pub source: &'a str,
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
    /// The index in `frames` of its allocating frame (the first of the user's code).
    pub allocating: usize,
    /// Its allocating function, `name (file)` (see [`crate::frames`]).
    pub function: String,
    /// The finding on its live bytes.
    pub finding: Finding,
    /// Its share of the growth: its rate over the sum of the positive rates of all sites
    /// (the remainder included), 0 when it does not grow.
    pub share_of_growth: f64,
}

/// The verdict on one allocating function: the live bytes of all its stacks, summed.
#[derive(Debug, Clone)]
pub struct FunctionFinding {
    /// `name (file)`.
    pub function: String,
    /// Its allocating frames with their lines (`name (file:line)`), the fastest growing
    /// stack's first.
    pub lines: Vec<String>,
    /// Keys of its stacks, the fastest growing first.
    pub stacks: Vec<String>,
    /// The finding on the sum of its stacks' live bytes.
    pub finding: Finding,
    /// Its share of the growth: its rate over the sum of the positive rates of all functions
    /// (the remainder included).
    pub share_of_growth: f64,
}

/// Why sites could not be judged, or not all of them.
#[derive(Debug, Clone, PartialEq)]
pub enum SitesNote {
    /// Fewer profiles arrived than a verdict needs.
    TooFewProfiles {
        /// Profiles seen.
        profiles: usize,
        /// Seconds from the first to the last.
        span_seconds: f64,
    },
    /// Some stacks were seen in too few profiles to be judged (they came and went between
    /// profiles, or appeared late).
    Unjudged {
        /// Stacks left unjudged.
        stacks: usize,
        /// Their share of the live bytes at the last profile.
        share_of_bytes: f64,
    },
    /// A process series leaks, but no allocating function is a conclusive leak: the profiles
    /// cannot say where yet.
    NoLeakingSite {
        /// The leaking series (e.g. `rss`).
        series: String,
        /// Profiles the sites were judged on.
        profiles: usize,
        /// Whether some sites come from a JVM (old-object samples, whose number the JVM's
        /// start-up options bound), which changes what helps.
        jvm: bool,
    },
}

/// Sites and functions, judged and ranked, with what stood in the way.
#[derive(Debug, Clone, Default)]
pub struct SitesJudged {
    /// Functions, leaks first by their rate, then the rest by how clearly
    /// they grow.
    pub functions: Vec<FunctionFinding>,
    /// Stacks, ranked the same way.
    pub sites: Vec<SiteFinding>,
    /// What could not be judged.
    pub notes: Vec<SitesNote>,
    /// Profiles (distinct report times) the sites were judged on.
    pub profiles: usize,
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut a = v.to_vec();
    let m = a.len() / 2;
    *a.select_nth_unstable_by(m, f64::total_cmp).1
}

/// A series to judge: times, live bytes, and its median level (for its tolerance).
struct Judgeable<'a> {
    t: &'a [f64],
    bytes: &'a [f64],
    level: f64,
}

/// Judges each of `items` under `cfg` with the tolerance scaled by its share of the live
/// bytes; `None` for those that cannot be judged.
fn judge_each(items: &[Judgeable], cfg: &Config, counters: &[Counter]) -> Vec<Option<Finding>> {
    let total: f64 = items
        .iter()
        .map(|i| i.level)
        .sum::<f64>()
        .max(f64::MIN_POSITIVE);
    items
        .iter()
        .map(|s| {
            if s.t.len() < 3 {
                return None;
            }
            let mut c = cfg.clone();
            c.tolerance = cfg.tolerance * (s.level / total).max(0.01);
            c.limit = None;
            analyze_with(s.t, s.bytes, &c, counters).ok()
        })
        .collect()
}

/// Keeps the leaks among many series judged together as trustworthy as one series' verdict.
/// A profile's sites are dozens of series, and at 95% each, sites that wander or fill up
/// during the soak pass now and then: a CI run called Node's own `processTimers` a leak among
/// twenty functions of a server without one. Holm's method over the family holds the chance
/// of any false leak among them to what one verdict allows, at the one-sided level each
/// verdict used; the evidence of each leak is read from its own interval (how many standard
/// errors its rate stands above the tolerance). A leak that does not pass becomes
/// `inconclusive` ([`Note::ChanceAmongMany`]), with the longer watch that would make it clear
/// enough (the interval narrowing about as the span grows).
///
/// Only series that could be called a leak count in the family (Tarone's rule): not those
/// that never changed (no trend at any level), nor those too short to estimate a trend at all
/// (no rate, so no interval, can come of them): a profile's many one-sample sites and the
/// handful of samples of a young site do not dilute a real leak.
fn chance_among_many(items: &[Judgeable], findings: &mut [Option<Finding>]) {
    let changed = |i: &Judgeable| i.bytes.iter().any(|&b| b != i.bytes[0]);
    let tested = |f: &Finding| f.rate_ci_per_day.is_some_and(|(lo, hi)| hi > lo);
    let judged = items
        .iter()
        .zip(findings.iter())
        .filter(|(i, f)| f.as_ref().is_some_and(tested) && changed(i))
        .count();
    if judged < 2 {
        return;
    }
    let evidence = |f: &Finding| -> Option<f64> {
        let (r, (lo, hi)) = (f.rate_per_day?, f.rate_ci_per_day?);
        let q = normal_quantile(0.5 + f.confidence / 2.0);
        (hi > lo).then(|| (r - f.tolerance_per_day) / ((hi - lo) / (2.0 * q)))
    };
    // The leaks, the clearest first, with their one-sided p-values.
    let mut leaks: Vec<(usize, f64, f64)> = findings
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let f = f.as_ref().filter(|f| f.verdict == Verdict::Leak)?;
            let z = evidence(f)?;
            Some((i, z, 1.0 - normal_cdf(z)))
        })
        .collect();
    leaks.sort_by(|a, b| a.2.total_cmp(&b.2));
    let m = judged as f64;
    let Some(f0) = findings.iter().flatten().next() else {
        return;
    };
    let alpha = (1.0 - f0.confidence) / 2.0;
    // Holm's step-down: the k-th clearest (from 0) must pass at alpha / (m - k).
    let kept = leaks
        .iter()
        .enumerate()
        .take_while(|(k, l)| l.2 <= alpha / (m - *k as f64).max(1.0))
        .count();
    let needed = normal_quantile(1.0 - alpha / (m - kept as f64).max(1.0));
    for &(i, z, _) in &leaks[kept..] {
        let Some(f) = findings[i].as_mut() else {
            continue;
        };
        f.verdict = Verdict::Inconclusive;
        f.notes.push(Note::ChanceAmongMany);
        f.time_to_limit_seconds = None;
        f.warmup_ruled_out_seconds = None;
        // The interval narrows about as the span grows (between white noise's span^1.5 and
        // a wandering floor's span^0.5).
        f.time_to_verdict_seconds = Some(f.span_seconds * (needed / z.max(1e-9) - 1.0).max(0.0));
    }
}

fn positive_rate(f: &Finding) -> f64 {
    f.rate_per_day.unwrap_or(0.0).max(0.0)
}

/// Leaks first by their rate (the largest leak is the one to fix first, as heaptrack and
/// memray rank; their lower bounds would put a noisier leak behind a smaller one); then the
/// rest by how clearly they grow (the rate over the half-width of its interval: a noisy site's
/// large estimate does not outrank a steady one's, nor a precise zero a growing site not yet
/// conclusive), then by rate.
fn rank(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    let rate = |f: &Finding| f.rate_per_day.unwrap_or(f64::NEG_INFINITY);
    let clearly = |f: &Finding| match (f.rate_per_day, f.rate_ci_per_day) {
        (Some(r), Some((lo, hi))) if hi > lo => r / ((hi - lo) / 2.0),
        _ => f64::NEG_INFINITY,
    };
    let leak = |f: &Finding| f.verdict == Verdict::Leak;
    leak(b).cmp(&leak(a)).then_with(|| {
        if leak(a) {
            std::cmp::Ordering::Equal
        } else {
            clearly(b).total_cmp(&clearly(a))
        }
        .then_with(|| rate(b).total_cmp(&rate(a)))
    })
}

/// A function's stacks (indices into the sites) and the sum of their live bytes.
struct Summed {
    function: String,
    members: Vec<usize>,
    t: Vec<f64>,
    v: Vec<f64>,
}

/// The sum of several series reported at shared times: at each time any of them has, the
/// sum of those present (a stack absent from a profile held nothing then, or too little to be
/// listed).
fn summed(series: &[(&[f64], &[f64])]) -> (Vec<f64>, Vec<f64>) {
    let mut by_time: BTreeMap<u64, f64> = BTreeMap::new();
    for (t, v) in series {
        for (t, v) in t.iter().zip(*v) {
            *by_time.entry(t.to_bits()).or_insert(0.0) += v;
        }
    }
    let mut out: Vec<(f64, f64)> = by_time
        .into_iter()
        .map(|(t, v)| (f64::from_bits(t), v))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.into_iter().unzip()
}

/// Judges every site and every allocating function under `cfg` (the process series'
/// tolerance, scaled per site) and ranks them: leaks first by their rate,
/// then the rest by rate. Sites with too few samples to analyse are left out and counted in
/// the notes; the remainder is not ranked (it still counts in the shares).
pub fn judge_sites(sites: &[SiteSeries], cfg: &Config, counters: &[Counter]) -> SitesJudged {
    let mut out = SitesJudged::default();
    let profiles = {
        let mut times: Vec<u64> = sites
            .iter()
            .flat_map(|s| s.t.iter().map(|t| t.to_bits()))
            .collect();
        times.sort_unstable();
        times.dedup();
        times.len()
    };
    let span = |s: &SiteSeries| match (s.t.first(), s.t.last()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    out.profiles = profiles;
    if profiles < MIN_PROFILES && !sites.is_empty() {
        out.notes.push(SitesNote::TooFewProfiles {
            profiles,
            span_seconds: sites.iter().map(span).fold(0.0, f64::max),
        });
    }

    // Stacks.
    let items: Vec<Judgeable> = sites
        .iter()
        .map(|s| Judgeable {
            t: s.t,
            bytes: s.bytes,
            level: median(s.bytes).max(0.0),
        })
        .collect();
    let mut findings = judge_each(&items, cfg, counters);
    chance_among_many(&items, &mut findings);
    let growth: f64 = findings.iter().flatten().map(positive_rate).sum();
    let (mut unjudged, mut unjudged_bytes, mut last_bytes) = (0usize, 0.0, 0.0);
    for (s, f) in sites.iter().zip(findings) {
        let last = s.bytes.last().copied().unwrap_or(0.0).max(0.0);
        last_bytes += last;
        let Some(finding) = f else {
            if s.key != OTHER {
                unjudged += 1;
                unjudged_bytes += last;
            }
            continue;
        };
        if s.key == OTHER {
            continue;
        }
        let runtime = Runtime::of(s.source);
        let allocating = allocating_frame(runtime, s.frames);
        let function = s
            .frames
            .get(allocating)
            .map(|f| Frame::parse(f).function_key())
            .unwrap_or_default();
        out.sites.push(SiteFinding {
            key: s.key.to_string(),
            frames: s.frames.to_vec(),
            allocating,
            function,
            share_of_growth: if growth > 0.0 {
                positive_rate(&finding) / growth
            } else {
                0.0
            },
            finding,
        });
    }
    if unjudged > 0 {
        out.notes.push(SitesNote::Unjudged {
            stacks: unjudged,
            share_of_bytes: unjudged_bytes / last_bytes.max(f64::MIN_POSITIVE),
        });
    }
    out.sites.sort_by(|a, b| rank(&a.finding, &b.finding));

    // Functions: every stack of a function, judged or not, counts in its sum.
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, s) in sites.iter().enumerate() {
        if s.key == OTHER || s.frames.is_empty() {
            continue;
        }
        let runtime = Runtime::of(s.source);
        let f = &s.frames[allocating_frame(runtime, s.frames)];
        groups
            .entry(Frame::parse(f).function_key())
            .or_default()
            .push(i);
    }
    let sums: Vec<Summed> = groups
        .into_iter()
        .map(|(function, members)| {
            let parts: Vec<(&[f64], &[f64])> = members
                .iter()
                .map(|&i| (sites[i].t, sites[i].bytes))
                .collect();
            let (t, v) = summed(&parts);
            Summed {
                function,
                members,
                t,
                v,
            }
        })
        .collect();
    let other: Vec<&SiteSeries> = sites.iter().filter(|s| s.key == OTHER).collect();
    let mut items: Vec<Judgeable> = sums
        .iter()
        .map(|s| Judgeable {
            t: &s.t,
            bytes: &s.v,
            level: median(&s.v).max(0.0),
        })
        .collect();
    items.extend(other.iter().map(|s| Judgeable {
        t: s.t,
        bytes: s.bytes,
        level: median(s.bytes).max(0.0),
    }));
    let mut findings = judge_each(&items, cfg, counters);
    chance_among_many(&items, &mut findings);
    let growth: f64 = findings.iter().flatten().map(positive_rate).sum();
    for (
        Summed {
            function, members, ..
        },
        f,
    ) in sums.into_iter().zip(findings)
    {
        let Some(finding) = f else {
            continue;
        };
        // Its stacks, the fastest growing first, as judged above.
        let mut stacks: Vec<&SiteFinding> = out
            .sites
            .iter()
            .filter(|s| members.iter().any(|&i| sites[i].key == s.key))
            .collect();
        stacks.sort_by(|a, b| positive_rate(&b.finding).total_cmp(&positive_rate(&a.finding)));
        let mut lines: Vec<String> = Vec::new();
        for s in &stacks {
            let line = &s.frames[s.allocating];
            if !lines.contains(line) {
                lines.push(line.clone());
            }
        }
        out.functions.push(FunctionFinding {
            function,
            lines,
            stacks: stacks.iter().map(|s| s.key.clone()).collect(),
            share_of_growth: if growth > 0.0 {
                positive_rate(&finding) / growth
            } else {
                0.0
            },
            finding,
        });
    }
    out.functions.sort_by(|a, b| rank(&a.finding, &b.finding));
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
/// leak rates summed over the stacks beneath. Sites that do not grow have no width. Each stack
/// ends at its allocating function (`name (file)`: the allocator and runtime frames above it
/// are left out, and its lines merged) and takes that function's verdict.
pub fn flame(judged: &SitesJudged) -> FlameNode {
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
    for s in &judged.sites {
        let r = s.finding.rate_per_day.unwrap_or(0.0);
        if r <= 0.0 || s.frames.is_empty() {
            continue;
        }
        let verdict = judged
            .functions
            .iter()
            .find(|f| f.function == s.function)
            .map_or(s.finding.verdict, |f| f.finding.verdict);
        let k = index(verdict);
        root.by_verdict[k] += r;
        let mut node = &mut root;
        let callers = s.frames[s.allocating + 1..].iter().rev();
        for f in callers.chain(std::iter::once(&s.function)) {
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
mod tests;
