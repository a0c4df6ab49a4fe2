//! Timestamps: unix seconds (fractional allowed) or RFC 3339, as the CSV contract allows, and
//! RFC 3339 text for reports and HAR files; and the time now, in unix seconds ([`unix_now`]),
//! which leakhound's clocks read.
//!
//! Its own crate because every layer needs it (the CSV format in the store, HAR files in the
//! network crate, dates in reports, sample times in the application) and none of them should
//! pull in another's dependencies for a few lines of calendar arithmetic. It has none itself.
#![deny(missing_docs)]

/// Now, in unix seconds (0 on a clock set before 1970).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Parses `1700000000`, `1700000000.25`, `2026-11-27T04:33:00Z`, `2026-11-27 04:33:00.5+01:00`
/// into unix seconds.
pub fn parse_timestamp(s: &str) -> Result<f64, String> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return if v.is_finite() {
            Ok(v)
        } else {
            Err(format!("timestamp {s:?} is not finite"))
        };
    }
    parse_rfc3339(s).ok_or_else(|| {
        format!("timestamp {s:?} is neither unix seconds nor RFC 3339 (2026-11-27T04:33:00Z)")
    })
}

fn parse_rfc3339(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac = 0.0;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        frac = format!("0.{}", &r[..digits]).parse().ok()?;
        rest = &r[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = rest[1..].split_once(':')?;
            if oh.len() != 2 || om.len() != 2 {
                return None;
            }
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86400 + h * 3600 + mi * 60 + sec - offset) as f64 + frac)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Formats unix seconds as RFC 3339 UTC with second precision.
pub fn format_rfc3339(t: f64) -> String {
    format_rfc3339_with(t, false)
}

/// Formats unix seconds as RFC 3339 UTC with milliseconds (`2026-11-27T04:33:00.250Z`), as HAR
/// files carry them.
pub fn format_rfc3339_ms(t: f64) -> String {
    format_rfc3339_with(t, true)
}

fn format_rfc3339_with(t: f64, millis: bool) -> String {
    let secs = t.floor() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let ms = if millis {
        format!(".{:03}", ((t - t.floor()) * 1000.0).floor() as i64)
    } else {
        String::new()
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{ms}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_and_rfc3339_agree() {
        // `date -u -d 2026-11-27T04:33:00Z +%s` prints 1795753980.
        assert_eq!(parse_timestamp("1795753980").unwrap(), 1795753980.0);
        assert_eq!(
            parse_timestamp("2026-11-27T04:33:00Z").unwrap(),
            1795753980.0
        );
        assert_eq!(
            parse_timestamp("2026-11-27T05:33:00.5+01:00").unwrap(),
            1795753980.5
        );
        assert_eq!(parse_timestamp("1970-01-01 00:00:00Z").unwrap(), 0.0);
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_rfc3339(1795753980.9), "2026-11-27T04:33:00Z");
        assert_eq!(format_rfc3339_ms(1795753980.25), "2026-11-27T04:33:00.250Z");
        assert_eq!(
            parse_timestamp(&format_rfc3339_ms(1795753980.25)).unwrap(),
            1795753980.25
        );
    }

    #[test]
    fn leap_days() {
        // `date -u -d 2000-02-29 +%s`, `date -u -d 2024-02-29 +%s`
        assert_eq!(
            parse_timestamp("2000-02-29T00:00:00Z").unwrap(),
            951782400.0
        );
        assert_eq!(
            parse_timestamp("2024-02-29T00:00:00Z").unwrap(),
            1709164800.0
        );
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "abc",
            "NaN",
            "inf",
            "2026-13-01T00:00:00Z",
            "2026-11-27T04:33Z",
        ] {
            assert!(parse_timestamp(s).is_err(), "{s}");
        }
    }
}
