//! Upkeep of the database: compaction of closed blocks into chunks, retention (blocks older
//! than it kept as floor summaries), and giving freed pages back to the file system.
//!
//! Time is cut into blocks per series, aligned to multiples of their width, so that a block
//! is the same whoever compacts it and whenever: a block holds about [`SAMPLES_PER_BLOCK`]
//! samples at the series' usual spacing (at least 5 minutes, at most a day), and is compacted
//! once it ended [`GRACE`] ago. Each block is rewritten in one transaction (chunk in, rows out),
//! so a kill at any moment leaves either the rows or the chunk. Rows that arrive late for a
//! compacted block stay rows until the next upkeep merges them in; reads merge them meanwhile.

use std::time::Instant;

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use crate::chunk::{
    decode_samples, decode_summaries, encode_samples, encode_summaries, FloorWindow,
};
use crate::db::{RunId, SeriesId, Store};
use crate::read::merge;
use crate::StoreError;

/// Samples a block should hold at its series' usual spacing: chunks this big compress to
/// within a few percent of what whole days do (`bench/codecs`: 1.98 bytes per memory sample at
/// 2,160, 2.35 at 360).
pub const SAMPLES_PER_BLOCK: f64 = 2048.0;

/// Block widths, seconds: each divides a day and is a multiple of every summary window.
const BLOCK_WIDTHS: [f64; 9] = [
    300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 21600.0, 43200.0, 86400.0,
];

/// Summary windows, seconds: each divides every block width.
const WINDOW_WIDTHS: [f64; 3] = [60.0, 150.0, 300.0];

/// Samples a summary window should hold at least, so that its low quantile means something.
const SAMPLES_PER_WINDOW: f64 = 10.0;

/// How long after a block ends it is compacted: late intervals (held while the database was
/// locked) usually arrive within it; later ones are merged in by the next upkeep.
pub const GRACE: f64 = 60.0;

/// The first of `widths` (increasing) that is at least `want`, else the last.
fn first_at_least(widths: &[f64], want: f64) -> f64 {
    widths
        .iter()
        .copied()
        .find(|&w| w >= want)
        .unwrap_or(widths[widths.len() - 1])
}

/// The block width for a series sampled every `spacing` seconds.
pub fn block_width(spacing: f64) -> f64 {
    first_at_least(&BLOCK_WIDTHS, SAMPLES_PER_BLOCK * spacing)
}

/// The floor-summary window for a series sampled every `spacing` seconds: at most 5 minutes,
/// so a day keeps 288 points or more and long-range verdicts keep their resolution.
pub fn window_width(spacing: f64) -> f64 {
    first_at_least(&WINDOW_WIDTHS, SAMPLES_PER_WINDOW * spacing)
}

/// The start of the span of `width` that holds `t` (guarded against rounding at the edges).
fn span_start(t: f64, width: f64) -> f64 {
    let mut s = (t / width).floor() * width;
    if s > t {
        s -= width;
    }
    if t >= s + width {
        s += width;
    }
    s
}

/// What an upkeep is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Upkeep {
    /// Unix seconds now: blocks that ended [`GRACE`] before are compacted.
    pub now: f64,
    /// Samples older than this many seconds are kept as floor summaries; `None` keeps all.
    pub retention: Option<f64>,
    /// Only the series of this run (`None`: every run's).
    pub run: Option<RunId>,
}

impl Upkeep {
    /// Compacts every block of `run`, whose last sample is at `last_t`, now rather than at the
    /// next writer's idle moments: the clock is set past the end of the widest block that can
    /// hold it, so each of its blocks has ended [`GRACE`] before (an import of old or future
    /// data alike).
    pub fn whole_run(run: RunId, last_t: f64) -> Upkeep {
        let widest = BLOCK_WIDTHS[BLOCK_WIDTHS.len() - 1];
        Upkeep {
            now: span_start(last_t, widest) + widest + GRACE + 1.0,
            retention: None,
            run: Some(run),
        }
    }
}

/// What upkeep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct UpkeepDone {
    /// Blocks rewritten.
    pub blocks: u64,
    /// Samples moved from rows into chunks.
    pub compacted: u64,
    /// Samples turned into floor summaries.
    pub summarized: u64,
    /// Summary windows written.
    pub windows: u64,
    /// Every series was looked at (else the deadline came first).
    pub finished: bool,
}

impl UpkeepDone {
    fn add(&mut self, o: &UpkeepDone) {
        self.blocks += o.blocks;
        self.compacted += o.compacted;
        self.summarized += o.summarized;
        self.windows += o.windows;
    }
}

/// Where an upkeep cut short by its deadline goes on next time: the series after the last
/// one it finished.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpkeepCursor(SeriesId);

struct SeriesRow {
    id: SeriesId,
    spacing: Option<f64>,
    run_interval: Option<f64>,
}

fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

