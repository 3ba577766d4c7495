use cliser_protocol::{Celsius, ClientId, SensorId, Value};
use std::fmt;

/// The largest seq the store keeps: both databases store integers as signed 64-bit. A group holding
/// a larger one is refused whole ([`StoreError::SeqOutOfRange`](crate::StoreError::SeqOutOfRange)),
/// so callers should refuse such readings before they reach the store.
pub const MAX_SEQ: u64 = i64::MAX as u64;

/// One reading to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReading {
    /// The client that sent it.
    pub cid: ClientId,
    /// Its sensor.
    pub sensor: SensorId,
    /// A temperature (kept as integer millidegrees, rounded to the nearest) or the reason it has none.
    pub value: Value,
    /// When it was sampled, Unix milliseconds (the caller stamps readings that came without a time).
    pub sampled_ms: i64,
    /// When the server received it, Unix milliseconds.
    pub received_ms: i64,
    /// The client's sequence number; `None` (a person typing with `nc`) is stored without dedupe.
    pub seq: Option<u64>,
    /// How far `sampled_ms` can be trusted.
    pub ts_quality: TsQuality,
}

/// One stored reading, as queries and [`History::export`](crate::History::export) give it back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReading {
    /// The client that sent it.
    pub cid: ClientId,
    /// Its sensor.
    pub sensor: SensorId,
    /// The temperature (to the millidegree) or the reason it has none.
    pub value: Value,
    /// When it was sampled, Unix milliseconds.
    pub sampled_ms: i64,
    /// When the server received it, Unix milliseconds.
    pub received_ms: i64,
    /// The client's sequence number, if it had one.
    pub seq: Option<u64>,
    /// How far `sampled_ms` can be trusted (readings stored before schema 3 read as
    /// [`TsQuality::Synced`]).
    pub ts_quality: TsQuality,
}

/// Where a reading's sample time comes from, and so how far it can be trusted.
///
/// Stored as a small integer (`0`, `1`, `2` in the order below: SQLite keeps `0` and `1` in no
/// bytes at all); shown as [`as_str`](Self::as_str).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TsQuality {
    /// `@<unix_ms>`: the client's wall clock, synchronised when it sampled (or so an older client,
    /// which cannot tell, implies). Also every reading stored before the flag existed.
    #[default]
    Synced,
    /// The server's clock: `~<age_ms>` counted back from when the line arrived, or a reading
    /// without any stamp, taken as sampled when it arrived.
    FromAge,
    /// `@<unix_ms>?`: the client's wall clock while it was not synchronised (a Pi without an RTC
    /// before NTP answered): possibly far off.
    Unsynced,
}

impl TsQuality {
    /// Every quality, in the order of their codes.
    pub const ALL: [TsQuality; 3] = [TsQuality::Synced, TsQuality::FromAge, TsQuality::Unsynced];

    /// `synced`, `from_age` or `unsynced`: the word `query`, the API and the log show.
    pub fn as_str(self) -> &'static str {
        match self {
            TsQuality::Synced => "synced",
            TsQuality::FromAge => "from_age",
            TsQuality::Unsynced => "unsynced",
        }
    }

    /// The stored code.
    pub fn code(self) -> i16 {
        self as i16
    }

    /// The quality a stored code stands for.
    pub fn from_code(code: i64) -> Option<TsQuality> {
        TsQuality::ALL.into_iter().find(|q| i64::from(q.code()) == code)
    }

    /// Parses [`as_str`](Self::as_str)'s words.
    pub fn parse(s: &str) -> Option<TsQuality> {
        TsQuality::ALL.into_iter().find(|q| q.as_str() == s)
    }
}

impl fmt::Display for TsQuality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which readings a query is about. Every filter is optional; the time range is half-open,
/// `since_ms <= sampled < until_ms`, on the sample time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadingQuery {
    /// Only this client.
    pub cid: Option<ClientId>,
    /// Only sensors with this id.
    pub sensor: Option<SensorId>,
    /// Sampled at or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// Sampled before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// At most this many rows (the oldest first).
    pub limit: Option<usize>,
}

/// Where [`History::buckets_from`](crate::History::buckets_from) takes its figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketSource {
    /// The hourly rollups when the bucket length is a whole number of hours (fast, and still there
    /// after the raw readings were pruned), else the raw readings.
    Auto,
    /// The hourly rollups; the bucket length must be a whole number of hours.
    Rollups,
    /// The raw readings (only those not yet pruned).
    Raw,
}

/// The summary of one sensor's readings over one bucket of time.
///
/// Buckets are aligned on multiples of their length since the Unix epoch (so `1h` buckets start on
/// the hour and `24h` buckets at midnight UTC), and a bucket is included whole when it overlaps the
/// query's time range.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// The client.
    pub cid: ClientId,
    /// The sensor.
    pub sensor: SensorId,
    /// The bucket's start, Unix ms.
    pub start_ms: i64,
    /// The lowest temperature (`None` when the bucket holds only errors).
    pub min: Option<Celsius>,
    /// The mean temperature, to the millidegree's fraction.
    pub mean: Option<Celsius>,
    /// The highest temperature.
    pub max: Option<Celsius>,
    /// How many temperatures.
    pub count: u64,
    /// How many readings gave an error instead.
    pub errors: u64,
}

