//! Human units: sizes (`512MiB`, `2GB`), rates (`2MiB/day`, `500KB/h`), durations (`30s`,
//! `2h`, `14d`). Decimal and binary prefixes are both accepted; output uses binary for memory,
//! as `ps`, `top` and the kernel do.

/// Parses a size: a number with an optional unit B, KB, MB, GB, TB (decimal) or KiB, MiB,
/// GiB, TiB (binary), also k/K/M/G alone as binary.
pub fn parse_size(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| {
            !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')
        })
        .unwrap_or(t.len());
    // An exponent `e` followed by a letter is a unit, not an exponent (e.g. none in practice).
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size; write e.g. 512MiB, 2GB or 1048576"))?;
    let mult = match unit.trim() {
        "" | "B" | "b" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "K" | "k" | "KiB" | "Ki" => 1024.0,
        "M" | "MiB" | "Mi" => 1048576.0,
        "G" | "GiB" | "Gi" => 1073741824.0,
        "T" | "TiB" | "Ti" => 1099511627776.0,
        u => {
            return Err(format!(
                "{s:?}: unknown size unit {u:?}; use B, KB, MB, GB, KiB, MiB, GiB"
            ))
        }
    };
    if !n.is_finite() || n < 0.0 {
        return Err(format!("{s:?}: a size must be a non-negative number"));
    }
    finite(s, "size", n * mult)
}

/// Parses a duration (`500ms`, `30s`, `5m`, `2h`, `14d`, `1w`; a bare number is seconds) into
/// seconds.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write e.g. 30s, 5m, 2h or 14d"))?;
    let mult = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "m" | "min" | "mins" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86400.0,
        "w" | "week" | "weeks" => 604800.0,
        u => {
            return Err(format!(
                "{s:?}: unknown duration unit {u:?}; use ms, s, m, h, d or w"
            ))
        }
    };
    finite(s, "duration", n * mult)
}

/// Parses a rate `SIZE/PERIOD` (`2MiB/day`, `500KB/h`, `1.5MB/d`) into units per day.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let (size, per) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} is not a rate; write e.g. 2MiB/day or 500KB/h"))?;
    let size = parse_size(size).map_err(|e| format!("rate {s:?}: {e}"))?;
    let per = per.trim();
    let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
        per.to_string()
    } else {
        format!("1{per}")
    };
    let secs = parse_duration(&per).map_err(|e| format!("rate {s:?}: {e}"))?;
    if secs <= 0.0 {
        return Err(format!("rate {s:?}: the period must be positive"));
    }
    finite(s, "rate", size * 86400.0 / secs)
}

/// Rejects a value too large to represent (`1e308GiB` is a number, its bytes are not).
fn finite(s: &str, what: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{s:?}: this {what} is too large"))
    }
}

/// Formats bytes with a binary unit and 3 significant digits: `8.1 MiB`, `250 MiB`, `2.0 GiB`.
pub fn format_bytes(b: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b.abs();
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    let sign = if b < 0.0 { "-" } else { "" };
    let digits = if i == 0 || v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{sign}{v:.digits$} {}", units[i])
}

/// Formats the range `lo..hi` in one unit chosen for the larger end: `7.4 to 8.8 MiB`.
pub fn format_range(lo: f64, hi: f64, unit: &str) -> String {
    if unit != "bytes" {
        return format!("{} to {}", format_amount(lo, unit), format_amount(hi, unit));
    }
    let big = lo.abs().max(hi.abs());
    let (div, name) = [
        (1099511627776.0, "TiB"),
        (1073741824.0, "GiB"),
        (1048576.0, "MiB"),
        (1024.0, "KiB"),
    ]
    .into_iter()
    .find(|(d, _)| big >= *d)
    .unwrap_or((1.0, "B"));
    let digits = if big / div >= 100.0 || div == 1.0 {
        0
    } else if big / div >= 10.0 {
        1
    } else {
        2
    };
    format!("{:.digits$} to {:.digits$} {name}", lo / div, hi / div)
}

