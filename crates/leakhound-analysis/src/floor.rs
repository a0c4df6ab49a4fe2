//! The floor: the lower envelope of a memory series. Garbage-collector sawtooth, bursts and
//! load live above it; leaks accumulate in it. Computed per time window as a low quantile
//! (the minimum for small windows), so one glitch sample does not define it.

/// The floor of a series: one point per non-empty window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Floor {
    /// Mean time of the samples in each window (unix seconds).
    pub t: Vec<f64>,
    /// Floor value in each window.
    pub v: Vec<f64>,
    /// Window width, seconds.
    pub window: f64,
}

/// Median of the gaps between consecutive times (0 for fewer than 2 samples).
pub fn median_interval(t: &[f64]) -> f64 {
    let mut d: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    if d.is_empty() {
        return 0.0;
    }
    let mid = d.len() / 2;
    *d.select_nth_unstable_by(mid, f64::total_cmp).1
}

/// The window leakhound uses for a series: about 300 windows over the span, each holding at
/// least 5 samples, and wide enough to hold a trough of a garbage-collector sawtooth when one
/// is seen (1.5 times the median time between sharp drops), as long as that leaves at least
/// 20 windows. Short series keep every sample as its own point.
pub fn default_window(t: &[f64], y: &[f64]) -> f64 {
    if t.len() < 2 {
        return 1.0;
    }
    let span = t[t.len() - 1] - t[0];
    let dt = median_interval(t).max(1e-9);
    let base = if t.len() < 60 {
        dt
    } else {
        (span / 300.0).max(5.0 * dt)
    };
    match sawtooth_period(t, y) {
        Some(p) if 1.5 * p <= span / 20.0 => base.max(1.5 * p),
        _ => base,
    }
}

/// Median time between sharp drops (more than 6 robust standard deviations of the
/// sample-to-sample changes): the period of a GC sawtooth, if there is one.
pub fn sawtooth_period(t: &[f64], y: &[f64]) -> Option<f64> {
    let drops: Vec<f64> = sharp_drops(y)?.iter().map(|&i| t[i + 1]).collect();
    if drops.len() < 4 {
        return None;
    }
    let mut gaps: Vec<f64> = drops.windows(2).map(|w| w[1] - w[0]).collect();
    let m = gaps.len() / 2;
    Some(*gaps.select_nth_unstable_by(m, f64::total_cmp).1)
}

/// Indices `i` where `y[i + 1]` drops sharply below `y[i]` (and below the typical change by
/// more than 6 robust standard deviations of the changes): collections of a GC sawtooth.
fn sharp_drops(y: &[f64]) -> Option<Vec<usize>> {
    let d: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
    if d.len() < 10 {
        return None;
    }
    let mut a = d.clone();
    let mid = a.len() / 2;
    let med = *a.select_nth_unstable_by(mid, f64::total_cmp).1;
    let mut dev: Vec<f64> = d.iter().map(|x| (x - med).abs()).collect();
    let mad = *dev.select_nth_unstable_by(mid, f64::total_cmp).1 * 1.4826;
    let range = y.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - y.iter().copied().fold(f64::INFINITY, f64::min);
    let thr = (6.0 * mad).max(1e-3 * range);
    // A collection gives memory back: on a steep climb a slower step is not a drop.
    Some(
        (0..d.len())
            .filter(|&i| d[i] < (med - thr).min(0.0))
            .collect(),
    )
}

/// The floor leakhound uses. With a GC sawtooth (at least 10 sharp drops), the floor is made of
/// the values just after each collection (the lower of the two samples after a drop), the
/// lowest per window when there are many: exactly "memory just after GC". Otherwise it is a
/// low quantile per window of [`default_window`]. Windows at either end holding less than half
/// the usual number of samples are dropped, since a quantile of fewer samples sits higher and
/// would tilt the trend.
pub fn floor_of(t: &[f64], y: &[f64]) -> Floor {
    let window = default_window(t, y);
    if let Some(drops) = sharp_drops(y).filter(|d| d.len() >= 10) {
        let (pt, pv): (Vec<f64>, Vec<f64>) = drops
            .iter()
            .map(|&i| {
                let j = if i + 2 < y.len() && y[i + 2] < y[i + 1] {
                    i + 2
                } else {
                    i + 1
                };
                (t[j], y[j])
            })
            .unzip();
        let span = t[t.len() - 1] - t[0];
        let w = (span / 300.0).max(f64::MIN_POSITIVE);
        let mut f = floor_min(&pt, &pv, w);
        f.window = w;
        return f;
    }
    let mut f = floor(t, y, window);
    trim_partial_ends(t, &mut f);
    f
}

