//! Presence: a lease per registered client, so that a client id is registered on one server at a
//! time, fleet-wide.

use super::{pg_err, secs, PgFleet};
use crate::fleet::FleetError;
use std::time::{Duration, Instant};

/// What [`PgFleet::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This server holds the client now (newly, or still).
    Claimed,
    /// Another server holds a live lease on the client.
    HeldBy {
        /// That server's name.
        server_name: String,
        /// Since when it holds the client (Unix ms, PostgreSQL's clock).
        since_ms: i64,
        /// How long its lease has left unless renewed: a server that asks again after this finds
        /// it renewed (its holder is alive) or takes it (its holder stopped renewing).
        expires_in: Duration,
    },
}

/// A presence lease as [`PgFleet::presence`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceLease {
    /// The client id.
    pub cid: String,
    /// The holding (or last holding) server's id.
    pub server_id: String,
    /// Its name.
    pub server_name: String,
    /// Since when it holds the client (Unix ms, PostgreSQL's clock).
    pub since_ms: i64,
    /// Until when (Unix ms, PostgreSQL's clock); past for a lease nobody renewed.
    pub expires_ms: i64,
    /// Whether the lease had not expired when listed (by PostgreSQL's clock).
    pub live: bool,
}

/// How many times a claim is asked again when the lease it conflicted with is not yet visible
/// to it (a claim by another server committed during ours): once is enough in practice.
const CLAIM_TRIES: usize = 3;

/// The holder named when every try of a claim raced another server's claim and release.
const UNKNOWN_HOLDER: &str = "another server";

impl PgFleet {
    /// Takes the lease on client `cid` for this server, unless another server holds a live one.
    /// One statement; the client joins the leases [`renew_all`](Self::renew_all) renews.
    pub fn claim(&mut self, cid: &str) -> Result<Claim, FleetError> {
        let ttl = secs(self.settings.ttl);
        let (id, name) = (self.identity.id().to_owned(), self.identity.name().to_owned());
        let started = Instant::now();
        let (client, st, location) = self.conn()?;
        let mut tries = 0;
        let claim = loop {
            let rows =
                client.query(&st.claim, &[&cid, &id, &name, &ttl]).map_err(pg_err(location, "claim"))?;
            if let Some(r) = rows.first() {
                break match r.get::<_, bool>(0) {
                    true => Claim::Claimed,
                    false => Claim::HeldBy {
                        server_name: r.get(1),
                        since_ms: r.get(2),
                        expires_in: Duration::from_millis(r.get::<_, i64>(3).max(0) as u64),
                    },
                };
            }
            tries += 1;
            if tries == CLAIM_TRIES {
                // Taken and given up again by others between each of our tries: busy, not ours.
                break Claim::HeldBy {
                    server_name: UNKNOWN_HOLDER.to_owned(),
                    since_ms: 0,
                    expires_in: Duration::ZERO,
                };
            }
        };
        if claim == Claim::Claimed {
            if self.held.is_empty() {
                self.renewed = Some(started);
            }
            self.held.insert(cid.to_owned());
        } else {
            self.held.remove(cid);
        }
        Ok(claim)
    }

    /// Renews every lease this server holds, in one statement, and returns the client ids it
    /// believed it held but no longer does (another server took them after they expired): their
    /// sessions here must end. Call it every [`renew_period`](super::FleetSettings::renew_period).
    pub fn renew_all(&mut self) -> Result<Vec<String>, FleetError> {
        if self.held.is_empty() {
            return Ok(Vec::new());
        }
        let ttl = secs(self.settings.ttl);
        let id = self.identity.id().to_owned();
        let held: Vec<String> = self.held.iter().cloned().collect();
        let started = Instant::now();
        let (client, st, location) = self.conn()?;
        let rows =
            client.query(&st.renew_all, &[&id, &held, &ttl]).map_err(pg_err(location, "renew presence"))?;
        let mut lost: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        lost.sort();
        for cid in &lost {
            self.held.remove(cid);
        }
        self.renewed = Some(started);
        Ok(lost)
    }

    /// Until when this server's presence leases hold at the least, by this machine's monotonic
    /// clock: the start of the last successful [`renew_all`](Self::renew_all) (or of the first
    /// claim) plus the TTL, as PostgreSQL extended them after that start. Past it, without a
    /// successful renewal, another server may have taken them. `None` while none is held.
    pub fn presence_valid_until(&self) -> Option<Instant> {
        match self.held.is_empty() {
            true => None,
            false => self.renewed.map(|t| t + self.settings.ttl),
        }
    }

    /// The client ids this server holds, as far as it knows.
    pub fn held(&self) -> impl Iterator<Item = &str> {
        self.held.iter().map(String::as_str)
    }

    /// Gives up the lease on `cid` (the client left this server), if this server holds it.
    pub fn release(&mut self, cid: &str) -> Result<(), FleetError> {
        self.held.remove(cid);
        let id = self.identity.id().to_owned();
        let (client, st, location) = self.conn()?;
        client.execute(&st.release, &[&cid, &id]).map_err(pg_err(location, "release presence"))?;
        Ok(())
    }

    /// Gives up every lease of this server (it is stopping): its clients may register elsewhere
    /// at once instead of after the TTL.
    pub fn release_all(&mut self) -> Result<(), FleetError> {
        self.held.clear();
        let id = self.identity.id().to_owned();
        let (client, st, location) = self.conn()?;
        client.execute(&st.release_all, &[&id]).map_err(pg_err(location, "release presence"))?;
        Ok(())
    }

    /// Every presence lease of the fleet, live or expired, by client id: the fleet view.
    pub fn presence(&mut self) -> Result<Vec<PresenceLease>, FleetError> {
        let (client, st, location) = self.conn()?;
        let rows = client.query(&st.list, &[]).map_err(pg_err(location, "list presence"))?;
        Ok(rows
            .iter()
            .map(|r| PresenceLease {
                cid: r.get(0),
                server_id: r.get(1),
                server_name: r.get(2),
                since_ms: r.get(3),
                expires_ms: r.get(4),
                live: r.get(5),
            })
            .collect())
    }
}
