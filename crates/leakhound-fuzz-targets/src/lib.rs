//! What each fuzz target does with its input: feed one user-facing parser, then check what the
//! rest of leakhound relies on. A panic (or a failed check) is a finding. The `fuzz/` crate calls
//! these under libFuzzer on nightly; `tests/regressions.rs` replays the kept inputs on stable.

use leakhound_analysis::{analyze, default_tolerance, Config};
use leakhound_report::explain;
use leakhound_report::units::{format_bytes, parse_duration, parse_rate, parse_size};

/// A target body: one input in, a panic on a finding.
pub type Target = fn(&[u8]);

/// Every target, by the name of its folder under `fuzz/regressions/` and `fuzz/seeds/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("csv", csv),
    ("exposition", exposition),
    ("prom_api", prom_api),
    ("har", har),
    ("agent", agent),
    ("units", units),
];

/// Analyses a parsed series as `analyze` would, and renders its sentence: a parser that lets
/// through what the analysis cannot take is a finding too.
fn analyse_series(name: &str, t: &[f64], v: &[f64], unit: &str) {
    let cfg = Config::with_tolerance(default_tolerance(v, unit == "bytes"));
    if let Ok(f) = analyze(t, v, &cfg) {
        if let (Some(r), Some((lo, hi))) = (f.rate_per_day, f.rate_ci_per_day) {
            assert!(r.is_finite(), "rate {r} of {name}");
            assert!(lo <= hi, "interval {lo}..{hi} of {name}");
        }
        let sentence = explain(name, &f, unit);
        assert!(!sentence.is_empty());
    }
}

/// CSV import: errors name the file and a line inside it; tables are well formed and analysable.
pub fn csv(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match leakhound_store::csv::parse("fuzz.csv", text) {
        Err(e) => {
            assert_eq!(e.source_name, "fuzz.csv");
            assert!(e.line >= 1 && e.line <= text.lines().count().max(1), "{e}");
            assert!(!e.message.is_empty());
        }
        Ok(table) => {
            assert!(
                table.t.windows(2).all(|w| w[0] < w[1]),
                "times not increasing"
            );
            assert_eq!(table.columns.len(), table.names.len());
            for (i, name) in table.names.iter().enumerate() {
                assert_eq!(table.columns[i].len(), table.t.len());
                let (t, v) = table.series(i);
                analyse_series(name, &t, &v, "bytes");
            }
        }
    }
}

/// Prometheus exposition text: errors name a line; every sample written back with leakhound's
/// own escaping parses to the same sample.
pub fn exposition(data: &[u8]) {
    use leakhound_probe::exposition::{escape_label, parse};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Err(e) => assert!(e.line >= 1 && e.line <= text.lines().count().max(1), "{e}"),
        Ok(samples) => {
            for s in samples {
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                let value = if s.value.is_nan() {
                    "NaN".to_string()
                } else if s.value.is_infinite() {
                    if s.value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
                } else {
                    format!("{:?}", s.value)
                };
                let line = format!("{}{{{}}} {value}", s.name, labels.join(","));
                let back = parse(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
                assert_eq!(back.len(), 1, "{line:?}");
                assert_eq!(back[0].name, s.name);
                assert_eq!(back[0].labels, s.labels);
                assert!(
                    back[0].value.to_bits() == s.value.to_bits()
                        || (back[0].value.is_nan() && s.value.is_nan()),
                    "{line:?}"
                );
            }
        }
    }
}

/// Prometheus HTTP API answers (`query_range`, `series`): errors name the URL; series that come
/// through are analysable.
pub fn prom_api(data: &[u8]) {
    use leakhound_net::prom::{parse_matrix, parse_series_list};
    let url = "http://fuzz/api/v1/query_range";
    match parse_matrix(url, data) {
        Err(e) => assert!(e.to_string().contains(url), "{e}"),
        Ok(series) => {
            for s in series {
                assert_eq!(s.t.len(), s.v.len());
                assert!(s.v.iter().all(|v| v.is_finite()));
                analyse_series("prom", &s.t, &s.v, "bytes");
            }
        }
    }
    if let Err(e) = parse_series_list(url, data) {
        assert!(e.to_string().contains(url), "{e}");
    }
}

/// HAR files (leakhound's own line-per-entry files, cut ones, and browser exports): entries or
/// an error naming the file.
pub fn har(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = leakhound_net::har::parse_har("fuzz.har", text) {
        assert!(e.to_string().contains("fuzz.har"), "{e}");
    }
}

/// Agent report lines: accepted reports hold only finite, non-negative numbers.
pub fn agent(data: &[u8]) {
    use leakhound_probe::agent::{gauges, parse_report};
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match parse_report(line) {
        Err(e) => assert!(!e.is_empty()),
        Ok(r) => {
            for (name, v) in gauges(&[&r]) {
                assert!(v.is_finite() && v >= 0.0, "{name} = {v}");
            }
            assert!(r.counters.values().all(|v| v.is_finite() && *v >= 0.0));
        }
    }
}

/// Size, duration, rate and timestamp arguments: a finite, non-negative number or a message that
/// quotes the input.
pub fn units(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    type Parse = fn(&str) -> Result<f64, String>;
    let parsers: [(&str, Parse); 4] = [
        ("size", parse_size),
        ("duration", parse_duration),
        ("rate", parse_rate),
        ("timestamp", leakhound_time::parse_timestamp),
    ];
    for (what, parse) in parsers {
        match parse(s) {
            Ok(v) => {
                assert!(v.is_finite(), "{what} {s:?} = {v}");
                if what != "timestamp" {
                    assert!(v >= 0.0, "{what} {s:?} = {v}");
                    let _ = format_bytes(v);
                }
            }
            Err(e) => assert!(!e.is_empty()),
        }
    }
}
