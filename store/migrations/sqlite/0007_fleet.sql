-- cliser schema 7 (SQLite). The PostgreSQL twin, migrations/postgres/0007_fleet.sql, also adds
-- the fleet's lease tables; an SQLite store has one server, which does every duty itself.
--
-- An alert event to be delivered (to the command and the webhook) is kept as such until every
-- target has taken it: 0 nothing to deliver (a silence held it, or it is history only), 1 pending,
-- 2 delivered. A server that takes the alerts duty over delivers what is still pending, again,
-- under the same transition id (the event's id).
ALTER TABLE alert_events ADD COLUMN delivery INTEGER NOT NULL DEFAULT 0;
CREATE INDEX alert_events_pending ON alert_events (id) WHERE delivery = 1;
