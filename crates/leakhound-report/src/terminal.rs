//! Compact terminal output: a sparkline of the floor, the verdict sentence and the numbers.

use leakhound_analysis::Finding;

use crate::sentence::explain;
use crate::units::{format_amount, format_duration};

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A sparkline of `values` squeezed into `width` characters (bucket means).
pub fn sparkline(values: &[f64], width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let buckets = width.min(values.len());
    let means: Vec<f64> = (0..buckets)
        .map(|b| {
            let lo = b * values.len() / buckets;
            let hi = ((b + 1) * values.len() / buckets).max(lo + 1);
            values[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
        })
        .collect();
    let min = means.iter().copied().fold(f64::INFINITY, f64::min);
    let max = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    means
        .iter()
        .map(|v| {
            if max > min {
                BARS[(((v - min) / (max - min)) * 7.0).round() as usize]
            } else {
                BARS[0]
            }
        })
        .collect()
}

/// The summary block for one series.
pub fn summary(name: &str, unit: &str, f: &Finding) -> String {
    summary_under(&explain(name, f, unit), unit, f)
}

/// The summary block for one series under a `headline` of its own (see [`crate::headline`]).
pub fn summary_under(headline: &str, unit: &str, f: &Finding) -> String {
    let mut out = String::new();
    out.push_str(headline);
    out.push('\n');
    let (lo, hi) = match (
        f.floor.v.iter().copied().reduce(f64::min),
        f.floor.v.iter().copied().reduce(f64::max),
    ) {
        (Some(a), Some(b)) => (a, b),
        _ => return out,
    };
    out.push_str(&format!(
        "  floor {} {} .. {}\n",
        sparkline(&f.floor.v, 48),
        format_amount(lo, unit),
        format_amount(hi, unit)
    ));
    let load = match &f.load_counter {
        Some(c) => format!("load follows {c}"),
        None => format!("load {}", f.load.as_str()),
    };
    out.push_str(&format!(
        "  {} samples over {}, pattern {}, {load}, tolerance {}/day",
        f.samples,
        format_duration(f.span_seconds),
        f.pattern.as_str(),
        format_amount(f.tolerance_per_day, unit)
    ));
    if let Some(d) = f.detectable_rate_per_day.filter(|d| d.is_finite()) {
        out.push_str(&format!(", detectable from {}/day", format_amount(d, unit)));
    }
    out.push('\n');
    out
}

/// One row of the series table.
pub struct Row<'a> {
    /// Series name.
    pub name: String,
    /// `bytes` or `count`.
    pub unit: String,
    /// Its finding.
    pub finding: &'a Finding,
}

/// A table of verdicts, one series a line: name, verdict, rate per day with interval, pattern.
pub fn table(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(6).max(6);
    let mut out = format!(
        "  {:<width$}  {:<12}  {:>34}  pattern\n",
        "series",
        "verdict",
        crate::sentence::rate_column(rows.iter().map(|r| r.finding))
    );
    for r in rows {
        let f = r.finding;
        let rate = match (f.rate_per_day, f.rate_ci_per_day) {
            (Some(v), Some((lo, hi))) => format!(
                "{} ({})",
                format_amount(v, &r.unit),
                crate::units::format_range(lo, hi, &r.unit)
            ),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "  {:<width$}  {:<12}  {:>34}  {}\n",
            r.name,
            f.verdict.as_str(),
            rate,
            f.pattern.as_str()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_spans_the_range() {
        let s = sparkline(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 8);
        assert_eq!(s, "▁▂▃▄▅▆▇█");
        assert_eq!(sparkline(&[3.0; 10], 4), "▁▁▁▁");
        assert_eq!(sparkline(&[], 4), "");
    }
}
