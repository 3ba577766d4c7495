-- cliser schema 5 (SQLite): the alert history, acknowledgements, silences, forgetting, and the
-- admin changes running servers act on. The PostgreSQL twin is
-- migrations/postgres/0005_alert_history.sql: keep both in step.

-- Who acknowledged a firing alert, with their note and when. Re-firing keeps them (alert_fire does
-- not set these columns); resolving deletes the row and them with it.
ALTER TABLE alerts ADD COLUMN ack_by TEXT;
ALTER TABLE alerts ADD COLUMN ack_note TEXT;
ALTER TABLE alerts ADD COLUMN ack_ms INTEGER;

-- When a person forgot the node or sensor: it is listed no more until a reading of it is stored
-- again (a commit sets it back to NULL). The rows stay: the high-water mark must outlive them.
ALTER TABLE nodes ADD COLUMN forgotten_ms INTEGER;
ALTER TABLE sensors ADD COLUMN forgotten_ms INTEGER;

-- Every transition of an alert and what people did to one, read newest first; pruned by age like
-- the raw readings. AUTOINCREMENT: an id is never given twice, even after pruning.
-- event: fired, resolved, acknowledged, silenced, unsilenced or forgotten; sensor '' for a node's
-- alert; by_who and note for what a person did.
CREATE TABLE alert_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    event TEXT NOT NULL,
    kind TEXT NOT NULL,
    cid TEXT NOT NULL,
    sensor TEXT NOT NULL,
    name TEXT,
    since_ms INTEGER NOT NULL,
    value REAL,
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cid TEXT NOT NULL,
    sensor TEXT NOT NULL,
    kind TEXT NOT NULL,
    starts_ms INTEGER NOT NULL,
    ends_ms INTEGER NOT NULL,
    by_who TEXT NOT NULL,
    comment TEXT NOT NULL,
    ended_ms INTEGER
);

-- What people changed that every server sharing the database must act on, read in id order about
-- once a second by each server's alerts thread. what: acked (kind, cid, sensor), silences (read
-- them again) or forgot (cid, and sensor or NULL for the whole node). AUTOINCREMENT: a server's
-- place (the last id it read) never sees an id given again after pruning. Few rows: no index but
-- the id.
CREATE TABLE admin_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    what TEXT NOT NULL CHECK (what IN ('acked', 'silences', 'forgot')),
    kind TEXT,
    cid TEXT,
    sensor TEXT
);
