-- cliser schema 2 (PostgreSQL): the alerts firing now. The SQLite twin is
-- migrations/sqlite/0002_alerts.sql: keep both in step.

-- One row per firing alert, deleted when it resolves: a restarted server reads them back, so it
-- neither announces again an alert that was already firing nor forgets one that still is.
-- sensor is '' for an alert about a node as a whole; name is the sensor's or node's display name
-- when the alert fired; value and limit_value are what crossed which limit, when the kind has them.
-- The key columns compare bytewise ("C"), as SQLite's do, so both list alerts in the same order
-- whatever the database's locale.
CREATE TABLE alerts (
    kind TEXT COLLATE "C" NOT NULL,
    cid TEXT COLLATE "C" NOT NULL,
    sensor TEXT COLLATE "C" NOT NULL,
    name TEXT,
    since_ms BIGINT NOT NULL,
    value DOUBLE PRECISION,
    limit_value DOUBLE PRECISION,
    message TEXT NOT NULL,
    PRIMARY KEY (kind, cid, sensor)
);
