//! Coordination of several servers sharing one PostgreSQL store (issue 26): presence (which
//! server a client is registered on, fleet-wide) and duties that run on one server at a time,
//! with a fencing epoch that every write of a duty is checked against. docs/FLEET.md tells the
//! whole story; in short:
//!
//! - Leases are rows with an expiry on PostgreSQL's clock (`clock_timestamp() + TTL`), never
//!   advisory locks: a lock stays with a pooled or half-open connection its holder no longer
//!   uses, taking it again stacks it, and it carries no fencing token. Servers' clocks never
//!   matter; only the TTL (a length) travels.
//! - A server is a [`ServerIdentity`]: a random id per process start and a name for people.
//! - [`PgFleet`] is one connection of its own (opened from the store's URL) with short statement
//!   and idle-in-transaction timeouts and TCP keepalives, so a half-open connection cannot hold a
//!   row lock for long. Open one per thread that needs one; it reconnects on the next call after
//!   the connection was lost.
//!
//! SQLite has none of this: one server, which does every duty itself.

mod conn;
mod duties;
mod error;
mod identity;
mod news;
mod presence;
mod servers;
mod stmts;

pub use duties::{DutyLease, Epoch, Fence};
pub use error::FleetError;
pub use identity::ServerIdentity;
pub use news::{Heard, News, NewsBatch, CHANNEL as NEWS_CHANNEL};
pub use presence::{Claim, PresenceLease};
pub use servers::FleetServer;

use crate::redacted;
use postgres::{Client, Config};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use stmts::Stmts;

/// The timing of a fleet's leases. All servers of a fleet should use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetSettings {
    /// How long a lease lasts after its last renewal, on PostgreSQL's clock. Renew every
    /// [`renew_period`](Self::renew_period). Default 8 s: a dead server's leases expire at
    /// most 8 s after its last successful renewal, so within 10 s of its death.
    pub ttl: Duration,
    /// The lease connection's `statement_timeout`: a statement that waits longer (for a row lock
    /// held by a stuck session, say) is cancelled by PostgreSQL. Default 2 s.
    pub statement_timeout: Duration,
    /// The lease connection's `idle_in_transaction_session_timeout`: a session that holds a
    /// transaction open without a statement running (a paused or partitioned server in the
    /// middle of a fenced write) is ended by PostgreSQL, releasing its row locks. Default 2 s.
    pub idle_in_transaction_timeout: Duration,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            ttl: Duration::from_secs(8),
            statement_timeout: Duration::from_secs(2),
            idle_in_transaction_timeout: Duration::from_secs(2),
        }
    }
}

impl FleetSettings {
    /// How often to renew: a quarter of the TTL, so three renewals in a row may fail (a slow
    /// statement, a reconnect) before a lease expires.
    pub fn renew_period(&self) -> Duration {
        self.ttl / 4
    }
}

/// One server's connection for fleet leases on a PostgreSQL store; see the module docs.
///
/// The presence leases it [`claim`](Self::claim)s are remembered in it and renewed together by
/// [`renew_all`](Self::renew_all): claim, renew and release a server's clients on one `PgFleet`.
pub struct PgFleet {
    config: Config,
    location: String,
    identity: ServerIdentity,
    settings: FleetSettings,
    conn: Option<(Client, Stmts)>,
    /// The client ids this server holds as far as it knows (claimed, not released, not lost).
    held: BTreeSet<String>,
    /// When the last successful [`renew_all`](Self::renew_all) (or the first claim) started.
    renewed: Option<Instant>,
    /// Whether this connection listens to the fleet's news (again after a reconnection).
    listening: bool,
}

impl std::fmt::Debug for PgFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgFleet")
            .field("location", &self.location)
            .field("server", &self.identity)
            .finish_non_exhaustive()
    }
}

impl PgFleet {
    /// Connects to the store at `url` (`postgres://...`, the same URL as the store's) as
    /// `identity`, and creates or migrates the schema if needed (as opening the store does).
    pub fn connect(
        url: &str,
        identity: ServerIdentity,
        settings: FleetSettings,
    ) -> Result<PgFleet, FleetError> {
        let location = redacted(url);
        let config = conn::config(url, &location, identity.name(), &settings)?;
        let mut fleet = PgFleet {
            config,
            location,
            identity,
            settings,
            conn: None,
            held: BTreeSet::new(),
            renewed: None,
            listening: false,
        };
        fleet.conn()?;
        Ok(fleet)
    }

    /// Who this server is.
    pub fn identity(&self) -> &ServerIdentity {
        &self.identity
    }

    /// The lease timing.
    pub fn settings(&self) -> &FleetSettings {
        &self.settings
    }

    /// The store's URL, password elided.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The connection and its statements, made anew if there is none or the last one was lost.
    fn conn(&mut self) -> Result<(&mut Client, &Stmts, &str), FleetError> {
        if self.conn.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let mut client =
                self.config.connect(postgres::NoTls).map_err(pg_err(&self.location, "connect"))?;
            crate::pg::migrate::migrate(&mut client, &self.location)?;
            let st = Stmts::prepare(&mut client).map_err(pg_err(&self.location, "prepare statements"))?;
            if self.listening {
                let listen = format!("LISTEN {}", news::CHANNEL);
                client.batch_execute(&listen).map_err(pg_err(&self.location, "listen"))?;
            }
            self.conn = Some((client, st));
        }
        let (client, st) = self.conn.as_mut().expect("connected above");
        Ok((client, st, &self.location))
    }
}

/// Wraps a PostgreSQL error of `op` at `location`.
fn pg_err<'a>(location: &'a str, op: &'static str) -> impl Fn(postgres::Error) -> FleetError + 'a {
    move |source| FleetError::Postgres { url: location.to_owned(), op, source }
}

/// The TTL as PostgreSQL's `make_interval(secs => ...)` takes it.
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
