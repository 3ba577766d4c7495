//! The servers of the fleet: each keeps a row alive with a heartbeat, so the fleet view lists the
//! servers that run, with or without clients.

use super::{pg_err, secs, PgFleet};
use crate::fleet::FleetError;

/// A live server as [`PgFleet::servers`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetServer {
    /// Its random per-process id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it started (its first heartbeat; Unix ms, PostgreSQL's clock).
    pub started_ms: i64,
    /// How many clients it holds a live lease on.
    pub clients: i64,
}

impl PgFleet {
    /// Says this server is alive for another TTL (call it every renew period), and forgets the
    /// rows of servers gone for an hour.
    pub fn heartbeat(&mut self) -> Result<(), FleetError> {
        let ttl = secs(self.settings.ttl);
        let (id, name) = (self.identity.id().to_owned(), self.identity.name().to_owned());
        let (client, st, location) = self.conn()?;
        client.execute(&st.heartbeat, &[&id, &name, &ttl]).map_err(pg_err(location, "heartbeat"))?;
        client.execute(&st.forget_servers, &[]).map_err(pg_err(location, "forget old servers"))?;
        Ok(())
    }

    /// Removes this server's row (it is stopping).
    pub fn leave(&mut self) -> Result<(), FleetError> {
        let id = self.identity.id().to_owned();
        let (client, st, location) = self.conn()?;
        client.execute(&st.leave, &[&id]).map_err(pg_err(location, "leave the fleet"))?;
        Ok(())
    }

    /// The live servers, oldest first.
    pub fn servers(&mut self) -> Result<Vec<FleetServer>, FleetError> {
        let (client, st, location) = self.conn()?;
        let rows = client.query(&st.servers, &[]).map_err(pg_err(location, "list servers"))?;
        Ok(rows
            .iter()
            .map(|r| FleetServer { id: r.get(0), name: r.get(1), started_ms: r.get(2), clients: r.get(3) })
            .collect())
    }
}
