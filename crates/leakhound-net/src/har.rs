//! HAR 1.2 (the HTTP Archive format browsers and proxies exchange): the entry types, the
//! redaction of credentials, a writer that survives being killed, and a reader that accepts
//! both complete files (from browser devtools) and the prefix a killed recorder left.
//!
//! The writer puts the header on the first line, one entry per line after it (each line after
//! the first entry starts with a comma), and the closing brackets on the last line. A complete
//! file is ordinary JSON; a killed recorder's file is repaired by keeping the entry lines that
//! parse.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A name/value pair (headers, query parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// The request of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// GET, POST, ...
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// `HTTP/1.1`.
    #[serde(default)]
    pub http_version: String,
    /// Cookies (always empty here: they are redacted with the headers).
    #[serde(default)]
    pub cookies: Vec<serde_json::Value>,
    /// Headers in order.
    #[serde(default)]
    pub headers: Vec<Pair>,
    /// Query parameters.
    #[serde(default)]
    pub query_string: Vec<Pair>,
    /// Body, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_data: Option<PostData>,
    /// -1: not measured.
    #[serde(default = "minus_one")]
    pub headers_size: i64,
    /// Body size in bytes (before any truncation).
    #[serde(default = "minus_one")]
    pub body_size: i64,
}

fn minus_one() -> i64 {
    -1
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostData {
    /// Content type.
    #[serde(default)]
    pub mime_type: String,
    /// Text, or base64 when `encoding` says so.
    #[serde(default)]
    pub text: String,
    /// `base64` for binary bodies (a leakhound extension that HAR readers tolerate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Why the body is incomplete, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The response of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    #[serde(default)]
    pub status_text: String,
    /// `HTTP/1.1`.
    #[serde(default)]
    pub http_version: String,
    /// Always empty here.
    #[serde(default)]
    pub cookies: Vec<serde_json::Value>,
    /// Headers.
    #[serde(default)]
    pub headers: Vec<Pair>,
    /// Body.
    pub content: Content,
    /// Redirect target.
    #[serde(default, rename = "redirectURL")]
    pub redirect_url: String,
    /// -1.
    #[serde(default = "minus_one")]
    pub headers_size: i64,
    /// Body size in bytes.
    #[serde(default = "minus_one")]
    pub body_size: i64,
}

/// A response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    /// Size in bytes (before truncation).
    pub size: i64,
    /// Content type.
    #[serde(default)]
    pub mime_type: String,
    /// Text (or base64), possibly truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `base64` for binary bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Why the body is incomplete, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Phases of the exchange, ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Sending the request.
    #[serde(default)]
    pub send: f64,
    /// Waiting for the first byte.
    #[serde(default)]
    pub wait: f64,
    /// Receiving the response.
    #[serde(default)]
    pub receive: f64,
}

/// One exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// When the request started (RFC 3339 with milliseconds).
    pub started_date_time: String,
    /// Total time, ms.
    #[serde(default)]
    pub time: f64,
    /// The request.
    pub request: Request,
    /// The response.
    pub response: Response,
    /// Unused: written empty, whatever a browser put there ignored.
    #[serde(default)]
    pub cache: Cache,
    /// Phases.
    #[serde(default = "default_timings")]
    pub timings: Timings,
}

/// An entry's cache state, which HAR requires and replay does not use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cache {}

fn default_timings() -> Timings {
    Timings {
        send: 0.0,
        wait: 0.0,
        receive: 0.0,
    }
}

/// Header names whose values are always credentials.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];
/// Fragments that mark a header or query parameter name as holding a credential.
const SECRET_FRAGMENTS: &[&str] = &[
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "auth",
    "session",
    "credential",
    "signature",
];
/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Whether a header or parameter named `name` holds a credential.
pub fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_HEADERS.contains(&n.as_str()) || SECRET_FRAGMENTS.iter().any(|f| n.contains(f))
}

/// Redacts a query string (`a=1&token=x` -> `a=1&token=[REDACTED]`) and returns its pairs.
pub fn redact_query(query: &str, keep: bool) -> (String, Vec<Pair>) {
    let mut pairs = Vec::new();
    let mut out = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let value = if !keep && is_secret(name) {
            REDACTED
        } else {
            value
        };
        pairs.push(Pair {
            name: name.to_string(),
            value: value.to_string(),
        });
        out.push(if part.contains('=') {
            format!("{name}={value}")
        } else {
            name.to_string()
        });
    }
    (out.join("&"), pairs)
}

/// Headers as HAR pairs, credentials redacted unless `keep`.
pub fn redact_headers<'a>(
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    keep: bool,
) -> Vec<Pair> {
    headers
        .map(|(n, v)| Pair {
            name: n.to_string(),
            value: if !keep && is_secret(n) {
                REDACTED.to_string()
            } else {
                v.to_string()
            },
        })
        .collect()
}

/// Writes a HAR file entry by entry, each flushed at once, so a killed recorder loses at most
/// the entry being written.
pub struct HarWriter {
    out: BufWriter<File>,
    entries: usize,
}

impl HarWriter {
    /// Creates (truncates) `path` and writes the header.
    pub fn create(path: &Path, creator_version: &str) -> std::io::Result<HarWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        writeln!(
            out,
            "{{\"log\":{{\"version\":\"1.2\",\"creator\":{{\"name\":\"leakhound\",\"version\":{}}},\"entries\":[",
            serde_json::to_string(creator_version).expect("string")
        )?;
        out.flush()?;
        Ok(HarWriter { out, entries: 0 })
    }

    /// Appends one entry.
    pub fn write(&mut self, entry: &Entry) -> std::io::Result<()> {
        let json = serde_json::to_string(entry).expect("entries serialise");
        if self.entries > 0 {
            self.out.write_all(b",")?;
        }
        self.out.write_all(json.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        self.entries += 1;
        Ok(())
    }

    /// Entries written.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Writes the closing brackets; the file is then complete JSON.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.out.write_all(b"]}}\n")?;
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}

