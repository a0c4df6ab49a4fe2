//! The chunk format: one block of one series, its samples or its floor summaries, as columns
//! compressed with pco (pcodec).
//!
//! pco was chosen over Gorilla-style XOR (`tsz`) and zstd over delta-encoded columns by
//! measuring all three on the same series (`bench/codecs`): it keeps page-aligned memory in
//! 1.98 bytes per sample where zstd needs 2.44 and Gorilla 3.27, and decodes fastest. It finds
//! by itself what a hand-written codec would hard-code: delta-of-delta for regular times, the
//! common factor (4096) of page-aligned bytes, the decimal grid of floats.
//!
//! Nothing is lost: times are kept as integer milliseconds (or microseconds) only when that
//! gives back exactly the same `f64`, values as integers only when they are integers; anything
//! else is kept as `f64`.
//!
//! Layout: a version byte, the kind (samples or summaries), how times are kept, how values are
//! kept, then each column as a varint length and a pco standalone stream.

use crate::StoreError;

const VERSION: u8 = 1;

/// What a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkKind {
    /// Samples: times and values.
    Samples = 0,
    /// Floor summaries, one per window.
    Summaries = 1,
}

impl ChunkKind {
    pub(crate) fn from_i64(k: i64) -> Option<ChunkKind> {
        match k {
            0 => Some(ChunkKind::Samples),
            1 => Some(ChunkKind::Summaries),
            _ => None,
        }
    }
}

/// How a column of times or values is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Repr {
    /// Integers: the value times `scale` (1000 for milliseconds, 1 for values).
    Int(f64),
    /// The `f64` itself.
    Float,
}

impl Repr {
    fn code(self) -> u8 {
        match self {
            Repr::Int(1.0) => 0,
            Repr::Int(1e3) => 1,
            Repr::Int(_) => 2,
            Repr::Float => 3,
        }
    }
    fn from_code(c: u8) -> Option<Repr> {
        Some(match c {
            0 => Repr::Int(1.0),
            1 => Repr::Int(1e3),
            2 => Repr::Int(1e6),
            3 => Repr::Float,
            _ => return None,
        })
    }
}

/// Largest magnitude kept as an integer: every integer up to it is exact in an `f64`.
const MAX_EXACT: f64 = 9.0e15;

/// `xs` times `scale` as integers, if every one of them comes back exactly.
fn as_ints(xs: &[f64], scale: f64) -> Option<Vec<i64>> {
    xs.iter()
        .map(|&x| {
            let m = (x * scale).round();
            (m.abs() < MAX_EXACT && ((m as i64) as f64 / scale).to_bits() == x.to_bits())
                .then_some(m as i64)
        })
        .collect()
}

/// The coarsest exact representation of all of `columns` among `scales`, else `Float`.
fn choose(columns: &[&[f64]], scales: &[f64]) -> Repr {
    for &s in scales {
        if columns.iter().all(|c| as_ints(c, s).is_some()) {
            return Repr::Int(s);
        }
    }
    Repr::Float
}

