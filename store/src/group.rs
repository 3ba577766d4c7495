//! The part of a commit that needs no database: checking a group, dropping the repeats inside it,
//! and summing what was inserted into one update per node, per sensor and per sensor-hour. Both
//! backends share it, so their results agree by construction.

use crate::{NewReading, StoreError, MAX_SEQ};
use cliser_protocol::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// An hour in Unix milliseconds: the unit of the rollups.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// One reading of a group, ready for the database.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    /// Its index in the caller's group.
    pub input: usize,
    pub cid: &'a str,
    pub sensor: &'a str,
    pub sampled_ms: i64,
    pub received_ms: i64,
    pub milli_c: Option<i32>,
    pub error: Option<&'a str>,
    pub seq: Option<i64>,
    /// [`TsQuality::code`](crate::TsQuality::code).
    pub ts_quality: i16,
}

/// Millidegrees, rounded to the nearest. A `Celsius` is below 1000 degrees, so it fits an `i32`.
pub(crate) fn milli(c: cliser_protocol::Celsius) -> i32 {
    (c.degrees() * 1000.0).round() as i32
}

/// The rows of `group` to insert, in the order to insert them, with repeats of a (cid, seq) inside
/// the group left out (the first one stays). Rows are sorted by client id, keeping each client's
/// own order: two servers sharing a PostgreSQL then take row locks in the same order and cannot
/// deadlock each other.
pub(crate) fn prepare(group: &[NewReading]) -> Result<Vec<Row<'_>>, StoreError> {
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(group.len());
    for (input, r) in group.iter().enumerate() {
        let seq = match r.seq {
            Some(s) if s > MAX_SEQ => {
                return Err(StoreError::SeqOutOfRange { cid: r.cid.to_string(), seq: s });
            }
            Some(s) => Some(s as i64),
            None => None,
        };
        if let Some(s) = seq {
            if !seen.insert((r.cid.as_str(), s)) {
                continue;
            }
        }
        let (milli_c, error) = match &r.value {
            Value::Celsius(c) => (Some(milli(*c)), None),
            Value::Error(e) => (None, Some(e.as_str())),
        };
        rows.push(Row {
            input,
            cid: r.cid.as_str(),
            sensor: r.sensor.as_str(),
            sampled_ms: r.sampled_ms,
            received_ms: r.received_ms,
            milli_c,
            error,
            seq,
            ts_quality: r.ts_quality.code(),
        });
    }
    rows.sort_by(|a, b| a.cid.cmp(b.cid));
    Ok(rows)
}

/// The database ids of nodes and sensors, kept for the life of a store: rows of these tables are
/// never deleted, so an id, once committed, stays right.
#[derive(Debug, Default)]
pub(crate) struct IdCache {
    nodes: HashMap<String, i64>,
    sensors: HashMap<i64, HashMap<String, i64>>,
}

impl IdCache {
    pub fn node(&self, cid: &str) -> Option<i64> {
        self.nodes.get(cid).copied()
    }

    pub fn sensor(&self, node: i64, sensor: &str) -> Option<i64> {
        self.sensors.get(&node).and_then(|m| m.get(sensor)).copied()
    }

    /// Remembers ids learnt in a transaction; only once it has committed (a rolled-back
    /// transaction may have created them).
    pub fn learn(&mut self, ids: &GroupIds) {
        for (cid, id) in &ids.nodes {
            self.nodes.insert(cid.clone(), *id);
        }
        for ((node, sensor), id) in &ids.sensors {
            self.sensors.entry(*node).or_default().insert(sensor.clone(), *id);
        }
    }
}

/// The ids of a group's nodes and sensors: those the [`IdCache`] knew, found in one pass, and
/// those it did not, learnt in the group's transaction. Only what is new is copied: a group of
/// known clients allocates nothing here but the list of its rows' ids.
#[derive(Debug, Default)]
pub(crate) struct GroupIds {
    pub nodes: HashMap<String, i64>,
    pub sensors: HashMap<(i64, String), i64>,
    /// (node, sensor) of each row, where the cache knew both.
    known: Vec<Option<(i64, i64)>>,
}

