//! The database: runs, series, samples, events.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

use crate::schema::MIGRATIONS;
use crate::StoreError;

pub use crate::records::{
    site_hash, Event, NewRun, NewSeries, NewSite, RunId, RunInfo, SeriesId, SeriesInfo, SeriesKind,
    SiteInfo,
};

mod listing;

/// An open leakhound database.
pub struct Store {
    pub(crate) conn: Connection,
    /// The file, for messages.
    pub(crate) path: String,
    file: PathBuf,
    /// The schema has chunks (version 3 on); a reader of an older file that no writer has
    /// migrated yet finds every sample in rows.
    pub(crate) chunked: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        // Before WAL and before the first table (it has no effect after either): a new file
        // then gives the pages upkeep frees back to the file system in place.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(open_err)?;
        if version == 0 {
            conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")
                .map_err(open_err)?;
        }
        // journal_mode returns a row, so it cannot go through execute_batch. Switching to WAL
        // needs a moment alone with the file; another leakhound opening it at the same time is
        // waited for rather than reported as "locked".
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
                Ok(_) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(open_err(e)),
            }
        }
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            .map_err(open_err)?;
        let store = Store {
            conn,
            path: path.display().to_string(),
            file: path.to_path_buf(),
            chunked: true,
        };
        store.migrate(path)?;
        Ok(store)
    }

    /// Opens an existing database for reading only; fails if it does not exist.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            return Err(StoreError::Empty {
                path: path.display().to_string(),
            });
        }
        if version > MIGRATIONS.len() as i64 {
            return Err(StoreError::TooNew {
                path: path.display().to_string(),
                found: version,
                supported: MIGRATIONS.len() as i64,
            });
        }
        Ok(Store {
            conn,
            path: path.display().to_string(),
            file: path.to_path_buf(),
            chunked: version >= 3,
        })
    }

    /// A second connection to the same file, for reading only: reads (a look at the verdict)
    /// on one thread while another writes.
    pub fn open_reader(&self) -> Result<Store, StoreError> {
        Store::open_read_only(&self.file)
    }

    /// Waits at most `wait` for another writer's lock before a write fails with "database is
    /// locked" (10 s unless set).
    pub fn busy_timeout(&self, wait: Duration) -> Result<(), StoreError> {
        self.conn.busy_timeout(wait)?;
        Ok(())
    }

    /// Caps SQLite's page cache at `kib` KiB. SQLite keeps every page it writes until its cache
    /// (2 MB by default) is full, which reads as slow growth of a long sampler's memory; an
    /// appending writer needs only the last pages of each index.
    pub fn limit_cache(&self, kib: u32) -> Result<(), StoreError> {
        self.conn
            .execute_batch(&format!("PRAGMA cache_size = -{kib}"))?;
        Ok(())
    }

    /// The file this store was opened from, for messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn migrate(&self, path: &Path) -> Result<(), StoreError> {
        // IMMEDIATE: take the write lock before reading the version, so two leakhounds opening
        // a new file together migrate it once, one after the other, instead of one failing.
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::TooNew {
                path: path.display().to_string(),
                found: version,
                supported,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// `PRAGMA integrity_check` result: `ok` for a sound file.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// Records a new run and returns its id.
    pub fn create_run(&self, run: &NewRun) -> Result<RunId, StoreError> {
        self.conn.execute(
            "INSERT INTO runs (kind, target, host, started_at, interval_s, limit_bytes, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                run.kind,
                run.target,
                run.host,
                run.started_at,
                run.interval_s,
                run.limit_bytes.map(|v| v as i64),
                run.version
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Marks a run ended.
    pub fn finish_run(
        &self,
        run: RunId,
        ended_at: f64,
        status: &str,
        exit_code: Option<i32>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET ended_at = ?2, status = ?3, exit_code = ?4 WHERE id = ?1",
            params![run, ended_at, status, exit_code],
        )?;
        Ok(())
    }

    /// Updates the memory limit of a run (e.g. once the target's cgroup is known).
    pub fn set_limit(&self, run: RunId, limit: Option<u64>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET limit_bytes = ?2 WHERE id = ?1",
            params![run, limit.map(|v| v as i64)],
        )?;
        Ok(())
    }

    /// Stores the latest verdict sentence of a run.
    pub fn set_verdict(&self, run: RunId, verdict: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET last_verdict = ?2 WHERE id = ?1",
            params![run, verdict],
        )?;
        Ok(())
    }

    /// The id of series `name` with `labels` in `run`, created if new.
    pub fn series(
        &self,
        run: RunId,
        name: &str,
        labels: &BTreeMap<String, String>,
        kind: SeriesKind,
        unit: &str,
    ) -> Result<SeriesId, StoreError> {
        let labels = serde_json::to_string(labels).expect("string map serialises");
        self.conn.execute(
            "INSERT OR IGNORE INTO series (run_id, name, labels, kind, unit) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run, name, labels, kind.as_str(), unit],
        )?;
        Ok(self.conn.query_row(
            "SELECT id FROM series WHERE run_id = ?1 AND name = ?2 AND labels = ?3",
            params![run, name, labels],
            |r| r.get(0),
        )?)
    }

    /// Writes one interval's samples and events in a single transaction: all or nothing.
    /// A repeated (series, time) pair replaces the earlier value.
    pub fn write_batch(
        &mut self,
        run: RunId,
        samples: &[(SeriesId, f64, f64)],
        events: &[Event],
    ) -> Result<(), StoreError> {
        self.write_interval(run, &[], &[], samples, events, &mut HashMap::new())
    }

    /// Writes one interval in a single transaction, all or nothing: first the series it adds
    /// (`new_series`, whose samples carry their alias), the sites it names, then its samples
    /// and events. `aliases` maps the aliases of series created by earlier intervals to their
    /// ids, and gains those created here once the interval is committed.
    pub fn write_interval(
        &mut self,
        run: RunId,
        new_series: &[NewSeries],
        sites: &[NewSite],
        samples: &[(SeriesId, f64, f64)],
        events: &[Event],
        aliases: &mut HashMap<SeriesId, SeriesId>,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut created = HashMap::new();
        for s in new_series {
            let labels = serde_json::to_string(&s.labels).expect("string map serialises");
            tx.prepare_cached(
                "INSERT OR IGNORE INTO series (run_id, name, labels, kind, unit) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![run, s.name, labels, s.kind.as_str(), s.unit])?;
            let id: SeriesId = tx
                .prepare_cached(
                    "SELECT id FROM series WHERE run_id = ?1 AND name = ?2 AND labels = ?3",
                )?
                .query_row(params![run, s.name, labels], |r| r.get(0))?;
            created.insert(s.alias, id);
        }
        {
            let mut site = tx.prepare_cached(
                "INSERT OR IGNORE INTO sites (run_id, hash, source, frames) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for s in sites {
                let frames = serde_json::to_string(&s.frames).expect("strings serialise");
                site.execute(params![run, s.hash, s.source, frames])?;
            }
            let mut ins = tx.prepare_cached(
                "INSERT OR REPLACE INTO samples (series_id, t, value) VALUES (?1, ?2, ?3)",
            )?;
            for &(s, t, v) in samples {
                let id = if s < 0 {
                    match created.get(&s).or_else(|| aliases.get(&s)) {
                        Some(id) => *id,
                        None => return Err(StoreError::UnknownAlias(s)),
                    }
                } else {
                    s
                };
                ins.execute(params![id, t, v])?;
            }
            let mut ev = tx.prepare_cached(
                "INSERT INTO events (run_id, t, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for e in events {
                ev.execute(params![run, e.t, e.kind, e.detail])?;
            }
        }
        tx.commit()?;
        aliases.extend(created);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_run() -> NewRun {
        NewRun {
            kind: "run".into(),
            target: "sleep 1".into(),
            host: "h".into(),
            started_at: 100.0,
            interval_s: Some(1.0),
            limit_bytes: Some(1 << 30),
            version: "0.1.0".into(),
        }
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lh.db");
        let mut s = Store::open(&path).unwrap();
        let run = s.create_run(&new_run()).unwrap();
        let rss = s
            .series(run, "rss", &BTreeMap::new(), SeriesKind::Gauge, "bytes")
            .unwrap();
        assert_eq!(
            rss,
            s.series(run, "rss", &BTreeMap::new(), SeriesKind::Gauge, "bytes")
                .unwrap()
        );
        let ev = Event {
            t: 101.0,
            kind: "restart".into(),
            detail: "pid 5".into(),
        };
        s.write_batch(
            run,
            &[(rss, 101.0, 5.0), (rss, 100.0, 4.0)],
            std::slice::from_ref(&ev),
        )
        .unwrap();
        s.finish_run(run, 102.0, "finished", Some(0)).unwrap();
        drop(s);

        let r = Store::open_read_only(&path).unwrap();
        assert_eq!(
            r.samples(rss).unwrap(),
            (vec![100.0, 101.0], vec![4.0, 5.0])
        );
        assert_eq!(r.events(run).unwrap(), vec![ev.clone()]);
        assert_eq!(r.event_times(run, "restart", None).unwrap(), [101.0]);
        assert!(r.event_times(run, "exit", None).unwrap().is_empty());
        assert_eq!(r.last_event(run, "restart").unwrap(), Some(ev));
        let info = r.run(run).unwrap();
        assert_eq!(info.samples, 2);
        assert_eq!(info.status, "finished");
        assert_eq!(info.limit_bytes, Some(1 << 30));
        assert_eq!(r.series_of(run).unwrap()[0].name, "rss");
        assert!(matches!(r.run(99), Err(StoreError::NoSuchRun(99))));
        assert_eq!(r.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn bounded_samples_keep_the_lowest_of_each_span() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("lh.db")).unwrap();
        let run = s.create_run(&new_run()).unwrap();
        let id = s
            .series(run, "rss", &BTreeMap::new(), SeriesKind::Gauge, "bytes")
            .unwrap();
        // A sawtooth of period 97 over a rising floor: 10,000 samples, 1 s apart.
        let rows: Vec<(SeriesId, f64, f64)> = (0..10_000)
            .map(|i| {
                (
                    id,
                    i as f64,
                    1000.0 + i as f64 * 0.1 + (i % 97) as f64 * 50.0,
                )
            })
            .collect();
        s.write_batch(run, &rows, &[]).unwrap();
        assert_eq!(
            s.samples_bounded(id, 20_000).unwrap(),
            s.samples(id).unwrap()
        );
        let (t, v) = s.samples_bounded(id, 100).unwrap();
        assert_eq!(t.len(), 100);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
        for (ti, vi) in t.iter().zip(&v) {
            // Each kept point is a real sample, the lowest of its span of 100 s.
            let i = *ti as usize;
            assert_eq!(rows[i].2, *vi);
            let span = (i / 100) * 100..(i / 100) * 100 + 100;
            assert!(rows[span].iter().all(|r| r.2 >= *vi));
        }
        let (t, _) = s.samples_bounded(id + 1, 100).unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn a_file_without_schema_is_no_runs_yet_for_readers() {
        // What a kill -9 between creating the file and creating the schema leaves.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lh.db");
        std::fs::write(&path, b"").unwrap();
        let err = Store::open_read_only(&path).unwrap_err();
        assert!(matches!(err, StoreError::Empty { .. }), "{err}");
        assert!(err.to_string().contains("holds no runs yet"));
        // A writer takes it over.
        assert!(Store::open(&path).unwrap().runs().unwrap().is_empty());
    }

    #[test]
    fn sites_are_named_once_and_their_hash_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("lh.db")).unwrap();
        let run = s.create_run(&new_run()).unwrap();
        let frames = vec![
            "rememberVisitor (server.js:12)".to_string(),
            "onRequest (server.js:40)".to_string(),
        ];
        let h = site_hash(&frames);
        assert_eq!(h.len(), 16);
        assert_eq!(h, site_hash(&frames.clone()));
        // Frames are separated: ["ab", "c"] is not ["a", "bc"].
        assert_ne!(
            site_hash(&["ab".into(), "c".into()]),
            site_hash(&["a".into(), "bc".into()])
        );
        s.site(run, &h, "node", &frames).unwrap();
        s.site(run, &h, "native", &[]).unwrap();
        assert_eq!(
            s.sites_of(run).unwrap(),
            vec![SiteInfo {
                hash: h,
                source: "node".into(),
                frames
            }]
        );
    }

    #[test]
    fn a_version_one_database_gains_sites_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lh.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch("PRAGMA user_version = 1").unwrap();
        drop(conn);
        let s = Store::open(&path).unwrap();
        let run = s.create_run(&new_run()).unwrap();
        assert!(s.sites_of(run).unwrap().is_empty());
    }

    #[test]
    fn an_interval_creates_its_new_series_and_sites_with_its_samples() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("lh.db")).unwrap();
        let run = s.create_run(&new_run()).unwrap();
        let new = |alias, name: &str| NewSeries {
            alias,
            name: name.into(),
            labels: BTreeMap::from([("pid".to_string(), "7".to_string())]),
            kind: SeriesKind::Counter,
            unit: "count".into(),
        };
        let site = NewSite {
            hash: "00000000000000aa".into(),
            source: "node".into(),
            frames: vec!["f (a.js:1)".into()],
        };
        let mut aliases = HashMap::new();
        s.write_interval(
            run,
            &[new(-1, "a")],
            &[site],
            &[(-1, 1.0, 5.0)],
            &[],
            &mut aliases,
        )
        .unwrap();
        let a = aliases[&-1];
        // A later interval names it by its alias still; an unknown alias fails as a whole.
        s.write_interval(run, &[], &[], &[(-1, 2.0, 6.0)], &[], &mut aliases)
            .unwrap();
        let err = s
            .write_interval(
                run,
                &[new(-2, "b")],
                &[],
                &[(-2, 3.0, 1.0), (-9, 3.0, 1.0)],
                &[],
                &mut aliases,
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::UnknownAlias(-9)), "{err}");
        assert!(
            !aliases.contains_key(&-2),
            "nothing of a failed interval is kept"
        );
        assert_eq!(s.series_of(run).unwrap().len(), 1);
        assert_eq!(s.samples(a).unwrap(), (vec![1.0, 2.0], vec![5.0, 6.0]));
        assert_eq!(s.sites_of(run).unwrap()[0].frames, ["f (a.js:1)"]);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lh.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }
}
