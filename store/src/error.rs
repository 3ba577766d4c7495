use std::path::PathBuf;

/// Why the store could not do what was asked.
///
/// Every variant that concerns a database names it: a path for SQLite, the URL with its password
/// elided ([`redacted`](crate::redacted)) for PostgreSQL, so the text is fit for a log line.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL is neither `sqlite:PATH` nor `postgres://...` / `postgresql://...`.
    #[error(
        "store URL {url:?} not understood: {why} (use sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB)"
    )]
    BadUrl {
        /// The URL, password elided.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },

    /// The file at `--store` exists but is not an SQLite database (another kind of file, or a
    /// damaged one). It was not modified.
    #[error("{}: not an SQLite database, or a damaged one ({detail}); refusing to use it (it was not modified)", path.display())]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// What SQLite or the header check said.
        detail: String,
    },

    /// The database holds tables but not cliser's: some other program's database. It was not
    /// modified.
    #[error("{location}: a database of some other program (it has tables {tables} but no cliser_schema); refusing to use it (it was not modified)")]
    Foreign {
        /// The path or redacted URL.
        location: String,
        /// The first few of its table names, comma-separated.
        tables: String,
    },

    /// The database was written by a newer cliser whose schema this binary does not know.
    #[error("{location}: schema version {found} is newer than this binary knows ({known}); upgrade cliser or use another database")]
    TooNew {
        /// The path or redacted URL.
        location: String,
        /// The version recorded in the database.
        found: i64,
        /// The newest version this binary knows ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)).
        known: i64,
    },

    /// SQLite failed; `op` says what the store was doing.
    #[error("sqlite:{}: {op}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What the store was doing, e.g. `commit`.
        op: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// PostgreSQL failed or could not be reached; `op` says what the store was doing.
    #[error("PostgreSQL at {url}: {op}: {}", pg_detail(source))]
    Postgres {
        /// The URL, password elided.
        url: String,
        /// What the store was doing, e.g. `connect`.
        op: &'static str,
        /// The client's error.
        #[source]
        source: postgres::Error,
    },

    /// A reading's seq does not fit the database's signed 64-bit integer ([`MAX_SEQ`](crate::MAX_SEQ)).
    /// Nothing of the group was written.
    #[error("client {cid}: seq {seq} is above the largest the store keeps ({max})", max = crate::MAX_SEQ)]
    SeqOutOfRange {
        /// The client id.
        cid: String,
        /// The seq.
        seq: u64,
    },

    /// A query asked for something meaningless, e.g. buckets of zero length.
    #[error("bad query: {0}")]
    BadQuery(String),

    /// A stored row does not make a reading (e.g. an identifier that is no longer valid): the
    /// database was changed by hand or is damaged.
    #[error("{location}: stored data not understood: {detail}")]
    BadData {
        /// The path or redacted URL.
        location: String,
        /// Which row and what is wrong.
        detail: String,
    },

    /// A duty's write was refused: this connection is fenced
    /// ([`Described::set_fence`](crate::Described::set_fence)) for `duty` at `epoch`, and this server
    /// no longer holds it at that epoch (another server took it, or its lease expired). Nothing of
    /// the write was kept. Not transient: the duty must stop here; the server holding it now does
    /// the work.
    #[error("{location}: duty {duty:?}: lease lost (epoch {epoch} is no longer this server's); the write was not made")]
    Fenced {
        /// The redacted URL.
        location: String,
        /// The duty.
        duty: String,
        /// The epoch the write was made under.
        epoch: crate::fleet::Epoch,
    },

    /// The callback given to [`History::export`](crate::History::export) failed (e.g. stdout closed).
    #[error("export: {0}")]
    Export(#[source] std::io::Error),
}

/// The PostgreSQL client's own text says only "db error" for errors the server sent: show the
/// server's message (and its detail) instead, which is what a person needs.
pub(crate) fn pg_detail(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{}: {} ({d})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => e.to_string(),
    }
}
