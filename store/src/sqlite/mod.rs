//! The SQLite backend: one file, WAL mode, `synchronous=FULL`.

mod health;
mod open;

use crate::feed;
use crate::group::{
    self, Display, GroupIds, IdCache, NodeDelta, PrunedMark, Row, SensorDelta, DISPLAY_CURSOR,
};
use crate::history;
use crate::query::{self, Decoder, Dialect, Layout, Param, ReadingRow, Sql};
use crate::{
    Ack, AdminChange, AdminLog, AlertEvent, AlertStore, Backend, Bucket, BucketSource, Described, EventQuery,
    ExportFeed, FeedLag, FeedRow, Forgotten, History, Ledger, NewReading, NodeInfo, OpenOptions,
    ReadingQuery, Retention, SensorInfo, Silence, StoreError, StoreInfo, StoredAlert, StoredReading,
};
use cliser_protocol::ClientId;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A store in an SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    location: String,
    version: i64,
    ids: IdCache,
    /// Node and sensor changes not yet in their rows.
    display: Display,
    /// The nodes' pruned marks by node id, as of this `PRAGMA data_version`.
    marks: Option<(i64, HashMap<i64, PrunedMark>)>,
}

/// SQLite's SQL: `?1` parameters, rows indexed per client (its WAL takes whole pages, and a
/// client's readings of one poll then share one).
const DIALECT: Dialect = Dialect { placeholder: |n| format!("?{n}"), layout: Layout::ByNode };

fn bind(params: &[Param]) -> impl Iterator<Item = SqlValue> + '_ {
    params.iter().map(|p| match p {
        Param::Int(i) => SqlValue::Integer(*i),
        Param::Text(s) => SqlValue::Text(s.clone()),
    })
}

/// `alert_events.delivery`: nothing to deliver, pending, delivered (schema 7).
const DELIVERY_NONE: i64 = 0;
const DELIVERY_PENDING: i64 = 1;
const DELIVERY_DONE: i64 = 2;

