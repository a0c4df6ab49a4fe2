//! Sample times that never jump.

use std::time::Instant;

/// Wall-clock time that never jumps: the start's wall time plus monotonic time elapsed, so a
/// clock change during a run does not break the series.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall0: f64,
    mono0: Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn start() -> Clock {
        let wall0 = leakhound_time::unix_now();
        Clock {
            wall0,
            mono0: Instant::now(),
        }
    }

    /// Unix seconds now, by this clock, to the millisecond: finer than any sampling interval,
    /// and what lets the store keep times as integers (delta-of-delta compresses them to a few
    /// bits each).
    pub fn now(&self) -> f64 {
        ((self.wall0 + self.mono0.elapsed().as_secs_f64()) * 1e3).round() / 1e3
    }

    /// Unix seconds at the start.
    pub fn start_time(&self) -> f64 {
        self.wall0
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.mono0.elapsed().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_the_start_plus_elapsed() {
        let c = Clock::start();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (elapsed, now) = (c.elapsed(), c.now());
        assert!(elapsed >= 0.02);
        assert!(
            (now - c.start_time() - elapsed).abs() < 0.01,
            "{now} {elapsed}"
        );
        assert_eq!((now * 1e3).round() / 1e3, now, "to the millisecond");
    }
}