impl GroupIds {
    /// Looks every row up in `cache`; returns the client ids it does not know (sorted, distinct)
    /// with the receive time of their first row (their `first_seen` if they are new).
    pub fn from_cache(cache: &IdCache, rows: &[Row]) -> (GroupIds, Vec<(String, i64)>) {
        let mut missing: BTreeMap<&str, i64> = BTreeMap::new();
        let mut known = Vec::with_capacity(rows.len());
        // Rows come sorted by client: a run of one client's rows looks its node up once.
        let mut last: Option<(&str, Option<i64>)> = None;
        for r in rows {
            let node = match last {
                Some((cid, node)) if cid == r.cid => node,
                _ => cache.node(r.cid),
            };
            last = Some((r.cid, node));
            match node {
                Some(node) => known.push(cache.sensor(node, r.sensor).map(|sensor| (node, sensor))),
                None => {
                    missing.entry(r.cid).or_insert(r.received_ms);
                    known.push(None);
                }
            }
        }
        let ids = GroupIds { known, ..GroupIds::default() };
        (ids, missing.into_iter().map(|(c, t)| (c.to_owned(), t)).collect())
    }

    /// The (node, sensor) pairs that neither `cache` nor this group knows (node ids must all be
    /// known by now), sorted and distinct, with a first receive time.
    pub fn sensors_from_cache(&self, cache: &IdCache, rows: &[Row]) -> Vec<(i64, String, i64)> {
        let mut missing: BTreeMap<(i64, &str), i64> = BTreeMap::new();
        for (r, _) in rows.iter().zip(&self.known).filter(|(_, k)| k.is_none()) {
            let node = self.node(cache, r.cid);
            if cache.sensor(node, r.sensor).is_none() {
                missing.entry((node, r.sensor)).or_insert(r.received_ms);
            }
        }
        missing.into_iter().map(|((n, s), t)| (n, s.to_owned(), t)).collect()
    }

    pub fn node(&self, cache: &IdCache, cid: &str) -> i64 {
        cache.node(cid).unwrap_or_else(|| self.nodes[cid])
    }

    pub fn sensor(&self, cache: &IdCache, node: i64, sensor: &str) -> i64 {
        cache.sensor(node, sensor).unwrap_or_else(|| self.sensors[&(node, sensor.to_owned())])
    }

    /// (node id, sensor id) of each row, once every id is known.
    pub fn of_rows(&self, cache: &IdCache, rows: &[Row]) -> Vec<(i64, i64)> {
        rows.iter()
            .zip(&self.known)
            .map(|(r, known)| {
                known.unwrap_or_else(|| {
                    let node = self.node(cache, r.cid);
                    (node, self.sensor(cache, node, r.sensor))
                })
            })
            .collect()
    }
}

/// What a node's row says about readings that may have been pruned: its `pruned_before_ms` mark
/// and its high-water mark.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PrunedMark {
    pub before_ms: i64,
    pub high_water: Option<i64>,
}

/// Which rows may be stored (`false`: refused): a row sampled before its node's pruned mark whose
/// seq is at or below the node's high-water mark, or that has no seq, may be one that was stored
/// and then pruned (its key went with it), so storing it again would count it twice in the
/// rollups. A seq above the high-water mark was never stored: that row is new however old.
/// `marks` by node id; `ids[i]` is (node, sensor) of `rows[i]`.
pub(crate) fn not_pruned(rows: &[Row], ids: &[(i64, i64)], marks: &HashMap<i64, PrunedMark>) -> Vec<bool> {
    rows.iter()
        .zip(ids)
        .map(|(r, (node, _))| match marks.get(node) {
            Some(m) if r.sampled_ms < m.before_ms => {
                r.seq.is_some_and(|s| m.high_water.is_none_or(|hw| s > hw))
            }
            _ => true,
        })
        .collect()
}

/// The change one group makes to a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeDelta {
    pub id: i64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub high_water: Option<i64>,
}

/// The change one group makes to a sensor: seen times, and its newest reading by sample time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SensorDelta {
    pub id: i64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub last_sampled_ms: i64,
    pub last_milli_c: Option<i32>,
    pub last_error: Option<String>,
    pub last_seq: Option<i64>,
}

