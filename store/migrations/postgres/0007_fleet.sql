-- cliser schema 7 (PostgreSQL): the fleet's leases, for several servers sharing this database
-- (store/src/fleet, docs/FLEET.md). The SQLite twin, migrations/sqlite/0007_fleet.sql, adds
-- nothing: an SQLite store has one server, which does every duty itself.
--
-- Leases are rows, not advisory locks: a lock stays with a pooled or half-open connection its
-- holder no longer uses, taking it again stacks it, and it carries no fencing token. A row's
-- expiry is on PostgreSQL's clock (clock_timestamp() + TTL), so no server's clock matters.

-- Presence: which server a client is registered on, fleet-wide. One row per client id, kept
-- after it expires (it then says who held the client last, and until when).
CREATE TABLE fleet_presence (
    cid TEXT PRIMARY KEY,
    -- The holding server's random per-process id; its name (host:port or configured) for display.
    server_id TEXT NOT NULL,
    server_name TEXT NOT NULL,
    -- When this server took the client (kept across renewals), and until when it holds it.
    since TIMESTAMPTZ NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);
-- Each server renews all its rows in one statement.
CREATE INDEX fleet_presence_server ON fleet_presence (server_id);

-- Duties that run on one server at a time (alerts, exporters, retention). The row stays when a
-- holder releases it (holder NULL), so its epoch only ever grows: every new holder gets epoch + 1,
-- and a write fenced with an older epoch is refused.
CREATE TABLE fleet_duties (
    name TEXT PRIMARY KEY,
    holder_id TEXT,
    holder_name TEXT,
    epoch BIGINT NOT NULL,
    since TIMESTAMPTZ NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);

-- The servers of the fleet: each renews its row with its presence leases, so the fleet view lists
-- the live servers, those without clients too. A row whose expiry passed is a server gone.
CREATE TABLE fleet_servers (
    server_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    started TIMESTAMPTZ NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);

-- An alert event to be delivered (to the command and the webhook) is kept as such until every
-- target has taken it: 0 nothing to deliver (a silence held it, or it is history only), 1 pending,
-- 2 delivered. The server that takes the alerts duty over delivers what is still pending, again,
-- under the same transition id (the event's id).
ALTER TABLE alert_events ADD COLUMN delivery SMALLINT NOT NULL DEFAULT 0;
CREATE INDEX alert_events_pending ON alert_events (id) WHERE delivery = 1;