impl SqliteStore {
    /// Adds an alert event with its `delivery` state: one statement outside a transaction
    /// commits on its own, with synchronous=FULL: durable.
    fn add_event(&mut self, e: &AlertEvent, delivery: i64) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO alert_events \
                 (at_ms, event, kind, cid, sensor, name, since_ms, value, message, by_who, note, delivery) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    e.at_ms, e.event, e.kind, e.cid, e.sensor, e.name, e.since_ms, e.value, e.message, e.by,
                    e.note, delivery
                ])
            })
            .map_err(self.err("record alert event"))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Opens the database at `path`, creating it (and its schema) if the file is missing or empty.
    /// Refuses, without modifying it, a file that is not an SQLite database, a database of another
    /// program and one whose schema is newer than [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    /// The connection has the default [`OpenOptions`]; [`open_with`](Self::open_with) says more.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// [`open`](Self::open) with `options`: the page cache this connection may hold.
    pub fn open_with(path: &Path, options: &OpenOptions) -> Result<SqliteStore, StoreError> {
        let found = open::inspect(path)?;
        let mut conn = open::connect(path, options)?;
        let version = open::migrate(path, &mut conn, found)?;
        Ok(SqliteStore {
            conn,
            path: path.to_owned(),
            location: format!("sqlite:{}", path.display()),
            version,
            ids: IdCache::default(),
            display: Display::default(),
            marks: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite { path: self.path.clone(), op, source }
    }

    fn decoder(&self) -> Decoder<'_> {
        Decoder { location: &self.location }
    }

    fn run_commit(&mut self, group: &[NewReading]) -> rusqlite::Result<Result<Vec<bool>, StoreError>> {
        let rows = match group::prepare(group) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (mut ids, new_nodes) = GroupIds::from_cache(&self.ids, &rows);
        if !new_nodes.is_empty() {
            let mut ins = tx.prepare_cached(
                "INSERT INTO nodes (cid, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?2) ON CONFLICT (cid) DO NOTHING",
            )?;
            let mut sel = tx.prepare_cached("SELECT id FROM nodes WHERE cid = ?1")?;
            for (cid, t) in new_nodes {
                ins.execute(params![cid, t])?;
                let id = sel.query_row([&cid], |r| r.get(0))?;
                ids.nodes.insert(cid, id);
            }
        }
        let new_sensors = ids.sensors_from_cache(&self.ids, &rows);
        if !new_sensors.is_empty() {
            let mut ins = tx.prepare_cached(
                "INSERT INTO sensors (node, sensor, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?3) \
                 ON CONFLICT (node, sensor) DO NOTHING",
            )?;
            let mut sel = tx.prepare_cached("SELECT id FROM sensors WHERE node = ?1 AND sensor = ?2")?;
            for (node, sensor, t) in new_sensors {
                ins.execute(params![node, sensor, t])?;
                let id = sel.query_row(params![node, sensor], |r| r.get(0))?;
                ids.sensors.insert((node, sensor), id);
            }
        }
        let pairs = ids.of_rows(&self.ids, &rows);
        // The pruned marks change only when retention prunes, on a connection of its own (or on
        // this one, which then forgets them): read again only when another connection has
        // committed since, not once per node per commit. No other writer commits while this
        // transaction holds the write lock.
        let version: i64 = tx.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
        if self.marks.as_ref().is_none_or(|m| m.0 != version) {
            let mut st = tx.prepare_cached(
                "SELECT id, pruned_before_ms, high_water FROM nodes WHERE pruned_before_ms IS NOT NULL",
            )?;
            let all = st
                .query_map([], |r| {
                    Ok((r.get(0)?, PrunedMark { before_ms: r.get(1)?, high_water: r.get(2)? }))
                })?
                .collect::<rusqlite::Result<HashMap<i64, PrunedMark>>>()?;
            self.marks = Some((version, all));
        }
        let mut marks = HashMap::new();
        if let Some((_, all)) = &self.marks {
            for node in pairs.iter().map(|p| p.0).collect::<BTreeSet<_>>() {
                if let Some(m) = all.get(&node) {
                    // A mark held back by the display is the node's too.
                    let high_water = m.high_water.max(self.display.high_water(node));
                    marks.insert(node, PrunedMark { high_water, ..*m });
                }
            }
        }
        let keep = group::not_pruned(&rows, &pairs, &marks);
        let mut inserted = Vec::with_capacity(rows.len());
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO readings (node, sensor, sampled_ms, received_ms, milli_c, error, seq, ts_quality) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            )?;
            for ((r, (node, sensor)), keep) in rows.iter().zip(&pairs).zip(keep) {
                if !keep {
                    inserted.push(false);
                    continue;
                }
                let n = st.execute(params![
                    node,
                    sensor,
                    r.sampled_ms,
                    r.received_ms,
                    r.milli_c,
                    r.error,
                    r.seq,
                    r.ts_quality
                ])?;
                inserted.push(n == 1);
            }
        }
        let d = group::deltas(&rows, &pairs, &inserted);
        let now = Instant::now();
        let due = self.display.due(now);
        let mut written = Vec::new();
        if due {
            let (nodes, sensors) = self.display.with(&d);
            write_display(&tx, &nodes, &sensors, self.display.holds())?;
            written = nodes;
        }
        {
            // SQLite's two-argument min() is NULL if either is: the coalesces keep the known one.
            let mut st = tx.prepare_cached(
                "INSERT INTO rollups (hour_ms, sensor, min_milli_c, max_milli_c, sum_milli_c, n, errors) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (hour_ms, sensor) DO UPDATE SET \
                 min_milli_c = min(coalesce(min_milli_c, excluded.min_milli_c), coalesce(excluded.min_milli_c, min_milli_c)), \
                 max_milli_c = max(coalesce(max_milli_c, excluded.max_milli_c), coalesce(excluded.max_milli_c, max_milli_c)), \
                 sum_milli_c = sum_milli_c + excluded.sum_milli_c, n = n + excluded.n, errors = errors + excluded.errors",
            )?;
            for h in &d.rollups {
                st.execute(params![h.hour_ms, h.sensor, h.min, h.max, h.sum, h.count, h.errors])?;
            }
        }
        tx.commit()?;
        self.ids.learn(&ids);
        let answer = group::answer(group.len(), &rows, &inserted);
        if due {
            self.display.written(now);
            // The marks this commit wrote, as the row now holds them.
            if let Some((_, all)) = &mut self.marks {
                for n in &written {
                    if let Some(m) = all.get_mut(&n.id) {
                        m.high_water = m.high_water.max(n.high_water);
                    }
                }
            }
        } else {
            self.display.keep(d);
        }
        Ok(Ok(answer))
    }

    fn run_query<T>(
        &self,
        sql: &Sql,
        op: &'static str,
        mut row: impl FnMut(&rusqlite::Row) -> rusqlite::Result<Result<T, StoreError>>,
    ) -> Result<Vec<T>, StoreError> {
        let mut st = self.conn.prepare_cached(&sql.text).map_err(self.err(op))?;
        let mut rows = st.query(rusqlite::params_from_iter(bind(&sql.params))).map_err(self.err(op))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(self.err(op))? {
            out.push(row(r).map_err(self.err(op))??);
        }
        Ok(out)
    }
}

