-- cliser schema 4 (SQLite): the exporters' cursors. The PostgreSQL twin is
-- migrations/postgres/0004_export_cursors.sql: keep both in step.

-- One row per exporter (`influx`, `mqtt`): the id of the last reading its far side accepted.
-- An exporter reads the readings after it in id order and moves it only once a batch was taken,
-- so a restart or an outage resumes exactly there.
CREATE TABLE export_cursors (
    name TEXT NOT NULL PRIMARY KEY,
    after_id INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
