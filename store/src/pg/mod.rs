//! The PostgreSQL backend: a blocking client (it runs a small async runtime of its own on the
//! calling thread), reconnecting on the next call after the connection was lost.

mod health;
pub(crate) mod migrate;
mod stmts;

use crate::feed;
use crate::fleet::{Fence, FleetSettings};
use crate::group::{self, GroupIds, IdCache, PrunedMark, Row};
use crate::history;
use crate::pg_config::{Options, Profile};
use crate::query::{self, Decoder, Dialect, Layout, Param, ReadingRow, Sql};
use crate::{
    redacted, Ack, AdminChange, AdminLog, AlertEvent, AlertStore, Backend, Bucket, BucketSource, Described,
    EventQuery, ExportFeed, FeedLag, FeedRow, Forgotten, History, Ledger, NewReading, NodeInfo, ReadingQuery,
    Retention, SensorInfo, Silence, StoreError, StoreInfo, StoredAlert, StoredReading,
};
use cliser_protocol::{ClientId, SensorId};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;
use stmts::Stmts;

/// Connecting gives up after this long when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The server-side limit on one statement, unless the URL's `options` set one.
const STATEMENT_TIMEOUT: &str = "-c statement_timeout=30s";

/// How many times a commit is tried when PostgreSQL aborts it for a deadlock or a serialization
/// failure (two servers writing the same client's rows at once): the retry then succeeds.
const COMMIT_TRIES: usize = 3;

/// The advisory lock every commit (and pruning) takes first and holds until it ends ("readings" in
/// ASCII). Row ids come from a sequence when a row is inserted, but become visible when its
/// transaction commits: two commits in flight at once (two servers, or `import-csv` next to the
/// server) could make id 7 visible before id 5, and an exporter that read up to 7 would never
/// see 5. Under this lock ids are taken in commit order (PostgreSQL makes a transaction visible
/// before it releases its locks), so "the rows after id N" skips nothing. It serialises only
/// writers of readings, not readers nor other tables; commits are a handful of milliseconds.
const COMMIT_LOCK_KEY: i64 = 0x7265_6164_696e_6773;

/// Rows fetched per round trip by [`History::export`](crate::History::export).
const EXPORT_CHUNK: i32 = 10_000;

struct Conn {
    client: Client,
    st: Stmts,
    /// The read side's statements by text: a handful of texts (one per combination of filters),
    /// each planned once per connection instead of once per query.
    queries: HashMap<String, postgres::Statement>,
}

/// A store in a PostgreSQL database. Several servers may share one: (client id, seq) is unique in
/// the database, so each reading is stored once whichever server commits it first.
///
/// TLS is not supported yet (plain TCP): use it on loopback, a private network or through a
/// tunnel.
pub struct PgStore {
    config: Config,
    location: String,
    conn: Option<Conn>,
    version: i64,
    ids: IdCache,
    /// What this connection's duty writes are checked against ([`Described::set_fence`]).
    fence: Option<Fence>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("location", &self.location).finish_non_exhaustive()
    }
}

/// PostgreSQL's SQL: `$1` parameters, rows indexed per sensor (its WAL logs an index insert as a
/// small record, so scattered inserts cost little, and a sensor's range is then read alone).
const DIALECT: Dialect = Dialect { placeholder: |n| format!("${n}"), layout: Layout::BySensor };

fn bind(params: &[Param]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match p {
                Param::Int(i) => Box::new(*i),
                Param::Text(s) => Box::new(s.clone()),
            }
        })
        .collect()
}

/// Ids fit PostgreSQL's INTEGER columns: they come from them.
fn int(id: i64) -> i32 {
    id as i32
}

/// `alert_events.delivery`: nothing to deliver, pending, delivered (schema 7).
const DELIVERY_NONE: i16 = 0;
const DELIVERY_PENDING: i16 = 1;
const DELIVERY_DONE: i16 = 2;