/// Why a HAR file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HarError {
    /// I/O.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not HAR at all.
    #[error("{path}: not a HAR file ({reason})")]
    Invalid {
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
}

#[derive(Deserialize)]
struct HarFile {
    log: HarLog,
}

#[derive(Deserialize)]
struct HarLog {
    #[serde(default)]
    entries: Vec<Entry>,
}

/// The entries of a HAR text; `repaired` says whether it had to be mended (a killed
/// recorder's file).
pub fn parse_har(name: &str, text: &str) -> Result<(Vec<Entry>, bool), HarError> {
    let invalid = |reason: String| HarError::Invalid {
        path: name.to_string(),
        reason,
    };
    match serde_json::from_str::<HarFile>(text) {
        Ok(h) => return Ok((h.log.entries, false)),
        Err(e) if !text.trim_start().starts_with("{\"log\":{\"version\"") => {
            return Err(invalid(e.to_string()));
        }
        Err(_) => {}
    }
    // A leakhound file cut short: keep every whole entry line.
    let mut entries = Vec::new();
    for line in text.lines().skip(1) {
        let line = line.strip_prefix(',').unwrap_or(line);
        if line.starts_with("]}}") {
            break;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => entries.push(e),
            Err(_) => break,
        }
    }
    Ok((entries, true))
}

/// Reads a HAR file (see [`parse_har`]).
pub fn read_har(path: &Path) -> Result<(Vec<Entry>, bool), HarError> {
    let text = std::fs::read_to_string(path).map_err(|source| HarError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_har(&path.display().to_string(), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> Entry {
        Entry {
            started_date_time: format!("2026-11-27T04:33:0{i}.000Z"),
            time: 1.0,
            request: Request {
                method: "POST".into(),
                url: format!("http://127.0.0.1:1/items/{i}?token=x&page=2"),
                http_version: "HTTP/1.1".into(),
                cookies: vec![],
                headers: vec![],
                query_string: vec![],
                post_data: Some(PostData {
                    mime_type: "text/plain".into(),
                    text: "hello".into(),
                    encoding: None,
                    comment: None,
                }),
                headers_size: -1,
                body_size: 5,
            },
            response: Response {
                status: 200,
                status_text: "OK".into(),
                http_version: "HTTP/1.1".into(),
                cookies: vec![],
                headers: vec![],
                content: Content {
                    size: 2,
                    mime_type: "text/plain".into(),
                    text: Some("ok".into()),
                    encoding: None,
                    comment: None,
                },
                redirect_url: String::new(),
                headers_size: -1,
                body_size: 2,
            },
            cache: Cache::default(),
            timings: default_timings(),
        }
    }

    #[test]
    fn complete_file_is_plain_json_and_a_cut_file_is_repaired() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.har");
        let mut w = HarWriter::create(&p, "0.1.0").unwrap();
        for i in 0..3 {
            w.write(&entry(i)).unwrap();
        }
        w.finish().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["log"]["version"], "1.2");
        assert_eq!(read_har(&p).unwrap(), ((0..3).map(entry).collect(), false));
        // Cut in the middle of the third entry, as a SIGKILL would.
        let cut = &text[..text.rfind("items/2").unwrap()];
        let (entries, repaired) = parse_har("cut.har", cut).unwrap();
        assert!(repaired);
        assert_eq!(entries, vec![entry(0), entry(1)]);
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        for bad in ["", "nope", "{\"log\":5}", "[1,2]"] {
            let e = parse_har("bad.har", bad).unwrap_err().to_string();
            assert!(e.starts_with("bad.har: not a HAR file"), "{e}");
        }
    }

    #[test]
    fn credentials_are_redacted() {
        let (q, pairs) = redact_query("page=2&access_token=abc&apiKey=k&x", false);
        assert_eq!(q, "page=2&access_token=[REDACTED]&apiKey=[REDACTED]&x");
        assert_eq!(pairs.len(), 4);
        let h = redact_headers(
            [
                ("Authorization", "Bearer s3cr3t"),
                ("Cookie", "sid=1"),
                ("Accept", "*/*"),
                ("X-Session-Id", "9"),
            ]
            .into_iter(),
            false,
        );
        assert_eq!(h.iter().filter(|p| p.value == REDACTED).count(), 3);
        assert_eq!(h[2].value, "*/*");
        assert_eq!(
            redact_headers([("Cookie", "sid=1")].into_iter(), true)[0].value,
            "sid=1"
        );
    }
}

#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any text is entries or an error naming the file, never a panic; so is any prefix
        /// of a real recorder file (a kill at any byte).
        #[test]
        fn any_text_or_prefix_is_handled(text in r#"(\{|\}|"[a-zA-Z]{0,8}"|:|,|[0-9]{0,4}|\[|\]|\n){0,60}"#, cut in 0usize..400) {
            let _ = super::parse_har("fuzz.har", &text);
            let real = "{\"log\":{\"version\":\"1.2\",\"creator\":{\"name\":\"leakhound\",\"version\":\"0\"},\"entries\":[\n{\"startedDateTime\":\"2026-11-27T04:33:00.000Z\",\"request\":{\"method\":\"GET\",\"url\":\"http://a/\"},\"response\":{\"status\":200,\"content\":{\"size\":0}}}\n]}}\n";
            let cut = cut.min(real.len());
            if real.is_char_boundary(cut) {
                let _ = super::parse_har("cut.har", &real[..cut]);
            }
        }
    }
}
