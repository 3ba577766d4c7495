-- cliser schema 3 (PostgreSQL): where each reading's sample time came from. The SQLite twin is
-- migrations/sqlite/0003_ts_quality.sql: keep both in step.

-- 0 synced: `@unix_ms` from a client whose clock was synchronised (and every reading stored
--   before this column existed: a constant default is kept in the catalogue, so adding the
--   column rewrites no row);
-- 1 from_age: the server's own clock (`~age_ms` counted back from arrival, or no stamp at all);
-- 2 unsynced: `@unix_ms?`, a client clock that was not synchronised when it sampled.
ALTER TABLE readings ADD COLUMN ts_quality SMALLINT NOT NULL DEFAULT 0 CHECK (ts_quality IN (0, 1, 2));

-- The time-range index stays covering (index-only scans): rebuilt with the new column among its
-- INCLUDEd ones. On a large database this is the slow part of the migration, and it holds the
-- table locked meanwhile (other servers sharing the database wait).
DROP INDEX readings_sensor_time;
CREATE INDEX readings_sensor_time ON readings (sensor, sampled_ms, id) INCLUDE (received_ms, milli_c, error, seq, ts_quality);