/// One sensor-hour's share of a group.
#[derive(Debug, PartialEq)]
pub(crate) struct RollupDelta {
    pub sensor: i64,
    pub hour_ms: i64,
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub sum: i64,
    pub count: i64,
    pub errors: i64,
}

/// What the inserted rows of a group change, each list sorted by its key (the lock order).
#[derive(Debug, Default)]
pub(crate) struct Deltas {
    pub nodes: Vec<NodeDelta>,
    pub sensors: Vec<SensorDelta>,
    pub rollups: Vec<RollupDelta>,
}

/// Sums the rows that were inserted; `ids[i]` is (node, sensor) of `rows[i]`.
pub(crate) fn deltas(rows: &[Row], ids: &[(i64, i64)], inserted: &[bool]) -> Deltas {
    let mut nodes: BTreeMap<i64, NodeDelta> = BTreeMap::new();
    let mut sensors: BTreeMap<i64, SensorDelta> = BTreeMap::new();
    let mut rollups: BTreeMap<(i64, i64), RollupDelta> = BTreeMap::new();
    for ((r, &(node, sensor)), _) in rows.iter().zip(ids).zip(inserted).filter(|(_, &ins)| ins) {
        let n = nodes.entry(node).or_insert(NodeDelta {
            id: node,
            first_ms: r.received_ms,
            last_ms: r.received_ms,
            high_water: None,
        });
        n.first_ms = n.first_ms.min(r.received_ms);
        n.last_ms = n.last_ms.max(r.received_ms);
        n.high_water = n.high_water.max(r.seq);

        let s = sensors.entry(sensor).or_insert(SensorDelta {
            id: sensor,
            first_ms: r.received_ms,
            last_ms: r.received_ms,
            last_sampled_ms: i64::MIN,
            last_milli_c: None,
            last_error: None,
            last_seq: None,
        });
        s.first_ms = s.first_ms.min(r.received_ms);
        s.last_ms = s.last_ms.max(r.received_ms);
        // Ties go to the later row, as they do against the stored row (>=).
        if r.sampled_ms >= s.last_sampled_ms {
            s.last_sampled_ms = r.sampled_ms;
            s.last_milli_c = r.milli_c;
            s.last_error = r.error.map(str::to_owned);
            s.last_seq = r.seq;
        }

        let hour_ms = r.sampled_ms - r.sampled_ms.rem_euclid(HOUR_MS);
        let h = rollups.entry((sensor, hour_ms)).or_insert(RollupDelta {
            sensor,
            hour_ms,
            min: None,
            max: None,
            sum: 0,
            count: 0,
            errors: 0,
        });
        match r.milli_c {
            Some(m) => {
                h.min = Some(h.min.map_or(m, |v| v.min(m)));
                h.max = Some(h.max.map_or(m, |v| v.max(m)));
                h.sum += i64::from(m);
                h.count += 1;
            }
            None => h.errors += 1,
        }
    }
    Deltas {
        nodes: nodes.into_values().collect(),
        sensors: sensors.into_values().collect(),
        rollups: rollups.into_values().collect(),
    }
}

impl NodeDelta {
    /// Adds `later`, a change made after this one.
    fn absorb(&mut self, later: &NodeDelta) {
        self.first_ms = self.first_ms.min(later.first_ms);
        self.last_ms = self.last_ms.max(later.last_ms);
        self.high_water = self.high_water.max(later.high_water);
    }
}

impl SensorDelta {
    /// Adds `later`, a change made after this one: ties of sample time go to the later, as they
    /// do against the stored row.
    fn absorb(&mut self, later: &SensorDelta) {
        self.first_ms = self.first_ms.min(later.first_ms);
        self.last_ms = self.last_ms.max(later.last_ms);
        if later.last_sampled_ms >= self.last_sampled_ms {
            self.last_sampled_ms = later.last_sampled_ms;
            self.last_milli_c = later.last_milli_c;
            self.last_error.clone_from(&later.last_error);
            self.last_seq = later.last_seq;
        }
    }
}

/// The name of the `export_cursors` row that holds the id of the newest reading whose node and
/// sensor rows are written ([`Display`]): a restart re-applies the readings after it.
pub(crate) const DISPLAY_CURSOR: &str = "sink-display";

