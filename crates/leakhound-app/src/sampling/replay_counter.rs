//! Requests sent by `run --replay`, stored as the counter `replay.requests`: the workload the
//! analysis relates growth to.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use leakhound_net::replay::ReplayStats;
use leakhound_store::SeriesKind;

use super::catalog::SeriesSpec;
use super::source::{Readings, Source};
use crate::kinds::Unit;

/// Reads the replayer's count of requests sent.
pub struct ReplayCounter {
    stats: Arc<ReplayStats>,
    labels: BTreeMap<String, String>,
}

impl ReplayCounter {
    /// Counts what `stats` says was sent, as a series with the `labels` of the target driven.
    pub fn new(stats: Arc<ReplayStats>, labels: BTreeMap<String, String>) -> ReplayCounter {
        ReplayCounter { stats, labels }
    }
}

impl Source for ReplayCounter {
    fn poll(&mut self, out: &mut Readings<'_>) {
        let sent = self.stats.sent.load(Ordering::Relaxed) as f64;
        let spec = SeriesSpec {
            name: "replay.requests",
            labels: &self.labels,
            kind: SeriesKind::Counter,
            unit: Unit::Count,
        };
        // One series: never full.
        let _ = out.record(&spec, sent);
    }
}
