//! The store's roles: each caller takes the trait of what it does (the sink commits, the page
//! asks, the exporters follow the feed), so a test double implements only that role. [`Store`] is
//! all of them, for a caller that hands the store on to several.

use crate::{
    Ack, AdminChange, AlertEvent, Bucket, BucketSource, EventQuery, FeedLag, FeedRow, Forgotten, HealthRow,
    NewReading, NodeInfo, ReadingQuery, SensorInfo, Silence, StoreError, StoreInfo, StoredAlert,
    StoredReading,
};
use cliser_protocol::ClientId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What every store says about itself, for log lines; the base of every role, so a store of any
/// role can be named in a message.
pub trait Described: Send {
    /// The backend, where it is (password elided), the schema version and how many raw readings it
    /// holds (a count: on a big database this takes a moment; meant for the start-up log line).
    fn info(&mut self) -> Result<StoreInfo, StoreError>;

    /// `sqlite:PATH` or the PostgreSQL URL with its password elided: for log lines.
    fn location(&self) -> &str;

    /// Fences this connection's duty writes ([`Retention`]'s deletions, [`ExportFeed::set_cursor`])
    /// with `fence` (`None`: unfenced, as opened): on PostgreSQL each such write transaction first
    /// checks that this server still holds the fence's duty at its epoch, and locks the duty's
    /// row until it ends, so a takeover waits for the write or the write is refused with
    /// [`StoreError::Fenced`] and nothing of it kept (docs/FLEET.md, "Fenced writes"). By
    /// default (SQLite: one server, every duty its own) it does nothing.
    fn set_fence(&mut self, _fence: Option<crate::fleet::Fence>) {}
}

/// Commits readings exactly once: what the readings sink (and `import-csv`) needs.
pub trait Ledger: Described {
    /// Stores a group of readings in one transaction and returns, for each, whether it was stored
    /// now (`false`: its (cid, seq) was stored before, or earlier in this group). Readings without
    /// a seq are always stored. In the same transaction it updates the nodes (seen times, high-water
    /// mark), the sensors (seen times, newest reading) and the hourly rollups with the readings it
    /// stored. A reading sampled before its client's [`pruned_before`](Self::pruned_before) mark
    /// whose seq is at or below the client's high-water mark, or that has no seq, is refused
    /// (`false`): it may have been stored and pruned since, and is already counted in the rollups.
    /// Returns once the transaction is durable; on an error nothing of the group is stored
    /// (with PostgreSQL, a connection lost while committing leaves that unknown: sending the group
    /// again is safe for readings with a seq).
    fn commit(&mut self, group: &[NewReading]) -> Result<Vec<bool>, StoreError>;

    /// The highest seq ever stored for `cid`, read from the database (right when several servers
    /// share it), and never lower after pruning.
    fn high_water(&mut self, cid: &ClientId) -> Result<Option<u64>, StoreError>;

    /// [`high_water`](Self::high_water) of every client that has one.
    fn high_water_all(&mut self) -> Result<HashMap<ClientId, u64>, StoreError>;

    /// Per client whose raw readings were pruned: just after the sample time of the newest one
    /// deleted (never lowered). [`commit`](Self::commit) refuses what it cannot tell apart from
    /// a pruned reading sampled before it. By default none: for a store that never prunes (both
    /// backends keep the marks).
    fn pruned_before(&mut self) -> Result<HashMap<ClientId, i64>, StoreError> {
        Ok(HashMap::new())
    }

    /// From now on, writes the nodes' seen times and high-water marks and the sensors' seen times
    /// and newest readings at most once per `every`, in the transaction of a commit or of
    /// [`flush_display`](Self::flush_display), instead of in every commit (the readings, their
    /// rollups and their keys stay in every commit). First repairs those rows from the readings
    /// a previous holder committed but had not written yet (a `kill -9`), so that they are as if
    /// every commit had written them. Meant for the server's sink, the one writer that commits
    /// often; readers see these rows up to `every` late. Returns how many readings the repair
    /// re-applied. By default (PostgreSQL) every commit writes them and this does nothing.
    fn hold_display(&mut self, _every: Duration) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// When what [`hold_display`](Self::hold_display) holds is due to be written with
    /// [`flush_display`](Self::flush_display) if no commit comes first; `None`: nothing held.
    fn display_due(&self) -> Option<Instant> {
        None
    }