/// The nodes' seen times and high-water marks and the sensors' seen times and newest readings of
/// the commits since their rows were last written. Written in every commit by default; held back
/// and written at most once per `every` (in the commit's own transaction, or by a flush when the
/// sink is idle) once the sink asks for it: one UPDATE of a node and one of a sensor per second
/// instead of per group, each dirtying a page of its own. Every merge is a min, a max or a
/// newest-by-sample-time, so writing a change twice gives the same rows: after a `kill -9`, the
/// readings after the [`DISPLAY_CURSOR`] are re-applied and the rows come out as if every commit
/// had written them.
#[derive(Debug, Default)]
pub(crate) struct Display {
    every: Duration,
    nodes: BTreeMap<i64, NodeDelta>,
    sensors: BTreeMap<i64, SensorDelta>,
    written_at: Option<Instant>,
}

impl Display {
    /// Holds changes back for up to `every` (zero: written in every commit).
    pub fn hold_for(&mut self, every: Duration) {
        self.every = every;
    }

    /// Whether changes are held back at all (the [`DISPLAY_CURSOR`] is kept only then).
    pub fn holds(&self) -> bool {
        !self.every.is_zero()
    }

    /// Whether a commit at `now` writes the rows.
    pub fn due(&self, now: Instant) -> bool {
        self.every.is_zero() || self.written_at.is_none_or(|t| now.duration_since(t) >= self.every)
    }

    /// When what is held must be written; `None` when nothing is held.
    pub fn due_at(&self) -> Option<Instant> {
        if self.nodes.is_empty() && self.sensors.is_empty() {
            return None;
        }
        Some(self.written_at.map_or_else(Instant::now, |t| t + self.every))
    }

    /// What is held plus `d` (a group's changes), sorted by id (the lock order).
    pub fn with(&self, d: &Deltas) -> (Vec<NodeDelta>, Vec<SensorDelta>) {
        let mut nodes = self.nodes.clone();
        for n in &d.nodes {
            nodes.entry(n.id).and_modify(|h| h.absorb(n)).or_insert_with(|| n.clone());
        }
        let mut sensors = self.sensors.clone();
        for s in &d.sensors {
            sensors.entry(s.id).and_modify(|h| h.absorb(s)).or_insert_with(|| s.clone());
        }
        (nodes.into_values().collect(), sensors.into_values().collect())
    }

    /// Holds a committed group's changes.
    pub fn keep(&mut self, d: Deltas) {
        for n in d.nodes {
            match self.nodes.get_mut(&n.id) {
                Some(h) => h.absorb(&n),
                None => {
                    self.nodes.insert(n.id, n);
                }
            }
        }
        for s in d.sensors {
            match self.sensors.get_mut(&s.id) {
                Some(h) => h.absorb(&s),
                None => {
                    self.sensors.insert(s.id, s);
                }
            }
        }
    }

    /// Everything held was written (committed) at `now`.
    pub fn written(&mut self, now: Instant) {
        self.nodes.clear();
        self.sensors.clear();
        self.written_at = Some(now);
    }

    /// The high-water mark held for `node`, not yet in its row.
    pub fn high_water(&self, node: i64) -> Option<i64> {
        self.nodes.get(&node).and_then(|n| n.high_water)
    }
}

/// The caller's answer: for each reading of the group, whether it was stored now.
pub(crate) fn answer(len: usize, rows: &[Row], inserted: &[bool]) -> Vec<bool> {
    let mut out = vec![false; len];
    for (r, &ins) in rows.iter().zip(inserted) {
        out[r.input] = ins;
    }
    out
}

/// `t` rounded down to a multiple of `every` (saturating at the ends of `i64`).
pub(crate) fn align_down(t: i64, every: i64) -> i64 {
    t.saturating_sub(t.rem_euclid(every))
}

