//! The verdict policy: what growth is accepted, the memory limit, the confidence and the load
//! assumption. Parsed once from the command line; every judgement (at the end of a run, at each
//! sequential look, in a fleet) takes it typed.

use leakhound_analysis::{default_tolerance, Config, Load, DEFAULT_CONFIDENCE};

/// How a series is judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Growth accepted for memory series, bytes per day; `None`: the default rule.
    pub tolerance: Option<f64>,
    /// Memory limit, bytes; `None`: the run's recorded limit.
    pub limit: Option<f64>,
    /// Confidence level of intervals and verdicts.
    pub confidence: f64,
    /// What drives the working set.
    pub load: Load,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::with_load(Load::Auto)
    }
}

impl Policy {
    /// Default tolerance, limit and confidence under `load`.
    pub fn with_load(load: Load) -> Policy {
        Policy {
            tolerance: None,
            limit: None,
            confidence: DEFAULT_CONFIDENCE,
            load,
        }
    }

    /// The same policy deciding at `confidence` (a sequential look spends less error).
    pub fn at_confidence(&self, confidence: f64) -> Policy {
        Policy {
            confidence,
            ..self.clone()
        }
    }

    /// The tolerance for a series of these `values`: the user's for memory, else 1 MiB/day
    /// (1/day for counts) or 0.2% (1%) of the median level per day, whichever is larger, so
    /// large processes are not held to a standard their noise cannot meet. `--tolerance` is a
    /// memory rate, so count series (fds, threads) keep their own default.
    pub fn tolerance_for(&self, values: &[f64], bytes: bool) -> f64 {
        match self.tolerance.filter(|_| bytes) {
            Some(t) => t,
            None => default_tolerance(values, bytes),
        }
    }

    /// The analysis configuration for one series: memory series take the limit (the user's,
    /// else `recorded_limit`), counts take none.
    pub fn config(
        &self,
        values: &[f64],
        bytes: bool,
        recorded_limit: Option<f64>,
        restarts: &[f64],
    ) -> Config {
        let mut cfg = Config::with_tolerance(self.tolerance_for(values, bytes));
        cfg.limit = if bytes {
            self.limit.or(recorded_limit)
        } else {
            None
        };
        cfg.restarts = restarts.to_vec();
        cfg.confidence = self.confidence;
        cfg.load = self.load;
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_tolerance_applies_to_memory_only() {
        let p = Policy {
            tolerance: Some(2e6),
            ..Policy::default()
        };
        let level = vec![5e9; 100];
        assert_eq!(p.tolerance_for(&level, true), 2e6);
        assert_eq!(p.tolerance_for(&[40.0; 10], false), 1.0, "fds keep 1/day");
        assert_eq!(
            Policy::default().tolerance_for(&level, true),
            1e7,
            "0.2% of 5 GB beats 1 MiB"
        );
        assert_eq!(Policy::default().tolerance_for(&[1e6; 10], true), 1048576.0);
    }

    #[test]
    fn config_carries_limit_confidence_and_load() {
        let p = Policy {
            limit: None,
            ..Policy::with_load(Load::Constant)
        }
        .at_confidence(0.99);
        let cfg = p.config(&[1e8; 10], true, Some(2e9), &[5.0]);
        assert_eq!(cfg.limit, Some(2e9), "the recorded limit without --limit");
        assert_eq!(cfg.confidence, 0.99);
        assert_eq!(cfg.load, Load::Constant);
        assert_eq!(cfg.restarts, [5.0]);
        let user = Policy {
            limit: Some(1e9),
            ..Policy::default()
        };
        assert_eq!(
            user.config(&[1e8; 10], true, Some(2e9), &[]).limit,
            Some(1e9)
        );
        assert_eq!(user.config(&[30.0; 10], false, Some(2e9), &[]).limit, None);
    }
}
