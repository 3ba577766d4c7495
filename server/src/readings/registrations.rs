//! For a database shared by several servers: a registering client's high-water mark is read from
//! the database, since another server may have stored its readings (the Pi moved here after its
//! server died). With the embedded SQLite store this server is the only writer and the sink's table
//! is the truth already, so there is no such reader.

use crate::readings::sink::AckTable;
use cliser_protocol::ClientId;
use cliser_store::Store;
use std::sync::Mutex;

/// A store connection for registrations; one at a time (a handshake waits a moment, no poll does).
pub struct Registrations(Mutex<Box<dyn Store>>);

impl std::fmt::Debug for Registrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registrations(..)")
    }
}

impl Registrations {
    /// Reads marks through `store`.
    pub fn new(store: Box<dyn Store>) -> Self {
        Registrations(Mutex::new(store))
    }

    /// Raises `cid`'s mark in `acks` to what the database holds. If the database cannot be asked,
    /// the table's own mark stands: a lower ack only makes the client resend what the database then
    /// drops as already stored.
    pub fn refresh(&self, cid: &ClientId, acks: &AckTable) {
        let mut store = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match store.high_water(cid) {
            Ok(Some(stored)) => acks.raise(cid, stored),
            Ok(None) => {}
            Err(e) => log::warn!("cid={cid}: cannot read its high-water mark from the store ({e}); acking what this server knows"),
        }
    }
}
