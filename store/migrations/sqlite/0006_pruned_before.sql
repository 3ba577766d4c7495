-- cliser schema 6 (SQLite): what retention pruned, per client. The PostgreSQL twin is
-- migrations/postgres/0006_pruned_before.sql: keep both in step.

-- Just after the sample time of the newest raw reading of this client that pruning deleted (NULL:
-- none deleted since this column exists). A pruned reading no longer holds its (client, seq) key,
-- so a commit refuses a reading sampled before this mark whose seq is at or below the high-water
-- mark (or that has no seq): it may have been stored, counted in the rollups, and pruned. Without
-- a default: adding it rewrites no row.
ALTER TABLE nodes ADD COLUMN pruned_before_ms INTEGER;
