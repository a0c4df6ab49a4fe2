//! Level shifts in the floor: up-jumps (a cache loaded, a staircase leak, an allocator
//! high-water mark) and drops (a restart gives its memory back).
//!
//! A shift at k compares the median of the `m` floor points up to k with the median of the `m`
//! after it, so a lone spike is not a jump. The threshold is 6 robust standard deviations of
//! the point-to-point differences (1.4826·MAD) above what the typical slope gives over `m`
//! points: a steady ramp is not a staircase.

/// A level shift found in the floor.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Shift {
    /// Index of the last floor point before the shift.
    pub index: usize,
    /// Time between the two floor points around the shift (unix seconds).
    pub t: f64,
    /// Size of the shift (positive up).
    pub size: f64,
}

const SIDE: usize = 3;

fn median3(v: &[f64]) -> f64 {
    let mut a = v.to_vec();
    a.sort_by(f64::total_cmp);
    let n = a.len();
    if n % 2 == 1 {
        a[n / 2]
    } else {
        (a[n / 2 - 1] + a[n / 2]) / 2.0
    }
}

/// The change of level between floor points `k` and `k + 1`: the median of the `SIDE` points
/// after less the median of the `SIDE` up to `k` (fewer at either end).
pub fn level_change(v: &[f64], k: usize) -> f64 {
    let after = &v[k + 1..(k + 1 + SIDE).min(v.len())];
    let before = &v[(k + 1).saturating_sub(SIDE)..=k];
    median3(after) - median3(before)
}

/// Level shifts of the floor `(t, v)`, strongest first suppressed within `SIDE` points of each
/// other, returned in time order.
pub fn find_shifts(t: &[f64], v: &[f64]) -> Vec<Shift> {
    let n = v.len();
    if n < 2 * SIDE + 2 {
        return Vec::new();
    }
    let range = v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - v.iter().copied().fold(f64::INFINITY, f64::min);
    let raw: Vec<Shift> = (SIDE - 1..n - SIDE)
        .map(|k| Shift {
            index: k,
            t: (t[k] + t[k + 1]) / 2.0,
            size: level_change(v, k),
        })
        .collect();
    // The typical shift is the drift of a ramp; its spread is what wander and noise do over
    // a few points, however smooth. A real jump stands out from both.
    let sizes: Vec<f64> = raw.iter().map(|s| s.size).collect();
    let drift = median3(&sizes);
    let spread = 1.4826 * median3(&sizes.iter().map(|s| (s - drift).abs()).collect::<Vec<_>>());
    let threshold = (6.0 * spread).max(0.01 * range).max(f64::MIN_POSITIVE);
    let mut cands: Vec<Shift> = raw
        .into_iter()
        .filter(|s| (s.size - drift).abs() > threshold)
        .collect();
    cands.sort_by(|a, b| (b.size - drift).abs().total_cmp(&(a.size - drift).abs()));
    // A jump happens between two floor points; a rise spread over many points is a ramp or a
    // warm-up, whatever its size. So the biggest step near the shift must carry half of it
    // and stand out (three times) from the other steps around it: on a steep warm-up every
    // step is big.
    let sharp = |s: &Shift| {
        let k = s.index;
        let (at, biggest) = (k.saturating_sub(1)..=(k + 1).min(n - 2))
            .map(|i| (i, v[i + 1] - v[i]))
            .fold(
                (k, 0.0f64),
                |m, (i, d)| if d.abs() > m.1.abs() { (i, d) } else { m },
            );
        let others: Vec<f64> = (at.saturating_sub(SIDE)..(at + SIDE + 1).min(n - 1))
            .filter(|&i| i != at)
            .map(|i| (v[i + 1] - v[i]).abs())
            .collect();
        let typical = if others.is_empty() {
            0.0
        } else {
            median3(&others)
        };
        biggest.signum() == s.size.signum()
            && biggest.abs() >= 0.5 * s.size.abs()
            && biggest.abs() >= 3.0 * typical
    };
    cands.retain(sharp);
    let mut chosen: Vec<Shift> = Vec::new();
    for c in cands {
        if chosen.iter().all(|s| s.index.abs_diff(c.index) >= SIDE) {
            chosen.push(c);
        }
    }
    chosen.sort_by_key(|s| s.index);
    chosen
}