/// `t` rounded up to a multiple of `every` (saturating).
pub(crate) fn align_up(t: i64, every: i64) -> i64 {
    match t.rem_euclid(every) {
        0 => t,
        r => t.saturating_add(every - r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_protocol::{Celsius, ClientId, ErrorReason, SensorId};

    fn reading(cid: &str, sensor: &str, v: Option<f64>, t: i64, seq: Option<u64>) -> NewReading {
        NewReading {
            cid: ClientId::new(cid).unwrap(),
            sensor: SensorId::new(sensor).unwrap(),
            value: match v {
                Some(v) => Value::Celsius(Celsius::new(v).unwrap()),
                None => Value::Error(ErrorReason::new("crc").unwrap()),
            },
            sampled_ms: t,
            received_ms: t + 5,
            seq,
            ts_quality: crate::TsQuality::Synced,
        }
    }

    #[test]
    fn drops_repeats_inside_the_group_and_sorts_by_client_keeping_its_order() {
        let g = vec![
            reading("b", "t", Some(1.0), 10, Some(1)),
            reading("a", "t", Some(2.0), 10, Some(7)),
            reading("b", "t", Some(1.0), 10, Some(1)),
            reading("b", "t", Some(3.0), 20, None),
            reading("b", "t", Some(3.0), 20, None),
            reading("a", "t", Some(2.0), 20, Some(8)),
        ];
        let rows = prepare(&g).unwrap();
        let inputs: Vec<usize> = rows.iter().map(|r| r.input).collect();
        assert_eq!(inputs, vec![1, 5, 0, 3, 4]);
        assert_eq!(answer(g.len(), &rows, &[true; 5]), vec![true, true, false, true, true, true]);
    }

    #[test]
    fn rounds_to_the_nearest_millidegree_and_refuses_huge_seqs() {
        assert_eq!(milli(Celsius::new(21.0625).unwrap()), 21063);
        assert_eq!(milli(Celsius::new(-0.0004).unwrap()), 0);
        assert_eq!(milli(Celsius::new(-999.9996).unwrap()), -1_000_000);
        let g = vec![reading("a", "t", Some(1.0), 0, Some(MAX_SEQ + 1))];
        assert!(matches!(prepare(&g), Err(StoreError::SeqOutOfRange { .. })));
    }

    #[test]
    fn sums_only_inserted_rows_per_node_sensor_and_hour() {
        let g = vec![
            reading("a", "t", Some(1.0), HOUR_MS - 1, Some(1)),
            reading("a", "t", Some(3.0), HOUR_MS, Some(2)),
            reading("a", "t", None, HOUR_MS + 5, Some(3)),
            reading("a", "t", Some(9.0), HOUR_MS + 6, Some(4)),
        ];
        let rows = prepare(&g).unwrap();
        let ids = vec![(1, 10); 4];
        let d = deltas(&rows, &ids, &[true, true, true, false]);
        assert_eq!(
            d.nodes,
            vec![NodeDelta { id: 1, first_ms: HOUR_MS + 4, last_ms: HOUR_MS + 10, high_water: Some(3) }]
        );
        assert_eq!(d.sensors.len(), 1);
        assert_eq!(d.sensors[0].last_sampled_ms, HOUR_MS + 5);
        assert_eq!(d.sensors[0].last_error.as_deref(), Some("crc"));
        assert_eq!(d.sensors[0].last_seq, Some(3));
        assert_eq!(
            d.rollups,
            vec![
                RollupDelta {
                    sensor: 10,
                    hour_ms: 0,
                    min: Some(1000),
                    max: Some(1000),
                    sum: 1000,
                    count: 1,
                    errors: 0
                },
                RollupDelta {
                    sensor: 10,
                    hour_ms: HOUR_MS,
                    min: Some(3000),
                    max: Some(3000),
                    sum: 3000,
                    count: 1,
                    errors: 1
                },
            ]
        );
    }

    #[test]
    fn aligns_buckets_on_the_epoch() {
        assert_eq!(align_down(7_199_999, HOUR_MS), HOUR_MS);
        assert_eq!(align_up(HOUR_MS + 1, HOUR_MS), 2 * HOUR_MS);
        assert_eq!(align_up(HOUR_MS, HOUR_MS), HOUR_MS);
        assert_eq!(align_down(-1, HOUR_MS), -HOUR_MS);
        assert_eq!(align_down(i64::MIN, HOUR_MS), i64::MIN);
        assert_eq!(align_up(i64::MAX, HOUR_MS), i64::MAX);
    }
}