impl PgStore {
    /// Adds an alert event with its `delivery` state: a duty's write (fenced in a fleet), durable
    /// when it returns.
    fn add_event(&mut self, e: &AlertEvent, delivery: i16) -> Result<i64, StoreError> {
        self.duty_write("record alert event", |tx| {
            let row = tx.query_one(
                "INSERT INTO alert_events \
                 (at_ms, event, kind, cid, sensor, name, since_ms, value, message, by_who, note, delivery) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                &[
                    &e.at_ms,
                    &e.event,
                    &e.kind,
                    &e.cid,
                    &e.sensor,
                    &e.name,
                    &e.since_ms,
                    &e.value,
                    &e.message,
                    &e.by,
                    &e.note,
                    &delivery,
                ],
            )?;
            Ok(row.get(0))
        })
    }

    /// Connects to `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`, the `postgres` crate's URL
    /// form) and creates or migrates the schema. Errors name the URL with its password elided.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let location = redacted(url);
        let config = connection_config(url, &location)?;
        let mut conn = None;
        ensure(&mut conn, &config, &location)?;
        Ok(PgStore {
            config,
            location,
            conn,
            version: crate::SCHEMA_VERSION,
            ids: IdCache::default(),
            fence: None,
        })
    }

    /// Runs `body` in one transaction of a duty's write (`op` names it in errors): checked first
    /// against the connection's fence, if any, so that a server that lost the duty writes nothing
    /// ([`StoreError::Fenced`]). A fenced transaction also gets the lease connection's
    /// idle-in-transaction timeout: a server paused inside it (SIGSTOP, a partition) loses its
    /// session and the lock on the duty's row within seconds, and cannot hold a takeover up.
    fn duty_write<T>(
        &mut self,
        op: &'static str,
        body: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let fence = self.fence.clone();
        let location = self.location.clone();
        let err = |source| StoreError::Postgres { url: location.clone(), op, source };
        let conn = self.conn()?;
        let mut tx = conn.client.transaction().map_err(err)?;
        if let Some(fence) = &fence {
            let idle = FleetSettings::default().idle_in_transaction_timeout.as_millis();
            tx.batch_execute(&format!("SET LOCAL idle_in_transaction_session_timeout = {idle}"))
                .map_err(err)?;
            if !fence.check(&mut tx).map_err(err)? {
                // `tx` rolls back as it drops.
                return Err(StoreError::Fenced {
                    location: location.clone(),
                    duty: fence.duty().to_owned(),
                    epoch: fence.epoch(),
                });
            }
        }
        let out = body(&mut tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(out)
    }

    fn err(&self, op: &'static str) -> impl Fn(postgres::Error) -> StoreError + '_ {
        move |source| StoreError::Postgres { url: self.location.clone(), op, source }
    }

    /// The connection, made anew if there is none or the last one was lost.
    fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        ensure(&mut self.conn, &self.config, &self.location)
    }

    fn run_query<T>(
        &mut self,
        sql: &Sql,
        op: &'static str,
        mut row: impl FnMut(&Decoder, &postgres::Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let params = bind(&sql.params);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        let conn = self.conn()?;
        let stmt = match conn.queries.get(&sql.text) {
            Some(s) => s.clone(),
            None => {
                let s = conn.client.prepare(&sql.text).map_err(self.err(op))?;
                self.conn()?.queries.insert(sql.text.clone(), s.clone());
                s
            }
        };
        let rows = self.conn()?.client.query(&stmt, &refs).map_err(self.err(op))?;
        let dec = Decoder { location: &self.location };
        rows.iter().map(|r| row(&dec, r)).collect()
    }

    fn reading(
        dec: &Decoder,
        series: Option<&(ClientId, SensorId)>,
        r: &postgres::Row,
    ) -> Result<StoredReading, StoreError> {
        let cell = |source| StoreError::Postgres { url: dec.location.to_owned(), op: "decode row", source };
        dec.reading(series, reading_row(r, 0).map_err(cell)?)
    }
}

/// The [`ReadingRow`] in `r` from column `at` on.
fn reading_row(r: &postgres::Row, at: usize) -> Result<ReadingRow<'_>, postgres::Error> {
    Ok(ReadingRow {
        sampled_ms: r.try_get(at)?,
        received_ms: r.try_get(at + 1)?,
        cid: r.try_get(at + 2)?,
        sensor: r.try_get(at + 3)?,
        milli_c: r.try_get(at + 4)?,
        error: r.try_get(at + 5)?,
        seq: r.try_get(at + 6)?,
        ts_quality: r.try_get(at + 7)?,
    })
}

/// The connection settings of `url`, with what it leaves unset filled in.
fn connection_config(url: &str, location: &str) -> Result<Config, StoreError> {
    // A database host that vanished without a reset (a cable, a power cut) must show within
    // ~30 s, not after the kernel's defaults (75 s x 9 probes after the idle time: ~11 minutes)
    // during which the sink holds every reading unacknowledged without saying why. An idle
    // connection: probes from 10 s, 4 unanswered 5 s apart. A request in flight: TCP gives up
    // when what it sent stays unacknowledged for 30 s (Linux), which also caps the probes.
    // A statement the database itself does not finish (waiting for a lock held by a stuck
    // session, a storage that hangs) is cancelled there: every statement cliser runs on the
    // reading path takes milliseconds, a commit holding the readings' lock longest, and a commit
    // that fails is held and tried again. Migrations lift it for their transaction (an index
    // rebuilt over millions of rows takes minutes); the URL's own `options` may set another.
    let profile = Profile {
        connect_timeout: CONNECT_TIMEOUT,
        application_name: "cliser",
        keepalives: (Duration::from_secs(10), Duration::from_secs(5), 4),
        tcp_user_timeout: Duration::from_secs(30),
        options: Options::UnlessUrlSets { key: "statement_timeout", text: STATEMENT_TIMEOUT.to_owned() },
    };
    crate::pg_config::config(url, location, &profile)
}

