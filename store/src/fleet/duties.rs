//! Duties that run on one server at a time, and the fence every write of a duty goes through.

use super::{pg_err, secs, stmts, PgFleet};
use crate::fleet::FleetError;

/// A duty's fencing epoch: it grows by one with every new holder and never goes back, so a
/// write made under an older epoch is recognisably stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub i64);

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A duty as [`PgFleet::who_leads`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutyLease {
    /// The duty's name, e.g. `alerts`.
    pub duty: String,
    /// The holding server's id; `None` once released.
    pub holder_id: Option<String>,
    /// The holding server's name; `None` once released.
    pub holder_name: Option<String>,
    /// The epoch of the current (or last) holder.
    pub epoch: Epoch,
    /// Since when the holder holds it (Unix ms, PostgreSQL's clock).
    pub since_ms: i64,
    /// Until when (Unix ms, PostgreSQL's clock).
    pub expires_ms: i64,
    /// Whether a server held it when listed (by PostgreSQL's clock).
    pub live: bool,
}

/// What a write of a duty is checked against: the duty, its holder (this server) and the epoch
/// it acquired. Made by [`PgFleet::fence`]; `Clone` and `Send`, so that the threads doing the
/// duty's work can carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    duty: String,
    holder_id: String,
    epoch: Epoch,
}

impl Fence {
    /// The duty.
    pub fn duty(&self) -> &str {
        &self.duty
    }

    /// The epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Checks, as the first statement of `tx`, that the duty is still held at this epoch and
    /// locks its row (`FOR SHARE`) until `tx` ends: a takeover then waits until `tx` commits or
    /// rolls back, and a check after a takeover committed fails. `Ok(false)`: lost; the caller
    /// must roll `tx` back (drop it) and stop the duty. [`PgFleet::fenced`] does all this; this
    /// is for a transaction on another connection (e.g. the store's own, for its fenced writes).
    pub fn check(&self, tx: &mut postgres::Transaction<'_>) -> Result<bool, postgres::Error> {
        Ok(!tx.query(stmts::FENCE, &[&self.duty, &self.holder_id, &self.epoch.0])?.is_empty())
    }

    fn fenced(&self) -> FleetError {
        FleetError::Fenced { duty: self.duty.clone(), epoch: self.epoch }
    }
}

impl PgFleet {
    /// Takes `duty` for this server if nobody holds it or its holder's lease expired, with a new
    /// epoch (one more than the last holder's); if this server holds it still, renews it and
    /// keeps its epoch. `None`: another server holds it.
    pub fn acquire_duty(&mut self, duty: &str) -> Result<Option<Epoch>, FleetError> {
        let ttl = secs(self.settings.ttl);
        let (id, name) = (self.identity.id().to_owned(), self.identity.name().to_owned());
        let (client, st, location) = self.conn()?;
        let row = client
            .query_opt(&st.acquire, &[&duty, &id, &name, &ttl])
            .map_err(pg_err(location, "acquire duty"))?;
        Ok(row.map(|r| Epoch(r.get(0))))
    }

    /// Extends `duty` held at `epoch` by a TTL. `false`: lost (another server took it, or it
    /// expired): the duty must stop at once; it may be acquired again (with a new epoch).
    pub fn renew_duty(&mut self, duty: &str, epoch: Epoch) -> Result<bool, FleetError> {
        let ttl = secs(self.settings.ttl);
        let id = self.identity.id().to_owned();
        let (client, st, location) = self.conn()?;
        let n = client
            .execute(&st.renew_duty, &[&duty, &id, &epoch.0, &ttl])
            .map_err(pg_err(location, "renew duty"))?;
        Ok(n == 1)
    }

    /// Gives `duty` up (this server is stopping, or hands it over): another server may take it
    /// at once, with the next epoch.
    pub fn release_duty(&mut self, duty: &str, epoch: Epoch) -> Result<(), FleetError> {
        let id = self.identity.id().to_owned();
        let (client, st, location) = self.conn()?;
        client
            .execute(&st.release_duty, &[&duty, &id, &epoch.0])
            .map_err(pg_err(location, "release duty"))?;
        Ok(())
    }

    /// Every duty, its holder (if live or not released), epoch and expiry: who leads what, for
    /// `/api/fleet` and the console.
    pub fn who_leads(&mut self) -> Result<Vec<DutyLease>, FleetError> {
        let (client, st, location) = self.conn()?;
        let rows = client.query(&st.who_leads, &[]).map_err(pg_err(location, "list duties"))?;
        Ok(rows
            .iter()
            .map(|r| DutyLease {
                duty: r.get(0),
                holder_id: r.get(1),
                holder_name: r.get(2),
                epoch: Epoch(r.get(3)),
                since_ms: r.get(4),
                expires_ms: r.get(5),
                live: r.get(6),
            })
            .collect())
    }

    /// The fence for this server's writes as holder of `duty` at `epoch`.
    pub fn fence(&self, duty: &str, epoch: Epoch) -> Fence {
        Fence { duty: duty.to_owned(), holder_id: self.identity.id().to_owned(), epoch }
    }

    /// Runs `write` (the duty's statements) in one transaction that first checks `fence`: the
    /// duty is still this server's at its epoch and unexpired, and its row stays locked until
    /// the commit, so a takeover waits for the write or the write is refused — never both.
    /// `Err(Fenced)`: refused, nothing written. An error inside `write` rolls everything back.
    ///
    /// Keep `write` to a few short statements: each is bounded by the statement timeout, each
    /// pause between them by the idle-in-transaction timeout ([`FleetSettings`](super::FleetSettings)),
    /// and a takeover waits for all of it. A transient error at the commit leaves it unknown
    /// whether the write was made: make duty writes idempotent (a cursor set, a delete).
    pub fn fenced<T>(
        &mut self,
        fence: &Fence,
        write: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, FleetError> {
        let (client, st, location) = self.conn()?;
        let err = pg_err(location, "fenced write");
        let mut tx = client.transaction().map_err(&err)?;
        let held = tx.query(&st.fence, &[&fence.duty, &fence.holder_id, &fence.epoch.0]).map_err(&err)?;
        if held.is_empty() {
            return Err(fence.fenced()); // `tx` rolls back as it drops
        }
        let out = write(&mut tx).map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(out)
    }
}
