//! Why it leaks: how much of the floor's growth each workload counter explains, and how many
//! bytes are leaked per event; which kind of memory grows; and how two leak rates compare.
//!
//! A counter earns credit only for what time alone cannot explain: the floor is regressed on
//! time and the counter together (AR(1) GLS), and the counter's coefficient there is identified
//! only by the swings of its rate. A counter that ticks steadily is time by another name; one
//! whose rate swings with the growth is the cause. Measured on a Node-like scene (requests
//! swinging between 40/s and 600/s every 10 s, 4 KiB each, a steady decoy; 45 s at 0.5 s,
//! 8 seeds): the counter's coefficient next to time is 3.7-4.1 KiB (±0.25-0.4 KiB) while the
//! decoy's is unidentified; regressed on the counter alone it is 4.00-4.07 KiB (±0.05-0.15), so
//! bytes per event are reported from that simpler fit once the counter has shown it explains
//! more than time. Counters whose increments move together (a client and a server counting the
//! same requests) form one group: no run can tell them apart, an A/B that changes one can.

use crate::floor::Floor;
use crate::regression::{gls_ar1, t_quantile, LinearFit, Rho};

/// A cumulative counter: times (unix seconds) and counts.
#[derive(Debug, Clone, Copy)]
pub struct Counter<'a> {
    /// Series name, e.g. `node.http.client.requests`.
    pub name: &'a str,
    /// Times, sorted.
    pub t: &'a [f64],
    /// Cumulative counts.
    pub v: &'a [f64],
}

/// What one counter explains.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attribution {
    /// Counter name.
    pub counter: String,
    /// Floor growth per event (bytes per event for memory).
    pub bytes_per_event: f64,
    /// 95% interval.
    pub bytes_per_event_ci95: (f64, f64),
    /// Share of the floor's variance the counter explains (R², 0..1).
    pub explained: f64,
    /// Events counted over the floor's span.
    pub events: f64,
    /// How clearly the counter explains growth beyond what time explains: its coefficient
    /// over its standard error with time in the model too (0 when it ticks steadily).
    pub beyond_time: f64,
}

/// All counters, ranked, with the caveats.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AttributionReport {
    /// Counters by how clearly they explain growth beyond time, best first.
    pub items: Vec<Attribution>,
    /// R² of the floor on time alone.
    pub time_explained: f64,
    /// No counter explains the growth better than time does.
    pub time_explains_better: bool,
    /// Pairs of counters that move together too closely to tell apart.
    pub inseparable: Vec<(String, String)>,
    /// The same as groups: counters whose increments move in lockstep (two or more each).
    pub groups: Vec<Vec<String>>,
    /// Counters that tick at a steady rate, so cannot be told apart from time.
    pub steady: Vec<String>,
}

/// |t| of a counter's coefficient next to time above which it explains more than time.
const BEYOND_TIME: f64 = 3.0;

/// Correlation of increments above which two counters are in lockstep.
const LOCKSTEP: f64 = 0.98;

/// Coefficient of variation of increments below which a counter ticks steadily.
const STEADY_CV: f64 = 0.05;

fn interpolate(t: &[f64], v: &[f64], at: f64) -> Option<f64> {
    if t.is_empty() || at < t[0] || at > t[t.len() - 1] {
        return None;
    }
    let i = t.partition_point(|&x| x < at);
    if i == 0 {
        return Some(v[0]);
    }
    let (t0, t1) = (t[i - 1], t[i]);
    let w = if t1 > t0 { (at - t0) / (t1 - t0) } else { 1.0 };
    Some(v[i - 1] + w * (v[i] - v[i - 1]))
}

