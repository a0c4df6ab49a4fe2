//! `watch --listen`: the latest reading of each target's declared series and the latest
//! verdicts, kept as the `/metrics` text the exporter serves.

use std::collections::{BTreeMap, HashMap};

use leakhound_net::exporter::Exposition;
use leakhound_net::metrics::{metrics_text, VerdictMetrics};
use leakhound_store::SeriesId;

use super::spool::Row;

/// What `/metrics` shows.
pub(crate) struct Exporter {
    text: Exposition,
    /// (target, series) of each declared series: only these are exported.
    names: HashMap<SeriesId, (String, String)>,
    latest: BTreeMap<(String, String), f64>,
    verdicts: Vec<VerdictMetrics>,
}

impl Exporter {
    /// Exports the series `names` into `text`.
    pub(crate) fn new(text: Exposition, names: HashMap<SeriesId, (String, String)>) -> Exporter {
        Exporter {
            text,
            names,
            latest: BTreeMap::new(),
            verdicts: Vec::new(),
        }
    }

    /// Takes the latest values from an interval's rows and republishes.
    pub(crate) fn observe(&mut self, rows: &[Row]) {
        for (id, _, v) in rows {
            if let Some(k) = self.names.get(id) {
                self.latest.insert(k.clone(), *v);
            }
        }
        self.publish();
    }

    /// Replaces the verdicts and republishes.
    pub(crate) fn set_verdicts(&mut self, verdicts: Vec<VerdictMetrics>) {
        self.verdicts = verdicts;
        self.publish();
    }

    fn publish(&self) {
        let text = metrics_text(&self.latest, &self.verdicts);
        *self.text.lock().unwrap_or_else(|p| p.into_inner()) = text;
    }
}