/// `conn`, made anew if there is none or the last one was lost.
fn ensure<'a>(
    conn: &'a mut Option<Conn>,
    config: &Config,
    location: &str,
) -> Result<&'a mut Conn, StoreError> {
    if conn.as_ref().is_some_and(|c| c.client.is_closed()) {
        *conn = None;
    }
    if conn.is_none() {
        let err = |op| move |source| StoreError::Postgres { url: location.to_owned(), op, source };
        let mut client = config.connect(NoTls).map_err(err("connect"))?;
        // The schema must exist before statements on it can be prepared.
        migrate::migrate(&mut client, location)?;
        let st = Stmts::prepare(&mut client).map_err(err("prepare statements"))?;
        *conn = Some(Conn { client, st, queries: HashMap::new() });
    }
    Ok(conn.as_mut().expect("connected above"))
}

/// One attempt at a commit; `Ok` carries the ids learnt and the per-row inserted flags.
fn try_commit(
    conn: &mut Conn,
    cache: &IdCache,
    rows: &[Row],
) -> Result<(GroupIds, Vec<bool>), postgres::Error> {
    let st = &conn.st;
    let mut tx = conn.client.transaction()?;
    // First, before any row lock: two commits never wait for each other in the opposite order.
    tx.execute(&st.commit_lock, &[&COMMIT_LOCK_KEY])?;
    let (mut ids, new_nodes) = GroupIds::from_cache(cache, rows);
    if !new_nodes.is_empty() {
        let cids: Vec<&str> = new_nodes.iter().map(|(c, _)| c.as_str()).collect();
        let times: Vec<i64> = new_nodes.iter().map(|(_, t)| *t).collect();
        tx.execute(&st.insert_nodes, &[&cids, &times])?;
        for r in tx.query(&st.select_nodes, &[&cids])? {
            ids.nodes.insert(r.get(1), i64::from(r.get::<_, i32>(0)));
        }
    }
    let new_sensors = ids.sensors_from_cache(cache, rows);
    if !new_sensors.is_empty() {
        let nodes: Vec<i32> = new_sensors.iter().map(|(n, _, _)| int(*n)).collect();
        let names: Vec<&str> = new_sensors.iter().map(|(_, s, _)| s.as_str()).collect();
        let times: Vec<i64> = new_sensors.iter().map(|(_, _, t)| *t).collect();
        tx.execute(&st.insert_sensors, &[&nodes, &names, &times])?;
        for r in tx.query(&st.select_sensors, &[&nodes, &names])? {
            ids.sensors.insert((i64::from(r.get::<_, i32>(1)), r.get(2)), i64::from(r.get::<_, i32>(0)));
        }
    }
    let pairs = ids.of_rows(cache, rows);
    let nodes: Vec<i32> = pairs.iter().map(|p| int(p.0)).collect::<BTreeSet<_>>().into_iter().collect();
    let marks: HashMap<i64, PrunedMark> = tx
        .query(&st.pruned_marks, &[&nodes])?
        .iter()
        .map(|r| (i64::from(r.get::<_, i32>(0)), PrunedMark { before_ms: r.get(1), high_water: r.get(2) }))
        .collect();
    let keep = group::not_pruned(rows, &pairs, &marks);
    let kept = || rows.iter().zip(&pairs).zip(&keep).filter(|(_, &k)| k).map(|(rp, _)| rp);
    let node: Vec<i32> = kept().map(|(_, p)| int(p.0)).collect();
    let sensor: Vec<i32> = kept().map(|(_, p)| int(p.1)).collect();
    let sampled: Vec<i64> = kept().map(|(r, _)| r.sampled_ms).collect();
    let received: Vec<i64> = kept().map(|(r, _)| r.received_ms).collect();
    let milli: Vec<Option<i32>> = kept().map(|(r, _)| r.milli_c).collect();
    let error: Vec<Option<&str>> = kept().map(|(r, _)| r.error).collect();
    let seq: Vec<Option<i64>> = kept().map(|(r, _)| r.seq).collect();
    let quality: Vec<i16> = kept().map(|(r, _)| r.ts_quality).collect();
    let stored: HashSet<(i32, i64)> = tx
        .query(&st.insert_readings, &[&node, &sensor, &sampled, &received, &milli, &error, &seq, &quality])?
        .iter()
        .filter_map(|r| r.get::<_, Option<i64>>(1).map(|s| (r.get(0), s)))
        .collect();
    // A reading kept without a seq cannot conflict: it was stored.
    let inserted: Vec<bool> = rows
        .iter()
        .zip(&pairs)
        .zip(&keep)
        .map(|((r, p), &k)| k && r.seq.is_none_or(|s| stored.contains(&(int(p.0), s))))
        .collect();

    let d = group::deltas(rows, &pairs, &inserted);
    if !d.nodes.is_empty() {
        let id: Vec<i32> = d.nodes.iter().map(|n| int(n.id)).collect();
        let first: Vec<i64> = d.nodes.iter().map(|n| n.first_ms).collect();
        let last: Vec<i64> = d.nodes.iter().map(|n| n.last_ms).collect();
        let hw: Vec<Option<i64>> = d.nodes.iter().map(|n| n.high_water).collect();
        tx.execute(&st.update_nodes, &[&id, &first, &last, &hw])?;

        let id: Vec<i32> = d.sensors.iter().map(|s| int(s.id)).collect();
        let first: Vec<i64> = d.sensors.iter().map(|s| s.first_ms).collect();
        let last: Vec<i64> = d.sensors.iter().map(|s| s.last_ms).collect();
        let at: Vec<i64> = d.sensors.iter().map(|s| s.last_sampled_ms).collect();
        let mc: Vec<Option<i32>> = d.sensors.iter().map(|s| s.last_milli_c).collect();
        let err: Vec<Option<&str>> = d.sensors.iter().map(|s| s.last_error.as_deref()).collect();
        let seq: Vec<Option<i64>> = d.sensors.iter().map(|s| s.last_seq).collect();
        tx.execute(&st.update_sensors, &[&id, &first, &last, &at, &mc, &err, &seq])?;

        let sensor: Vec<i32> = d.rollups.iter().map(|h| int(h.sensor)).collect();
        let hour: Vec<i64> = d.rollups.iter().map(|h| h.hour_ms).collect();
        let min: Vec<Option<i32>> = d.rollups.iter().map(|h| h.min).collect();
        let max: Vec<Option<i32>> = d.rollups.iter().map(|h| h.max).collect();
        let sum: Vec<i64> = d.rollups.iter().map(|h| h.sum).collect();
        let n: Vec<i64> = d.rollups.iter().map(|h| h.count).collect();
        let errors: Vec<i64> = d.rollups.iter().map(|h| h.errors).collect();
        tx.execute(&st.upsert_rollups, &[&sensor, &hour, &min, &max, &sum, &n, &errors])?;
    }
    tx.commit()?;
    Ok((ids, inserted))
}