fn put_varint(out: &mut Vec<u8>, mut u: u64) {
    while u >= 0x80 {
        out.push((u as u8) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

fn get_varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let (mut u, mut shift) = (0u64, 0u32);
    loop {
        let x = *b.get(*i)?;
        *i += 1;
        u |= u64::from(x & 0x7f).checked_shl(shift)?;
        if x < 0x80 {
            return Some(u);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

fn corrupt(why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(why.to_string())
}

/// Writes column `xs` kept as `repr`.
fn put_column(out: &mut Vec<u8>, xs: &[f64], repr: Repr) {
    let cfg = pco::ChunkConfig::default();
    let bytes = match repr {
        Repr::Int(s) => {
            let ints = as_ints(xs, s).expect("representation chosen for these numbers");
            pco::standalone::simple_compress(&ints, &cfg)
        }
        Repr::Float => pco::standalone::simple_compress(xs, &cfg),
    }
    .expect("pco compresses any numbers with its default configuration");
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(&bytes);
}

/// Reads the column at `*i` kept as `repr`.
fn get_column(b: &[u8], i: &mut usize, repr: Repr) -> Result<Vec<f64>, StoreError> {
    let len = get_varint(b, i).ok_or_else(|| corrupt("truncated column length"))? as usize;
    let end = i
        .checked_add(len)
        .filter(|e| *e <= b.len())
        .ok_or_else(|| corrupt("truncated column"))?;
    let src = &b[*i..end];
    *i = end;
    Ok(match repr {
        Repr::Int(s) => pco::standalone::simple_decompress::<i64>(src)
            .map_err(corrupt)?
            .into_iter()
            .map(|m| m as f64 / s)
            .collect(),
        Repr::Float => pco::standalone::simple_decompress::<f64>(src).map_err(corrupt)?,
    })
}

const TIME_SCALES: [f64; 3] = [1.0, 1e3, 1e6];
const VALUE_SCALES: [f64; 1] = [1.0];

fn header(kind: ChunkKind, time: Repr, value: Repr) -> Vec<u8> {
    vec![VERSION, kind as u8, time.code(), value.code()]
}

/// Reads the header: (kind, times, values, where the columns start).
fn read_header(b: &[u8]) -> Result<(ChunkKind, Repr, Repr, usize), StoreError> {
    if b.len() < 4 || b[0] != VERSION {
        return Err(corrupt(format!(
            "unknown chunk format {}",
            b.first().copied().unwrap_or(0)
        )));
    }
    let kind = ChunkKind::from_i64(i64::from(b[1])).ok_or_else(|| corrupt("unknown chunk kind"))?;
    let t = Repr::from_code(b[2]).ok_or_else(|| corrupt("unknown time representation"))?;
    let v = Repr::from_code(b[3]).ok_or_else(|| corrupt("unknown value representation"))?;
    Ok((kind, t, v, 4))
}

/// Samples `(t, v)`, same length, as one chunk.
pub(crate) fn encode_samples(t: &[f64], v: &[f64]) -> Vec<u8> {
    let (tr, vr) = (choose(&[t], &TIME_SCALES), choose(&[v], &VALUE_SCALES));
    let mut out = header(ChunkKind::Samples, tr, vr);
    put_column(&mut out, t, tr);
    put_column(&mut out, v, vr);
    out
}

/// The samples of a chunk written by [`encode_samples`].
pub(crate) fn decode_samples(b: &[u8]) -> Result<(Vec<f64>, Vec<f64>), StoreError> {
    let (kind, tr, vr, mut i) = read_header(b)?;
    if kind != ChunkKind::Samples {
        return Err(corrupt("expected samples, found summaries"));
    }
    let t = get_column(b, &mut i, tr)?;
    let v = get_column(b, &mut i, vr)?;
    if t.len() != v.len() {
        return Err(corrupt("columns of different lengths"));
    }
    Ok((t, v))
}

/// The floor of one window of a series older than the retention: what the samples of the
/// window were, in the few numbers the analysis and the charts need.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FloorWindow {
    /// Time of the first sample summarized, unix seconds.
    pub t_first: f64,
    /// Time of the last sample summarized.
    pub t_last: f64,
    /// Samples summarized.
    pub count: u64,
    /// Lowest value.
    pub min: f64,
    /// The low quantile ([`LOW_QUANTILE`]) of the values, one of them (nearest rank).
    pub low: f64,
    /// Highest value.
    pub max: f64,
    /// The value of the last sample (what a cumulative counter had reached).
    pub last: f64,
}

/// The quantile a window keeps besides its minimum: low enough to follow the floor under a GC
/// sawtooth, high enough that one odd sample does not move it.
pub const LOW_QUANTILE: f64 = 0.1;

impl FloorWindow {
    /// The window of samples `t`, `v` (same length, time order, not empty).
    pub(crate) fn of(t: &[f64], v: &[f64]) -> FloorWindow {
        let mut sorted = v.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = ((LOW_QUANTILE * sorted.len() as f64).ceil() as usize).max(1) - 1;
        FloorWindow {
            t_first: t[0],
            t_last: t[t.len() - 1],
            count: t.len() as u64,
            min: sorted[0],
            low: sorted[rank],
            max: sorted[sorted.len() - 1],
            last: v[v.len() - 1],
        }
    }

    /// This window and `other` (the same window, summarized twice because samples came late)
    /// as one. The low quantile is the larger part's: the samples behind it are gone.
    pub(crate) fn merge(&self, other: &FloorWindow) -> FloorWindow {
        let (big, later) = (
            if self.count >= other.count {
                self
            } else {
                other
            },
            if self.t_last >= other.t_last {
                self
            } else {
                other
            },
        );
        FloorWindow {
            t_first: self.t_first.min(other.t_first),
            t_last: self.t_last.max(other.t_last),
            count: self.count + other.count,
            min: self.min.min(other.min),
            low: big.low,
            max: self.max.max(other.max),
            last: later.last,
        }
    }

    /// The window as one sample, as the analysis reads it: a gauge's low quantile at the
    /// middle of the window (the floor is what leaks are judged on); a counter's last value at
    /// its time (a cumulative count is exact there).
    pub fn point(&self, counter: bool) -> (f64, f64) {
        if counter {
            (self.t_last, self.last)
        } else {
            (self.t_first + (self.t_last - self.t_first) / 2.0, self.low)
        }
    }
}

/// Floor summaries as one chunk.
pub(crate) fn encode_summaries(w: &[FloorWindow]) -> Vec<u8> {
    let col = |f: fn(&FloorWindow) -> f64| w.iter().map(f).collect::<Vec<f64>>();
    let (t0, t1, n) = (
        col(|x| x.t_first),
        col(|x| x.t_last),
        col(|x| x.count as f64),
    );
    let values = [
        col(|x| x.min),
        col(|x| x.low),
        col(|x| x.max),
        col(|x| x.last),
    ];
    let tr = choose(&[&t0, &t1], &TIME_SCALES);
    let vr = choose(
        &values.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        &VALUE_SCALES,
    );
    let mut out = header(ChunkKind::Summaries, tr, vr);
    put_column(&mut out, &t0, tr);
    put_column(&mut out, &t1, tr);
    put_column(&mut out, &n, Repr::Int(1.0));
    for c in &values {
        put_column(&mut out, c, vr);
    }
    out
}

/// The windows of a chunk written by [`encode_summaries`].
pub(crate) fn decode_summaries(b: &[u8]) -> Result<Vec<FloorWindow>, StoreError> {
    let (kind, tr, vr, mut i) = read_header(b)?;
    if kind != ChunkKind::Summaries {
        return Err(corrupt("expected summaries, found samples"));
    }
    let t0 = get_column(b, &mut i, tr)?;
    let t1 = get_column(b, &mut i, tr)?;
    let n = get_column(b, &mut i, Repr::Int(1.0))?;
    let mut vals = Vec::with_capacity(4);
    for _ in 0..4 {
        vals.push(get_column(b, &mut i, vr)?);
    }
    if [&t1, &n]
        .iter()
        .chain(vals.iter().collect::<Vec<_>>().iter())
        .any(|c| c.len() != t0.len())
    {
        return Err(corrupt("columns of different lengths"));
    }
    Ok((0..t0.len())
        .map(|k| FloorWindow {
            t_first: t0[k],
            t_last: t1[k],
            count: n[k] as u64,
            min: vals[0][k],
            low: vals[1][k],
            max: vals[2][k],
            last: vals[3][k],
        })
        .collect())
}

/// Which kind a chunk is, from its header.
pub(crate) fn kind_of(b: &[u8]) -> Result<ChunkKind, StoreError> {
    read_header(b).map(|h| h.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bits(x: &[f64]) -> Vec<u64> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn page_aligned_memory_at_millisecond_times_takes_under_three_bytes_a_sample() {
        let n = 2048;
        let (mut t, mut v) = (Vec::new(), Vec::new());
        let mut x = 250e6_f64;
        for i in 0..n {
            // 10 s apart, 0-3 ms late, to the millisecond; memory moving by tens of pages.
            t.push(1_795_478_400.0 + i as f64 * 10.0 + f64::from((i * 7 % 4) as u32) / 1e3);
            x += (((i * 7919) % 61) as f64 - 30.0) * 4096.0;
            v.push(x);
        }
        let b = encode_samples(&t, &v);
        assert!(b.len() < 3 * n, "{} bytes for {n} samples", b.len());
        let (t2, v2) = decode_samples(&b).unwrap();
        assert_eq!(bits(&t2), bits(&t));
        assert_eq!(bits(&v2), bits(&v));
        assert_eq!(kind_of(&b).unwrap(), ChunkKind::Samples);
    }

    #[test]
    fn times_and_values_that_are_not_on_a_grid_are_kept_exactly() {
        let t = [1.0e9 + 0.123_456_789, 1.0e9 + 1.5, 2.0e9 + 1e-7];
        let v = [0.1, -3.25, f64::MAX];
        let (t2, v2) = decode_samples(&encode_samples(&t, &v)).unwrap();
        assert_eq!(bits(&t2), bits(&t));
        assert_eq!(bits(&v2), bits(&v));
    }

    #[test]
    fn a_window_keeps_its_floor_and_its_last_count() {
        let t: Vec<f64> = (0..20).map(f64::from).collect();
        // A sawtooth: the low quantile (2nd lowest of 20) sits near the floor.
        let v: Vec<f64> = (0..20).map(|i| f64::from(100 + (i % 5) * 10)).collect();
        let w = FloorWindow::of(&t, &v);
        assert_eq!(
            (w.min, w.low, w.max, w.last, w.count),
            (100.0, 100.0, 140.0, 140.0, 20)
        );
        assert_eq!(w.point(false), (9.5, 100.0));
        assert_eq!(w.point(true), (19.0, 140.0));
        let later = FloorWindow::of(&[25.0], &[90.0]);
        let m = w.merge(&later);
        assert_eq!(
            (m.count, m.min, m.low, m.last, m.t_last),
            (21, 90.0, 100.0, 90.0, 25.0)
        );
        let ws = vec![w, later];
        assert_eq!(decode_summaries(&encode_summaries(&ws)).unwrap(), ws);
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let b = encode_samples(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        for cut in 0..b.len() {
            assert!(decode_samples(&b[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_summaries(&b).is_err());
        let mut bad = b.clone();
        bad[0] = 9;
        assert!(decode_samples(&bad).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Whatever the numbers, a chunk gives back exactly what went in.
        #[test]
        fn samples_round_trip(
            pairs in proptest::collection::vec((0.0..4.0e9f64, proptest::num::f64::NORMAL | proptest::num::f64::ZERO), 1..300),
            grid in 0usize..3,
        ) {
            let scale = [1.0, 1e3, 0.0][grid];
            let t: Vec<f64> = pairs.iter().map(|p| if scale > 0.0 { (p.0 * scale).round() / scale } else { p.0 }).collect();
            let v: Vec<f64> = pairs.iter().map(|p| p.1).collect();
            let (t2, v2) = decode_samples(&encode_samples(&t, &v)).unwrap();
            prop_assert_eq!(bits(&t2), bits(&t));
            prop_assert_eq!(bits(&v2), bits(&v));
        }

        /// Any bytes read as a chunk give an answer, never a panic.
        #[test]
        fn any_bytes_are_handled(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_samples(&b);
            let _ = decode_summaries(&b);
        }
    }
}
