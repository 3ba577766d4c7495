use super::Epoch;
use crate::StoreError;
use postgres::error::SqlState;

/// Why a fleet lease operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Opening the lease connection failed before it could be used: a URL that is not
    /// understood, or the schema could not be checked or migrated (see [`StoreError`]).
    #[error(transparent)]
    Store(#[from] StoreError),

    /// PostgreSQL failed or could not be reached; `op` says what was being done. The connection
    /// is made anew on the next call if it was lost.
    #[error("PostgreSQL at {url}: {op}: {}", crate::error::pg_detail(source))]
    Postgres {
        /// The URL, password elided.
        url: String,
        /// What was being done, e.g. `renew presence`.
        op: &'static str,
        /// The client's error.
        #[source]
        source: postgres::Error,
    },

    /// A fenced write was refused: this server no longer holds `duty` at `epoch` (another server
    /// took it, or its lease expired). Nothing of the write was kept. The duty must stop; it may
    /// [`acquire`](super::PgFleet::acquire_duty) the duty again, with a new epoch.
    #[error("duty {duty:?}: lease lost (epoch {epoch} is no longer this server's); the write was not made")]
    Fenced {
        /// The duty.
        duty: String,
        /// The epoch the write was made under.
        epoch: Epoch,
    },
}

impl FleetError {
    /// Whether trying again later may succeed: PostgreSQL unreachable, the connection lost or
    /// terminated, a statement timed out, a deadlock or serialization failure. Not transient: a
    /// bad URL, a database that is not cliser's, a [`Fenced`](Self::Fenced) write (trying the
    /// same epoch again is refused again).
    pub fn is_transient(&self) -> bool {
        match self {
            FleetError::Store(StoreError::Postgres { source, .. }) => pg_transient(source),
            FleetError::Store(_) => false,
            FleetError::Postgres { source, .. } => pg_transient(source),
            FleetError::Fenced { .. } => false,
        }
    }
}

/// A PostgreSQL error that may go away by itself: the connection (class 08), a transaction
/// rolled back for a concurrent one (40), resources (53), an operator or a timeout (57:
/// `pg_terminate_backend`, shutdown, statement timeout), a lock not available (55P03), an idle
/// transaction's timeout (25P03), or no answer from the server at all (I/O, closed).
pub(crate) fn pg_transient(e: &postgres::Error) -> bool {
    let Some(code) = e.code() else {
        // Not an error the server sent: I/O, a closed connection, a timeout connecting. A URL
        // that does not parse never gets here (it is a StoreError).
        return true;
    };
    let c = code.code();
    c.starts_with("08")
        || c.starts_with("40")
        || c.starts_with("53")
        || c.starts_with("57")
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
}
