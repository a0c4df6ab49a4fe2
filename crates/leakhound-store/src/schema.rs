//! Schema versions. Each entry migrates from the previous version; `PRAGMA user_version` records
//! how many have been applied.

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: runs, series, samples, events.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,             -- run | watch | import
        target TEXT NOT NULL,           -- command line, pid list, name pattern, cgroup or file
        host TEXT NOT NULL,
        started_at REAL NOT NULL,       -- unix seconds
        ended_at REAL,                  -- null while running (or after a crash)
        interval_s REAL,
        limit_bytes INTEGER,            -- memory limit that applies to the target
        version TEXT NOT NULL,          -- leakhound version that wrote it
        status TEXT NOT NULL DEFAULT 'running',
        exit_code INTEGER,
        last_verdict TEXT
    );
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',   -- JSON object, keys sorted
        kind TEXT NOT NULL,                  -- gauge | counter
        unit TEXT NOT NULL,                  -- bytes | count
        UNIQUE (run_id, name, labels)
    );
    CREATE TABLE samples (
        series_id INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
        t REAL NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (series_id, t)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        t REAL NOT NULL,
        kind TEXT NOT NULL,     -- start | restart | exit | warning | instance
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX events_by_run ON events(run_id, t);",
    // 2: allocation sites. Their live bytes and objects are ordinary series (`site.bytes`,
    // `site.objects`, label `site` = the hash); this table names the stack behind a hash.
    "CREATE TABLE sites (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        hash TEXT NOT NULL,             -- 16 hex digits, FNV-1a of the frames
        source TEXT NOT NULL,           -- node | native | go | python | jvm
        frames TEXT NOT NULL,           -- JSON array, innermost (allocating) frame first
        PRIMARY KEY (run_id, hash)
    ) WITHOUT ROWID;",
    // 3: compact storage. `samples` keeps what was written lately, one row per sample (each
    // interval in one transaction, as before); upkeep moves each closed block of a series into
    // one row of `chunks`, its samples compressed (chunk.rs), and blocks older than the
    // retention into floor summaries. `spacing_s` is the series' usual time between samples,
    // fixed when it is first compacted: it sets the block and summary window widths.
    "ALTER TABLE series ADD COLUMN spacing_s REAL;
    CREATE TABLE chunks (
        series_id INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
        kind INTEGER NOT NULL,          -- 0: samples, 1: floor summaries (one per window)
        start REAL NOT NULL,            -- block start, unix seconds, a multiple of width
        width REAL NOT NULL,            -- block width, seconds
        n INTEGER NOT NULL,             -- samples held, or summarized
        points INTEGER NOT NULL,        -- rows it decodes to: samples, or windows
        t_first REAL NOT NULL,          -- first and last sample time in it
        t_last REAL NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (series_id, kind, start)
    );",
];
