//! Series created on first use (agent gauges and counters, scraped metrics, what a source
//! reads): their ids by labels and name, and a bound on how many one source may add.

use std::collections::{BTreeMap, HashMap};

use leakhound_store::{Event, NewSeries, NewSite, SeriesId, SeriesKind};

use super::spool::{Interval, Row};
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

/// The interval being read: its samples, and the series and sites it is the first to use.
/// Series are created by the writer, in the transaction of the first interval that uses them;
/// until then their samples carry a negative alias, so reading never waits for the database.
#[derive(Debug)]
pub struct Draft {
    /// Samples.
    pub rows: Vec<Row>,
    series: Vec<NewSeries>,
    sites: Vec<NewSite>,
    /// Events a source adds besides warnings (a JVM's holders).
    events: Vec<Event>,
    next_alias: SeriesId,
}

impl Default for Draft {
    fn default() -> Draft {
        Draft {
            rows: Vec::new(),
            series: Vec::new(),
            sites: Vec::new(),
            events: Vec::new(),
            next_alias: -1,
        }
    }
}

impl Draft {
    /// A new series, created with this interval: its alias.
    fn create(&mut self, spec: &SeriesSpec) -> SeriesId {
        let alias = self.next_alias;
        self.next_alias -= 1;
        self.series.push(NewSeries {
            alias,
            name: spec.name.to_string(),
            labels: spec.labels.clone(),
            kind: spec.kind,
            unit: spec.unit.as_str().to_string(),
        });
        alias
    }

    /// Names an allocation site with this interval.
    pub fn name_site(&mut self, site: NewSite) {
        self.sites.push(site);
    }

    /// Adds an event with this interval.
    pub fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    /// The interval read, with `events`; the draft starts over (aliases go on).
    pub fn take(&mut self, mut events: Vec<Event>) -> Interval {
        events.append(&mut self.events);
        Interval {
            series: std::mem::take(&mut self.series),
            sites: std::mem::take(&mut self.sites),
            rows: std::mem::take(&mut self.rows),
            events,
        }
    }
}

/// The catalog holds as many series as it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Ids (or aliases) of the series created so far in one run, by labels then name (so that a
/// lookup of a known series allocates nothing), up to a bound.
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

    /// The id of `spec`, or the alias of a series created with `draft` on first use.
    pub fn id(&mut self, draft: &mut Draft, spec: &SeriesSpec) -> Result<SeriesId, Full> {
        if let Some(id) = self.ids.get(spec.labels).and_then(|m| m.get(spec.name)) {
            return Ok(*id);
        }
        if self.len >= self.max {
            return Err(Full);
        }
        let id = draft.create(spec);
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

    #[test]
    fn creates_once_with_the_interval_and_stops_at_its_bound() {
        let mut c = Catalog::new(2);
        let mut draft = Draft::default();
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
        let x = c.id(&mut draft, &spec("x", &a)).unwrap();
        let xb = c.id(&mut draft, &spec("x", &b)).unwrap();
        assert_eq!((x, xb), (-1, -2), "labels tell series apart");
        let first = draft.take(Vec::new());
        assert_eq!(first.series.len(), 2);
        assert_eq!(first.series[1].labels, b);
        assert_eq!(c.id(&mut draft, &spec("x", &a)), Ok(x));
        assert_eq!(c.id(&mut draft, &spec("y", &a)), Err(Full));
        assert!(draft.take(Vec::new()).series.is_empty(), "created once");
    }
}
