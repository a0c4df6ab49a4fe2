//! When an allocation profiler reports: densely at the start, thinning as the run goes on.
//!
//! A fixed 30 s gave a one-minute soak two reports, too few to judge any site, while a
//! week-long watch needs no more than one report every 30 s. The gap between reports is a
//! fixed fraction of the time the profiler has been running, between a floor and a ceiling:
//! with the defaults (3 s, 15%, 30 s) a 60 s run gets 14 reports, 2 minutes 19, and from
//! 200 s on the cadence is today's 30 s, so long runs cost what they did.
//! `--sites-interval` makes the gap fixed.

use std::time::Duration;

/// The gap between reports as a function of the time since profiling started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Shortest gap (also the first report's delay), milliseconds.
    pub min_ms: u64,
    /// Longest gap, milliseconds.
    pub max_ms: u64,
}

impl Schedule {
    /// The default floor: a profile every 3 s at the start.
    pub const DEFAULT_MIN_MS: u64 = 3_000;
    /// The default ceiling: a profile every 30 s once the run is long.
    pub const DEFAULT_MAX_MS: u64 = 30_000;
    /// The gap as a fraction of the time elapsed (between the floor and the ceiling).
    pub const GROWTH: f64 = 0.15;

    /// The default schedule: dense at first, every 30 s from about 200 s on.
    pub const fn thinning() -> Schedule {
        Schedule {
            min_ms: Self::DEFAULT_MIN_MS,
            max_ms: Self::DEFAULT_MAX_MS,
        }
    }

    /// A fixed gap (`--sites-interval`).
    pub const fn fixed(ms: u64) -> Schedule {
        Schedule {
            min_ms: ms,
            max_ms: ms,
        }
    }

    /// Whether the gap never changes.
    pub fn is_fixed(&self) -> bool {
        self.min_ms >= self.max_ms
    }

    /// The gap after a report taken `elapsed_ms` after profiling started.
    pub fn gap_ms(&self, elapsed_ms: u64) -> u64 {
        let grown = (elapsed_ms as f64 * Self::GROWTH) as u64;
        grown.clamp(self.min_ms, self.max_ms.max(self.min_ms))
    }

    /// [`Schedule::gap_ms`] as a `Duration`.
    pub fn gap(&self, elapsed: Duration) -> Duration {
        Duration::from_millis(self.gap_ms(elapsed.as_millis().min(u64::MAX as u128) as u64))
    }

    /// The times of the reports within `span_ms` of the start, milliseconds.
    pub fn times_ms(&self, span_ms: u64) -> impl Iterator<Item = u64> + '_ {
        let mut t = 0u64;
        std::iter::from_fn(move || {
            t = t.saturating_add(self.gap_ms(t).max(1));
            (t <= span_ms).then_some(t)
        })
    }
}

impl Schedule {
    /// When the `n`th report (from 1) comes, milliseconds after the start.
    pub fn time_of(&self, n: usize) -> u64 {
        self.times_ms(u64::MAX)
            .nth(n.saturating_sub(1))
            .unwrap_or(u64::MAX)
    }
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule::thinning()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_runs_get_many_reports_and_long_ones_no_more_than_every_30s() {
        let s = Schedule::thinning();
        assert_eq!(s.times_ms(60_000).count(), 14);
        assert!(s.times_ms(60_000).count() >= 12, "the issue's floor");
        assert_eq!(s.times_ms(120_000).count(), 19);
        assert_eq!(s.time_of(1), 3_000);
        assert_eq!(s.time_of(10), 31_937);
        assert_eq!(s.gap_ms(0), 3_000);
        assert_eq!(s.gap_ms(100_000), 15_000);
        assert_eq!(s.gap_ms(200_000), 30_000);
        assert_eq!(s.gap_ms(7 * 86_400_000), 30_000);
        // A week costs what a fixed 30 s costs, within the handful of early reports.
        let week = 7 * 86_400_000;
        let thinning = s.times_ms(week).count();
        let fixed = Schedule::fixed(30_000).times_ms(week).count();
        assert!(
            thinning >= fixed && thinning <= fixed + 20,
            "{thinning} vs {fixed}"
        );
    }

    #[test]
    fn a_fixed_gap_stays_fixed() {
        let s = Schedule::fixed(5_000);
        assert!(s.is_fixed());
        assert!(!Schedule::thinning().is_fixed());
        assert_eq!(s.gap_ms(0), 5_000);
        assert_eq!(s.gap_ms(1_000_000), 5_000);
        assert_eq!(s.times_ms(60_000).count(), 12);
        assert_eq!(s.gap(Duration::from_secs(3600)), Duration::from_secs(5));
    }
}
