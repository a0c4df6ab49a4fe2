//! When to look again, and at what confidence, so that a verdict checked repeatedly during a
//! soak keeps its error rate.
//!
//! Looks happen at geometrically growing spans (each 1.5 times the last). Look k spends
//! α·6/(π²k²) of the error budget; these sum to α over all looks (Σ 1/k² = π²/6), so by the
//! union bound the chance of any wrong conclusive verdict over the whole soak stays at most α.
//! Conservative but simple and honest; the cost is a wider interval at late looks.

/// The schedule of looks of a sequential verdict.
#[derive(Debug, Clone)]
pub struct SequentialLooks {
    next_span: f64,
    looks: u32,
    alpha: f64,
}

impl SequentialLooks {
    /// First look once `first_span` seconds are observed; overall error budget `alpha` (0.05).
    pub fn new(first_span: f64, alpha: f64) -> SequentialLooks {
        SequentialLooks {
            next_span: first_span,
            looks: 0,
            alpha,
        }
    }

    /// If a look is due at `span` seconds, the confidence level to decide at.
    pub fn due(&mut self, span: f64) -> Option<f64> {
        if span < self.next_span {
            return None;
        }
        self.looks += 1;
        while self.next_span <= span {
            self.next_span *= 1.5;
        }
        let k = f64::from(self.looks);
        Some(1.0 - self.alpha * 6.0 / (std::f64::consts::PI.powi(2) * k * k))
    }

    /// Looks taken so far.
    pub fn looks(&self) -> u32 {
        self.looks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_budget_sums_to_at_most_alpha() {
        let mut s = SequentialLooks::new(60.0, 0.05);
        let mut spent = 0.0;
        let mut span = 60.0;
        while span < 1e9 {
            if let Some(c) = s.due(span) {
                spent += 1.0 - c;
            }
            span *= 1.1;
        }
        assert!(spent < 0.05 && spent > 0.04, "{spent}");
        assert!(s.looks() > 20);
    }

    #[test]
    fn no_look_before_the_first_span() {
        let mut s = SequentialLooks::new(60.0, 0.05);
        assert_eq!(s.due(59.0), None);
        assert!(s.due(60.0).unwrap() > 0.95);
        assert_eq!(s.due(61.0), None);
    }
}
