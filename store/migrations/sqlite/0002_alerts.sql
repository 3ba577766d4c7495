-- cliser schema 2 (SQLite): the alerts firing now. The PostgreSQL twin is
-- migrations/postgres/0002_alerts.sql: keep both in step.

-- One row per firing alert, deleted when it resolves: a restarted server reads them back, so it
-- neither announces again an alert that was already firing nor forgets one that still is.
-- sensor is '' for an alert about a node as a whole; name is the sensor's or node's display name
-- when the alert fired; value and limit_value are what crossed which limit, when the kind has them.
CREATE TABLE alerts (
    kind TEXT NOT NULL,
    cid TEXT NOT NULL,
    sensor TEXT NOT NULL,
    name TEXT,
    since_ms INTEGER NOT NULL,
    value REAL,
    limit_value REAL,
    message TEXT NOT NULL,
    PRIMARY KEY (kind, cid, sensor)
) WITHOUT ROWID;