fn r_squared(x: &[f64], y: &[f64]) -> Option<f64> {
    let fit = LinearFit::fit(&[vec![1.0; x.len()], x.to_vec()], y).ok()?;
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let tss: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let rss: f64 = fit.resid.iter().map(|e| e * e).sum();
    (tss > 0.0).then(|| (1.0 - rss / tss).max(0.0))
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// Increments per second between consecutive points.
fn rates(t: &[f64], v: &[f64]) -> Vec<f64> {
    (1..t.len())
        .map(|i| (v[i] - v[i - 1]) / (t[i] - t[i - 1]).max(f64::MIN_POSITIVE))
        .collect()
}

fn cv(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
    if m.abs() > 0.0 {
        sd / m.abs()
    } else {
        f64::INFINITY
    }
}

/// A counter at the floor's times.
struct Aligned {
    name: String,
    t: Vec<f64>,
    x: Vec<f64>,
    y: Vec<f64>,
    rate: Vec<f64>,
}

/// Attributes the growth of `floor` to `counters`. Counters that do not cover the floor's
/// span, or never move, are left out.
pub fn attribute(floor: &Floor, counters: &[Counter]) -> AttributionReport {
    let mut report = AttributionReport::default();
    if floor.v.len() < 10 {
        return report;
    }
    let time_days: Vec<f64> = floor.t.iter().map(|t| (t - floor.t[0]) / 86400.0).collect();
    report.time_explained = r_squared(&time_days, &floor.v).unwrap_or(0.0);
    let aligned: Vec<Aligned> = counters
        .iter()
        .filter_map(|c| {
            let pts: Vec<(f64, f64, f64)> = floor
                .t
                .iter()
                .zip(&floor.v)
                .filter_map(|(&t, &v)| interpolate(c.t, c.v, t).map(|x| (t, x, v)))
                .collect();
            if pts.len() < 10 || pts[pts.len() - 1].1 <= pts[0].1 {
                return None;
            }
            let t: Vec<f64> = pts.iter().map(|p| p.0).collect();
            let x: Vec<f64> = pts.iter().map(|p| p.1).collect();
            Some(Aligned {
                name: c.name.to_string(),
                rate: rates(&t, &x),
                y: pts.iter().map(|p| p.2).collect(),
                t,
                x,
            })
        })
        .collect();
    for a in &aligned {
        let events = a.x[a.x.len() - 1] - a.x[0];
        let Some(r2) = r_squared(&a.x, &a.y) else {
            continue;
        };
        // GLS over events measured from the first point keeps the numbers well scaled.
        let x0: Vec<f64> = a.x.iter().map(|x| x - a.x[0]).collect();
        let n = x0.len();
        let Ok(g) = gls_ar1(
            &[vec![1.0; n], x0.clone()],
            &a.y,
            &a.t,
            Rho::Reml { min: 0.0 },
        ) else {
            continue;
        };
        let steady = cv(&a.rate) < STEADY_CV;
        let beyond_time = if steady {
            0.0
        } else {
            let days: Vec<f64> = a.t.iter().map(|t| (t - a.t[0]) / 86400.0).collect();
            gls_ar1(
                &[vec![1.0; n], days, x0],
                &a.y,
                &a.t,
                Rho::Reml { min: 0.0 },
            )
            .ok()
            .filter(|g| g.se[2] > 0.0 && g.se[2].is_finite())
            .map_or(0.0, |g| g.coef[2] / g.se[2])
        };
        if steady {
            report.steady.push(a.name.clone());
        }
        let q = t_quantile(0.975, g.df);
        report.items.push(Attribution {
            counter: a.name.clone(),
            bytes_per_event: g.coef[1],
            bytes_per_event_ci95: (g.coef[1] - q * g.se[1], g.coef[1] + q * g.se[1]),
            explained: r2,
            events,
            beyond_time,
        });
    }
    report.items.sort_by(|a, b| {
        b.beyond_time
            .total_cmp(&a.beyond_time)
            .then(b.explained.total_cmp(&a.explained))
    });
    // Lockstep: increments that move together (steady counters are time's, not a group).
    let movers: Vec<&Aligned> = aligned
        .iter()
        .filter(|a| !report.steady.contains(&a.name))
        .collect();
    let mut group_of: Vec<usize> = (0..movers.len()).collect();
    for i in 0..movers.len() {
        for j in i + 1..movers.len() {
            let n = movers[i].rate.len().min(movers[j].rate.len());
            if correlation(&movers[i].rate[..n], &movers[j].rate[..n]) > LOCKSTEP {
                report
                    .inseparable
                    .push((movers[i].name.clone(), movers[j].name.clone()));
                let (gi, gj) = (group_of[i], group_of[j]);
                for g in &mut group_of {
                    if *g == gj {
                        *g = gi;
                    }
                }
            }
        }
    }
    for g in 0..movers.len() {
        let members: Vec<String> = (0..movers.len())
            .filter(|&k| group_of[k] == g)
            .map(|k| movers[k].name.clone())
            .collect();
        if members.len() > 1 {
            report.groups.push(members);
        }
    }
    report.time_explains_better = report
        .items
        .first()
        .is_none_or(|best| best.beyond_time < BEYOND_TIME);
    report
}

/// The fleet version of "twice the requests, twice the leak": leak rates of instances
/// (bytes/day) regressed on their event rates (events/day) across instances, with intercept.
/// `None` with fewer than three instances or no spread in event rates.
pub fn fleet_attribution(counter: &str, points: &[(f64, f64)]) -> Option<Attribution> {
    if points.len() < 3 {
        return None;
    }
    let (rates, events): (Vec<f64>, Vec<f64>) = points.iter().copied().unzip();
    let line = crate::regression::simple_line(&events, &rates)?;
    let q = t_quantile(0.975, line.df);
    Some(Attribution {
        counter: counter.to_string(),
        bytes_per_event: line.slope,
        bytes_per_event_ci95: (
            line.slope - q * line.slope_se,
            line.slope + q * line.slope_se,
        ),
        explained: r_squared(&events, &rates).unwrap_or(0.0),
        events: events.iter().sum(),
        beyond_time: 0.0,
    })
}

/// Which memory grows, from the growth of a runtime's own series next to the process's: the
/// Node.js heap and Buffers, the Go heap, Python's traced objects, the Java heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    /// The process grows while the runtime's heap stays flat: native memory outside it.
    Native,
    /// The JS heap grows: JavaScript objects retained.
    JsHeap,
    /// external/arrayBuffers grow: Buffers or ArrayBuffers retained.
    Buffers,
    /// The Go heap grows: Go objects retained.
    GoHeap,
    /// Memory traced by Python's tracemalloc grows: Python objects retained.
    PythonObjects,
    /// The Java heap's floor grows: Java objects retained.
    JavaHeap,
}

