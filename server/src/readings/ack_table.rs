//! The ack table: the highest seq stored per client id, which every ack the server sends is read
//! from. The sink raises it after each commit; registrations raise it with what a shared database
//! holds.

use cliser_protocol::ClientId;
use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard};

/// The highest seq written per client id: the one source of every ack. Only the sink writes it, and
/// only after the store committed the readings and they are logged; a registration reads it for
/// its 140, a session when it polls. Shared memory rather than a message per batch: nothing waits
/// for it in the common case, and waking the session for every answer would cost a thread switch
/// per reading. It is also the sink's dedupe state, so what is acked and what is deduped against
/// cannot drift apart.
#[derive(Debug, Default)]
pub struct AckTable(RwLock<HashMap<ClientId, u64>>);

impl AckTable {
    /// A table holding `marks` (read from the store at start).
    pub fn new(marks: HashMap<ClientId, u64>) -> Self {
        AckTable(RwLock::new(marks))
    }

    /// Raises `cid`'s mark to `stored`, a high-water mark just read from the store: true by
    /// construction, so raising it (never lowering) keeps every ack truthful. This is how a server
    /// sharing its database learns what another server stored for a client that moved to it.
    pub fn raise(&self, cid: &ClientId, stored: u64) {
        let mut table = self.0.write().unwrap_or_else(|e| e.into_inner());
        let hw = table.entry(cid.clone()).or_insert(stored);
        *hw = (*hw).max(stored);
    }

    /// The highest seq written for `cid`, if any.
    pub fn get(&self, cid: &ClientId) -> Option<u64> {
        self.read().get(cid).copied()
    }

    /// The table, read-locked: for a lookup per batch of a whole group under one lock.
    pub(super) fn read(&self) -> RwLockReadGuard<'_, HashMap<ClientId, u64>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Raises the marks of a group that is now committed (the sink, once the store committed it).
    pub(super) fn publish(&self, written: HashMap<ClientId, u64>) {
        let mut table = self.0.write().unwrap_or_else(|e| e.into_inner());
        for (cid, seq) in written {
            let hw = table.entry(cid).or_insert(seq);
            *hw = (*hw).max(seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(s: &str) -> ClientId {
        ClientId::new(s).unwrap()
    }

    #[test]
    fn marks_are_raised_and_never_lowered() {
        let table = AckTable::new(HashMap::from([(cid("a"), 5)]));
        table.raise(&cid("a"), 3);
        table.publish(HashMap::from([(cid("a"), 4), (cid("b"), 2)]));
        assert_eq!((table.get(&cid("a")), table.get(&cid("b"))), (Some(5), Some(2)));
        table.raise(&cid("b"), 9);
        table.publish(HashMap::from([(cid("a"), 6)]));
        assert_eq!(
            (table.get(&cid("a")), table.get(&cid("b")), table.get(&cid("c"))),
            (Some(6), Some(9), None)
        );
    }
}
