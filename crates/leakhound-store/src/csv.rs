//! The CSV contract: a header row; first column `timestamp` (unix seconds, fractional allowed,
//! or RFC 3339); every other column a numeric series named by its header. An empty cell is a
//! missing sample of that series; anything else that is not a finite number is an error.

use std::fmt::Write as _;

use leakhound_time::parse_timestamp;

/// A parsed CSV file: one time axis, several series on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Series names (headers after `timestamp`).
    pub names: Vec<String>,
    /// Unix seconds, strictly increasing.
    pub t: Vec<f64>,
    /// `columns[i][j]`: value of series `i` at `t[j]`; `None` where the cell was empty.
    pub columns: Vec<Vec<Option<f64>>>,
}

impl Table {
    /// Times and values of series `i` without its missing cells.
    pub fn series(&self, i: usize) -> (Vec<f64>, Vec<f64>) {
        self.t
            .iter()
            .zip(&self.columns[i])
            .filter_map(|(&t, v)| v.map(|v| (t, v)))
            .unzip()
    }
}

/// A CSV input error, naming the source, line (1-based) and problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct CsvError {
    /// File name (or `-` for standard input).
    pub source_name: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn split_row(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|c| c.trim().trim_matches('"').trim())
        .collect()
}

/// Parses CSV `text` read from `source_name`.
pub fn parse(source_name: &str, text: &str) -> Result<Table, CsvError> {
    let err = |line: usize, message: String| CsvError {
        source_name: source_name.to_string(),
        line,
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((hline, header)) = lines.next() else {
        return Err(err(
            1,
            "the file is empty; expected a header row starting with `timestamp`".into(),
        ));
    };
    let head = split_row(header);
    if !head[0].eq_ignore_ascii_case("timestamp") {
        return Err(err(
            hline,
            format!("first column must be `timestamp`, found {:?}", head[0]),
        ));
    }
    let names: Vec<String> = head[1..].iter().map(|s| s.to_string()).collect();
    if names.is_empty() {
        return Err(err(hline, "no series columns after `timestamp`".into()));
    }
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(err(hline, format!("column {} has an empty name", i + 2)));
        }
        if names[..i].contains(n) {
            return Err(err(hline, format!("column {n:?} appears twice")));
        }
    }
    let mut t = Vec::new();
    let mut columns: Vec<Vec<Option<f64>>> = vec![Vec::new(); names.len()];
    for (ln, line) in lines {
        let cells = split_row(line);
        if cells.len() != names.len() + 1 {
            return Err(err(
                ln,
                format!("expected {} cells, found {}", names.len() + 1, cells.len()),
            ));
        }
        let ts = parse_timestamp(cells[0]).map_err(|m| err(ln, m))?;
        if let Some(&prev) = t.last() {
            if ts == prev {
                return Err(err(ln, format!("duplicate timestamp {}", cells[0])));
            }
            if ts < prev {
                return Err(err(
                    ln,
                    format!(
                        "timestamp {} is earlier than the row before; sort the file by time",
                        cells[0]
                    ),
                ));
            }
        }
        t.push(ts);
        for (j, cell) in cells[1..].iter().enumerate() {
            let v = if cell.is_empty() {
                None
            } else {
                match cell.parse::<f64>() {
                    Ok(v) if v.is_finite() => Some(v),
                    _ => {
                        return Err(err(
                            ln,
                            format!("column {:?}: {cell:?} is not a finite number", names[j]),
                        ))
                    }
                }
            };
            columns[j].push(v);
        }
    }
    if t.is_empty() {
        return Err(err(hline, "no data rows after the header".into()));
    }
    Ok(Table { names, t, columns })
}

/// Writes series as contract CSV. Each series is `(name, times, values)`; rows are the union of
/// all times, with empty cells where a series has no sample.
pub fn write(series: &[(String, Vec<f64>, Vec<f64>)]) -> String {
    let mut times: Vec<f64> = series.iter().flat_map(|s| s.1.iter().copied()).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let mut out = String::from("timestamp");
    for (name, _, _) in series {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    let mut cursor = vec![0usize; series.len()];
    for t in times {
        let _ = write!(out, "{t}");
        for (k, (_, ts, vs)) in series.iter().enumerate() {
            out.push(',');
            if cursor[k] < ts.len() && ts[cursor[k]] == t {
                let _ = write!(out, "{}", vs[cursor[k]]);
                cursor[k] += 1;
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract() {
        let t = parse(
            "m.csv",
            "timestamp,rss,requests\n1000,5,1\n1000.5,6,\n2026-11-27T04:33:00Z,7,3\n",
        )
        .unwrap();
        assert_eq!(t.names, vec!["rss", "requests"]);
        assert_eq!(t.t, vec![1000.0, 1000.5, 1795753980.0]);
        assert_eq!(t.series(1), (vec![1000.0, 1795753980.0], vec![1.0, 3.0]));
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            ("", 1, "empty"),
            ("time,rss\n1,2\n", 1, "first column"),
            ("timestamp\n1\n", 1, "no series"),
            ("timestamp,a,a\n1,2,3\n", 1, "twice"),
            ("timestamp,rss\n", 1, "no data rows"),
            ("timestamp,rss\n1,2\n2,abc\n", 3, "not a finite number"),
            ("timestamp,rss\n1,2\n2,NaN\n", 3, "not a finite number"),
            ("timestamp,rss\n1,2\n1,3\n", 3, "duplicate"),
            ("timestamp,rss\n2,2\n1,3\n", 3, "earlier"),
            ("timestamp,rss\n1,2,3\n", 2, "expected 2 cells"),
            ("timestamp,rss\nyesterday,2\n", 2, "neither unix seconds"),
        ];
        for (text, line, needle) in cases {
            let e = parse("bad.csv", text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("bad.csv:{line}: ")));
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn write_then_parse_round_trips() {
        let series = vec![
            (
                "rss".to_string(),
                vec![1.0, 2.0, 3.0],
                vec![10.0, 11.5, 12.0],
            ),
            ("req".to_string(), vec![2.0, 3.0], vec![1.0, 2.0]),
        ];
        let text = write(&series);
        let t = parse("x", &text).unwrap();
        assert_eq!(t.series(0), (series[0].1.clone(), series[0].2.clone()));
        assert_eq!(t.series(1), (series[1].1.clone(), series[1].2.clone()));
    }
}

#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any text gets an answer, never a panic; errors name a line inside the text.
        #[test]
        fn any_text_parses_or_names_a_line(text in "(timestamp|[0-9.,eE+ :TZ-]|[a-z]|\n|\"){0,200}") {
            if let Err(e) = super::parse("fuzz.csv", &text) {
                prop_assert!(e.line >= 1 && e.line <= text.lines().count().max(1));
            }
        }
    }
}
