-- cliser schema 9 (PostgreSQL): nothing. The SQLite twin, migrations/sqlite/0009_ts_quality_check.sql,
-- rewrites its readings.ts_quality check without IN, which SQLite evaluates through a temporary
-- b-tree per row; PostgreSQL evaluates `IN (0, 1, 2)` as cheaply as any other expression.
SELECT 1;
