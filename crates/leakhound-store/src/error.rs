/// What went wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The database path.
        path: String,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The file is a database from a newer leakhound.
    #[error("database {path} has schema version {found}, newer than this leakhound ({supported}); upgrade leakhound")]
    TooNew {
        /// The database path.
        path: String,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The file has no leakhound schema: empty, or creation was interrupted before any run.
    #[error("database {path} holds no runs yet (empty, or its creation was interrupted); record a run first")]
    Empty {
        /// The database path.
        path: String,
    },
    /// No run with this id.
    #[error("no run {0} in the database (see `leakhound runs`)")]
    NoSuchRun(i64),
    /// A stored chunk of samples cannot be read (a damaged file): what and why.
    #[error("damaged samples: {0}")]
    Corrupt(String),
    /// Samples named a series by an alias that no interval created.
    #[error("samples name series alias {0}, which was never created")]
    UnknownAlias(i64),
    /// Any other SQLite failure.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// Whether another connection held the lock past the busy timeout ("database is locked"):
    /// trying again later is the answer.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(e) if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            )
        )
    }
}
