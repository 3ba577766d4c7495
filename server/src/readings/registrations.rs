//! For a database shared by several servers: a registering client's high-water mark is read from
//! the database, since another server may have stored its readings (the Pi moved here after its
//! server died). With the embedded SQLite store this server is the only writer and the sink's table
//! is the truth already, so there is no such reader.
//!
//! The query runs on a thread of its own, never under a lock a session waits on: a registration
//! asks it and waits at most [`ANSWER_WAIT`]. A query stuck on a dead or locked database then
//! delays each registration by that much, not every registration (and the stop) behind it.

use crate::readings::ack_table::AckTable;
use cliser_protocol::ClientId;
use cliser_store::Ledger;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a registration waits for the database's mark before it acks what this server knows.
/// A healthy database answers in milliseconds.
pub const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// One registration's question.
struct Ask {
    cid: ClientId,
    acks: Arc<AckTable>,
    /// Past this the registration has stopped waiting and the question is skipped.
    until: Instant,
    done: Sender<()>,
}

/// The mailbox of the thread that reads marks through its own store connection.
pub struct Registrations(Sender<Ask>);

impl std::fmt::Debug for Registrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registrations(..)")
    }
}

impl Registrations {
    /// Starts the thread that reads marks through `store`. It ends when this is dropped and its
    /// query in flight (if any) returns; nothing joins it, so a stop never waits for the database.
    pub fn new(store: Box<dyn Ledger>) -> std::io::Result<Self> {
        let (tx, rx) = channel();
        std::thread::Builder::new().name("registrations".into()).spawn(move || answer(store, rx))?;
        Ok(Registrations(tx))
    }

    /// Raises `cid`'s mark in `acks` to what the database holds, waiting at most [`ANSWER_WAIT`].
    /// If the database cannot be asked in time, the table's own mark stands: a lower ack only
    /// makes the client resend what the database then drops as already stored.
    pub fn refresh(&self, cid: &ClientId, acks: &Arc<AckTable>) {
        let (done, answered) = channel();
        let ask = Ask { cid: cid.clone(), acks: acks.clone(), until: Instant::now() + ANSWER_WAIT, done };
        if self.0.send(ask).is_err() {
            log::warn!("cid={cid}: the high-water reader has stopped; acking what this server knows");
            return;
        }
        if answered.recv_timeout(ANSWER_WAIT).is_err() {
            log::warn!(
                "cid={cid}: the store did not give its high-water mark within {ANSWER_WAIT:?}; acking what this server knows"
            );
        }
    }
}

/// The thread: one question at a time, skipping those nobody waits for any more.
fn answer(mut store: Box<dyn Ledger>, asks: Receiver<Ask>) {
    for ask in asks {
        if Instant::now() >= ask.until {
            continue;
        }
        let cid = &ask.cid;
        match store.high_water(cid) {
            // Raised even when the registration stopped waiting meanwhile: a stored mark is true.
            Ok(Some(stored)) => ask.acks.raise(cid, stored),
            Ok(None) => {}
            Err(e) => log::warn!("cid={cid}: cannot read its high-water mark from the store ({e}); acking what this server knows"),
        }
        let _ = ask.done.send(());
    }
}
