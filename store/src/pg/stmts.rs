//! The statements of a commit, prepared once per connection. Each takes whole columns as arrays
//! (UNNEST), so a group costs a fixed handful of round trips whatever its size. Also the other
//! statements that run often: the high-water marks and the alerts.

use postgres::{Client, Statement};

pub(super) struct Stmts {
    pub commit_lock: Statement,
    pub insert_nodes: Statement,
    pub select_nodes: Statement,
    pub insert_sensors: Statement,
    pub select_sensors: Statement,
    pub pruned_marks: Statement,
    pub insert_readings: Statement,
    pub update_nodes: Statement,
    pub update_sensors: Statement,
    pub upsert_rollups: Statement,
    pub high_water: Statement,
    pub high_water_all: Statement,
    pub alerts_firing: Statement,
    pub alert_fire: Statement,
    pub alert_resolve: Statement,
}

impl Stmts {
    pub fn prepare(c: &mut Client) -> Result<Stmts, postgres::Error> {
        Ok(Stmts {
            commit_lock: c.prepare("SELECT pg_advisory_xact_lock($1)")?,
            insert_nodes: c.prepare(
                "INSERT INTO nodes (cid, first_seen_ms, last_seen_ms) \
                 SELECT c, t, t FROM UNNEST($1::text[], $2::bigint[]) AS u(c, t) ON CONFLICT (cid) DO NOTHING",
            )?,
            select_nodes: c.prepare("SELECT id, cid FROM nodes WHERE cid = ANY($1::text[])")?,
            insert_sensors: c.prepare(
                "INSERT INTO sensors (node, sensor, first_seen_ms, last_seen_ms) \
                 SELECT n, s, t, t FROM UNNEST($1::int[], $2::text[], $3::bigint[]) AS u(n, s, t) \
                 ON CONFLICT (node, sensor) DO NOTHING",
            )?,
            select_sensors: c.prepare(
                "SELECT s.id, s.node, s.sensor FROM sensors s \
                 JOIN UNNEST($1::int[], $2::text[]) AS u(n, name) ON s.node = u.n AND s.sensor = u.name",
            )?,
            pruned_marks: c.prepare(
                "SELECT id, pruned_before_ms, high_water FROM nodes \
                 WHERE id = ANY($1::int[]) AND pruned_before_ms IS NOT NULL",
            )?,
            insert_readings: c.prepare(
                "INSERT INTO readings (node, sensor, sampled_ms, received_ms, milli_c, error, seq, ts_quality) \
                 SELECT * FROM UNNEST($1::int[], $2::int[], $3::bigint[], $4::bigint[], $5::int[], $6::text[], $7::bigint[], \
                 $8::smallint[]) \
                 ON CONFLICT (node, seq) DO NOTHING RETURNING node, seq",
            )?,
            // GREATEST and LEAST skip NULLs, which is what a missing high-water mark needs. A node
            // that reports again is no longer forgotten.
            update_nodes: c.prepare(
                "UPDATE nodes n SET first_seen_ms = LEAST(n.first_seen_ms, u.f), \
                 last_seen_ms = GREATEST(n.last_seen_ms, u.l), high_water = GREATEST(n.high_water, u.hw), forgotten_ms = NULL \
                 FROM UNNEST($1::int[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, f, l, hw) WHERE n.id = u.id",
            )?,
            // Every SET expression sees the old row, so one condition picks all four columns. A
            // sensor (and above, a node) that reports again is no longer forgotten.
            update_sensors: c.prepare(
                "UPDATE sensors s SET forgotten_ms = NULL, first_seen_ms = LEAST(s.first_seen_ms, u.f), \
                 last_seen_ms = GREATEST(s.last_seen_ms, u.l), \
                 last_sampled_ms = CASE WHEN s.last_sampled_ms IS NULL OR u.ls >= s.last_sampled_ms THEN u.ls ELSE s.last_sampled_ms END, \
                 last_milli_c = CASE WHEN s.last_sampled_ms IS NULL OR u.ls >= s.last_sampled_ms THEN u.mc ELSE s.last_milli_c END, \
                 last_error = CASE WHEN s.last_sampled_ms IS NULL OR u.ls >= s.last_sampled_ms THEN u.err ELSE s.last_error END, \
                 last_seq = CASE WHEN s.last_sampled_ms IS NULL OR u.ls >= s.last_sampled_ms THEN u.seq ELSE s.last_seq END \
                 FROM UNNEST($1::int[], $2::bigint[], $3::bigint[], $4::bigint[], $5::int[], $6::text[], $7::bigint[]) \
                 AS u(id, f, l, ls, mc, err, seq) WHERE s.id = u.id",
            )?,
            upsert_rollups: c.prepare(
                "INSERT INTO rollups (sensor, hour_ms, min_milli_c, max_milli_c, sum_milli_c, n, errors) \
                 SELECT * FROM UNNEST($1::int[], $2::bigint[], $3::int[], $4::int[], $5::bigint[], $6::bigint[], $7::bigint[]) \
                 ON CONFLICT (sensor, hour_ms) DO UPDATE SET \
                 min_milli_c = LEAST(rollups.min_milli_c, EXCLUDED.min_milli_c), \
                 max_milli_c = GREATEST(rollups.max_milli_c, EXCLUDED.max_milli_c), \
                 sum_milli_c = rollups.sum_milli_c + EXCLUDED.sum_milli_c, \
                 n = rollups.n + EXCLUDED.n, errors = rollups.errors + EXCLUDED.errors",
            )?,
            // The mark kept in nodes survives pruning; the index's newest seq also covers rows
            // written without the mark (by hand). The higher of the two.
            high_water: c.prepare(
                "SELECT GREATEST(n.high_water, (SELECT seq FROM readings r WHERE r.node = n.id AND seq IS NOT NULL \
                 ORDER BY seq DESC LIMIT 1)) FROM nodes n WHERE n.cid = $1",
            )?,
            high_water_all: c.prepare(
                "SELECT n.cid, GREATEST(n.high_water, (SELECT seq FROM readings r WHERE r.node = n.id AND seq IS NOT NULL \
                 ORDER BY seq DESC LIMIT 1)) FROM nodes n",
            )?,
            alerts_firing: c.prepare(
                "SELECT kind, cid, sensor, name, since_ms, value, limit_value, message, ack_by, ack_note, ack_ms \
                 FROM alerts ORDER BY kind, cid, sensor",
            )?,
            alert_fire: c.prepare(
                "INSERT INTO alerts (kind, cid, sensor, name, since_ms, value, limit_value, message) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kind, cid, sensor) DO UPDATE SET \
                 name = EXCLUDED.name, since_ms = EXCLUDED.since_ms, value = EXCLUDED.value, \
                 limit_value = EXCLUDED.limit_value, message = EXCLUDED.message",
            )?,
            alert_resolve: c
                .prepare("DELETE FROM alerts WHERE kind = $1 AND cid = $2 AND sensor = $3")?,
        })
    }
}