impl MemoryKind {
    /// A phrase for sentences.
    pub fn phrase(self) -> &'static str {
        match self {
            MemoryKind::Native => "native memory outside the runtime's heap",
            MemoryKind::JsHeap => "JavaScript objects retained",
            MemoryKind::Buffers => "Buffers/ArrayBuffers retained",
            MemoryKind::GoHeap => "Go heap objects retained",
            MemoryKind::PythonObjects => "Python objects retained",
            MemoryKind::JavaHeap => "Java heap objects retained",
        }
    }
}

/// Classifies a leak of `rss_rate` bytes/day given the growth of the JS heap (`heap_rate`) and
/// of external/ArrayBuffer memory (`buffers_rate`): whichever explains at least half of the RSS
/// growth, else native memory.
pub fn memory_kind(rss_rate: f64, heap_rate: f64, buffers_rate: f64) -> MemoryKind {
    if buffers_rate >= 0.5 * rss_rate && buffers_rate >= heap_rate {
        MemoryKind::Buffers
    } else if heap_rate >= 0.5 * rss_rate {
        MemoryKind::JsHeap
    } else {
        MemoryKind::Native
    }
}

/// The ratio of two rates (b / a) with a 95% interval and its standard error, by the delta
/// method on the log ratio: what `compare` prints as "B leaks 2.04 ± 0.11 times faster".
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RateRatio {
    /// b / a.
    pub ratio: f64,
    /// Standard error of the ratio.
    pub se: f64,
    /// 95% interval.
    pub ci95: (f64, f64),
    /// b - a, per day.
    pub difference: f64,
    /// 95% interval of the difference.
    pub difference_ci95: (f64, f64),
}