/// What the store knows about one client.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// The client id.
    pub cid: ClientId,
    /// The earliest receive time of its stored readings, Unix ms.
    pub first_seen_ms: i64,
    /// The latest receive time of its stored readings, Unix ms.
    pub last_seen_ms: i64,
    /// The highest seq ever stored for it (kept when the readings themselves are pruned).
    pub high_water: Option<u64>,
}

/// What the store knows about one sensor of one client.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorInfo {
    /// The client id.
    pub cid: ClientId,
    /// The sensor id.
    pub sensor: SensorId,
    /// The earliest receive time of its stored readings, Unix ms.
    pub first_seen_ms: i64,
    /// The latest receive time of its stored readings, Unix ms.
    pub last_seen_ms: i64,
    /// The newest reading by sample time: when it was sampled, what it gave and its seq.
    pub last: Option<(i64, Value, Option<u64>)>,
}

/// An alert that is firing, as the store keeps it so that a restarted server neither announces it
/// again nor forgets it ([`AlertStore::alert_fire`](crate::AlertStore::alert_fire)). The store does not
/// interpret the fields: the alert rules decide what they mean. One alert is kept per
/// (`kind`, `cid`, `sensor`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    /// What kind of alert, as the alert rules name it (e.g. too hot, node silent).
    pub kind: String,
    /// The client id it is about.
    pub cid: String,
    /// The sensor id it is about; empty for an alert about the node as a whole.
    pub sensor: String,
    /// The sensor's or node's display name when it fired, if it has one.
    pub name: Option<String>,
    /// When it started firing, Unix milliseconds.
    pub since_ms: i64,
    /// The value that set it off, when the kind has one. SQLite keeps no NaN (it comes back `None`).
    pub value: Option<f64>,
    /// The limit that value crossed, when the kind has one (same caveat).
    pub limit: Option<f64>,
    /// The text shown and sent for it.
    pub message: String,
    /// Who acknowledged it, if anyone did ([`AlertStore::alert_ack`](crate::AlertStore::alert_ack)); [`AlertStore::alert_fire`](crate::AlertStore::alert_fire) ignores
    /// this field and keeps what is stored (a fired-again alert keeps its acknowledgement).
    pub ack: Option<Ack>,
}

/// Which database a store uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// What the start-up log line says about a store ([`Described::info`](crate::Described::info)).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreInfo {
    /// Which database.
    pub backend: Backend,
    /// `sqlite:PATH`, or the PostgreSQL URL with its password elided.
    pub location: String,
    /// The schema version in use.
    pub schema_version: i64,
    /// How many raw readings it holds.
    pub readings: u64,
}

impl fmt::Display for StoreInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (schema {}, {} readings)", self.location, self.schema_version, self.readings)
    }
}

/// Someone's acknowledgement of a firing alert: seen, being handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Who acknowledged it (free text: a name, `console`, `page from 10.0.0.5`).
    pub by: String,
    /// Why, or what is being done; may be empty.
    pub note: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
}

/// One entry of the alert history: a transition of an alert, or what a person did to it. Kept in
/// the store (pruned with raw readings), newest first in [`AlertStore::alert_events`](crate::AlertStore::alert_events).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    /// The store's id, rising; 0 in an event to add.
    pub id: i64,
    /// When it happened, Unix milliseconds.
    pub at_ms: i64,
    /// `fired`, `resolved`, `acknowledged`, `silenced`, `unsilenced` (delivered once its silence
    /// ended) or `forgotten`.
    pub event: String,
    /// The alert's kind (`above_max`, ...).
    pub kind: String,
    /// The client id it is about.
    pub cid: String,
    /// The sensor id; empty for a node's alert.
    pub sensor: String,
    /// The sensor's display name at the time, if it has one.
    pub name: Option<String>,
    /// Since when the alert's condition held, Unix milliseconds.
    pub since_ms: i64,
    /// The value of the transition, when it has one (what fired it, what resolved it).
    pub value: Option<f64>,
    /// The text shown and sent for it.
    pub message: String,
    /// Who did it (acknowledged, silenced, forgot), when a person did.
    pub by: Option<String>,
    /// Their note, or the silence's id and comment.
    pub note: Option<String>,
}

/// Which alert events to read: every field narrows; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Only this client.
    pub cid: Option<String>,
    /// Only this sensor id.
    pub sensor: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only events at or after this, Unix ms.
    pub since_ms: Option<i64>,
    /// Only events before this, Unix ms.
    pub until_ms: Option<i64>,
    /// At most this many (the newest); 0 means no limit.
    pub limit: usize,
    /// Only events still to be delivered ([`AlertStore::alert_event_add_to_deliver`](crate::AlertStore::alert_event_add_to_deliver)
    /// and not yet [`alert_event_delivered`](crate::AlertStore::alert_event_delivered)).
    pub pending_delivery: bool,
}

