use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// Who a server is in the fleet: a random id made at each process start, which the leases carry,
/// and a name for people (`host:port` or a configured name).
///
/// The id is new at every start, so a restarted server does not inherit the leases of the
/// process it replaces (that one may still be running, paused or partitioned): they expire, or
/// the new process claims them like any other server would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    id: String,
    name: String,
}

impl ServerIdentity {
    /// A new identity named `name`, with a fresh random id.
    pub fn new(name: impl Into<String>) -> ServerIdentity {
        ServerIdentity { id: random_id(), name: name.into() }
    }

    /// The random id (32 hex digits), unique per process start.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name shown to people.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// 128 random bits from the standard library's per-process random hash keys (seeded from the
/// operating system), mixed with the time and the process id: no dependency for one id per start.
fn random_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let half = |salt: u64| {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}