    /// Writes what [`hold_display`](Self::hold_display) holds now, in a transaction of its own.
    fn flush_display(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Questions about the readings kept: the page, the queries and `export`.
pub trait History: Described {
    /// Raw readings matching `q`, by sample time (ties in insertion order).
    fn readings(&mut self, q: &ReadingQuery) -> Result<Vec<StoredReading>, StoreError>;

    /// Per-sensor summaries of `every`-long buckets over `q` (its limit caps the buckets), ordered
    /// by client, sensor and time, taken from `source`.
    fn buckets_from(
        &mut self,
        q: &ReadingQuery,
        every: Duration,
        source: BucketSource,
    ) -> Result<Vec<Bucket>, StoreError>;

    /// [`buckets_from`](Self::buckets_from) the rollups when `every` is a whole number of hours,
    /// else from the raw readings.
    fn buckets(&mut self, q: &ReadingQuery, every: Duration) -> Result<Vec<Bucket>, StoreError> {
        self.buckets_from(q, every, BucketSource::Auto)
    }

    /// Every client the store has seen, by id.
    fn nodes(&mut self) -> Result<Vec<NodeInfo>, StoreError>;

    /// Every sensor, by client id and sensor id.
    fn sensors(&mut self) -> Result<Vec<SensorInfo>, StoreError>;

    /// Calls `each` with every raw reading in insertion order (within a group, by client id, each
    /// client's readings in the order given), streaming: memory stays flat however big the store.
    /// Stops at the first error of `each`. Returns how many it gave.
    fn export(
        &mut self,
        each: &mut dyn FnMut(StoredReading) -> std::io::Result<()>,
    ) -> Result<u64, StoreError>;
}

/// Deletes what is older than the retention keeps, in short batches.
pub trait Retention: Described {
    /// Deletes at most `batch` raw readings sampled before `older_than_ms` and returns how many it
    /// deleted; call it again until that is below `batch`. Small batches keep each transaction
    /// short, so commits are not held up. Rollups, nodes and high-water marks are kept, and each
    /// client's [`pruned_before`](Ledger::pruned_before) mark is raised past what was deleted.
    fn prune_raw(&mut self, older_than_ms: i64, batch: usize) -> Result<usize, StoreError>;

    /// Deletes at most `batch` alert events and admin changes from before `older_than_ms`; returns
    /// how many (call again until below `batch`), as [`prune_raw`](Self::prune_raw).
    fn prune_alert_events(&mut self, older_than_ms: i64, batch: usize) -> Result<usize, StoreError>;

    /// Deletes at most `batch` hours of sensor health ([`HealthLog`]) that ended at or before
    /// `older_than_ms`; returns how many (call again until below `batch`), as
    /// [`prune_raw`](Self::prune_raw).
    fn prune_health(&mut self, older_than_ms: i64, batch: usize) -> Result<usize, StoreError>;
}

/// The alerts firing, their history, acknowledgements and silences: what the alerts engine and the
/// people acting on alerts need.
pub trait AlertStore: Described {
    /// The alerts firing, ordered by kind, client id and sensor (bytewise on both backends).
    fn alerts_firing(&mut self) -> Result<Vec<StoredAlert>, StoreError>;

    /// Records `a` as firing, replacing what was kept for its (kind, cid, sensor). Returns once
    /// that is durable, like [`commit`](Ledger::commit).
    fn alert_fire(&mut self, a: &StoredAlert) -> Result<(), StoreError>;

    /// Forgets the alert of (kind, cid, sensor) once it resolves; `true` when there was one.
    /// Durable when it returns.
    fn alert_resolve(&mut self, kind: &str, cid: &str, sensor: &str) -> Result<bool, StoreError>;

    /// Marks the firing alert (kind, cid, sensor) acknowledged by `ack` and records an
    /// [`AdminChange::Acked`], in one transaction; `false` (and nothing recorded) when no such
    /// alert fires. Acknowledging again replaces the acknowledgement. Durable when it returns.
    fn alert_ack(&mut self, kind: &str, cid: &str, sensor: &str, ack: &Ack) -> Result<bool, StoreError>;

    /// Adds `e` (its id ignored) to the alert history; returns its id. Durable when it returns.
    fn alert_event_add(&mut self, e: &AlertEvent) -> Result<i64, StoreError>;

    /// Adds `e` as [`alert_event_add`](Self::alert_event_add) does, as an event to be delivered:
    /// [`EventQuery::pending_delivery`] finds it until it is
    /// [`alert_event_delivered`](Self::alert_event_delivered). Its id is the transition's id that
    /// every delivery of it carries.
    fn alert_event_add_to_deliver(&mut self, e: &AlertEvent) -> Result<i64, StoreError>;

    /// Every target has taken event `id`: it is no longer pending. Durable when it returns.
    fn alert_event_delivered(&mut self, id: i64) -> Result<(), StoreError>;

    /// The alert history matching `q`, newest first (ties: highest id first).
    fn alert_events(&mut self, q: &EventQuery) -> Result<Vec<AlertEvent>, StoreError>;

    /// Adds a silence (its id and `ended_ms` ignored) and records an [`AdminChange::Silences`], in
    /// one transaction; returns its id.
    fn silence_add(&mut self, s: &Silence) -> Result<i64, StoreError>;

    /// Silences whose end (`ends_ms`, or `ended_ms` if ended early) is after `after_ms`, by id;
    /// `None`: every silence kept.
    fn silences(&mut self, after_ms: Option<i64>) -> Result<Vec<Silence>, StoreError>;

    /// Ends silence `id` at `at_ms` and records an [`AdminChange::Silences`]; `false` when there is
    /// no such silence or it had ended already (nothing recorded then).
    fn silence_end(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError>;
}

/// Forgetting nodes and sensors, and the admin changes every server sharing the database acts on.
pub trait AdminLog: Described {
    /// Forgets node `cid` (`sensor` None: with all its sensors) or one of its sensors: they are no
    /// longer listed by [`nodes`](History::nodes) and [`sensors`](History::sensors) until a reading of
    /// theirs is committed again. High-water marks are kept (an old resend stays a duplicate).
    /// With `delete_readings` its raw readings and rollups are deleted too. Records an
    /// [`AdminChange::Forgot`] when it knew it; all in one transaction.
    fn forget(
        &mut self,
        cid: &str,
        sensor: Option<&str>,
        delete_readings: bool,
        at_ms: i64,
    ) -> Result<Forgotten, StoreError>;

    /// Whether node `cid` (`sensor` None) or that sensor is forgotten now.
    fn is_forgotten(&mut self, cid: &str, sensor: Option<&str>) -> Result<bool, StoreError>;

    /// The admin changes with an id above `after`, by id, with their ids.
    fn admin_changes(&mut self, after: i64) -> Result<Vec<(i64, AdminChange)>, StoreError>;

    /// The highest admin change id (0 when none): where a starting server begins reading.
    fn admin_changes_head(&mut self) -> Result<i64, StoreError>;
}

/// The readings in commit order with each exporter's cursor: what the exporters need.
pub trait ExportFeed: Described {
    /// At most `limit` raw readings whose row id is above `after`, by id: the order they were
    /// committed in. For exporters, which keep their place with [`set_cursor`](Self::set_cursor).
    fn feed(&mut self, after: i64, limit: usize) -> Result<Vec<FeedRow>, StoreError>;

    /// How far `after` is behind the newest reading.
    fn feed_lag(&mut self, after: i64) -> Result<FeedLag, StoreError>;

    /// The cursor exporter `name` last saved, if any.
    fn cursor(&mut self, name: &str) -> Result<Option<i64>, StoreError>;

    /// Saves exporter `name`'s cursor; durable when it returns.
    fn set_cursor(&mut self, name: &str, after: i64) -> Result<(), StoreError>;
}

/// The sensors' bus health per hour, from the clients' health reports (schema 8).
pub trait HealthLog: Described {
    /// Adds each report to its (cid, sensor, hour) row in one transaction, unless that row already
    /// took a report with this `last_report` id or a later one (a repeat changes nothing). Returns
    /// how many were added. Durable when it returns.
    fn health_add(&mut self, rows: &[HealthRow]) -> Result<usize, StoreError>;

    /// The rows of the hours starting at or after `since_ms`, by cid, sensor and hour.
    fn health_since(&mut self, since_ms: i64) -> Result<Vec<HealthRow>, StoreError>;
}

/// What the readings sink needs: the ledger, and the health reports that ride on the same answers.
pub trait SinkStore: Ledger + HealthLog {}

impl<T: Ledger + HealthLog + ?Sized> SinkStore for T {}

/// Every role: readings in, questions out. Both backends behave the same; the tests run one suite
/// on each. Implemented for whatever implements every role.
pub trait Store: Ledger + History + Retention + AlertStore + AdminLog + ExportFeed + HealthLog {}

impl<T: Ledger + History + Retention + AlertStore + AdminLog + ExportFeed + HealthLog + ?Sized> Store for T {}
