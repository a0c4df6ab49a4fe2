//! What the database lists: runs with their sizes, a run's series, sites and events.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};

use super::*;

/// What one run's samples and events take.
#[derive(Debug, Clone, Default)]
struct RunSizes {
    rows: u64,
    last: Option<f64>,
    chunked: u64,
    chunk_bytes: u64,
    chunks: u64,
    summarized: u64,
    events: u64,
    event_bytes: u64,
}

/// Bytes one sample row takes in the file, index and page slack included (measured: a week of
/// four series at 10 s imported as rows made 27.4 bytes per sample).
const ROW_BYTES: u64 = 27;
/// Bytes a chunk row takes besides its data (keys, times, counts, index entry).
const CHUNK_ROW_BYTES: u64 = 80;
/// Bytes an event row takes besides its text.
const EVENT_ROW_BYTES: u64 = 24;

impl RunSizes {
    fn bytes(&self) -> u64 {
        self.rows * ROW_BYTES
            + self.chunk_bytes
            + self.chunks * CHUNK_ROW_BYTES
            + self.event_bytes
            + self.events * EVENT_ROW_BYTES
    }
}

impl Store {
    /// All runs, oldest first.
    pub fn runs(&self) -> Result<Vec<RunInfo>, StoreError> {
        // One snapshot: upkeep may move rows into chunks meanwhile.
        let tx = self.conn.unchecked_transaction()?;
        let mut per_run: HashMap<RunId, RunSizes> = HashMap::new();
        let mut rows = self.conn.prepare(
            "SELECT se.run_id, COUNT(*), MAX(s.t) FROM samples s JOIN series se ON s.series_id = se.id
             GROUP BY se.run_id",
        )?;
        let mut q = rows.query([])?;
        while let Some(r) = q.next()? {
            let e = per_run.entry(r.get(0)?).or_default();
            e.rows = r.get::<_, i64>(1)? as u64;
            e.last = r.get(2)?;
        }
        let mut chunks = self.conn.prepare(if self.chunked {
            "SELECT se.run_id, SUM(c.n), MAX(c.t_last), SUM(length(c.data)), COUNT(*),
                    SUM(CASE WHEN c.kind = 1 THEN c.n ELSE 0 END)
             FROM chunks c JOIN series se ON c.series_id = se.id GROUP BY se.run_id"
        } else {
            "SELECT 0, 0, 0, 0, 0, 0 WHERE 0"
        })?;
        let mut q = chunks.query([])?;
        while let Some(r) = q.next()? {
            let e = per_run.entry(r.get(0)?).or_default();
            e.chunked = r.get::<_, i64>(1)? as u64;
            e.last = e
                .last
                .into_iter()
                .chain(r.get::<_, Option<f64>>(2)?)
                .reduce(f64::max);
            e.chunk_bytes = r.get::<_, i64>(3)? as u64;
            e.chunks = r.get::<_, i64>(4)? as u64;
            e.summarized = r.get::<_, i64>(5)? as u64;
        }
        let mut events = self.conn.prepare(
            "SELECT run_id, COUNT(*), SUM(length(kind) + length(detail)) FROM events GROUP BY run_id",
        )?;
        let mut q = events.query([])?;
        while let Some(r) = q.next()? {
            let e = per_run.entry(r.get(0)?).or_default();
            e.events = r.get::<_, i64>(1)? as u64;
            e.event_bytes = r.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64;
        }
        let mut st = self.conn.prepare(
            "SELECT id, kind, target, host, started_at, ended_at, interval_s, limit_bytes,
                    version, status, exit_code, last_verdict
             FROM runs ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            let id: RunId = r.get(0)?;
            let sizes = per_run.get(&id).cloned().unwrap_or_default();
            Ok(RunInfo {
                id,
                kind: r.get(1)?,
                target: r.get(2)?,
                host: r.get(3)?,
                started_at: r.get(4)?,
                ended_at: r.get(5)?,
                interval_s: r.get(6)?,
                limit_bytes: r.get::<_, Option<i64>>(7)?.map(|v| v as u64),
                version: r.get(8)?,
                status: r.get(9)?,
                exit_code: r.get(10)?,
                last_verdict: r.get(11)?,
                samples: sizes.rows + sizes.chunked,
                last_sample_at: sizes.last,
                summarized_samples: sizes.summarized,
                size_bytes: sizes.bytes(),
            })
        })?;
        let out = rows.collect::<Result<_, _>>()?;
        tx.commit()?;
        Ok(out)
    }

    /// About how many bytes of the file one series takes (as [`RunInfo::size_bytes`] counts).
    pub fn series_size(&self, series: SeriesId) -> Result<u64, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let rows: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM samples WHERE series_id = ?1",
            [series],
            |r| r.get(0),
        )?;
        let (chunks, data): (i64, i64) = if self.chunked {
            self.conn.query_row(
                "SELECT COUNT(*), COALESCE(SUM(length(data)), 0) FROM chunks WHERE series_id = ?1",
                [series],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
        } else {
            (0, 0)
        };
        tx.commit()?;
        Ok(rows as u64 * ROW_BYTES + data as u64 + chunks as u64 * CHUNK_ROW_BYTES)
    }

    /// One run.
    pub fn run(&self, id: RunId) -> Result<RunInfo, StoreError> {
        self.runs()?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or(StoreError::NoSuchRun(id))
    }

    /// The newest run, if any.
    pub fn latest_run(&self) -> Result<Option<RunId>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT MAX(id) FROM runs", [], |r| r.get(0))
            .optional()?
            .flatten())
    }

    /// Runs `f` in one transaction: creating thousands of series or naming thousands of sites
    /// (the first profile of a large program) takes milliseconds instead of seconds. Committed
    /// when `f` succeeds, rolled back when it fails.
    pub fn transaction<T>(
        &self,
        f: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let out = f()?;
        tx.commit()?;
        Ok(out)
    }

    /// Records the stack behind site `hash` of `run` (once; later calls change nothing).
    pub fn site(
        &self,
        run: RunId,
        hash: &str,
        source: &str,
        frames: &[String],
    ) -> Result<(), StoreError> {
        let frames = serde_json::to_string(frames).expect("strings serialise");
        self.conn.execute(
            "INSERT OR IGNORE INTO sites (run_id, hash, source, frames) VALUES (?1, ?2, ?3, ?4)",
            params![run, hash, source, frames],
        )?;
        Ok(())
    }

    /// The allocation sites of a run, by hash.
    pub fn sites_of(&self, run: RunId) -> Result<Vec<SiteInfo>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT hash, source, frames FROM sites WHERE run_id = ?1 ORDER BY hash")?;
        let rows = st.query_map([run], |r| {
            let frames: String = r.get(2)?;
            Ok(SiteInfo {
                hash: r.get(0)?,
                source: r.get(1)?,
                frames: serde_json::from_str(&frames).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The series of a run, in creation order.
    pub fn series_of(&self, run: RunId) -> Result<Vec<SeriesInfo>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, name, labels, kind, unit FROM series WHERE run_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([run], |r| {
            let labels: String = r.get(2)?;
            Ok(SeriesInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                labels: serde_json::from_str(&labels).unwrap_or_default(),
                kind: SeriesKind::parse(&r.get::<_, String>(3)?),
                unit: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Times of the events of `kind` in a run, in time order; only the `latest` so many when
    /// given (a watch of recycled workers records a restart per worker: a look needs no more
    /// of them than it reads samples).
    pub fn event_times(
        &self,
        run: RunId,
        kind: &str,
        latest: Option<usize>,
    ) -> Result<Vec<f64>, StoreError> {
        let limit = latest.map_or(-1, |n| n as i64);
        let mut st = self.conn.prepare_cached(
            "SELECT t FROM events WHERE run_id = ?1 AND kind = ?2 ORDER BY t DESC, rowid DESC LIMIT ?3",
        )?;
        let mut times: Vec<f64> = st
            .query_map(params![run, kind, limit], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        times.reverse();
        Ok(times)
    }

    /// The last event of `kind` in a run.
    pub fn last_event(&self, run: RunId, kind: &str) -> Result<Option<Event>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT t, kind, detail FROM events WHERE run_id = ?1 AND kind = ?2
                 ORDER BY t DESC, rowid DESC LIMIT 1",
            )?
            .query_row(params![run, kind], |r| {
                Ok(Event {
                    t: r.get(0)?,
                    kind: r.get(1)?,
                    detail: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Events of a run, in time order.
    pub fn events(&self, run: RunId) -> Result<Vec<Event>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT t, kind, detail FROM events WHERE run_id = ?1 ORDER BY t, rowid")?;
        let rows = st.query_map([run], |r| {
            Ok(Event {
                t: r.get(0)?,
                kind: r.get(1)?,
                detail: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
