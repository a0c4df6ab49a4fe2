//! Series created on first use (agent gauges and counters, scraped metrics, what a source
//! reads): their ids by labels and name, and a bound on how many one source may add.

use std::collections::{BTreeMap, HashMap};

use leakhound_store::{RunId, SeriesId, SeriesKind, Store};

use crate::kinds::Unit;

/// A series as a reader names it.
#[derive(Debug, Clone, Copy)]
pub struct SeriesSpec<'a> {
    /// Series name.
    pub name: &'a str,
    /// Its labels.
    pub labels: &'a BTreeMap<String, String>,
    /// Gauge or counter.
    pub kind: SeriesKind,
    /// What it measures.
    pub unit: Unit,
}

/// Why a series has no id this interval.
#[derive(Debug, Clone, PartialEq)]
pub enum NoSeries {
    /// The catalog holds as many series as it may.
    Full,
    /// The database refused to add it (disk full); the reason, naming the database. The next
    /// interval tries again.
    Refused(String),
}

/// Ids of the series created so far in one run, by labels then name (so that a lookup of a
/// known series allocates nothing).
#[derive(Debug)]
pub struct Catalog {
    ids: HashMap<BTreeMap<String, String>, HashMap<String, SeriesId>>,
    len: usize,
    max: usize,
}

impl Catalog {
    /// A catalog that takes at most `max` series.
    pub fn new(max: usize) -> Catalog {
        Catalog {
            ids: HashMap::new(),
            len: 0,
            max,
        }
    }

    /// The id of `spec` in `run`, created on first use.
    pub fn id(
        &mut self,
        store: &Store,
        run: RunId,
        spec: &SeriesSpec,
    ) -> Result<SeriesId, NoSeries> {
        if let Some(id) = self.ids.get(spec.labels).and_then(|m| m.get(spec.name)) {
            return Ok(*id);
        }
        if self.len >= self.max {
            return Err(NoSeries::Full);
        }
        let id = store
            .series(run, spec.name, spec.labels, spec.kind, spec.unit.as_str())
            .map_err(|e| {
                NoSeries::Refused(format!(
                    "cannot add series {} to {}: {e}; its samples are skipped until it can be",
                    spec.name,
                    store.path()
                ))
            })?;
        self.ids
            .entry(spec.labels.clone())
            .or_default()
            .insert(spec.name.to_string(), id);
        self.len += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::new_run;

    #[test]
    fn creates_once_and_stops_at_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let run = store
            .create_run(&new_run("watch", "t".into(), 0.0, None, None))
            .unwrap();
        let mut c = Catalog::new(2);
        let (a, b) = (
            BTreeMap::new(),
            BTreeMap::from([("k".to_string(), "v".to_string())]),
        );
        let spec = |name, labels| SeriesSpec {
            name,
            labels,
            kind: SeriesKind::Counter,
            unit: Unit::Count,
        };
        let x = c.id(&store, run, &spec("x", &a)).unwrap();
        let xb = c.id(&store, run, &spec("x", &b)).unwrap();
        assert_ne!(x, xb, "labels tell series apart");
        assert_eq!(c.id(&store, run, &spec("x", &a)), Ok(x));
        assert_eq!(c.id(&store, run, &spec("y", &a)), Err(NoSeries::Full));
        assert_eq!(store.series_of(run).unwrap().len(), 2);
    }
}