/// Writes the nodes' and sensors' changes (`holding`: changes held back since the last write, whose
/// readings may have been received before a node or sensor was forgotten: only a reading received
/// after the forgetting brings it back; otherwise every change is a commit's own, which does), and
/// when holding, moves the [`DISPLAY_CURSOR`] to the newest reading.
fn write_display(
    tx: &rusqlite::Transaction,
    nodes: &[NodeDelta],
    sensors: &[SensorDelta],
    holding: bool,
) -> rusqlite::Result<()> {
    {
        let mut st = tx.prepare_cached(
            "UPDATE nodes SET first_seen_ms = min(first_seen_ms, ?2), last_seen_ms = max(last_seen_ms, ?3), \
             high_water = max(coalesce(high_water, ?4), coalesce(?4, high_water)), \
             forgotten_ms = CASE WHEN ?5 AND forgotten_ms > ?3 THEN forgotten_ms END WHERE id = ?1",
        )?;
        for n in nodes {
            st.execute(params![n.id, n.first_ms, n.last_ms, n.high_water, holding])?;
        }
    }
    {
        // Every SET expression sees the old row, so one condition picks all four columns. A
        // sensor (and above, a node) that reports again is no longer forgotten.
        let mut st = tx.prepare_cached(
            "UPDATE sensors SET forgotten_ms = CASE WHEN ?8 AND forgotten_ms > ?3 THEN forgotten_ms END, \
             first_seen_ms = min(first_seen_ms, ?2), last_seen_ms = max(last_seen_ms, ?3), \
             last_sampled_ms = CASE WHEN last_sampled_ms IS NULL OR ?4 >= last_sampled_ms THEN ?4 ELSE last_sampled_ms END, \
             last_milli_c = CASE WHEN last_sampled_ms IS NULL OR ?4 >= last_sampled_ms THEN ?5 ELSE last_milli_c END, \
             last_error = CASE WHEN last_sampled_ms IS NULL OR ?4 >= last_sampled_ms THEN ?6 ELSE last_error END, \
             last_seq = CASE WHEN last_sampled_ms IS NULL OR ?4 >= last_sampled_ms THEN ?7 ELSE last_seq END \
             WHERE id = ?1",
        )?;
        for s in sensors {
            st.execute(params![
                s.id,
                s.first_ms,
                s.last_ms,
                s.last_sampled_ms,
                s.last_milli_c,
                s.last_error,
                s.last_seq,
                holding
            ])?;
        }
    }
    if holding {
        tx.prepare_cached(
            "INSERT INTO export_cursors (name, after_id, updated_ms) \
             VALUES (?1, (SELECT coalesce(max(id), 0) FROM readings), ?2) \
             ON CONFLICT (name) DO UPDATE SET after_id = excluded.after_id, updated_ms = excluded.updated_ms",
        )?
        .execute(params![DISPLAY_CURSOR, feed::now_ms()])?;
    }
    Ok(())
}