/// Formats a number in `unit` (`bytes` or a count).
pub fn format_amount(v: f64, unit: &str) -> String {
    if unit == "bytes" {
        format_bytes(v)
    } else if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Formats seconds as a short human duration: `45 s`, `12 min`, `3.5 h`, `11 days`.
pub fn format_duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "never".into();
    }
    let s = secs.max(0.0);
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 90.0 * 60.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 48.0 * 3600.0 {
        let h = s / 3600.0;
        if h < 10.0 {
            format!("{h:.1} h")
        } else {
            format!("{h:.0} h")
        }
    } else {
        format!("{:.0} days", s / 86400.0)
    }
}

pub use leakhound_time::format_rfc3339;

/// A short UTC time label for a chart axis: `11-27 04:33` for spans over a day, `04:33:05`
/// otherwise.
pub fn format_time_label(t: f64, span: f64) -> String {
    let full = format_rfc3339(t);
    if span > 86400.0 {
        format!("{} {}", &full[5..10], &full[11..16])
    } else {
        full[11..19].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MiB").unwrap(), 536870912.0);
        assert_eq!(parse_size("2GB").unwrap(), 2e9);
        assert_eq!(parse_size("1.5 MB").unwrap(), 1.5e6);
        assert_eq!(parse_size("100").unwrap(), 100.0);
        assert_eq!(parse_size("2G").unwrap(), 2147483648.0);
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("5XB").unwrap_err().contains("unknown size unit"));
        assert!(parse_size("-5MB").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("2MiB/day").unwrap(), 2097152.0);
        assert_eq!(parse_rate("500KB/h").unwrap(), 500e3 * 24.0);
        assert_eq!(parse_rate("1.5MB/d").unwrap(), 1.5e6);
        assert_eq!(parse_rate("1MB/12h").unwrap(), 2e6);
        assert!(parse_rate("2MiB").unwrap_err().contains("not a rate"));
        assert!(parse_rate("2MiB/fortnight").is_err());
        assert!(parse_rate("2MiB/0h").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), 30.0);
        assert_eq!(parse_duration("2h").unwrap(), 7200.0);
        assert_eq!(parse_duration("14d").unwrap(), 14.0 * 86400.0);
        assert_eq!(parse_duration("250ms").unwrap(), 0.25);
        assert_eq!(parse_duration("5").unwrap(), 5.0);
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(8.1 * 1048576.0), "8.10 MiB");
        assert_eq!(format_bytes(250.0 * 1048576.0), "250 MiB");
        assert_eq!(format_bytes(2.0 * 1073741824.0), "2.00 GiB");
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(-2048.0), "-2.00 KiB");
        assert_eq!(format_duration(11.2 * 86400.0), "11 days");
        assert_eq!(
            format_range(7.4 * 1048576.0, 8.8 * 1048576.0, "bytes"),
            "7.40 to 8.80 MiB"
        );
        assert_eq!(
            format_range(-300.0 * 1024.0, 2.0 * 1048576.0, "bytes"),
            "-0.29 to 2.00 MiB"
        );
        assert_eq!(format_duration(3.5 * 3600.0), "3.5 h");
        assert_eq!(format_duration(f64::INFINITY), "never");
        assert_eq!(format_duration(0.5), "500 ms");
        assert_eq!(format_rfc3339(1795753980.9), "2026-11-27T04:33:00Z");
        assert_eq!(format_rfc3339(951782400.0), "2000-02-29T00:00:00Z");
        assert_eq!(
            format_time_label(1795753980.0, 3.0 * 86400.0),
            "11-27 04:33"
        );
        assert_eq!(format_time_label(1795753985.0, 3600.0), "04:33:05");
    }
}

#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        /// Sizes, rates and durations: any argument is a value or a message, never a panic.
        #[test]
        fn any_argument_is_handled(s in r"[0-9.eE+-]{0,8}[ a-zA-Z/]{0,8}[0-9]{0,3}") {
            let _ = super::parse_size(&s);
            let _ = super::parse_rate(&s);
            let _ = super::parse_duration(&s);
        }
    }
}