/// A level shift within the last [`SIDE`] points of the floor `(t, v)`, where [`find_shifts`]
/// cannot see one or would take it for the start of a staircase: a program that dumps its state
/// or frees its memory as it exits, a reading of a process already gone. The step between
/// two neighbouring points must stand out, like a jump, from the drift and spread of all the
/// steps (6 robust standard deviations and 1% of the range), be three times any step just
/// before it, and the level after it must hold to the end. The size is measured from the
/// level the drift would have reached. `None` when there is no such shift, or too few points.
pub fn end_shift(t: &[f64], v: &[f64]) -> Option<Shift> {
    let n = v.len();
    if n < 4 * SIDE {
        return None;
    }
    let d: Vec<f64> = v.windows(2).map(|w| w[1] - w[0]).collect();
    let drift = median3(&d);
    let spread = 1.4826 * median3(&d.iter().map(|x| (x - drift).abs()).collect::<Vec<_>>());
    let range = v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - v.iter().copied().fold(f64::INFINITY, f64::min);
    let threshold = (6.0 * spread).max(0.01 * range).max(f64::MIN_POSITIVE);
    (1..=SIDE)
        .filter_map(|k| {
            // The shift lies between points n - k - 1 and n - k.
            let i = n - k - 1;
            let step = d[i] - drift;
            let before = d[i - SIDE..i]
                .iter()
                .map(|x| (x - drift).abs())
                .fold(0.0, f64::max);
            let holds = (i + 1..n).all(|j| {
                let expected = v[i + 1] + drift * (j - i - 1) as f64;
                (v[j] - expected).abs() < 0.5 * step.abs()
            });
            (step.abs() > threshold && step.abs() >= 3.0 * before && holds).then(|| {
                let after = v[i + 1..].iter().sum::<f64>() / k as f64;
                let reached = v[i] + drift * (1.0 + (k - 1) as f64 / 2.0);
                Shift {
                    index: i,
                    t: (t[i] + t[i + 1]) / 2.0,
                    size: after - reached,
                }
            })
        })
        .max_by(|a, b| a.size.abs().total_cmp(&b.size.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(n: usize) -> Vec<f64> {
        // Deterministic noise, uniform in [-6, 6).
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 11) as f64 / (1u64 << 53) as f64 * 12.0 - 6.0
            })
            .collect()
    }

    #[test]
    fn finds_one_step() {
        let t: Vec<f64> = (0..100).map(f64::from).collect();
        let v: Vec<f64> = noisy(100)
            .iter()
            .enumerate()
            .map(|(i, e)| 1000.0 + e + if i > 50 { 200.0 } else { 0.0 })
            .collect();
        let s = find_shifts(&t, &v);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].index, 50);
        assert!((s[0].size - 200.0).abs() < 15.0);
    }

    #[test]
    fn a_ramp_and_a_spike_are_not_shifts() {
        let t: Vec<f64> = (0..100).map(f64::from).collect();
        let mut v: Vec<f64> = noisy(100)
            .iter()
            .enumerate()
            .map(|(i, e)| 1000.0 + 10.0 * i as f64 + e)
            .collect();
        v[30] += 500.0;
        assert!(find_shifts(&t, &v).is_empty());
    }

    #[test]
    fn a_shift_in_the_last_points_is_found_at_the_end() {
        let t: Vec<f64> = (0..60).map(f64::from).collect();
        let ramp: Vec<f64> = noisy(60)
            .iter()
            .enumerate()
            .map(|(i, e)| 1000.0 + 10.0 * i as f64 + e)
            .collect();
        assert!(end_shift(&t, &ramp).is_none(), "a ramp has no end");
        for k in 1..=SIDE {
            let mut v = ramp.clone();
            for x in &mut v[60 - k..] {
                *x += 300.0;
            }
            let s = end_shift(&t, &v).expect("the jump at the end");
            assert_eq!(s.index, 59 - k, "{k}");
            assert!((s.size - 300.0).abs() < 20.0, "{s:?}");
            if k == 1 {
                assert!(find_shifts(&t, &v).is_empty(), "find_shifts cannot see it");
            }
        }
        let mut v = ramp.clone();
        v[58] = 0.0;
        v[59] = 0.0;
        let s = end_shift(&t, &v).expect("a drop to nothing");
        assert!(s.size < -1000.0, "{s:?}");
        // A spike that comes back is no shift.
        let mut v = ramp;
        v[57] += 300.0;
        assert!(end_shift(&t, &v).is_none());
    }

    #[test]
    fn finds_drops() {
        let t: Vec<f64> = (0..90).map(f64::from).collect();
        let v: Vec<f64> = (0..90).map(|i| 100.0 + (i % 30) as f64 * 10.0).collect();
        let s = find_shifts(&t, &v);
        assert_eq!(s.iter().filter(|s| s.size < 0.0).count(), 2, "{s:?}");
    }
}
