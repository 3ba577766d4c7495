-- cliser schema 8 (SQLite): the sensors' bus health per hour, from the clients' health reports
-- (docs/PROTOCOL.md, "Health reports"). The PostgreSQL twin is
-- migrations/postgres/0008_sensor_health.sql: keep both in step.

-- One row per (client, sensor, hour): the sums of the reports whose period ended in that hour
-- (hour_ms: its start, Unix ms). last_report is the id of the newest report added: a report with
-- an id at or below it is a repeat and changes nothing. retries counts reads that failed their
-- CRC and were read again (not errors: a retry that failed too is also in crc).
CREATE TABLE sensor_health (
    cid TEXT NOT NULL,
    sensor TEXT NOT NULL,
    hour_ms INTEGER NOT NULL,
    reads INTEGER NOT NULL,
    crc INTEGER NOT NULL,
    empty INTEGER NOT NULL,
    reset INTEGER NOT NULL,
    other INTEGER NOT NULL,
    retries INTEGER NOT NULL,
    read_ms INTEGER NOT NULL,
    period_ms INTEGER NOT NULL,
    last_report INTEGER NOT NULL,
    PRIMARY KEY (cid, sensor, hour_ms)
) WITHOUT ROWID;
CREATE INDEX sensor_health_hour ON sensor_health (hour_ms);
