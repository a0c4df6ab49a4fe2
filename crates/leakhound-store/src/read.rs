//! Reading series: compressed chunks and the rows written since, as one time-ordered series.
//! Each read runs in one read transaction, so upkeep moving rows into a chunk meanwhile can
//! neither hide a sample nor show it twice.

use rusqlite::OptionalExtension;

use crate::chunk::{decode_samples, decode_summaries, kind_of, ChunkKind, FloorWindow};
use crate::db::{SeriesId, Store};
use crate::StoreError;

/// Samples of one series as two columns.
type Columns = (Vec<f64>, Vec<f64>);

impl Store {
    /// Whether `series` is a counter (its floor summaries read as their last value).
    fn is_counter(&self, series: SeriesId) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT kind FROM series WHERE id = ?1")?
            .query_row([series], |r| r.get::<_, String>(0))
            .optional()?
            .is_some_and(|k| k == "counter"))
    }

    /// Calls `f` with the points of each chunk of `series`, in time order: samples as they
    /// are, floor summaries as one point per window ([`FloorWindow::point`]).
    fn each_chunk(
        &self,
        series: SeriesId,
        mut f: impl FnMut(&[f64], &[f64]),
    ) -> Result<(), StoreError> {
        if !self.chunked {
            return Ok(());
        }
        let counter = self.is_counter(series)?;
        let mut st = self.conn.prepare_cached(
            "SELECT start, data FROM chunks WHERE series_id = ?1 ORDER BY start, kind",
        )?;
        let mut rows = st.query([series])?;
        while let Some(r) = rows.next()? {
            let data = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            let damaged = |e: StoreError| {
                let start: f64 = r.get(0).unwrap_or(f64::NAN);
                StoreError::Corrupt(format!(
                    "{}: series {series}, block from {start}: {e}",
                    self.path
                ))
            };
            match kind_of(data).map_err(damaged)? {
                ChunkKind::Samples => {
                    let (t, v) = decode_samples(data).map_err(damaged)?;
                    f(&t, &v);
                }
                ChunkKind::Summaries => {
                    let (t, v): Columns = decode_summaries(data)
                        .map_err(damaged)?
                        .iter()
                        .map(|w| w.point(counter))
                        .unzip();
                    f(&t, &v);
                }
            }
        }
        Ok(())
    }

    /// Calls `f` with each row of `series` not compacted yet, in time order.
    fn each_row(&self, series: SeriesId, mut f: impl FnMut(f64, f64)) -> Result<(), StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT t, value FROM samples WHERE series_id = ?1 ORDER BY t")?;
        let mut rows = st.query([series])?;
        while let Some(r) = rows.next()? {
            f(r.get(0)?, r.get(1)?);
        }
        Ok(())
    }

    fn samples_in_snapshot(&self, series: SeriesId) -> Result<Columns, StoreError> {
        let (mut ct, mut cv) = (Vec::new(), Vec::new());
        self.each_chunk(series, |t, v| {
            ct.extend_from_slice(t);
            cv.extend_from_slice(v);
        })?;
        let (mut rt, mut rv) = (Vec::new(), Vec::new());
        self.each_row(series, |t, v| {
            rt.push(t);
            rv.push(v);
        })?;
        Ok(merge((ct, cv), (rt, rv)))
    }

    /// Times and values of a series, in time order. Samples older than the retention come as
    /// one point per window of their floor summary ([`FloorWindow::point`]).
    pub fn samples(&self, series: SeriesId) -> Result<Columns, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let out = self.samples_in_snapshot(series)?;
        tx.commit()?;
        Ok(out)
    }

    /// Samples of a series, at most `max_points` of them. When there are more, each of
    /// `max_points` equal spans of time gives its lowest value (at its own time): the floor the
    /// analysis works on survives, and a look at a run of weeks costs no more memory than a
    /// look at a run of hours. One chunk is decoded at a time and rows are streamed.
    pub fn samples_bounded(
        &self,
        series: SeriesId,
        max_points: usize,
    ) -> Result<Columns, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let (rows, r0, r1): (i64, Option<f64>, Option<f64>) = self.conn.query_row(
            "SELECT COUNT(*), MIN(t), MAX(t) FROM samples WHERE series_id = ?1",
            [series],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let (points, c0, c1): (i64, Option<f64>, Option<f64>) = if self.chunked {
            self.conn.query_row(
                "SELECT COALESCE(SUM(points), 0), MIN(t_first), MAX(t_last) FROM chunks WHERE series_id = ?1",
                [series],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?
        } else {
            (0, None, None)
        };
        let t0 = r0.into_iter().chain(c0).reduce(f64::min);
        let t1 = r1.into_iter().chain(c1).reduce(f64::max);
        let (Some(t0), Some(t1)) = (t0, t1) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let max_points = max_points.max(1);
        if (rows + points) as usize <= max_points {
            let out = self.samples_in_snapshot(series)?;
            tx.commit()?;
            return Ok(out);
        }
        let mut lowest = Lowest::new(t0, t1, max_points);
        self.each_chunk(series, |t, v| {
            for (&t, &v) in t.iter().zip(v) {
                lowest.add(t, v);
            }
        })?;
        self.each_row(series, |t, v| lowest.add(t, v))?;
        tx.commit()?;
        Ok(lowest.finish())
    }

    /// The floor summaries of a series (the windows older than the retention), in time order.
    pub fn floor_summaries(&self, series: SeriesId) -> Result<Vec<FloorWindow>, StoreError> {
        if !self.chunked {
            return Ok(Vec::new());
        }
        let mut st = self.conn.prepare_cached(
            "SELECT data FROM chunks WHERE series_id = ?1 AND kind = 1 ORDER BY start",
        )?;
        let mut rows = st.query([series])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let data = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
            out.extend(decode_summaries(data)?);
        }
        Ok(out)
    }
}