fn retryable(e: &postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}

/// Records `change` in `tx`, for every server's alerts thread to act on. The table is locked
/// first (until the commit; readers do not wait): ids are then taken in commit order, so a reader
/// that has seen id N never finds a lower one committed later.
fn record(tx: &mut postgres::Transaction, change: &AdminChange, at_ms: i64) -> Result<(), postgres::Error> {
    let (what, kind, cid, sensor) = history::encode(change);
    tx.batch_execute("LOCK TABLE admin_changes IN SHARE ROW EXCLUSIVE MODE")?;
    tx.execute(
        "INSERT INTO admin_changes (at_ms, what, kind, cid, sensor) VALUES ($1, $2, $3, $4, $5)",
        &[&at_ms, &what, &kind, &cid, &sensor],
    )?;
    Ok(())
}

impl Described for PgStore {
    fn info(&mut self) -> Result<StoreInfo, StoreError> {
        let row = self
            .conn()?
            .client
            .query_one("SELECT count(*) FROM readings", &[])
            .map_err(self.err("count readings"))?;
        Ok(StoreInfo {
            backend: Backend::Postgres,
            location: self.location.clone(),
            schema_version: self.version,
            readings: row.get::<_, i64>(0) as u64,
        })
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn set_fence(&mut self, fence: Option<Fence>) {
        self.fence = fence;
    }
}

impl Ledger for PgStore {
    fn commit(&mut self, group: &[NewReading]) -> Result<Vec<bool>, StoreError> {
        if group.is_empty() {
            return Ok(Vec::new());
        }
        let rows = group::prepare(group)?;
        let mut tries = 0;
        loop {
            tries += 1;
            let conn = ensure(&mut self.conn, &self.config, &self.location)?;
            match try_commit(conn, &self.ids, &rows) {
                Ok((ids, inserted)) => {
                    self.ids.learn(&ids);
                    return Ok(group::answer(group.len(), &rows, &inserted));
                }
                Err(e) if retryable(&e) && tries < COMMIT_TRIES => continue,
                Err(e) => return Err(self.err("commit")(e)),
            }
        }
    }

    fn high_water(&mut self, cid: &ClientId) -> Result<Option<u64>, StoreError> {
        let conn = self.conn()?;
        let rows = conn
            .client
            .query(&conn.st.high_water, &[&cid.as_str()])
            .map_err(self.err("read high-water mark"))?;
        Ok(rows.first().and_then(|r| r.get::<_, Option<i64>>(0)).map(|v| v as u64))
    }

    fn high_water_all(&mut self) -> Result<HashMap<ClientId, u64>, StoreError> {
        let conn = self.conn()?;
        let rows =
            conn.client.query(&conn.st.high_water_all, &[]).map_err(self.err("read high-water marks"))?;
        let dec = Decoder { location: &self.location };
        let mut out = HashMap::new();
        for r in rows {
            if let Some(hw) = r.get::<_, Option<i64>>(1) {
                out.insert(dec.cid(r.get(0))?, hw as u64);
            }
        }
        Ok(out)
    }

