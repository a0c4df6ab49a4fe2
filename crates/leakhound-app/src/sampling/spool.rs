//! The spool: intervals read but not stored yet, oldest first. The sampling thread puts each
//! interval here and goes on; the [writer](super::writer) takes them out and stores them. When
//! the database refuses (disk full, locked by another connection, slow), they wait here, up to
//! a bound that keeps leakhound from becoming the process that fills the memory.

use std::collections::VecDeque;

use leakhound_store::{Event, NewSeries, NewSite};

/// One row of an interval: series, time, value.
pub type Row = (leakhound_store::SeriesId, f64, f64);

/// Most samples held while the database refuses writes (24 bytes each: 24 MB; at 100
/// processes every second, about a quarter of an hour). Beyond it the oldest are dropped.
pub const MAX_HELD_SAMPLES: usize = 1_000_000;

/// One interval as written in one transaction: the series and sites it is the first to use,
/// its samples and its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interval {
    /// Series created in this interval's transaction (its rows name them by alias).
    pub series: Vec<NewSeries>,
    /// Allocation sites named in it.
    pub sites: Vec<NewSite>,
    /// Samples.
    pub rows: Vec<Row>,
    /// Events (exits, restarts, warnings).
    pub events: Vec<Event>,
}

/// Intervals held, oldest first, within a bound.
#[derive(Debug)]
pub struct Spool {
    held: VecDeque<Interval>,
    held_samples: usize,
    max_samples: usize,
    /// Samples of held intervals given up because too many were held.
    dropped_samples: u64,
}

impl Spool {
    /// A spool that holds at most `max_samples` samples.
    pub fn new(max_samples: usize) -> Spool {
        Spool {
            held: VecDeque::new(),
            held_samples: 0,
            max_samples,
            dropped_samples: 0,
        }
    }

    /// Samples held now.
    pub fn held_samples(&self) -> usize {
        self.held_samples
    }

    /// Intervals held now.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Samples given up so far because more than the bound were held.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped_samples
    }

    /// The time of the oldest sample held.
    pub fn oldest_time(&self) -> Option<f64> {
        self.held.iter().find_map(|i| i.rows.first().map(|r| r.1))
    }

    /// Holds `interval` after the others. Beyond the bound the oldest intervals are dropped,
    /// but the series and sites they were the first to use move on to the next one, so later
    /// samples of those series still find them. Returns whether this was the first drop.
    pub fn push(&mut self, interval: Interval) -> bool {
        self.held_samples += interval.rows.len();
        self.held.push_back(interval);
        let first_drop = self.dropped_samples == 0;
        let mut dropped = false;
        while self.held_samples > self.max_samples {
            let Some(old) = self.held.pop_front() else {
                break;
            };
            self.held_samples -= old.rows.len();
            self.dropped_samples += old.rows.len() as u64;
            dropped = true;
            if !old.series.is_empty() || !old.sites.is_empty() {
                let declared = Interval {
                    series: old.series,
                    sites: old.sites,
                    ..Interval::default()
                };
                match self.held.front_mut() {
                    Some(next) => {
                        let mut series = declared.series;
                        series.append(&mut next.series);
                        next.series = series;
                        let mut sites = declared.sites;
                        sites.append(&mut next.sites);
                        next.sites = sites;
                    }
                    None => self.held.push_back(declared),
                }
            }
        }
        dropped && first_drop
    }

    /// Takes the oldest interval out.
    pub fn pop(&mut self) -> Option<Interval> {
        let i = self.held.pop_front()?;
        self.held_samples -= i.rows.len();
        Some(i)
    }

    /// Puts back an interval taken by [`pop`](Self::pop) that could not be stored: it stays
    /// the oldest.
    pub fn unpop(&mut self, interval: Interval) {
        self.held_samples += interval.rows.len();
        self.held.push_front(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_store::SeriesKind;

    fn interval(t: f64, samples: usize) -> Interval {
        Interval {
            rows: (0..samples).map(|s| (s as i64, t, 1.0)).collect(),
            ..Interval::default()
        }
    }

    fn times(s: &mut Spool) -> Vec<f64> {
        std::iter::from_fn(|| s.pop())
            .filter_map(|i| i.rows.first().map(|r| r.1))
            .collect()
    }

    #[test]
    fn intervals_come_out_oldest_first_and_a_failed_one_goes_back_in_front() {
        let mut s = Spool::new(100);
        for t in 1..=3 {
            s.push(interval(f64::from(t), 3));
        }
        assert_eq!((s.len(), s.held_samples()), (3, 9));
        let first = s.pop().unwrap();
        s.unpop(first);
        assert_eq!(s.oldest_time(), Some(1.0));
        assert_eq!(times(&mut s), [1.0, 2.0, 3.0]);
        assert!(s.is_empty());
    }

    #[test]
    fn beyond_the_bound_the_oldest_are_dropped_but_their_new_series_are_kept() {
        let mut s = Spool::new(5);
        let new = NewSeries {
            alias: -1,
            name: "late".into(),
            labels: Default::default(),
            kind: SeriesKind::Gauge,
            unit: "bytes".into(),
        };
        let mut first = interval(1.0, 2);
        first.series.push(new.clone());
        assert!(!s.push(first));
        assert!(!s.push(interval(2.0, 2)));
        assert!(s.push(interval(3.0, 2)), "the first drop is said");
        assert!(!s.push(interval(4.0, 2)), "once");
        assert_eq!(s.held_samples(), 4, "two intervals kept of four");
        assert_eq!(s.dropped_samples(), 4);
        let next = s.pop().unwrap();
        assert_eq!(next.rows[0].1, 3.0);
        assert_eq!(next.series, [new], "the series moved on with the samples");
    }
}
