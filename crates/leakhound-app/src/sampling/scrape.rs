//! `--scrape`: Prometheus/OpenMetrics endpoints read every interval into series.

use std::time::Duration;

use leakhound_net::exporter::Scraper;
use leakhound_net::Uri;
use leakhound_probe::exposition::{self, MetricType};
use leakhound_store::SeriesKind;

use super::catalog::SeriesSpec;
use super::source::{Full, Grace, Readings, Source, MAX_SOURCE_SERIES};
use crate::kinds::unit_of_name;

/// The endpoints, read one after the other each interval.
pub struct Scrapes {
    urls: Vec<Uri>,
    scraper: Scraper,
    grace: Grace,
}

impl Scrapes {
    /// Reads `urls`, giving up on one after 2 s.
    pub fn new(urls: Vec<Uri>) -> std::io::Result<Scrapes> {
        Ok(Scrapes {
            urls,
            grace: Grace::default(),
            scraper: Scraper::new(Duration::from_secs(2))?,
        })
    }
}

impl Source for Scrapes {
    fn poll(&mut self, out: &mut Readings<'_>) {
        let starting = self.grace.starting();
        for url in &self.urls {
            let samples = match self
                .scraper
                .fetch(url)
                .and_then(|t| exposition::parse(&t).map_err(|e| e.to_string()))
            {
                Ok(s) => s,
                Err(e) => {
                    if !starting {
                        out.warn(format!("scrape {url}: {e}"));
                    }
                    continue;
                }
            };
            for s in samples.into_iter().filter(|s| s.value.is_finite()) {
                let mut labels = s.labels;
                labels.insert("source".into(), url.to_string());
                let spec = SeriesSpec {
                    name: &s.name,
                    labels: &labels,
                    kind: if s.kind == MetricType::Counter {
                        SeriesKind::Counter
                    } else {
                        SeriesKind::Gauge
                    },
                    unit: unit_of_name(&s.name),
                };
                if out.record(&spec, s.value) == Err(Full) {
                    out.warn(format!(
                        "scrape {url}: more than {MAX_SOURCE_SERIES} series; the rest are skipped"
                    ));
                    break;
                }
            }
        }
    }
}