/// What the readings after id `after` change in their nodes' and sensors' rows: the changes a
/// holder of the display committed but had not written when it stopped.
/// Also returns how many readings that was.
fn unwritten(tx: &rusqlite::Transaction, after: i64) -> rusqlite::Result<(group::Deltas, u64)> {
    struct Stored {
        node: i64,
        sensor: i64,
        sampled_ms: i64,
        received_ms: i64,
        milli_c: Option<i32>,
        error: Option<String>,
        seq: Option<i64>,
    }
    let mut st = tx.prepare_cached(
        "SELECT node, sensor, sampled_ms, received_ms, milli_c, error, seq FROM readings WHERE id > ?1 ORDER BY id",
    )?;
    let stored = st
        .query_map([after], |r| {
            Ok(Stored {
                node: r.get(0)?,
                sensor: r.get(1)?,
                sampled_ms: r.get(2)?,
                received_ms: r.get(3)?,
                milli_c: r.get(4)?,
                error: r.get(5)?,
                seq: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let rows: Vec<Row> = stored
        .iter()
        .enumerate()
        .map(|(input, s)| Row {
            input,
            cid: "",
            sensor: "",
            sampled_ms: s.sampled_ms,
            received_ms: s.received_ms,
            milli_c: s.milli_c,
            error: s.error.as_deref(),
            seq: s.seq,
            ts_quality: 0,
        })
        .collect();
    let pairs: Vec<(i64, i64)> = stored.iter().map(|s| (s.node, s.sensor)).collect();
    Ok((group::deltas(&rows, &pairs, &vec![true; rows.len()]), rows.len() as u64))
}

/// After deleting readings: the [`DISPLAY_CURSOR`] no higher than the newest id left, as SQLite
/// gives the ids above it out again.
fn lower_display_cursor(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE export_cursors SET after_id = min(after_id, (SELECT coalesce(max(id), 0) FROM readings)) \
         WHERE name = ?1",
    )?
    .execute([DISPLAY_CURSOR])?;
    Ok(())
}

/// Records `change` in `tx`, for every server's alerts thread to act on.
fn record(tx: &rusqlite::Transaction, change: &AdminChange, at_ms: i64) -> rusqlite::Result<()> {
    let (what, kind, cid, sensor) = history::encode(change);
    tx.prepare_cached(
        "INSERT INTO admin_changes (at_ms, what, kind, cid, sensor) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![at_ms, what, kind, cid, sensor])?;
    Ok(())
}

/// The [`ReadingRow`] in `r` from column `at` on.
fn reading_row<'r>(r: &'r rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ReadingRow<'r>> {
    Ok(ReadingRow {
        sampled_ms: r.get(at)?,
        received_ms: r.get(at + 1)?,
        cid: r.get_ref(at + 2)?.as_str_or_null()?,
        sensor: r.get_ref(at + 3)?.as_str_or_null()?,
        milli_c: r.get(at + 4)?,
        error: r.get(at + 5)?,
        seq: r.get(at + 6)?,
        ts_quality: r.get(at + 7)?,
    })
}

impl Described for SqliteStore {
    fn info(&mut self) -> Result<StoreInfo, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM readings", [], |r| r.get(0))
            .map_err(self.err("count readings"))?;
        Ok(StoreInfo {
            backend: Backend::Sqlite,
            location: self.location.clone(),
            schema_version: self.version,
            readings: n as u64,
        })
    }

    fn location(&self) -> &str {
        &self.location
    }
}

impl Ledger for SqliteStore {
    fn commit(&mut self, group: &[NewReading]) -> Result<Vec<bool>, StoreError> {
        if group.is_empty() {
            return Ok(Vec::new());
        }
        match self.run_commit(group) {
            Ok(r) => r,
            Err(e) => Err(self.err("commit")(e)),
        }
    }

    fn high_water(&mut self, cid: &ClientId) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT max(coalesce(n.high_water, -1), \
                 coalesce((SELECT seq FROM readings WHERE node = n.id AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1), -1)) \
                 FROM nodes n WHERE n.cid = ?1",
            )
            .and_then(|mut st| st.query_row([cid.as_str()], |r| r.get(0)).optional())
            .map_err(self.err("read high-water mark"))?;
        Ok(v.filter(|&v| v >= 0).map(|v| v as u64))
    }

    fn high_water_all(&mut self) -> Result<HashMap<ClientId, u64>, StoreError> {
        let sql = Sql::plain(
            "SELECT n.cid, max(coalesce(n.high_water, -1), \
             coalesce((SELECT seq FROM readings WHERE node = n.id AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1), -1)) \
             FROM nodes n",
        );
        let dec = Decoder { location: &self.location };
        let rows = self.run_query(&sql, "read high-water marks", |r| {
            let cid: String = r.get(0)?;
            let hw: i64 = r.get(1)?;
            Ok(dec.cid(&cid).map(|c| (c, hw)))
        })?;
        Ok(rows.into_iter().filter(|(_, hw)| *hw >= 0).map(|(c, hw)| (c, hw as u64)).collect())
    }

    fn pruned_before(&mut self) -> Result<HashMap<ClientId, i64>, StoreError> {
        let sql = Sql::plain("SELECT cid, pruned_before_ms FROM nodes WHERE pruned_before_ms IS NOT NULL");
        let dec = Decoder { location: &self.location };
        let rows: Vec<(String, i64)> =
            self.run_query(&sql, "read pruned marks", |r| Ok(Ok((r.get(0)?, r.get(1)?))))?;
        rows.into_iter().map(|(c, t)| Ok((dec.cid(&c)?, t))).collect()
    }

    fn hold_display(&mut self, every: Duration) -> Result<u64, StoreError> {
        // Marks written on this connection: read again at the next commit.
        self.marks = None;
        self.flush_display()?;
        let run = |c: &mut Connection| -> rusqlite::Result<u64> {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let after: Option<i64> = tx
                .prepare_cached("SELECT after_id FROM export_cursors WHERE name = ?1")?
                .query_row([DISPLAY_CURSOR], |r| r.get(0))
                .optional()?;
            // No cursor: no holder before, every commit wrote its rows.
            let (d, n) = match after {
                Some(after) => unwritten(&tx, after)?,
                None => (group::Deltas::default(), 0),
            };
            write_display(&tx, &d.nodes, &d.sensors, true)?;
            tx.commit()?;
            Ok(n)
        };
        let n = run(&mut self.conn).map_err(|e| self.err("repair the nodes and sensors")(e))?;
        self.display.hold_for(every);
        self.display.written(Instant::now());
        Ok(n)
    }

    fn display_due(&self) -> Option<Instant> {
        self.display.due_at()
    }

    fn flush_display(&mut self) -> Result<(), StoreError> {
        // Marks written on this connection: read again at the next commit.
        self.marks = None;
        if self.display.due_at().is_none() {
            return Ok(());
        }
        let now = Instant::now();
        let (nodes, sensors) = self.display.with(&group::Deltas::default());
        let holding = self.display.holds();
        let run = |c: &mut Connection| -> rusqlite::Result<()> {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            write_display(&tx, &nodes, &sensors, holding)?;
            tx.commit()
        };
        run(&mut self.conn).map_err(|e| self.err("write the nodes and sensors")(e))?;
        self.display.written(now);
        Ok(())
    }
}

