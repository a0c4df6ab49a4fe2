//! A client for the Prometheus HTTP query API (Prometheus, Thanos, Mimir, VictoriaMetrics):
//! series listing and range queries split into chunks the server accepts, with retries and
//! errors that say what the server said.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// Points per series per query: Prometheus refuses more than 11,000.
pub const MAX_POINTS: f64 = 10_000.0;

/// What went wrong talking to the TSDB.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    /// Could not connect or the request failed repeatedly.
    #[error("cannot reach {url}: {message}")]
    Unreachable {
        /// URL.
        url: String,
        /// Cause.
        message: String,
    },
    /// 401/403.
    #[error("{url}: access denied (HTTP {status}); set LEAKHOUND_PROMETHEUS_TOKEN, or LEAKHOUND_PROMETHEUS_USER and LEAKHOUND_PROMETHEUS_PASSWORD")]
    Auth {
        /// URL.
        url: String,
        /// Status.
        status: u16,
    },
    /// The server answered with an error.
    #[error("{url}: the server refused the query (HTTP {status}): {message}")]
    Query {
        /// URL.
        url: String,
        /// Status.
        status: u16,
        /// The server's error text.
        message: String,
    },
    /// The answer was not the API's JSON.
    #[error("{url}: unexpected answer: {message}")]
    Malformed {
        /// URL.
        url: String,
        /// Why.
        message: String,
    },
}

/// One series: labels (with `__name__`) and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSeries {
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub t: Vec<f64>,
    /// Values.
    pub v: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: serde::de::DeserializeOwned"))]