/// Lowest value per window (for points that are already troughs).
fn floor_min(t: &[f64], y: &[f64], window: f64) -> Floor {
    let mut out = Floor {
        t: Vec::new(),
        v: Vec::new(),
        window,
    };
    let t0 = t[0];
    let mut i = 0;
    while i < t.len() {
        let bucket = ((t[i] - t0) / window).floor();
        let mut best = i;
        let mut j = i + 1;
        while j < t.len() && ((t[j] - t0) / window).floor() == bucket {
            if y[j] < y[best] {
                best = j;
            }
            j += 1;
        }
        out.t.push(t[best]);
        out.v.push(y[best]);
        i = j;
    }
    out
}

fn trim_partial_ends(t: &[f64], f: &mut Floor) {
    if f.t.len() < 12 {
        return;
    }
    let dt = median_interval(t).max(1e-9);
    let full = f.window / dt;
    if full < 4.0 {
        return;
    }
    let t0 = t[0];
    let window = f.window;
    // Samples in the bucket of the floor point at time `at`.
    let count = |at: f64| -> f64 {
        let b = ((at - t0) / window).floor();
        t.iter()
            .filter(|&&x| ((x - t0) / window).floor() == b)
            .count() as f64
    };
    if count(f.t[f.t.len() - 1]) < 0.5 * full {
        f.t.pop();
        f.v.pop();
    }
    if count(f.t[0]) < 0.5 * full {
        f.t.remove(0);
        f.v.remove(0);
    }
}

/// The floor of `(t, y)` over windows of `window` seconds. `t` must be sorted.
pub fn floor(t: &[f64], y: &[f64], window: f64) -> Floor {
    let mut out = Floor {
        t: Vec::new(),
        v: Vec::new(),
        window,
    };
    if t.is_empty() {
        return out;
    }
    let t0 = t[0];
    let mut start = 0;
    let mut buf: Vec<f64> = Vec::new();
    while start < t.len() {
        let bucket = ((t[start] - t0) / window).floor();
        let mut end = start + 1;
        while end < t.len() && ((t[end] - t0) / window).floor() == bucket {
            end += 1;
        }
        buf.clear();
        buf.extend_from_slice(&y[start..end]);
        let k = ((buf.len() - 1) as f64 * 0.05).floor() as usize;
        let v = *buf.select_nth_unstable_by(k, f64::total_cmp).1;
        out.t
            .push(t[start..end].iter().sum::<f64>() / (end - start) as f64);
        out.v.push(v);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_of_a_sawtooth_is_its_troughs() {
        // Sawtooth of period 10 s on a rising base: troughs are base, peaks base + 90.
        let t: Vec<f64> = (0..1000).map(f64::from).collect();
        let y: Vec<f64> = t.iter().map(|&t| 1000.0 + t + (t % 10.0) * 10.0).collect();
        let f = floor(&t, &y, 20.0);
        assert_eq!(f.t.len(), 50);
        for (ft, fv) in f.t.iter().zip(&f.v) {
            // The trough of the window is at most one period behind its mean time.
            assert!((fv - (1000.0 + ft)).abs() <= 20.0, "{ft} {fv}");
        }
    }

    #[test]
    fn window_covers_a_sawtooth_period() {
        // 2 h at 1 s with a 60 s sawtooth of 5 MB on a slow ramp.
        let t: Vec<f64> = (0..7200).map(f64::from).collect();
        let y: Vec<f64> = t
            .iter()
            .map(|&t| 100e6 + t * 10.0 + (t % 60.0) * 83e3)
            .collect();
        assert_eq!(sawtooth_period(&t, &y), Some(60.0));
        assert!(default_window(&t, &y) >= 90.0);
        let flat: Vec<f64> = t.iter().map(|&t| 100e6 + (t * 0.7).sin() * 1e3).collect();
        assert_eq!(default_window(&t, &flat), 7199.0 / 300.0);
    }

    #[test]
    fn one_low_glitch_does_not_define_a_large_window() {
        let t: Vec<f64> = (0..100).map(f64::from).collect();
        let mut y = vec![50.0; 100];
        y[40] = 0.0;
        let f = floor(&t, &y, 100.0);
        assert_eq!(f.v, vec![50.0]);
    }

    #[test]
    fn windows_skip_gaps() {
        let t = [0.0, 1.0, 2.0, 100.0, 101.0];
        let y = [5.0, 4.0, 6.0, 9.0, 8.0];
        let f = floor(&t, &y, 10.0);
        assert_eq!(f.v, vec![4.0, 8.0]);
        assert_eq!(median_interval(&t), 1.0);
    }
}