/// The lowest sample of each of `n` equal spans of time.
struct Lowest {
    t0: f64,
    width: f64,
    best: Vec<(f64, f64)>,
}

impl Lowest {
    fn new(t0: f64, t1: f64, n: usize) -> Lowest {
        Lowest {
            t0,
            width: (t1 - t0) / n as f64,
            best: vec![(f64::NAN, f64::INFINITY); n],
        }
    }
    fn add(&mut self, t: f64, v: f64) {
        let n = self.best.len();
        let i = (((t - self.t0) / self.width) as usize).min(n - 1);
        let b = &mut self.best[i];
        if v < b.1 || b.0.is_nan() {
            *b = (t, v);
        }
    }
    fn finish(self) -> Columns {
        self.best.into_iter().filter(|b| !b.0.is_nan()).unzip()
    }
}

/// Chunk points and rows as one series in time order; a row replaces a chunk point at the
/// same time (it was written later: a repeated sample replaces the earlier one).
pub(crate) fn merge(chunks: Columns, rows: Columns) -> Columns {
    let sorted = |t: &[f64]| t.windows(2).all(|w| w[0] <= w[1]);
    let (mut out_t, mut out_v) = match (chunks.0.last(), rows.0.first()) {
        (None, _) => return rows,
        (_, None) if sorted(&chunks.0) => return chunks,
        (Some(&last), Some(&first)) if last < first && sorted(&chunks.0) => {
            let (mut t, mut v) = chunks;
            t.extend(rows.0);
            v.extend(rows.1);
            return (t, v);
        }
        _ => (
            Vec::with_capacity(chunks.0.len() + rows.0.len()),
            Vec::with_capacity(chunks.0.len() + rows.0.len()),
        ),
    };
    // Late rows among compacted blocks (or blocks of different widths): sort both, rows first
    // at equal times, and keep the first of each time.
    let mut all: Vec<(f64, u8, f64)> = rows
        .0
        .iter()
        .zip(&rows.1)
        .map(|(&t, &v)| (t, 0u8, v))
        .chain(chunks.0.iter().zip(&chunks.1).map(|(&t, &v)| (t, 1u8, v)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for (t, _, v) in all {
        if out_t.last() != Some(&t) {
            out_t.push(t);
            out_v.push(v);
        }
    }
    (out_t, out_v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_after_the_chunks_are_appended_and_a_late_row_replaces_its_point() {
        let c = (vec![1.0, 2.0, 3.0], vec![10.0, 20.0, 30.0]);
        assert_eq!(
            merge(c.clone(), (vec![4.0], vec![40.0])),
            (vec![1.0, 2.0, 3.0, 4.0], vec![10.0, 20.0, 30.0, 40.0])
        );
        assert_eq!(
            merge(c.clone(), (vec![0.5, 2.0], vec![5.0, 21.0])),
            (vec![0.5, 1.0, 2.0, 3.0], vec![5.0, 10.0, 21.0, 30.0])
        );
        assert_eq!(merge(c.clone(), (vec![], vec![])), c);
        assert_eq!(merge((vec![], vec![]), c.clone()), c);
    }
}
