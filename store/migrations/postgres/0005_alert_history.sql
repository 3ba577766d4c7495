-- cliser schema 5 (PostgreSQL): the alert history, acknowledgements, silences, forgetting, and the
-- admin changes running servers act on. The SQLite twin is
-- migrations/sqlite/0005_alert_history.sql: keep both in step.

-- Who acknowledged a firing alert, with their note and when. Re-firing keeps them (alert_fire does
-- not set these columns); resolving deletes the row and them with it. Nullable columns without a
-- default: adding them rewrites no row.
ALTER TABLE alerts ADD COLUMN ack_by TEXT, ADD COLUMN ack_note TEXT, ADD COLUMN ack_ms BIGINT;

-- When a person forgot the node or sensor: it is listed no more until a reading of it is stored
-- again (a commit sets it back to NULL, in the update it makes anyway: no index covers the column,
-- so the update stays HOT). The rows stay: the high-water mark must outlive them.
ALTER TABLE nodes ADD COLUMN forgotten_ms BIGINT;
ALTER TABLE sensors ADD COLUMN forgotten_ms BIGINT;

-- Every transition of an alert and what people did to one, read newest first; pruned by age like
-- the raw readings. event: fired, resolved, acknowledged, silenced, unsilenced or forgotten;
-- sensor '' for a node's alert; by_who and note for what a person did. Text compared bytewise
-- ("C"), as SQLite does.
CREATE TABLE alert_events (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    event TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    cid TEXT COLLATE "C" NOT NULL,
    sensor TEXT COLLATE "C" NOT NULL,
    name TEXT,
    since_ms BIGINT NOT NULL,
    value DOUBLE PRECISION,
    message TEXT NOT NULL,
    by_who TEXT,
    note TEXT
);
-- Newest first over everything, and over one client (the page's history of a node).
CREATE INDEX alert_events_time ON alert_events (at_ms, id);
CREATE INDEX alert_events_cid_time ON alert_events (cid, at_ms, id);

-- Silences, as Alertmanager's: matchers (`*` for any) and a time span; ended_ms when someone ended
-- one early. Few rows, kept: the page lists those over recently.
CREATE TABLE silences (
    id BIGSERIAL PRIMARY KEY,
    cid TEXT COLLATE "C" NOT NULL,
    sensor TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    starts_ms BIGINT NOT NULL,
    ends_ms BIGINT NOT NULL,
    by_who TEXT NOT NULL,
    comment TEXT NOT NULL,
    ended_ms BIGINT
);

-- What people changed that every server sharing the database must act on, read in id order about
-- once a second by each server's alerts thread. what: acked (kind, cid, sensor), silences (read
-- them again) or forgot (cid, and sensor or NULL for the whole node). A sequence never gives an id
-- twice, so a server's place (the last id it read) stays right after pruning; writers lock the
-- table (SHARE ROW EXCLUSIVE, which readers do not wait for) before inserting, so ids become
-- visible in id order and a reader never skips one committed late. Few rows: no index but the id.
CREATE TABLE admin_changes (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    what TEXT COLLATE "C" NOT NULL CHECK (what IN ('acked', 'silences', 'forgot')),
    kind TEXT COLLATE "C",
    cid TEXT COLLATE "C",
    sensor TEXT COLLATE "C"
);