    fn pruned_before(&mut self) -> Result<HashMap<ClientId, i64>, StoreError> {
        let sql = Sql::plain("SELECT cid, pruned_before_ms FROM nodes WHERE pruned_before_ms IS NOT NULL");
        self.run_query(&sql, "read pruned marks", |dec, r| Ok((dec.cid(r.get(0))?, r.get(1))))
            .map(|v| v.into_iter().collect())
    }
}

impl History for PgStore {
    fn readings(&mut self, q: &ReadingQuery) -> Result<Vec<StoredReading>, StoreError> {
        let sql = query::readings(&DIALECT, q);
        let series = sql.series.clone();
        self.run_query(&sql, "query readings", |dec, r| PgStore::reading(dec, series.as_ref(), r))
    }

    fn buckets_from(
        &mut self,
        q: &ReadingQuery,
        every: Duration,
        source: BucketSource,
    ) -> Result<Vec<Bucket>, StoreError> {
        let sql = query::buckets(&DIALECT, q, every, source)?;
        self.run_query(&sql, "query buckets", |dec, r| {
            dec.bucket(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7))
        })
    }

    fn nodes(&mut self) -> Result<Vec<NodeInfo>, StoreError> {
        let sql = Sql::plain(query::NODES);
        self.run_query(&sql, "query nodes", |dec, r| {
            Ok(NodeInfo {
                cid: dec.cid(r.get(0))?,
                first_seen_ms: r.get(1),
                last_seen_ms: r.get(2),
                high_water: dec.seq(r.get(3))?,
            })
        })
    }

    fn sensors(&mut self) -> Result<Vec<SensorInfo>, StoreError> {
        let sql = Sql::plain(query::SENSORS);
        self.run_query(&sql, "query sensors", |dec, r| {
            let last = match r.get::<_, Option<i64>>(4) {
                Some(t) => Some((t, dec.value(r.get(5), r.get(6))?, dec.seq(r.get(7))?)),
                None => None,
            };
            Ok(SensorInfo {
                cid: dec.cid(r.get(0))?,
                sensor: dec.sensor(r.get(1))?,
                first_seen_ms: r.get(2),
                last_seen_ms: r.get(3),
                last,
            })
        })
    }

    fn export(
        &mut self,
        each: &mut dyn FnMut(StoredReading) -> std::io::Result<()>,
    ) -> Result<u64, StoreError> {
        let location = self.location.clone();
        let err = |source| StoreError::Postgres { url: location.clone(), op: "export", source };
        let dec = Decoder { location: &location };
        let conn = self.conn()?;
        // A portal inside one transaction: one consistent snapshot, fetched a chunk at a time.
        let mut tx = conn.client.transaction().map_err(err)?;
        let portal = tx.bind(query::EXPORT, &[]).map_err(err)?;
        let mut n = 0;
        loop {
            let rows = tx.query_portal(&portal, EXPORT_CHUNK).map_err(err)?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                each(PgStore::reading(&dec, None, r)?).map_err(StoreError::Export)?;
                n += 1;
            }
        }
        tx.commit().map_err(err)?;
        Ok(n)
    }
}

impl Retention for PgStore {
    fn prune_raw(&mut self, older_than_ms: i64, batch: usize) -> Result<usize, StoreError> {
        if batch == 0 {
            return Ok(0);
        }
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        let n: i64 = self.duty_write("prune", |tx| {
            // Under the commits' lock: a commit running meanwhile would check the marks before
            // this batch raised them, and store again a reading this batch deletes.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&COMMIT_LOCK_KEY])?;
            // Per sensor through the (sensor, sampled_ms) index, so finding old rows never scans
            // the table; then each client's mark past the newest row it lost.
            Ok(tx
                .query_one(
                    "WITH gone AS (DELETE FROM readings WHERE id = ANY(ARRAY(SELECT r.id FROM sensors s \
                     CROSS JOIN LATERAL (SELECT id FROM readings WHERE sensor = s.id AND sampled_ms < $1 LIMIT $2) r \
                     LIMIT $2)) RETURNING node, sampled_ms), \
                     marked AS (UPDATE nodes n SET pruned_before_ms = GREATEST(n.pruned_before_ms, g.before) \
                     FROM (SELECT node, max(sampled_ms) + 1 AS before FROM gone GROUP BY node) g WHERE n.id = g.node) \
                     SELECT count(*) FROM gone",
                    &[&older_than_ms, &batch],
                )?
                .get(0))
        })?;
        Ok(n as usize)
    }

    fn prune_health(&mut self, older_than_ms: i64, batch: usize) -> Result<usize, StoreError> {
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        let deleted = self
            .duty_write("prune health", |tx| tx.execute(crate::health::PRUNE, &[&older_than_ms, &batch]))?;
        Ok(deleted as usize)
    }

