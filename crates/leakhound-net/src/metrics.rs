//! The text served at `/metrics`: leakhound's latest readings and verdicts in the Prometheus
//! exposition format. It sits next to the exporter that serves it; the escaping comes from the
//! probe's exposition parser, so that what is written here reads back the same there.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use leakhound_probe::exposition::escape_label;

/// One verdict as the exporter publishes it: the numbers of a finding that alerting rules use.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictMetrics {
    /// Target label (`pid 42`, `name node`, `cgroup /x`).
    pub target: String,
    /// Series name (`rss`, `memory.current`).
    pub series: String,
    /// `leak`, `no_leak` or `inconclusive`.
    pub verdict: &'static str,
    /// Rate of the floor, bytes per day.
    pub rate_per_day: Option<f64>,
    /// Interval of the rate, bytes per day.
    pub rate_ci_per_day: Option<(f64, f64)>,
    /// Time until peaks reach the memory limit, seconds.
    pub time_to_limit_seconds: Option<f64>,
}

/// The verdicts each series can have, one `leakhound_verdict` line each.
const VERDICTS: [&str; 3] = ["leak", "no_leak", "inconclusive"];

/// Prometheus name of a leakhound series: the process and cgroup series get the names people
/// know from node and process exporters, any other is prefixed and made a valid name.
pub fn metric_name(series: &str) -> String {
    match series {
        "rss" => "leakhound_process_resident_memory_bytes".into(),
        "pss" => "leakhound_process_proportional_memory_bytes".into(),
        "uss" => "leakhound_process_unique_memory_bytes".into(),
        "anon" => "leakhound_process_anonymous_memory_bytes".into(),
        "file" => "leakhound_process_file_memory_bytes".into(),
        "shmem" => "leakhound_process_shared_memory_bytes".into(),
        "swap" => "leakhound_process_swap_bytes".into(),
        "threads" => "leakhound_process_threads".into(),
        "fds" => "leakhound_process_open_fds".into(),
        "processes" => "leakhound_processes".into(),
        "memory.current" => "leakhound_cgroup_memory_bytes".into(),
        other => format!("leakhound_{}", other.replace(['.', '-'], "_")),
    }
}

/// Reads one number off a verdict.
type VerdictValue = fn(&VerdictMetrics) -> Option<f64>;

/// The exposition text of the latest reading of each (target, series) and of the verdicts.
pub fn metrics_text(
    latest: &BTreeMap<(String, String), f64>,
    verdicts: &[VerdictMetrics],
) -> String {
    let mut out = String::new();
    let mut by_metric: BTreeMap<String, Vec<(&str, f64)>> = BTreeMap::new();
    for ((target, series), v) in latest {
        by_metric
            .entry(metric_name(series))
            .or_default()
            .push((target, *v));
    }
    for (metric, values) in &by_metric {
        let _ = writeln!(out, "# TYPE {metric} gauge");
        for (target, v) in values {
            let _ = writeln!(out, "{metric}{{target=\"{}\"}} {v}", escape_label(target));
        }
    }
    let gauges: [(&str, &str, VerdictValue); 4] = [
        (
            "leakhound_leak_rate_bytes_per_day",
            "Sustained growth of the floor.",
            |f| f.rate_per_day,
        ),
        (
            "leakhound_leak_rate_ci_low",
            "Lower end of the 95% interval of the rate, bytes/day.",
            |f| f.rate_ci_per_day.map(|c| c.0),
        ),
        (
            "leakhound_leak_rate_ci_high",
            "Upper end of the 95% interval of the rate, bytes/day.",
            |f| f.rate_ci_per_day.map(|c| c.1),
        ),
        (
            "leakhound_time_to_limit_seconds",
            "Time until peaks reach the memory limit at this rate.",
            |f| f.time_to_limit_seconds.filter(|s| s.is_finite()),
        ),
    ];
    for (metric, help, get) in gauges {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} gauge");
        for f in verdicts {
            if let Some(v) = get(f) {
                let _ = writeln!(
                    out,
                    "{metric}{{target=\"{}\",series=\"{}\"}} {v}",
                    escape_label(&f.target),
                    f.series
                );
            }
        }
    }
    let _ = writeln!(out, "# HELP leakhound_verdict 1 for the current verdict of a series.\n# TYPE leakhound_verdict gauge");
    for f in verdicts {
        for v in VERDICTS {
            let on = u8::from(f.verdict == v);
            let _ = writeln!(
                out,
                "leakhound_verdict{{target=\"{}\",series=\"{}\",verdict=\"{v}\"}} {on}",
                escape_label(&f.target),
                f.series
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_probe::exposition::parse;

    #[test]
    fn readings_and_verdicts_parse_back() {
        let target = "name a\"b\\c";
        let latest = BTreeMap::from([
            ((target.to_string(), "rss".to_string()), 5e6),
            ((target.to_string(), "node.heap_used".to_string()), 2e6),
        ]);
        let verdicts = [VerdictMetrics {
            target: target.into(),
            series: "rss".into(),
            verdict: "leak",
            rate_per_day: Some(8e6),
            rate_ci_per_day: Some((7e6, 9e6)),
            time_to_limit_seconds: Some(f64::INFINITY),
        }];
        let text = metrics_text(&latest, &verdicts);
        let samples = parse(&text).unwrap();
        let value = |name: &str, extra: &[(&str, &str)]| {
            samples
                .iter()
                .find(|s| {
                    s.name == name
                        && s.labels.get("target").map(String::as_str) == Some(target)
                        && extra
                            .iter()
                            .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
                })
                .map(|s| s.value)
        };
        assert_eq!(
            value("leakhound_process_resident_memory_bytes", &[]),
            Some(5e6)
        );
        assert_eq!(value("leakhound_node_heap_used", &[]), Some(2e6));
        assert_eq!(
            value("leakhound_leak_rate_ci_low", &[("series", "rss")]),
            Some(7e6)
        );
        assert_eq!(
            value("leakhound_leak_rate_ci_high", &[("series", "rss")]),
            Some(9e6)
        );
        assert_eq!(
            value("leakhound_time_to_limit_seconds", &[]),
            None,
            "an infinite time to the limit is left out"
        );
        for (v, on) in [("leak", 1.0), ("no_leak", 0.0), ("inconclusive", 0.0)] {
            assert_eq!(value("leakhound_verdict", &[("verdict", v)]), Some(on));
        }
    }

    #[test]
    fn names_of_process_cgroup_and_other_series() {
        assert_eq!(metric_name("fds"), "leakhound_process_open_fds");
        assert_eq!(
            metric_name("memory.current"),
            "leakhound_cgroup_memory_bytes"
        );
        assert_eq!(
            metric_name("app.sessions-open"),
            "leakhound_app_sessions_open"
        );
    }
}