impl History for SqliteStore {
    fn readings(&mut self, q: &ReadingQuery) -> Result<Vec<StoredReading>, StoreError> {
        let dec = self.decoder();
        let sql = query::readings(&DIALECT, q);
        let series = sql.series.as_ref();
        self.run_query(&sql, "query readings", |r| Ok(dec.reading(series, reading_row(r, 0)?)))
    }

    fn buckets_from(
        &mut self,
        q: &ReadingQuery,
        every: Duration,
        source: BucketSource,
    ) -> Result<Vec<Bucket>, StoreError> {
        let sql = query::buckets(&DIALECT, q, every, source)?;
        let dec = self.decoder();
        self.run_query(&sql, "query buckets", |r| {
            Ok(dec.bucket(
                &r.get::<_, String>(0)?,
                &r.get::<_, String>(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
    }

    fn nodes(&mut self) -> Result<Vec<NodeInfo>, StoreError> {
        let sql = Sql::plain(query::NODES);
        let dec = self.decoder();
        self.run_query(&sql, "query nodes", |r| {
            let cid: String = r.get(0)?;
            let hw: Option<i64> = r.get(3)?;
            Ok((|| {
                Ok(NodeInfo {
                    cid: dec.cid(&cid)?,
                    first_seen_ms: r.get(1).unwrap_or_default(),
                    last_seen_ms: r.get(2).unwrap_or_default(),
                    high_water: dec.seq(hw)?,
                })
            })())
        })
    }

    fn sensors(&mut self) -> Result<Vec<SensorInfo>, StoreError> {
        let sql = Sql::plain(query::SENSORS);
        let dec = self.decoder();
        self.run_query(&sql, "query sensors", |r| {
            let (cid, sensor): (String, String) = (r.get(0)?, r.get(1)?);
            let (first, last): (i64, i64) = (r.get(2)?, r.get(3)?);
            let (at, milli, error, seq): (Option<i64>, Option<i64>, Option<String>, Option<i64>) =
                (r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?);
            Ok((|| {
                let last_reading = match at {
                    Some(t) => Some((t, dec.value(milli, error)?, dec.seq(seq)?)),
                    None => None,
                };
                Ok(SensorInfo {
                    cid: dec.cid(&cid)?,
                    sensor: dec.sensor(&sensor)?,
                    first_seen_ms: first,
                    last_seen_ms: last,
                    last: last_reading,
                })
            })())
        })
    }

    fn export(
        &mut self,
        each: &mut dyn FnMut(StoredReading) -> std::io::Result<()>,
    ) -> Result<u64, StoreError> {
        let dec = Decoder { location: &self.location };
        let err = |source| StoreError::Sqlite { path: self.path.clone(), op: "export", source };
        let mut st = self.conn.prepare(query::EXPORT).map_err(err)?;
        let mut rows = st.query([]).map_err(err)?;
        let mut n = 0;
        while let Some(r) = rows.next().map_err(err)? {
            let reading = dec.reading(None, reading_row(r, 0).map_err(err)?)?;
            each(reading).map_err(StoreError::Export)?;
            n += 1;
        }
        Ok(n)
    }
}

impl Retention for SqliteStore {
    fn prune_raw(&mut self, older_than_ms: i64, batch: usize) -> Result<usize, StoreError> {
        // Marks written on this connection: read again at the next commit.
        self.marks = None;
        if batch == 0 {
            return Ok(0);
        }
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        let run = |c: &mut Connection| -> rusqlite::Result<usize> {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // CROSS JOIN fixes the loop order: for each client, its old rows through the
            // (node, sampled_ms) index, so finding them never scans the table.
            let gone: Vec<(i64, i64, Option<i64>)> = tx
                .prepare_cached(
                    "DELETE FROM readings WHERE id IN (SELECT r.id FROM nodes n CROSS JOIN readings r \
                     ON r.node = n.id AND r.sampled_ms < ?1 LIMIT ?2) RETURNING node, sampled_ms, seq",
                )?
                .query_map(params![older_than_ms, batch], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            // Per node: the newest sample time and the highest seq deleted. The node's row may
            // not hold its high-water mark yet (a sink holding its display back, up to a second):
            // the mark must be there before the rows that hold it go.
            let mut newest: HashMap<i64, (i64, Option<i64>)> = HashMap::new();
            for &(node, sampled, seq) in &gone {
                let n = newest.entry(node).or_insert((sampled, seq));
                *n = (n.0.max(sampled), n.1.max(seq));
            }
            {
                let mut st = tx.prepare_cached(
                    "UPDATE nodes SET pruned_before_ms = max(coalesce(pruned_before_ms, ?2), ?2), \
                     high_water = max(coalesce(high_water, ?3), coalesce(?3, high_water)) WHERE id = ?1",
                )?;
                for (node, (sampled, seq)) in newest {
                    st.execute(params![node, sampled.saturating_add(1), seq])?;
                }
            }
            lower_display_cursor(&tx)?;
            tx.commit()?;
            Ok(gone.len())
        };
        let r = run(&mut self.conn);
        r.map_err(self.err("prune"))
    }

    fn prune_health(&mut self, older_than_ms: i64, batch: usize) -> Result<usize, StoreError> {
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(crate::health::PRUNE)
            .and_then(|mut st| st.execute(params![older_than_ms, batch]))
            .map_err(self.err("prune health"))
    }

    fn prune_alert_events(&mut self, older_than_ms: i64, batch: usize) -> Result<usize, StoreError> {
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        let mut deleted = 0;
        for (table, what) in
            [("alert_events", "prune alert events"), ("admin_changes", "prune admin changes")]
        {
            if deleted >= batch {
                break;
            }
            let n = self
                .conn
                .prepare_cached(&format!(
                    "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE at_ms < ?1 LIMIT ?2)"
                ))
                .and_then(|mut st| st.execute(params![older_than_ms, batch - deleted]))
                .map_err(self.err(what))?;
            deleted += n as i64;
        }
        Ok(deleted as usize)
    }
}

impl AlertStore for SqliteStore {
    fn alerts_firing(&mut self) -> Result<Vec<StoredAlert>, StoreError> {
        let sql = Sql::plain(
            "SELECT kind, cid, sensor, name, since_ms, value, limit_value, message, ack_by, ack_note, ack_ms \
             FROM alerts ORDER BY kind, cid, sensor",
        );
        self.run_query(&sql, "read alerts", |r| {
            Ok(Ok(StoredAlert {
                kind: r.get(0)?,
                cid: r.get(1)?,
                sensor: r.get(2)?,
                name: r.get(3)?,
                since_ms: r.get(4)?,
                value: r.get(5)?,
                limit: r.get(6)?,
                message: r.get(7)?,
                ack: history::ack(r.get(8)?, r.get(9)?, r.get(10)?),
            }))
        })
    }

    fn alert_fire(&mut self, a: &StoredAlert) -> Result<(), StoreError> {
        // One statement outside a transaction commits on its own, with synchronous=FULL: durable.
        self.conn
            .prepare_cached(
                "INSERT INTO alerts (kind, cid, sensor, name, since_ms, value, limit_value, message) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (kind, cid, sensor) DO UPDATE SET \
                 name = excluded.name, since_ms = excluded.since_ms, value = excluded.value, \
                 limit_value = excluded.limit_value, message = excluded.message",
            )
            .and_then(|mut st| {
                st.execute(params![a.kind, a.cid, a.sensor, a.name, a.since_ms, a.value, a.limit, a.message])
            })
            .map_err(self.err("record alert"))?;
        Ok(())
    }

    fn alert_resolve(&mut self, kind: &str, cid: &str, sensor: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM alerts WHERE kind = ?1 AND cid = ?2 AND sensor = ?3")
            .and_then(|mut st| st.execute(params![kind, cid, sensor]))
            .map_err(self.err("resolve alert"))?;
        Ok(n > 0)
    }

    fn alert_ack(&mut self, kind: &str, cid: &str, sensor: &str, ack: &Ack) -> Result<bool, StoreError> {
        let run = |c: &mut Connection| -> rusqlite::Result<bool> {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx
                .prepare_cached(
                    "UPDATE alerts SET ack_by = ?4, ack_note = ?5, ack_ms = ?6 \
                     WHERE kind = ?1 AND cid = ?2 AND sensor = ?3",
                )?
                .execute(params![kind, cid, sensor, ack.by, ack.note, ack.at_ms])?;
            if n == 0 {
                return Ok(false);
            }
            let change = AdminChange::Acked { kind: kind.into(), cid: cid.into(), sensor: sensor.into() };
            record(&tx, &change, ack.at_ms)?;
            tx.commit()?;
            Ok(true)
        };
        run(&mut self.conn).map_err(|e| self.err("acknowledge alert")(e))
    }

    fn alert_event_add(&mut self, e: &AlertEvent) -> Result<i64, StoreError> {
        self.add_event(e, DELIVERY_NONE)
    }

    fn alert_event_add_to_deliver(&mut self, e: &AlertEvent) -> Result<i64, StoreError> {
        self.add_event(e, DELIVERY_PENDING)
    }

    fn alert_event_delivered(&mut self, id: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE alert_events SET delivery = ?1 WHERE id = ?2")
            .and_then(|mut st| st.execute(params![DELIVERY_DONE, id]))
            .map_err(self.err("mark an alert event delivered"))?;
        Ok(())
    }

    fn alert_events(&mut self, q: &EventQuery) -> Result<Vec<AlertEvent>, StoreError> {
        let sql = history::events(DIALECT.placeholder, q);
        self.run_query(&sql, "read alert events", |r| {
            Ok(Ok(AlertEvent {
                id: r.get(0)?,
                at_ms: r.get(1)?,
                event: r.get(2)?,
                kind: r.get(3)?,
                cid: r.get(4)?,
                sensor: r.get(5)?,
                name: r.get(6)?,
                since_ms: r.get(7)?,
                value: r.get(8)?,
                message: r.get(9)?,
                by: r.get(10)?,
                note: r.get(11)?,
            }))
        })
    }

    fn silence_add(&mut self, s: &Silence) -> Result<i64, StoreError> {
        let run = |c: &mut Connection| -> rusqlite::Result<i64> {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO silences (cid, sensor, kind, starts_ms, ends_ms, by_who, comment) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                s.cid,
                s.sensor,
                s.kind,
                s.starts_ms,
                s.ends_ms,
                s.by,
                s.comment
            ])?;
            let id = tx.last_insert_rowid();
            record(&tx, &AdminChange::Silences, s.starts_ms)?;
            tx.commit()?;
            Ok(id)
        };
        run(&mut self.conn).map_err(|e| self.err("add silence")(e))
    }

    fn silences(&mut self, after_ms: Option<i64>) -> Result<Vec<Silence>, StoreError> {
        let sql = history::silences(DIALECT.placeholder, after_ms);
        self.run_query(&sql, "read silences", |r| {
            Ok(Ok(Silence {
                id: r.get(0)?,
                cid: r.get(1)?,
                sensor: r.get(2)?,
                kind: r.get(3)?,
                starts_ms: r.get(4)?,
                ends_ms: r.get(5)?,
                by: r.get(6)?,
                comment: r.get(7)?,
                ended_ms: r.get(8)?,
            }))
        })
    }

    fn silence_end(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        let run = |c: &mut Connection| -> rusqlite::Result<bool> {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx
                .prepare_cached(
                    "UPDATE silences SET ended_ms = ?2 WHERE id = ?1 AND ended_ms IS NULL AND ends_ms > ?2",
                )?
                .execute(params![id, at_ms])?;
            if n == 0 {
                return Ok(false);
            }
            record(&tx, &AdminChange::Silences, at_ms)?;
            tx.commit()?;
            Ok(true)
        };
        run(&mut self.conn).map_err(|e| self.err("end silence")(e))
    }
}

impl AdminLog for SqliteStore {
    fn forget(
        &mut self,
        cid: &str,
        sensor: Option<&str>,
        delete_readings: bool,
        at_ms: i64,
    ) -> Result<Forgotten, StoreError> {
        self.marks = None;
        let run = |c: &mut Connection| -> rusqlite::Result<Forgotten> {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(node) = tx
                .prepare_cached("SELECT id FROM nodes WHERE cid = ?1")?
                .query_row([cid], |r| r.get::<_, i64>(0))
                .optional()?
            else {
                return Ok(Forgotten::default());
            };
            // The sensor rows concerned: the one named, or all the node's.
            let sensors: Vec<i64> = match sensor {
                Some(name) => {
                    let id = tx
                        .prepare_cached("SELECT id FROM sensors WHERE node = ?1 AND sensor = ?2")?
                        .query_row(params![node, name], |r| r.get(0))
                        .optional()?;
                    match id {
                        Some(id) => vec![id],
                        None => return Ok(Forgotten::default()),
                    }
                }
                None => {
                    tx.prepare_cached("UPDATE nodes SET forgotten_ms = ?2 WHERE id = ?1")?
                        .execute(params![node, at_ms])?;
                    let mut st = tx.prepare_cached("SELECT id FROM sensors WHERE node = ?1")?;
                    let ids = st.query_map([node], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                    ids
                }
            };
            {
                let mut mark = tx.prepare_cached("UPDATE sensors SET forgotten_ms = ?2 WHERE id = ?1")?;
                for &s in &sensors {
                    mark.execute(params![s, at_ms])?;
                }
            }
            let mut deleted = 0;
            if delete_readings {
                // The mark must hold the newest seq before the rows holding it go (rows written by
                // hand may have left it behind): an old resend stays a duplicate.
                let newest: Option<i64> = tx
                    .prepare_cached("SELECT max(seq) FROM readings WHERE node = ?1")?
                    .query_row([node], |r| r.get(0))?;
                if let Some(seq) = newest {
                    tx.prepare_cached(
                        "UPDATE nodes SET high_water = max(coalesce(high_water, ?2), ?2) WHERE id = ?1",
                    )?
                    .execute(params![node, seq])?;
                }
                deleted = match sensor {
                    None => tx.prepare_cached("DELETE FROM readings WHERE node = ?1")?.execute([node])?,
                    Some(_) => tx
                        .prepare_cached("DELETE FROM readings WHERE node = ?1 AND sensor = ?2")?
                        .execute(params![node, sensors[0]])?,
                } as u64;
                let mut hours = tx.prepare_cached("DELETE FROM rollups WHERE sensor = ?1")?;
                for &s in &sensors {
                    hours.execute([s])?;
                }
                lower_display_cursor(&tx)?;
            }
            let change = AdminChange::Forgot { cid: cid.into(), sensor: sensor.map(Into::into) };
            record(&tx, &change, at_ms)?;
            tx.commit()?;
            Ok(Forgotten { known: true, readings_deleted: deleted })
        };
        run(&mut self.conn).map_err(|e| self.err("forget")(e))
    }

    fn is_forgotten(&mut self, cid: &str, sensor: Option<&str>) -> Result<bool, StoreError> {
        let found: Option<bool> = match sensor {
            None => self
                .conn
                .prepare_cached("SELECT forgotten_ms IS NOT NULL FROM nodes WHERE cid = ?1")
                .and_then(|mut st| st.query_row([cid], |r| r.get(0)).optional()),
            Some(s) => self
                .conn
                .prepare_cached(
                    "SELECT n.forgotten_ms IS NOT NULL OR s.forgotten_ms IS NOT NULL FROM nodes n \
                     LEFT JOIN sensors s ON s.node = n.id AND s.sensor = ?2 WHERE n.cid = ?1",
                )
                .and_then(|mut st| st.query_row([cid, s], |r| r.get(0)).optional()),
        }
        .map_err(self.err("read whether forgotten"))?;
        Ok(found.unwrap_or(false))
    }

    fn admin_changes(&mut self, after: i64) -> Result<Vec<(i64, AdminChange)>, StoreError> {
        let sql = Sql {
            text: "SELECT id, what, kind, cid, sensor FROM admin_changes WHERE id > ?1 ORDER BY id".into(),
            params: vec![Param::Int(after)],
            series: None,
        };
        let location = self.location.clone();
        self.run_query(&sql, "read admin changes", |r| {
            let id: i64 = r.get(0)?;
            let what: String = r.get(1)?;
            Ok(history::decode(&location, id, &what, r.get(2)?, r.get(3)?, r.get(4)?).map(|c| (id, c)))
        })
    }

    fn admin_changes_head(&mut self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM admin_changes", [], |r| r.get(0))
            .map_err(self.err("read admin changes"))
    }
}

impl ExportFeed for SqliteStore {
    fn feed(&mut self, after: i64, limit: usize) -> Result<Vec<FeedRow>, StoreError> {
        let dec = self.decoder();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = Sql {
            text: feed::after_sql(DIALECT.placeholder),
            params: vec![Param::Int(after), Param::Int(limit)],
            series: None,
        };
        self.run_query(&sql, "read the feed", |r| {
            let id: i64 = r.get(0)?;
            Ok(dec.reading(None, reading_row(r, 1)?).map(|reading| FeedRow { id, reading }))
        })
    }

    fn feed_lag(&mut self, after: i64) -> Result<FeedLag, StoreError> {
        let sql =
            Sql { text: feed::lag_sql(DIALECT.placeholder), params: vec![Param::Int(after)], series: None };
        let rows = self.run_query(&sql, "read the feed's lag", |r| {
            let (oldest, last, n): (Option<i64>, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(Ok(FeedLag { readings: n as u64, oldest_received_ms: oldest, last_id: last }))
        })?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }

    fn cursor(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached("SELECT after_id FROM export_cursors WHERE name = ?1")
            .and_then(|mut st| st.query_row([name], |r| r.get(0)).optional())
            .map_err(self.err("read export cursor"))
    }

    fn set_cursor(&mut self, name: &str, after: i64) -> Result<(), StoreError> {
        // One statement outside a transaction commits on its own, with synchronous=FULL: durable.
        self.conn
            .prepare_cached(
                "INSERT INTO export_cursors (name, after_id, updated_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET after_id = excluded.after_id, updated_ms = excluded.updated_ms",
            )
            .and_then(|mut st| st.execute(params![name, after, feed::now_ms()]))
            .map_err(self.err("save export cursor"))?;
        Ok(())
    }
}