/// Compares rate `b` (standard error `se_b`) with rate `a` (`se_a`). `None` unless both rates
/// are positive (a ratio of a shrinking and a growing floor means nothing).
pub fn rate_ratio(a: f64, se_a: f64, b: f64, se_b: f64) -> Option<RateRatio> {
    let diff_se = se_a.hypot(se_b);
    let z = 1.959964;
    if a <= 0.0 || b <= 0.0 {
        return None;
    }
    let ratio = b / a;
    let log_se = (se_a / a).hypot(se_b / b);
    Some(RateRatio {
        ratio,
        se: ratio * log_se,
        ci95: (ratio * (-z * log_se).exp(), ratio * (z * log_se).exp()),
        difference: b - a,
        difference_ci95: (b - a - z * diff_se, b - a + z * diff_se),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Floor that grows 400 bytes per request, requests at a rate that swings, plus a decoy
    /// counter that ticks steadily.
    fn scene() -> (Floor, Vec<f64>, Vec<f64>, Vec<f64>) {
        let t: Vec<f64> = (0..600).map(|i| 1.7e9 + i as f64 * 10.0).collect();
        let mut req = 0.0;
        let mut requests = Vec::new();
        for (i, _) in t.iter().enumerate() {
            req += 100.0 * (1.0 + 0.9 * (i as f64 / 40.0).sin());
            requests.push(req);
        }
        let decoy: Vec<f64> = (0..600).map(|i| i as f64 * 7.0).collect();
        let noise = |i: usize| ((i * 7919) % 101) as f64 * 1000.0;
        let v: Vec<f64> = requests
            .iter()
            .enumerate()
            .map(|(i, r)| 5e7 + 400.0 * r + noise(i))
            .collect();
        (
            Floor {
                t: t.clone(),
                v,
                window: 10.0,
            },
            t,
            requests,
            decoy,
        )
    }

    #[test]
    fn the_true_counter_ranks_first_with_its_cost() {
        let (floor, t, requests, decoy) = scene();
        let r = attribute(
            &floor,
            &[
                Counter {
                    name: "decoy",
                    t: &t,
                    v: &decoy,
                },
                Counter {
                    name: "requests",
                    t: &t,
                    v: &requests,
                },
            ],
        );
        assert_eq!(r.items[0].counter, "requests");
        let a = &r.items[0];
        assert!((a.bytes_per_event - 400.0).abs() < 10.0, "{a:?}");
        assert!(
            a.bytes_per_event_ci95.0 < 400.0 && 400.0 < a.bytes_per_event_ci95.1,
            "{a:?}"
        );
        assert!(a.explained > r.items[1].explained);
        assert!(!r.time_explains_better);
        assert!(r.inseparable.is_empty());
    }

    #[test]
    fn lockstep_counters_are_flagged() {
        let (floor, t, requests, _) = scene();
        let twice: Vec<f64> = requests.iter().map(|r| 2.0 * r).collect();
        let r = attribute(
            &floor,
            &[
                Counter {
                    name: "a",
                    t: &t,
                    v: &requests,
                },
                Counter {
                    name: "b",
                    t: &t,
                    v: &twice,
                },
            ],
        );
        assert_eq!(r.inseparable, vec![("a".to_string(), "b".to_string())]);
        assert_eq!(r.groups, vec![vec!["a".to_string(), "b".to_string()]]);
    }

    #[test]
    fn a_steady_counter_is_time_by_another_name_not_a_lockstep_partner() {
        // Cumulative counts of any two busy counters correlate above 0.99; their increments
        // do not, unless they count the same events.
        let (floor, t, requests, decoy) = scene();
        let r = attribute(
            &floor,
            &[
                Counter {
                    name: "decoy",
                    t: &t,
                    v: &decoy,
                },
                Counter {
                    name: "requests",
                    t: &t,
                    v: &requests,
                },
            ],
        );
        assert_eq!(r.steady, vec!["decoy".to_string()]);
        assert!(r.groups.is_empty() && r.inseparable.is_empty(), "{r:?}");
        assert_eq!(r.items[0].counter, "requests");
        assert!(r.items[0].beyond_time > BEYOND_TIME, "{r:?}");
        assert_eq!(r.items[1].beyond_time, 0.0);
        // Only time: nothing explains more than time does.
        let only_decoy = attribute(
            &floor,
            &[Counter {
                name: "decoy",
                t: &t,
                v: &decoy,
            }],
        );
        assert!(only_decoy.time_explains_better);
    }

    #[test]
    fn fleet_relation_is_bytes_per_event() {
        // Five instances: 300 bytes leaked per request, plus a little noise.
        let pts: Vec<(f64, f64)> = [1e5, 2e5, 3e5, 4e5, 5e5]
            .iter()
            .enumerate()
            .map(|(i, e)| (300.0 * e + (i as f64 - 2.0) * 1e5, *e))
            .collect();
        let a = fleet_attribution("requests", &pts).unwrap();
        assert!((a.bytes_per_event - 300.0).abs() < 30.0, "{a:?}");
        assert!(a.explained > 0.95);
        assert!(fleet_attribution("x", &pts[..2]).is_none());
    }

    #[test]
    fn memory_kinds() {
        assert_eq!(memory_kind(10.0, 0.1, 0.2), MemoryKind::Native);
        assert_eq!(memory_kind(10.0, 8.0, 0.5), MemoryKind::JsHeap);
        assert_eq!(memory_kind(10.0, 1.0, 9.0), MemoryKind::Buffers);
    }

    #[test]
    fn ratio_of_rates() {
        let r = rate_ratio(10.0, 0.5, 20.0, 1.0).unwrap();
        assert!((r.ratio - 2.0).abs() < 1e-12);
        assert!(r.ci95.0 < 2.0 && r.ci95.1 > 2.0);
        // Delta method: se = 2 * sqrt(0.05² + 0.05²).
        assert!((r.se - 2.0 * 0.05f64.hypot(0.05)).abs() < 1e-12);
        assert_eq!(r.difference, 10.0);
        assert!(rate_ratio(-1.0, 0.1, 2.0, 0.1).is_none());
    }
}