    fn prune_alert_events(&mut self, older_than_ms: i64, batch: usize) -> Result<usize, StoreError> {
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        let deleted = self.duty_write("prune alert events and admin changes", |tx| {
            let mut deleted = 0;
            for sql in [
                "DELETE FROM alert_events WHERE id = ANY(ARRAY(SELECT id FROM alert_events WHERE at_ms < $1 LIMIT $2))",
                "DELETE FROM admin_changes WHERE id = ANY(ARRAY(SELECT id FROM admin_changes WHERE at_ms < $1 LIMIT $2))",
            ] {
                if deleted >= batch {
                    break;
                }
                deleted += tx.execute(sql, &[&older_than_ms, &(batch - deleted)])? as i64;
            }
            Ok(deleted)
        })?;
        Ok(deleted as usize)
    }
}

impl AlertStore for PgStore {
    fn alerts_firing(&mut self) -> Result<Vec<StoredAlert>, StoreError> {
        let conn = self.conn()?;
        let rows = conn.client.query(&conn.st.alerts_firing, &[]).map_err(self.err("read alerts"))?;
        let cell = self.err("decode alert");
        rows.iter()
            .map(|r| {
                Ok(StoredAlert {
                    kind: r.try_get(0).map_err(&cell)?,
                    cid: r.try_get(1).map_err(&cell)?,
                    sensor: r.try_get(2).map_err(&cell)?,
                    name: r.try_get(3).map_err(&cell)?,
                    since_ms: r.try_get(4).map_err(&cell)?,
                    value: r.try_get(5).map_err(&cell)?,
                    limit: r.try_get(6).map_err(&cell)?,
                    message: r.try_get(7).map_err(&cell)?,
                    ack: history::ack(
                        r.try_get(8).map_err(&cell)?,
                        r.try_get(9).map_err(&cell)?,
                        r.try_get(10).map_err(&cell)?,
                    ),
                })
            })
            .collect()
    }

    fn alert_fire(&mut self, a: &StoredAlert) -> Result<(), StoreError> {
        // A duty's write: fenced when the alerts run on one server of a fleet.
        let st = self.conn()?.st.alert_fire.clone();
        self.duty_write("record alert", |tx| {
            tx.execute(
                &st,
                &[&a.kind, &a.cid, &a.sensor, &a.name, &a.since_ms, &a.value, &a.limit, &a.message],
            )
            .map(|_| ())
        })
    }

    fn alert_resolve(&mut self, kind: &str, cid: &str, sensor: &str) -> Result<bool, StoreError> {
        let st = self.conn()?.st.alert_resolve.clone();
        self.duty_write("resolve alert", |tx| tx.execute(&st, &[&kind, &cid, &sensor]).map(|n| n > 0))
    }

    fn alert_ack(&mut self, kind: &str, cid: &str, sensor: &str, ack: &Ack) -> Result<bool, StoreError> {
        let run = |c: &mut Client| -> Result<bool, postgres::Error> {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE alerts SET ack_by = $4, ack_note = $5, ack_ms = $6 WHERE kind = $1 AND cid = $2 AND sensor = $3",
                &[&kind, &cid, &sensor, &ack.by, &ack.note, &ack.at_ms],
            )?;
            if n == 0 {
                return Ok(false);
            }
            let change = AdminChange::Acked { kind: kind.into(), cid: cid.into(), sensor: sensor.into() };
            record(&mut tx, &change, ack.at_ms)?;
            tx.commit()?;
            Ok(true)
        };
        let r = run(&mut self.conn()?.client);
        r.map_err(self.err("acknowledge alert"))
    }

    fn alert_event_add(&mut self, e: &AlertEvent) -> Result<i64, StoreError> {
        self.add_event(e, DELIVERY_NONE)
    }

    fn alert_event_add_to_deliver(&mut self, e: &AlertEvent) -> Result<i64, StoreError> {
        self.add_event(e, DELIVERY_PENDING)
    }

    fn alert_event_delivered(&mut self, id: i64) -> Result<(), StoreError> {
        self.duty_write("mark an alert event delivered", |tx| {
            tx.execute("UPDATE alert_events SET delivery = $1 WHERE id = $2", &[&DELIVERY_DONE, &id])
                .map(|_| ())
        })
    }

    fn alert_events(&mut self, q: &EventQuery) -> Result<Vec<AlertEvent>, StoreError> {
        let sql = history::events(DIALECT.placeholder, q);
        self.run_query(&sql, "read alert events", |dec, r| {
            let cell =
                |source| StoreError::Postgres { url: dec.location.to_owned(), op: "decode row", source };
            Ok(AlertEvent {
                id: r.try_get(0).map_err(cell)?,
                at_ms: r.try_get(1).map_err(cell)?,
                event: r.try_get(2).map_err(cell)?,
                kind: r.try_get(3).map_err(cell)?,
                cid: r.try_get(4).map_err(cell)?,
                sensor: r.try_get(5).map_err(cell)?,
                name: r.try_get(6).map_err(cell)?,
                since_ms: r.try_get(7).map_err(cell)?,
                value: r.try_get(8).map_err(cell)?,
                message: r.try_get(9).map_err(cell)?,
                by: r.try_get(10).map_err(cell)?,
                note: r.try_get(11).map_err(cell)?,
            })
        })
    }

    fn silence_add(&mut self, s: &Silence) -> Result<i64, StoreError> {
        let run = |c: &mut Client| -> Result<i64, postgres::Error> {
            let mut tx = c.transaction()?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO silences (cid, sensor, kind, starts_ms, ends_ms, by_who, comment) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    &[&s.cid, &s.sensor, &s.kind, &s.starts_ms, &s.ends_ms, &s.by, &s.comment],
                )?
                .get(0);
            record(&mut tx, &AdminChange::Silences, s.starts_ms)?;
            tx.commit()?;
            Ok(id)
        };
        let r = run(&mut self.conn()?.client);
        r.map_err(self.err("add silence"))
    }

    fn silences(&mut self, after_ms: Option<i64>) -> Result<Vec<Silence>, StoreError> {
        let sql = history::silences(DIALECT.placeholder, after_ms);
        self.run_query(&sql, "read silences", |dec, r| {
            let cell =
                |source| StoreError::Postgres { url: dec.location.to_owned(), op: "decode row", source };
            Ok(Silence {
                id: r.try_get(0).map_err(cell)?,
                cid: r.try_get(1).map_err(cell)?,
                sensor: r.try_get(2).map_err(cell)?,
                kind: r.try_get(3).map_err(cell)?,
                starts_ms: r.try_get(4).map_err(cell)?,
                ends_ms: r.try_get(5).map_err(cell)?,
                by: r.try_get(6).map_err(cell)?,
                comment: r.try_get(7).map_err(cell)?,
                ended_ms: r.try_get(8).map_err(cell)?,
            })
        })
    }

    fn silence_end(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        let run = |c: &mut Client| -> Result<bool, postgres::Error> {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE silences SET ended_ms = $2 WHERE id = $1 AND ended_ms IS NULL AND ends_ms > $2",
                &[&id, &at_ms],
            )?;
            if n == 0 {
                return Ok(false);
            }
            record(&mut tx, &AdminChange::Silences, at_ms)?;
            tx.commit()?;
            Ok(true)
        };
        let r = run(&mut self.conn()?.client);
        r.map_err(self.err("end silence"))
    }
}