struct Envelope<T> {
    status: String,
    #[serde(default)]
    data: Option<T>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct Matrix {
    #[serde(default)]
    result: Vec<MatrixSeries>,
}

#[derive(Deserialize)]
struct MatrixSeries {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// The `data` of an API answer, or the server's error.
fn data_of<T: serde::de::DeserializeOwned>(url: &str, body: &[u8]) -> Result<Option<T>, PromError> {
    let env: Envelope<T> = serde_json::from_slice(body).map_err(|e| PromError::Malformed {
        url: url.to_string(),
        message: e.to_string(),
    })?;
    if env.status != "success" {
        return Err(PromError::Query {
            url: url.to_string(),
            status: 200,
            message: env.error.unwrap_or_else(|| env.status.clone()),
        });
    }
    Ok(env.data)
}

/// Parses a `query_range` answer.
pub fn parse_matrix(url: &str, body: &[u8]) -> Result<Vec<PromSeries>, PromError> {
    let data = data_of::<Matrix>(url, body)?.ok_or_else(|| PromError::Malformed {
        url: url.to_string(),
        message: "no data".into(),
    })?;
    Ok(data
        .result
        .into_iter()
        .map(|s| {
            let (t, v): (Vec<f64>, Vec<f64>) = s
                .values
                .into_iter()
                // Gaps (NaN), infinities and numbers too large for f64 are not samples.
                .filter_map(|(t, v)| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .map(|v| (t, v))
                })
                .unzip();
            PromSeries {
                labels: s.metric,
                t,
                v,
            }
        })
        .collect())
}

/// Parses a `series` answer: the label sets.
pub fn parse_series_list(
    url: &str,
    body: &[u8],
) -> Result<Vec<BTreeMap<String, String>>, PromError> {
    Ok(data_of(url, body)?.unwrap_or_default())
}

/// An exact selector for one label set: `{__name__="x",job="api"}`.
pub fn selector(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The Prometheus-compatible API at a base URL.
#[derive(Clone)]
pub struct PromClient {
    base: String,
    auth: Option<String>,
    client: Client<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

impl PromClient {
    /// A client for `base` (`http://host:9090`), with credentials from the environment.
    pub fn new(base: &str) -> Result<PromClient, String> {
        let uri: Uri = base.parse().map_err(|_| format!("{base:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(format!("{base:?}: write http://HOST:PORT"));
        }
        let auth = if let Ok(t) = std::env::var("LEAKHOUND_PROMETHEUS_TOKEN") {
            Some(format!("Bearer {t}"))
        } else if let (Ok(u), Ok(p)) = (
            std::env::var("LEAKHOUND_PROMETHEUS_USER"),
            std::env::var("LEAKHOUND_PROMETHEUS_PASSWORD"),
        ) {
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ))
        } else {
            None
        };
        Ok(PromClient {
            base: base.trim_end_matches('/').to_string(),
            auth,
            client: Client::builder(TokioExecutor::new()).build_http(),
            timeout: Duration::from_secs(60),
        })
    }

    /// The same client, giving up on a request after `timeout` without an answer.
    pub fn with_timeout(self, timeout: Duration) -> PromClient {
        PromClient { timeout, ..self }
    }

    async fn get(&self, path_and_query: &str) -> Result<Vec<u8>, PromError> {
        let url = format!("{}{path_and_query}", self.base);
        let mut last = String::new();
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
            }
            let mut b = Request::get(url.as_str());
            if let Some(a) = &self.auth {
                b = b.header("authorization", a.as_str());
            }
            let req = b.body(Empty::new()).map_err(|e| PromError::Malformed {
                url: url.clone(),
                message: e.to_string(),
            })?;
            let resp = match tokio::time::timeout(self.timeout, self.client.request(req)).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    last = e.to_string();
                    continue;
                }
                Err(_) => {
                    last = format!("no answer within {:.1} s", self.timeout.as_secs_f64());
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let body = match resp.into_body().collect().await {
                Ok(b) => b.to_bytes().to_vec(),
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            match status {
                200 => return Ok(body),
                401 | 403 => return Err(PromError::Auth { url, status }),
                s if s >= 500 => {
                    last = format!(
                        "HTTP {s}: {}",
                        String::from_utf8_lossy(&body)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    );
                    continue;
                }
                s => {
                    let message = serde_json::from_slice::<Envelope<serde_json::Value>>(&body)
                        .ok()
                        .and_then(|e| e.error)
                        .unwrap_or_else(|| {
                            String::from_utf8_lossy(&body).chars().take(200).collect()
                        });
                    return Err(PromError::Query {
                        url,
                        status: s,
                        message,
                    });
                }
            }
        }
        Err(PromError::Unreachable { url, message: last })
    }

    /// The label sets a selector matches between `start` and `end` (unix seconds).
    pub async fn series(
        &self,
        selector: &str,
        start: f64,
        end: f64,
    ) -> Result<Vec<BTreeMap<String, String>>, PromError> {
        let q = format!(
            "/api/v1/series?match[]={}&start={start}&end={end}",
            encode(selector)
        );
        let body = self.get(&q).await?;
        parse_series_list(&self.base, &body)
    }

    /// A range query, split into chunks of at most [`MAX_POINTS`] steps and joined per series.
    pub async fn query_range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<Vec<PromSeries>, PromError> {
        let mut joined: BTreeMap<String, PromSeries> = BTreeMap::new();
        let chunk = step * MAX_POINTS;
        let mut from = start;
        while from <= end {
            let to = (from + chunk).min(end);
            let q = format!(
                "/api/v1/query_range?query={}&start={from}&end={to}&step={step}",
                encode(query)
            );
            let body = self.get(&q).await?;
            for s in parse_matrix(&self.base, &body)? {
                let key = selector(&s.labels);
                let e = joined.entry(key).or_insert_with(|| PromSeries {
                    labels: s.labels.clone(),
                    t: Vec::new(),
                    v: Vec::new(),
                });
                for (t, v) in s.t.into_iter().zip(s.v) {
                    // Chunk edges are inclusive on both sides: skip the repeated point.
                    if e.t.last().is_none_or(|&l| t > l) {
                        e.t.push(t);
                        e.v.push(v);
                    }
                }
            }
            from = to + step;
        }
        Ok(joined.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_answers_and_errors() {
        let ok = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"rss","instance":"a"},"values":[[1700000000,"5"],[1700000030,"NaN"],[1700000060,"7.5"]]}]}}"#;
        let s = parse_matrix("u", ok).unwrap();
        assert_eq!(s[0].labels["instance"], "a");
        assert_eq!(s[0].t, vec![1700000000.0, 1700000060.0]);
        assert_eq!(s[0].v, vec![5.0, 7.5]);
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert!(parse_matrix("u", bad)
            .unwrap_err()
            .to_string()
            .contains("parse error at char 5"));
        assert!(parse_matrix("u", b"<html>")
            .unwrap_err()
            .to_string()
            .contains("unexpected answer"));
    }

    #[test]
    fn selectors_and_encoding() {
        let l: BTreeMap<String, String> = [("__name__", "rss"), ("job", "a\"b")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(selector(&l), r#"{__name__="rss",job="a\"b"}"#);
        assert_eq!(encode("a b{c=\"d\"}"), "a%20b%7Bc%3D%22d%22%7D");
    }
}
