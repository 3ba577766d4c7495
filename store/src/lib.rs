//! Where cliser keeps readings: an SQLite file by default, or a PostgreSQL database shared by
//! several servers. The store is the exactly-once ledger: the unique key (client id, seq) drops a
//! reading already stored, and [`Ledger::commit`] returns only once a group is durable, so an ack
//! sent after it never covers a reading that could be lost.
//!
//! [`open`] takes `sqlite:PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB` (or `postgresql://`),
//! checks the database is cliser's (or empty), and migrates its schema to [`SCHEMA_VERSION`] with
//! the SQL embedded in this crate (`store/migrations/`). A file that is not an SQLite database, a
//! database of another program and one from a newer cliser are refused, untouched.
//!
//! What is kept (times in Unix milliseconds, temperatures in integer millidegrees):
//! - `readings`: one row per reading (client, sensor, value or error reason, sample and receive
//!   time, seq, and where the sample time came from: [`TsQuality`]), unique on (client, seq);
//!   pruned by age with [`Retention::prune_raw`].
//! - `nodes`: per client, first and last seen and the high-water mark, which outlives pruning,
//!   when it was forgotten ([`AdminLog::forget`]), and the pruned mark ([`Ledger::pruned_before`]).
//! - `sensors`: per client and sensor, first and last seen, the newest reading, and when it was
//!   forgotten. A forgotten node or sensor is left out of [`History::nodes`] and [`History::sensors`]
//!   until a reading of it is committed again; its row, and so its high-water mark, stays.
//! - `rollups`: per sensor and hour, min, max, sum and count of temperatures and a count of
//!   errors; never pruned, so [`History::buckets`] of whole hours stay cheap over any range.
//! - `alerts`: the alerts firing now, one per (kind, client, sensor), written as they fire and
//!   deleted as they resolve ([`AlertStore::alert_fire`], [`AlertStore::alert_resolve`]), so that a restart
//!   neither announces one again nor forgets one; with who acknowledged each ([`AlertStore::alert_ack`]),
//!   which firing again keeps and resolving deletes.
//! - `alert_events`: the alert history, every transition and what people did
//!   ([`AlertStore::alert_event_add`], [`AlertStore::alert_events`]); pruned by age
//!   ([`Retention::prune_alert_events`]).
//! - `silences`: Alertmanager-like silences, kept ([`AlertStore::silence_add`], [`AlertStore::silence_end`]).
//! - `admin_changes`: acknowledgements, silences made or ended and forgettings, in id order, for
//!   every server sharing the database to act on ([`AdminLog::admin_changes`]); pruned with the
//!   alert history.
//! - `export_cursors`: per exporter, the id of the last reading its far side accepted
//!   ([`ExportFeed::feed`], [`ExportFeed::cursor`], [`ExportFeed::set_cursor`]).
//! - `sensor_health`: per client, sensor and hour, the sums of the clients' health reports (reads,
//!   CRC errors, empty reads, 85 °C power-on values, other errors, read time), idempotent per
//!   report id ([`HealthLog`]); pruned with the raw readings ([`Retention::prune_health`]).
//! - `fleet_presence`, `fleet_duties` (PostgreSQL only): the leases of several servers sharing
//!   the database, which client is registered where and which server runs each duty ([`fleet`]).
//!
//! Every commit updates the first four in one transaction, one statement per table and group on
//! PostgreSQL (the same statements mark the nodes and sensors it stores readings of as no longer
//! forgotten). Raw readings are indexed for time ranges per sensor on PostgreSQL and per client
//! on SQLite, whose WAL writes whole pages: a client's readings of one poll then share an index
//! page, which makes commits several times faster on a large database, at the price of
//! reading a client's other sensors when one sensor is asked for.
//!
//! What callers must do: keep seqs at or below [`MAX_SEQ`]; drop readings at or below a client's
//! [`Ledger::high_water`] before committing (pruned readings no longer hold their key, so the store
//! alone would take an old resend as new); and on an error, keep the group and try again later.
//!
//! The store is blocking and owned by one thread at a time (`Send`, not `Sync`).
#![deny(missing_docs)]

mod error;
mod feed;
pub mod fleet;
mod group;
mod health;
mod history;
mod migrate;
mod open;
mod options;
mod pg;
mod pg_config;
mod query;
mod roles;
mod series;
mod sqlite;
mod types;
mod url;

pub use error::StoreError;
pub use feed::{FeedLag, FeedRow};
pub use health::{hour_of, last_hour_since, HealthRow, HealthSum, HOUR_MS, MARK_ABOVE};
pub use open::{open_as, open_as_with, OpenAs};
pub use options::OpenOptions;
pub use pg::PgStore;
pub use roles::{
    AdminLog, AlertStore, Described, ExportFeed, HealthLog, History, Ledger, Retention, SinkStore, Store,
};
pub use series::{series_buckets, series_parts, series_readings};
pub use sqlite::SqliteStore;
pub use types::{
    Ack, AdminChange, AlertEvent, Backend, Bucket, BucketSource, EventQuery, Forgotten, NewReading, NodeInfo,
    ReadingQuery, SensorInfo, Silence, StoreInfo, StoredAlert, StoredReading, TsQuality, MAX_SEQ,
};
pub use url::redacted;

/// The schema version this binary writes: the number of migrations it carries.
pub const SCHEMA_VERSION: i64 = migrate::SQLITE.len() as i64;

/// Opens (creating or migrating it if needed) the store at `url`: `sqlite:PATH` or
/// `postgres://...` / `postgresql://...`. A caller of one role takes it from this by upcasting; one
/// of a few roles uses [`open_as`].
pub fn open(url: &str) -> Result<Box<dyn Store>, StoreError> {
    open_as::<dyn Store>(url)
}

/// [`open`] with `options`: the memory this connection may hold (a server gives each of its
/// connections a share of one budget).
pub fn open_with(url: &str, options: &OpenOptions) -> Result<Box<dyn Store>, StoreError> {
    open_as_with::<dyn Store>(url, options)
}
