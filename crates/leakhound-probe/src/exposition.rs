//! The Prometheus text exposition format (and the OpenMetrics text it overlaps with): metric
//! families, samples with labels, optional timestamps.
//!
//! Written here because the crates that parse it drop names with `:` or label values that
//! contain `}`. Unknown types, `# HELP` lines, exemplars after `#` and `# EOF` are tolerated;
//! a malformed line is an error naming its line number, never a panic.

use std::collections::BTreeMap;

/// The declared type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`, `summary`, `untyped`, anything else.
    Other,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_total`, `_bucket`... suffixes as written).
    pub name: String,
    /// Labels, sorted.
    pub labels: BTreeMap<String, String>,
    /// Value; may be NaN or infinite as the format allows.
    pub value: f64,
    /// Timestamp in milliseconds, when given.
    pub timestamp_ms: Option<i64>,
    /// The family's declared type.
    pub kind: MetricType,
}

/// A malformed line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Parses exposition `text` into samples, in order.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut types: BTreeMap<String, MetricType> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let err = |message: String| ParseError {
            line: i + 1,
            message,
        };
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.split_whitespace();
            if parts.next() == Some("TYPE") {
                let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                    return Err(err("# TYPE needs a name and a type".into()));
                };
                let kind = match kind {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    _ => MetricType::Other,
                };
                types.insert(name.to_string(), kind);
            }
            continue;
        }
        let mut chars = line.char_indices().peekable();
        let name_end = match chars.next() {
            Some((_, c)) if is_name_start(c) => {
                let mut end = line.len();
                for (j, c) in chars.by_ref() {
                    if !is_name_char(c) {
                        end = j;
                        break;
                    }
                }
                end
            }
            _ => {
                return Err(err(format!(
                    "expected a metric name, found {:?}",
                    truncate(line)
                )))
            }
        };
        let name = &line[..name_end];
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(r) = rest.strip_prefix('{') {
            let (parsed, after) = parse_labels(r).map_err(err)?;
            labels = parsed;
            rest = after;
        }
        // OpenMetrics exemplars follow a `#`; they are not the sample's business.
        let rest = rest.split(" # ").next().unwrap_or(rest);
        let mut fields = rest.split_whitespace();
        let value_text = fields
            .next()
            .ok_or_else(|| err(format!("{name}: no value")))?;
        let value = parse_value(value_text)
            .ok_or_else(|| err(format!("{name}: {value_text:?} is not a number")))?;
        let timestamp_ms = match fields.next() {
            None => None,
            Some(t) => Some(
                t.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| err(format!("{name}: timestamp {t:?} is not a number")))?
                    as i64,
            ),
        };
        if fields.next().is_some() {
            return Err(err(format!("{name}: unexpected text after the timestamp")));
        }
        let family = ["_total", "_created", "_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| types.contains_key(*b)))
            .unwrap_or(name);
        let kind = types
            .get(family)
            .copied()
            .unwrap_or(if name.ends_with("_total") {
                MetricType::Counter
            } else {
                MetricType::Other
            });
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
            timestamp_ms,
            kind,
        });
    }
    Ok(out)
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Parses `a="x",b="y"}` (after the opening brace) and returns the labels and what follows.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let name_len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(rest.len(), |(j, _)| j);
        if name_len == 0 {
            return Err(format!("expected a label name at {:?}", truncate(rest)));
        }
        let name = &rest[..name_len];
        rest = rest[name_len..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("label {name}: expected '='"))?
            .trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name}: expected a quoted value"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {name}: unterminated value")),
                Some((j, '"')) => break j,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    Some((_, c)) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(format!("label {name}: unterminated value")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.insert(name.to_string(), value);
        rest = rest[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.starts_with('}') {
            return Err(format!("label {name}: expected ',' or '}}'"));
        }
    }
}

/// Escapes a label value for writing.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 2.6456064e+07
# TYPE http_requests counter
http_requests_total{method="get",path="/a}b",quote="say \"hi\"\nok"} 1027 1395066363000
job:rss:rate5m{instance="api-03"} NaN
weird_inf +Inf
untyped_thing{a="1",} -3.5
# EOF
"#;

    #[test]
    fn parses_what_other_parsers_drop() {
        let s = parse(TEXT).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].name, "process_resident_memory_bytes");
        assert_eq!(s[0].kind, MetricType::Gauge);
        assert_eq!(s[0].value, 26456064.0);
        assert_eq!(s[1].labels["path"], "/a}b");
        assert_eq!(s[1].labels["quote"], "say \"hi\"\nok");
        assert_eq!(s[1].kind, MetricType::Counter);
        assert_eq!(s[1].timestamp_ms, Some(1395066363000));
        assert_eq!(s[2].name, "job:rss:rate5m");
        assert!(s[2].value.is_nan());
        assert_eq!(s[3].value, f64::INFINITY);
        assert_eq!(s[4].labels["a"], "1");
        assert_eq!(s[4].kind, MetricType::Other);
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let cases = [
            ("1abc 5", 1, "metric name"),
            ("ok\n", 1, "no value"),
            ("a 5\nb{x=\"1\" 5", 2, "expected ','"),
            ("a{x=1} 5", 1, "quoted"),
            ("a{x=\"1} 5", 1, "unterminated"),
            ("a five", 1, "not a number"),
            ("a 5 6 7", 1, "unexpected text"),
            ("# TYPE a", 1, "# TYPE"),
            ("{x=\"1\"} 5", 1, "metric name"),
        ];
        for (text, line, needle) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn escaping_round_trips() {
        let v = "a\"b\\c\nd}";
        let text = format!("m{{l=\"{}\"}} 1", escape_label(v));
        assert_eq!(parse(&text).unwrap()[0].labels["l"], v);
    }
}

#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        /// Garbage exposition text is an error or samples, never a panic.
        #[test]
        fn any_text_is_handled(text in r#"([a-z_:]{0,6}|[{}=",\\# ]|[0-9.eE+-]|NaN|Inf|\n){0,80}"#) {
            let _ = super::parse(&text);
        }

        /// Whatever the label value, writing then parsing gives it back.
        #[test]
        fn label_values_round_trip(v in "\\PC{0,20}") {
            let text = format!("m{{l=\"{}\"}} 1", super::escape_label(&v));
            prop_assert_eq!(&super::parse(&text).unwrap()[0].labels["l"], &v);
        }
    }
}