impl AdminLog for PgStore {
    fn forget(
        &mut self,
        cid: &str,
        sensor: Option<&str>,
        delete_readings: bool,
        at_ms: i64,
    ) -> Result<Forgotten, StoreError> {
        let run = |c: &mut Client| -> Result<Forgotten, postgres::Error> {
            let mut tx = c.transaction()?;
            if delete_readings {
                // First, as commits and pruning take it: the three never wait for each other's
                // rows in opposite orders.
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&COMMIT_LOCK_KEY])?;
            }
            let Some(node) = tx.query_opt("SELECT id FROM nodes WHERE cid = $1", &[&cid])? else {
                return Ok(Forgotten::default());
            };
            let node: i32 = node.get(0);
            // The sensor rows concerned, marked: the one named, or all the node's.
            let sensors: Vec<i32> = match sensor {
                Some(name) => tx
                    .query(
                        "UPDATE sensors SET forgotten_ms = $3 WHERE node = $1 AND sensor = $2 RETURNING id",
                        &[&node, &name, &at_ms],
                    )?
                    .iter()
                    .map(|r| r.get(0))
                    .collect(),
                None => {
                    tx.execute("UPDATE nodes SET forgotten_ms = $2 WHERE id = $1", &[&node, &at_ms])?;
                    tx.query(
                        "UPDATE sensors SET forgotten_ms = $2 WHERE node = $1 RETURNING id",
                        &[&node, &at_ms],
                    )?
                    .iter()
                    .map(|r| r.get(0))
                    .collect()
                }
            };
            if sensor.is_some() && sensors.is_empty() {
                return Ok(Forgotten::default());
            }
            let mut deleted = 0;
            if delete_readings {
                // The mark must hold the newest seq before the rows holding it go (rows written by
                // hand may have left it behind): an old resend stays a duplicate.
                tx.execute(
                    "UPDATE nodes SET high_water = GREATEST(high_water, \
                     (SELECT max(seq) FROM readings WHERE node = $1)) WHERE id = $1",
                    &[&node],
                )?;
                deleted = tx.execute("DELETE FROM readings WHERE sensor = ANY($1)", &[&sensors])?;
                tx.execute("DELETE FROM rollups WHERE sensor = ANY($1)", &[&sensors])?;
            }
            let change = AdminChange::Forgot { cid: cid.into(), sensor: sensor.map(Into::into) };
            record(&mut tx, &change, at_ms)?;
            tx.commit()?;
            Ok(Forgotten { known: true, readings_deleted: deleted })
        };
        let r = run(&mut self.conn()?.client);
        r.map_err(self.err("forget"))
    }

    fn is_forgotten(&mut self, cid: &str, sensor: Option<&str>) -> Result<bool, StoreError> {
        let client = &mut self.conn()?.client;
        let row = match sensor {
            None => client.query_opt("SELECT forgotten_ms IS NOT NULL FROM nodes WHERE cid = $1", &[&cid]),
            Some(s) => client.query_opt(
                "SELECT n.forgotten_ms IS NOT NULL OR s.forgotten_ms IS NOT NULL FROM nodes n \
                 LEFT JOIN sensors s ON s.node = n.id AND s.sensor = $2 WHERE n.cid = $1",
                &[&cid, &s],
            ),
        };
        let row = row.map_err(self.err("read whether forgotten"))?;
        Ok(row.is_some_and(|r| r.get(0)))
    }

    fn admin_changes(&mut self, after: i64) -> Result<Vec<(i64, AdminChange)>, StoreError> {
        let sql = Sql {
            text: "SELECT id, what, kind, cid, sensor FROM admin_changes WHERE id > $1 ORDER BY id".into(),
            params: vec![Param::Int(after)],
            series: None,
        };
        self.run_query(&sql, "read admin changes", |dec, r| {
            let id: i64 = r.get(0);
            let c = history::decode(dec.location, id, r.get(1), r.get(2), r.get(3), r.get(4))?;
            Ok((id, c))
        })
    }

    fn admin_changes_head(&mut self) -> Result<i64, StoreError> {
        let row = self
            .conn()?
            .client
            .query_one("SELECT coalesce(max(id), 0)::bigint FROM admin_changes", &[])
            .map_err(self.err("read admin changes"))?;
        Ok(row.get(0))
    }
}