impl Store {
    /// Compacts closed blocks and applies the retention, series by series from `cursor`, until
    /// every series is done or `deadline` passes (then `cursor` says where to go on). A writer
    /// calls it at idle moments with a short deadline; `leakhound gc` without one.
    pub fn upkeep(
        &self,
        u: &Upkeep,
        cursor: &mut UpkeepCursor,
        deadline: Option<Instant>,
    ) -> Result<UpkeepDone, StoreError> {
        let mut done = UpkeepDone::default();
        loop {
            let batch = self.series_after(cursor.0, u.run)?;
            if batch.is_empty() {
                cursor.0 = 0;
                done.finished = true;
                return Ok(done);
            }
            for s in batch {
                let (series_done, complete) = match self.upkeep_series(&s, u, deadline) {
                    Ok(x) => x,
                    Err(e) => {
                        // Go on with the next series next time, not with this one forever.
                        cursor.0 = s.id;
                        return Err(e);
                    }
                };
                done.add(&series_done);
                if !complete {
                    return Ok(done);
                }
                cursor.0 = s.id;
                if past(deadline) {
                    return Ok(done);
                }
            }
        }
    }

    fn series_after(
        &self,
        after: SeriesId,
        run: Option<RunId>,
    ) -> Result<Vec<SeriesRow>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT se.id, se.spacing_s, r.interval_s FROM series se
             JOIN runs r ON r.id = se.run_id WHERE se.id > ?1 AND (?2 IS NULL OR r.id = ?2)
             ORDER BY se.id LIMIT 256",
        )?;
        let rows = st.query_map(params![after, run], |r| {
            Ok(SeriesRow {
                id: r.get(0)?,
                spacing: r.get(1)?,
                run_interval: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The usual time between samples of `s`, decided (and stored) once its oldest row is old
    /// enough for a block to close; `None` before.
    fn spacing(&self, s: &SeriesRow, now: f64) -> Result<Option<f64>, StoreError> {
        if let Some(sp) = s.spacing {
            return Ok(Some(sp));
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT t FROM samples WHERE series_id = ?1 ORDER BY t LIMIT 257")?;
        let ts: Vec<f64> = st
            .query_map([s.id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let Some(&first) = ts.first() else {
            return Ok(None);
        };
        if first > now - GRACE - BLOCK_WIDTHS[0] {
            return Ok(None);
        }
        let mut gaps: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_by(f64::total_cmp);
        let spacing = gaps
            .get(gaps.len() / 2)
            .copied()
            .or(s.run_interval)
            .filter(|g| *g > 0.0 && g.is_finite())
            .unwrap_or(1.0);
        self.conn.execute(
            "UPDATE series SET spacing_s = ?2 WHERE id = ?1",
            params![s.id, spacing],
        )?;
        Ok(Some(spacing))
    }

    /// Upkeep of one series: (what was done, whether it is complete).
    fn upkeep_series(
        &self,
        s: &SeriesRow,
        u: &Upkeep,
        deadline: Option<Instant>,
    ) -> Result<(UpkeepDone, bool), StoreError> {
        let mut done = UpkeepDone::default();
        let Some(spacing) = self.spacing(s, u.now)? else {
            return Ok((done, true));
        };
        let (width, window) = (block_width(spacing), window_width(spacing));
        let cutoff = u.retention.map(|r| u.now - r);
        let expired = |start: f64, w: f64| cutoff.is_some_and(|c| start + w <= c);
        // Rows of closed blocks, oldest first.
        loop {
            let oldest: Option<f64> = self
                .conn
                .prepare_cached("SELECT MIN(t) FROM samples WHERE series_id = ?1")?
                .query_row([s.id], |r| r.get(0))?;
            let Some(oldest) = oldest else { break };
            let start = span_start(oldest, width);
            if start + width > u.now - GRACE {
                break;
            }
            let block = Block {
                series: s.id,
                start,
                width,
                window,
            };
            let d = self.rewrite_block(&block, expired(start, width))?;
            done.add(&d);
            if d.compacted + d.summarized == 0 {
                break; // nothing moved: never loop on a block
            }
            if past(deadline) {
                return Ok((done, false));
            }
        }
        // Chunks of samples older than the retention.
        if let Some(c) = cutoff {
            loop {
                let next: Option<(f64, f64)> = self
                    .conn
                    .prepare_cached(
                        "SELECT start, width FROM chunks WHERE series_id = ?1 AND kind = 0
                         AND start + width <= ?2 ORDER BY start LIMIT 1",
                    )?
                    .query_row(params![s.id, c], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let Some((start, w)) = next else { break };
                let block = Block {
                    series: s.id,
                    start,
                    width: w,
                    window,
                };
                done.add(&self.rewrite_block(&block, true)?);
                if past(deadline) {
                    return Ok((done, false));
                }
            }
        }
        Ok((done, true))
    }

    /// Rewrites one block in one transaction: its rows and its chunk of samples become one
    /// chunk of samples, or (`summarize`) one chunk of floor summaries.
    fn rewrite_block(&self, b: &Block, summarize: bool) -> Result<UpkeepDone, StoreError> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let end = b.start + b.width;
        let mut rows = (Vec::new(), Vec::new());
        {
            let mut st = tx.prepare_cached(
                "SELECT t, value FROM samples WHERE series_id = ?1 AND t >= ?2 AND t < ?3 ORDER BY t",
            )?;
            let mut q = st.query(params![b.series, b.start, end])?;
            while let Some(r) = q.next()? {
                rows.0.push(r.get(0)?);
                rows.1.push(r.get(1)?);
            }
        }
        let chunk = |kind: i64| -> Result<Option<Vec<u8>>, StoreError> {
            Ok(tx
                .prepare_cached(
                    "SELECT data FROM chunks WHERE series_id = ?1 AND kind = ?2 AND start = ?3",
                )?
                .query_row(params![b.series, kind, b.start], |r| r.get(0))
                .optional()?)
        };
        let held = match chunk(0)? {
            Some(data) => decode_samples(&data)?,
            None => (Vec::new(), Vec::new()),
        };
        let from_rows = rows.0.len() as u64;
        let (t, v) = merge(held, rows);
        let mut done = UpkeepDone {
            blocks: 1,
            ..UpkeepDone::default()
        };
        if t.is_empty() {
            return Ok(UpkeepDone::default());
        }
        let insert = "INSERT OR REPLACE INTO chunks
            (series_id, kind, start, width, n, points, t_first, t_last, data)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
        if summarize {
            let before = match chunk(1)? {
                Some(data) => decode_summaries(&data)?,
                None => Vec::new(),
            };
            let windows = merge_windows(before, summarize_windows(&t, &v, b.window), b.window);
            let n: u64 = windows.iter().map(|w| w.count).sum();
            tx.execute(
                insert,
                params![
                    b.series,
                    1,
                    b.start,
                    b.width,
                    n as i64,
                    windows.len() as i64,
                    windows[0].t_first,
                    windows[windows.len() - 1].t_last,
                    encode_summaries(&windows)
                ],
            )?;
            tx.execute(
                "DELETE FROM chunks WHERE series_id = ?1 AND kind = 0 AND start = ?2",
                params![b.series, b.start],
            )?;
            done.summarized = t.len() as u64;
            done.windows = windows.len() as u64;
        } else {
            tx.execute(
                insert,
                params![
                    b.series,
                    0,
                    b.start,
                    b.width,
                    t.len() as i64,
                    t.len() as i64,
                    t[0],
                    t[t.len() - 1],
                    encode_samples(&t, &v)
                ],
            )?;
            done.compacted = from_rows;
        }
        tx.execute(
            "DELETE FROM samples WHERE series_id = ?1 AND t >= ?2 AND t < ?3",
            params![b.series, b.start, end],
        )?;
        tx.commit()?;
        Ok(done)
    }

    /// Bytes the file takes now (its pages; the write-ahead log aside).
    pub fn file_bytes(&self) -> Result<u64, StoreError> {
        let (pages, size): (i64, i64) = self.conn.query_row(
            "SELECT page_count, page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((pages * size) as u64)
    }

    /// Gives the pages that upkeep freed back to the file system. A file made by this version
    /// does it in place (incremental vacuum); an older file is rewritten once (VACUUM), which
    /// needs as much free disk as the file takes and waits for other writers.
    pub fn shrink(&self) -> Result<(), StoreError> {
        let mode: i64 = self
            .conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
        if mode == 2 {
            // Each step frees one page: step it to the end.
            let mut st = self.conn.prepare("PRAGMA incremental_vacuum")?;
            let mut rows = st.query([])?;
            while rows.next()?.is_some() {}
        } else {
            self.conn
                .execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
        }
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// One block of one series.
struct Block {
    series: SeriesId,
    start: f64,
    width: f64,
    window: f64,
}

/// Floor summaries of samples `t`, `v` (time order), one per window of `width` seconds.
fn summarize_windows(t: &[f64], v: &[f64], width: f64) -> Vec<FloorWindow> {
    let mut out = Vec::new();
    let mut from = 0;
    for i in 1..=t.len() {
        if i == t.len() || span_start(t[i], width) != span_start(t[from], width) {
            out.push(FloorWindow::of(&t[from..i], &v[from..i]));
            from = i;
        }
    }
    out
}

/// Summaries of one block written before and now, as one list: the same window twice (samples
/// that came late) becomes one.
fn merge_windows(before: Vec<FloorWindow>, now: Vec<FloorWindow>, width: f64) -> Vec<FloorWindow> {
    if before.is_empty() {
        return now;
    }
    let mut all: Vec<FloorWindow> = before.into_iter().chain(now).collect();
    all.sort_by(|a, b| a.t_first.total_cmp(&b.t_first));
    let mut out: Vec<FloorWindow> = Vec::with_capacity(all.len());
    for w in all {
        match out.last_mut() {
            Some(last) if span_start(last.t_first, width) == span_start(w.t_first, width) => {
                *last = last.merge(&w);
            }
            _ => out.push(w),
        }
    }
    out
}

#[cfg(test)]
mod tests;
