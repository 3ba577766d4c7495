-- cliser schema 1 (SQLite). Times are Unix milliseconds, temperatures integer millidegrees Celsius.
-- The PostgreSQL twin is migrations/postgres/0001_initial.sql: keep both in step.

-- One row per client id. high_water is the highest seq ever stored for it: kept here because
-- pruning deletes the readings that held it, and a client must never be asked to resend them.
CREATE TABLE nodes (
    id INTEGER PRIMARY KEY,
    cid TEXT NOT NULL UNIQUE,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    high_water INTEGER
);

-- One row per (client, sensor), with its newest reading by sample time.
CREATE TABLE sensors (
    id INTEGER PRIMARY KEY,
    node INTEGER NOT NULL REFERENCES nodes (id),
    sensor TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    last_sampled_ms INTEGER,
    last_milli_c INTEGER,
    last_error TEXT,
    last_seq INTEGER,
    UNIQUE (node, sensor)
);

-- The raw readings; id is the insertion order. A reading has a temperature or an error reason.
CREATE TABLE readings (
    id INTEGER PRIMARY KEY,
    node INTEGER NOT NULL,
    sensor INTEGER NOT NULL,
    sampled_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    milli_c INTEGER,
    error TEXT,
    seq INTEGER,
    CHECK ((milli_c IS NULL) <> (error IS NULL))
);
-- The exactly-once key. NULL seqs (readings typed by hand) are distinct, so never deduped.
CREATE UNIQUE INDEX readings_node_seq ON readings (node, seq);
-- One client (and so one of its sensors) over a time range, answered from the index alone and in
-- time order: per client rather than per sensor because a client sends all its sensors' readings
-- at once, and those then land side by side: a commit dirties one leaf per client, not one per
-- sensor (SQLite writes whole pages to its WAL). Also how pruning finds old rows without a scan.
CREATE INDEX readings_node_time ON readings (node, sampled_ms, sensor, id, received_ms, milli_c, error, seq);

-- Hourly summaries, never pruned. Keyed hour first so that the rows a commit updates (the current
-- hour of every sensor) share a few pages; the index serves one sensor over many hours.
CREATE TABLE rollups (
    hour_ms INTEGER NOT NULL,
    sensor INTEGER NOT NULL,
    min_milli_c INTEGER,
    max_milli_c INTEGER,
    sum_milli_c INTEGER NOT NULL,
    n INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    PRIMARY KEY (hour_ms, sensor)
) WITHOUT ROWID;
CREATE INDEX rollups_sensor_hour ON rollups (sensor, hour_ms);
