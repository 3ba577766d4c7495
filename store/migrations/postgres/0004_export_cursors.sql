-- cliser schema 4 (PostgreSQL): the exporters' cursors. The SQLite twin is
-- migrations/sqlite/0004_export_cursors.sql: keep both in step.

-- One row per exporter (`influx`, `mqtt`): the id of the last reading its far side accepted.
-- An exporter reads the readings after it in id order and moves it only once a batch was taken,
-- so a restart or an outage resumes exactly there.
CREATE TABLE export_cursors (
    name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    after_id BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
