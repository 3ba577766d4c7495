//! The fleet's statements, prepared once per connection. Every time is PostgreSQL's
//! (`clock_timestamp()`, not `now()`: a transaction's start may be long past); TTLs arrive as
//! seconds (`make_interval(secs => ...)`); times leave as Unix milliseconds.

use postgres::{Client, Statement};

/// Takes a client id for this server if it is free, expired or already this server's, in one
/// statement; otherwise says who holds it. $1 cid, $2 server id, $3 server name, $4 TTL (s).
/// Rows: (ours, holder name, since ms, ms until the holder's lease expires). No row: the conflicting lease was committed after this
/// statement's snapshot (a claim racing ours); asked again, it is seen.
const CLAIM: &str = "
WITH claimed AS (
    INSERT INTO fleet_presence AS p (cid, server_id, server_name, since, expires)
    VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp() + make_interval(secs => $4))
    ON CONFLICT (cid) DO UPDATE SET
        server_id = excluded.server_id,
        server_name = excluded.server_name,
        since = CASE WHEN p.server_id = excluded.server_id THEN p.since ELSE excluded.since END,
        expires = excluded.expires
    WHERE p.server_id = excluded.server_id OR p.expires <= clock_timestamp()
    RETURNING p.server_name, p.since
)
SELECT true, server_name, (extract(epoch FROM since) * 1000)::bigint, 0::bigint FROM claimed
UNION ALL
SELECT false, p.server_name, (extract(epoch FROM p.since) * 1000)::bigint,
       greatest(0, (extract(epoch FROM p.expires - clock_timestamp()) * 1000)::bigint)
FROM fleet_presence p
WHERE p.cid = $1 AND NOT EXISTS (SELECT 1 FROM claimed)";

/// Extends every lease of this server among the ones it believes it holds, in one statement, and
/// returns those it no longer holds (another server took them, or they were deleted). A lease
/// that expired but that nobody took is extended: no other server held the client meanwhile.
/// $1 server id, $2 the held cids, $3 TTL (s).
const RENEW_ALL: &str = "
WITH renewed AS (
    UPDATE fleet_presence SET expires = clock_timestamp() + make_interval(secs => $3)
    WHERE server_id = $1 AND cid = ANY($2)
    RETURNING cid
)
SELECT h FROM unnest($2::text[]) AS h EXCEPT SELECT cid FROM renewed";

/// $1 cid, $2 server id.
const RELEASE: &str = "DELETE FROM fleet_presence WHERE cid = $1 AND server_id = $2";

/// $1 server id.
const RELEASE_ALL: &str = "DELETE FROM fleet_presence WHERE server_id = $1";

const LIST: &str = "
SELECT cid, server_id, server_name, (extract(epoch FROM since) * 1000)::bigint,
       (extract(epoch FROM expires) * 1000)::bigint, expires > clock_timestamp()
FROM fleet_presence ORDER BY cid";

/// Takes a duty if it is free, expired or already this server's: a new holder gets epoch + 1
/// (1 for a duty never held), this server holding it still keeps its epoch. $1 duty, $2 server
/// id, $3 server name, $4 TTL (s). Row: the epoch; no row: another server holds it.
const ACQUIRE: &str = "
INSERT INTO fleet_duties AS d (name, holder_id, holder_name, epoch, since, expires)
VALUES ($1, $2, $3, 1, clock_timestamp(), clock_timestamp() + make_interval(secs => $4))
ON CONFLICT (name) DO UPDATE SET
    holder_id = excluded.holder_id,
    holder_name = excluded.holder_name,
    epoch = CASE WHEN d.holder_id = excluded.holder_id AND d.expires > clock_timestamp()
                 THEN d.epoch ELSE d.epoch + 1 END,
    since = CASE WHEN d.holder_id = excluded.holder_id AND d.expires > clock_timestamp()
                 THEN d.since ELSE excluded.since END,
    expires = excluded.expires
WHERE d.holder_id IS NULL OR d.holder_id = excluded.holder_id OR d.expires <= clock_timestamp()
RETURNING epoch";

