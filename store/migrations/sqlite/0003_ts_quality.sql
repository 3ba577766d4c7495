-- cliser schema 3 (SQLite): where each reading's sample time came from. The PostgreSQL twin is
-- migrations/postgres/0003_ts_quality.sql: keep both in step.

-- 0 synced: `@unix_ms` from a client whose clock was synchronised (and every reading stored
--   before this column existed: the default costs no rewrite of the table);
-- 1 from_age: the server's own clock (`~age_ms` counted back from arrival, or no stamp at all);
-- 2 unsynced: `@unix_ms?`, a client clock that was not synchronised when it sampled.
-- A small integer: SQLite stores 0 and 1 in no bytes of the row.
ALTER TABLE readings ADD COLUMN ts_quality INTEGER NOT NULL DEFAULT 0 CHECK (ts_quality IN (0, 1, 2));

-- The time-range index stays covering (queries answered from the index alone): rebuilt with the
-- new column at its end. On a large database this is the slow part of the migration.
DROP INDEX readings_node_time;
CREATE INDEX readings_node_time ON readings (node, sampled_ms, sensor, id, received_ms, milli_c, error, seq, ts_quality);