/// A silence, as Alertmanager's: firing alerts it matches are recorded but not sent to the command
/// or the webhook until it ends. A matcher field of `*` matches anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    /// The store's id; 0 in a silence to add.
    pub id: i64,
    /// The client id, or `*`.
    pub cid: String,
    /// The sensor id or the sensor's name, or `*` (a node's alert has sensor `""`: only `*` matches it).
    pub sensor: String,
    /// The alert kind, or `*`.
    pub kind: String,
    /// When it was made, Unix ms.
    pub starts_ms: i64,
    /// When it ends by itself, Unix ms.
    pub ends_ms: i64,
    /// Who made it.
    pub by: String,
    /// Why.
    pub comment: String,
    /// When someone ended it early, if they did.
    pub ended_ms: Option<i64>,
}

impl Silence {
    /// Whether it is in force at `now_ms`.
    pub fn active(&self, now_ms: i64) -> bool {
        self.starts_ms <= now_ms && now_ms < self.ends_ms && self.ended_ms.is_none_or(|e| now_ms < e)
    }

    /// Whether it matches an alert of `kind` about `cid`/`sensor` (named `name`).
    pub fn matches(&self, kind: &str, cid: &str, sensor: &str, name: Option<&str>) -> bool {
        let field = |m: &str, v: &str| m == "*" || m == v;
        field(&self.kind, kind)
            && field(&self.cid, cid)
            && (self.sensor == "*"
                || (!sensor.is_empty() && (self.sensor == sensor || Some(self.sensor.as_str()) == name)))
    }
}

/// What a person changed in the store that running servers must act on: each server's alerts
/// thread reads them in id order ([`AdminLog::admin_changes`](crate::AdminLog::admin_changes)) about once a second, whichever server
/// or command line wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminChange {
    /// A firing alert was acknowledged ([`AlertStore::alert_ack`](crate::AlertStore::alert_ack)).
    Acked {
        /// The alert's kind.
        kind: String,
        /// Its client id.
        cid: String,
        /// Its sensor ("" for a node's alert).
        sensor: String,
    },
    /// A silence was made or ended early: read [`AlertStore::silences`](crate::AlertStore::silences) again.
    Silences,
    /// A node (`sensor` None) or one of its sensors was forgotten ([`AdminLog::forget`](crate::AdminLog::forget)).
    Forgot {
        /// The client id.
        cid: String,
        /// The sensor, or the whole node.
        sensor: Option<String>,
    },
}

/// What [`AdminLog::forget`](crate::AdminLog::forget) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Forgotten {
    /// The store knew the node (or the sensor) and now has forgotten it.
    pub known: bool,
    /// Raw readings deleted (only with `delete_readings`).
    pub readings_deleted: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(cid: &str, sensor: &str, kind: &str) -> Silence {
        Silence {
            id: 1,
            cid: cid.into(),
            sensor: sensor.into(),
            kind: kind.into(),
            starts_ms: 100,
            ends_ms: 200,
            by: "ann".into(),
            comment: String::new(),
            ended_ms: None,
        }
    }

    #[test]
    fn a_silence_is_active_from_its_start_until_its_end_or_until_it_was_ended() {
        let s = silence("*", "*", "*");
        assert_eq!([99, 100, 199, 200].map(|t| s.active(t)), [false, true, true, false]);
        let ended = Silence { ended_ms: Some(150), ..s.clone() };
        assert_eq!([100, 149, 150, 199].map(|t| ended.active(t)), [true, true, false, false]);
        // Ended after its own end: its end still counts.
        let late = Silence { ended_ms: Some(300), ..s };
        assert!(!late.active(200));
    }

    #[test]
    fn a_silence_matches_by_kind_client_and_sensor_id_or_name_with_stars_for_any() {
        let any = silence("*", "*", "*");
        assert!(any.matches("high", "a", "t", None));
        assert!(any.matches("silent", "a", "", None), "only * matches a node's alert");
        let exact = silence("a", "28-01", "high");
        assert!(exact.matches("high", "a", "28-01", Some("fridge")));
        assert!(!exact.matches("low", "a", "28-01", None));
        assert!(!exact.matches("high", "b", "28-01", None));
        assert!(!exact.matches("high", "a", "28-02", None));
        assert!(!exact.matches("high", "a", "", None), "a node's alert has no sensor");
        let by_name = silence("*", "fridge", "*");
        assert!(by_name.matches("high", "a", "28-01", Some("fridge")));
        assert!(!by_name.matches("high", "a", "28-01", Some("freezer")));
        assert!(!by_name.matches("silent", "a", "", Some("fridge")), "a node's name is not a sensor's");
    }
}