/// Extends a duty held at an epoch that has not expired. $1 duty, $2 server id, $3 epoch, $4 TTL (s).
const RENEW_DUTY: &str = "
UPDATE fleet_duties SET expires = clock_timestamp() + make_interval(secs => $4)
WHERE name = $1 AND holder_id = $2 AND epoch = $3 AND expires > clock_timestamp()";

/// Gives a duty up; the row and its epoch stay. $1 duty, $2 server id, $3 epoch.
const RELEASE_DUTY: &str = "
UPDATE fleet_duties SET holder_id = NULL, holder_name = NULL, expires = clock_timestamp()
WHERE name = $1 AND holder_id = $2 AND epoch = $3";

const WHO_LEADS: &str = "
SELECT name, holder_id, holder_name, epoch, (extract(epoch FROM since) * 1000)::bigint,
       (extract(epoch FROM expires) * 1000)::bigint,
       holder_id IS NOT NULL AND expires > clock_timestamp()
FROM fleet_duties ORDER BY name";

/// The fence: the duty is still this server's at this epoch, and the row is locked (FOR SHARE)
/// until the transaction ends, so a takeover's update waits for the fenced write to commit (and
/// a check made after a takeover committed sees the new holder). $1 duty, $2 server id, $3 epoch.
pub(super) const FENCE: &str = "
SELECT 1 FROM fleet_duties
WHERE name = $1 AND holder_id = $2 AND epoch = $3 AND expires > clock_timestamp()
FOR SHARE";

/// This server's row: made at its first heartbeat, extended by each. $1 server id, $2 name, $3 TTL (s).
const HEARTBEAT: &str = "
INSERT INTO fleet_servers AS s (server_id, name, started, expires)
VALUES ($1, $2, clock_timestamp(), clock_timestamp() + make_interval(secs => $3))
ON CONFLICT (server_id) DO UPDATE SET expires = excluded.expires";

/// The servers whose heartbeat is live, with how many clients each holds, oldest first.
const SERVERS: &str = "
SELECT s.server_id, s.name, (extract(epoch FROM s.started) * 1000)::bigint,
       (SELECT count(*) FROM fleet_presence p
        WHERE p.server_id = s.server_id AND p.expires > clock_timestamp())
FROM fleet_servers s WHERE s.expires > clock_timestamp() ORDER BY s.started, s.name";

/// Rows of servers gone for an hour: a restarted server is a new row each time.
const FORGET_SERVERS: &str = "
DELETE FROM fleet_servers WHERE expires < clock_timestamp() - interval '1 hour'";

/// Stopping: the row goes at once. $1 server id.
const LEAVE: &str = "DELETE FROM fleet_servers WHERE server_id = $1";

pub(super) struct Stmts {
    pub heartbeat: Statement,
    pub servers: Statement,
    pub forget_servers: Statement,
    pub leave: Statement,
    pub claim: Statement,
    pub renew_all: Statement,
    pub release: Statement,
    pub release_all: Statement,
    pub list: Statement,
    pub acquire: Statement,
    pub renew_duty: Statement,
    pub release_duty: Statement,
    pub who_leads: Statement,
    pub fence: Statement,
}

impl Stmts {
    pub fn prepare(c: &mut Client) -> Result<Stmts, postgres::Error> {
        Ok(Stmts {
            heartbeat: c.prepare(HEARTBEAT)?,
            servers: c.prepare(SERVERS)?,
            forget_servers: c.prepare(FORGET_SERVERS)?,
            leave: c.prepare(LEAVE)?,
            claim: c.prepare(CLAIM)?,
            renew_all: c.prepare(RENEW_ALL)?,
            release: c.prepare(RELEASE)?,
            release_all: c.prepare(RELEASE_ALL)?,
            list: c.prepare(LIST)?,
            acquire: c.prepare(ACQUIRE)?,
            renew_duty: c.prepare(RENEW_DUTY)?,
            release_duty: c.prepare(RELEASE_DUTY)?,
            who_leads: c.prepare(WHO_LEADS)?,
            fence: c.prepare(FENCE)?,
        })
    }
}