impl ExportFeed for PgStore {
    fn feed(&mut self, after: i64, limit: usize) -> Result<Vec<FeedRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = Sql {
            text: feed::after_sql(DIALECT.placeholder),
            params: vec![Param::Int(after), Param::Int(limit)],
            series: None,
        };
        self.run_query(&sql, "read the feed", |dec, r| {
            let cell =
                |source| StoreError::Postgres { url: dec.location.to_owned(), op: "decode row", source };
            let id: i64 = r.try_get(0).map_err(cell)?;
            let reading = dec.reading(None, reading_row(r, 1).map_err(cell)?)?;
            Ok(FeedRow { id, reading })
        })
    }

    fn feed_lag(&mut self, after: i64) -> Result<FeedLag, StoreError> {
        let sql =
            Sql { text: feed::lag_sql(DIALECT.placeholder), params: vec![Param::Int(after)], series: None };
        let rows = self.run_query(&sql, "read the feed's lag", |dec, r| {
            let cell =
                |source| StoreError::Postgres { url: dec.location.to_owned(), op: "decode row", source };
            let n: i64 = r.try_get(2).map_err(cell)?;
            Ok(FeedLag {
                readings: n as u64,
                oldest_received_ms: r.try_get(0).map_err(cell)?,
                last_id: r.try_get(1).map_err(cell)?,
            })
        })?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }

    fn cursor(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        let rows = self
            .conn()?
            .client
            .query("SELECT after_id FROM export_cursors WHERE name = $1", &[&name])
            .map_err(self.err("read export cursor"))?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn set_cursor(&mut self, name: &str, after: i64) -> Result<(), StoreError> {
        let now = feed::now_ms();
        self.duty_write("save export cursor", |tx| {
            tx.execute(
                "INSERT INTO export_cursors (name, after_id, updated_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET after_id = EXCLUDED.after_id, updated_ms = EXCLUDED.updated_ms",
                &[&name, &after, &now],
            )
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        connection_config(url, &redacted(url)).unwrap()
    }

    #[test]
    fn a_vanished_database_is_noticed_within_a_minute_and_a_stuck_statement_within_30_s() {
        let c = config("postgres://cliser:pw@db.lan:5432/cliser");
        assert!(c.get_keepalives());
        // Idle: the first probe after 10 s, then 4 unanswered 5 s apart: dead at 30 s.
        assert_eq!(c.get_keepalives_idle(), Duration::from_secs(10));
        assert_eq!(c.get_keepalives_interval(), Some(Duration::from_secs(5)));
        assert_eq!(c.get_keepalives_retries(), Some(4));
        // A request sent and never acknowledged (the host gone while a commit is in flight).
        assert_eq!(c.get_tcp_user_timeout(), Some(&Duration::from_secs(30)));
        assert_eq!(c.get_options(), Some("-c statement_timeout=30s"));
        assert_eq!(c.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
    }

    #[test]
    fn the_urls_own_options_and_timeouts_are_kept() {
        let c = config(
            "postgres://cliser:pw@db.lan/cliser?options=-c%20statement_timeout%3D5min&tcp_user_timeout=7",
        );
        assert_eq!(c.get_options(), Some("-c statement_timeout=5min"));
        assert_eq!(c.get_tcp_user_timeout(), Some(&Duration::from_secs(7)));
        let c = config("postgres://cliser:pw@db.lan/cliser?options=-c%20search_path%3Dcliser");
        assert_eq!(c.get_options(), Some("-c search_path=cliser -c statement_timeout=30s"));
    }
}
