-- cliser schema 8 (PostgreSQL): the sensors' bus health per hour, from the clients' health reports
-- (docs/PROTOCOL.md, "Health reports"). The SQLite twin is
-- migrations/sqlite/0008_sensor_health.sql: keep both in step.

-- One row per (client, sensor, hour): the sums of the reports whose period ended in that hour
-- (hour_ms: its start, Unix ms). last_report is the id of the newest report added: a report with
-- an id at or below it is a repeat and changes nothing. retries counts reads that failed their
-- CRC and were read again (not errors: a retry that failed too is also in crc).
CREATE TABLE sensor_health (
    cid TEXT COLLATE "C" NOT NULL,
    sensor TEXT COLLATE "C" NOT NULL,
    hour_ms BIGINT NOT NULL,
    reads BIGINT NOT NULL,
    crc BIGINT NOT NULL,
    empty BIGINT NOT NULL,
    reset BIGINT NOT NULL,
    other BIGINT NOT NULL,
    retries BIGINT NOT NULL,
    read_ms BIGINT NOT NULL,
    period_ms BIGINT NOT NULL,
    last_report BIGINT NOT NULL,
    PRIMARY KEY (cid, sensor, hour_ms)
);
CREATE INDEX sensor_health_hour ON sensor_health (hour_ms);
