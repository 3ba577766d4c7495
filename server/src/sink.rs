//! The readings sink thread: logs every reading once (and appends it to the CSV ledger), then
//! publishes the highest seq written per client id in the [`AckTable`]. Every ack the server sends is
//! read from that table, so an ack never runs ahead of the log.

use crate::csv_ledger::{csv_line, CsvLedger};
use crate::duplicates::{AnswerTally, DuplicateWatch};
use cliser_protocol::{ClientId, Reading, Value};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The highest seq written per client id: the one source of every ack. Only the sink writes it, and
/// only after the ledger write succeeded and the readings are logged; a registration reads it for
/// its 140, a session when it polls. Shared memory rather than a message per batch: nothing waits
/// for it in the common case, and waking the session for every answer would cost a thread switch
/// per reading. It is also the sink's dedupe state, so what is acked and what is deduped against
/// cannot drift apart.
#[derive(Debug, Default)]
pub struct AckTable(RwLock<HashMap<ClientId, u64>>);

impl AckTable {
    /// The highest seq written for `cid`, if any.
    pub fn get(&self, cid: &ClientId) -> Option<u64> {
        self.read().get(cid).copied()
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<ClientId, u64>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Raises the marks of a group that is now written and logged.
    fn publish(&self, written: HashMap<&ClientId, u64>) {
        let mut table = self.0.write().unwrap_or_else(|e| e.into_inner());
        for (cid, seq) in written {
            match table.get_mut(cid) {
                Some(hw) => *hw = seq,
                None => {
                    table.insert(cid.clone(), seq);
                }
            }
        }
    }
}

/// A batch is written (or its write failed and the clients will resend it): a session that waits
/// to poll again (`more`) may now read the [`AckTable`]. The sink knows nothing of its senders'
/// mailboxes: a batch names a sender of any type that can carry this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed;

/// Readings from one keep-alive answer, as they arrive in the sink's mailbox; `W` is the type of the
/// mailbox that wants [`Flushed`].
#[derive(Debug)]
pub struct Batch<W> {
    /// Whose.
    pub cid: ClientId,
    /// The readings, in line order.
    pub readings: Vec<Reading>,
    /// When the line arrived (the time stamp of readings without `@`).
    pub received: SystemTime,
    /// Where to send [`Flushed`] once the batch is handled, if anyone waits for it.
    pub wake: Option<Sender<W>>,
}

/// At most this many batches are written with one sync of the ledger ...
const GROUP: usize = 512;
/// ... gathered for at most this long after the first.
const GROUP_WINDOW: Duration = Duration::from_millis(2);

/// The sink's state; [`Sink::run`] is the thread's body.
pub struct Sink {
    acks: Arc<AckTable>,
    ledger: Option<CsvLedger>,
    duplicates: DuplicateWatch,
}

struct Accepted {
    cid: ClientId,
    reading: Reading,
    ts: String,
}

impl Sink {
    /// A sink with the high-water marks recovered from the ledger, if any.
    pub fn new(ledger: Option<CsvLedger>, high_water: HashMap<ClientId, u64>) -> Self {
        Sink {
            acks: Arc::new(AckTable(RwLock::new(high_water))),
            ledger,
            duplicates: DuplicateWatch::default(),
        }
    }

    /// The table this sink publishes to, for the readers of acks.
    pub fn acks(&self) -> Arc<AckTable> {
        self.acks.clone()
    }

    /// Handles messages until every sender is gone.
    pub fn run<W: From<Flushed>>(mut self, mailbox: Receiver<Batch<W>>) {
        while let Ok(first) = mailbox.recv() {
            // Group commit: answers that arrive within a moment of each other share one fdatasync.
            // Nobody waits on this but a `more` poll; the ack itself goes out on the next poll.
            let mut group = vec![first];
            let until = std::time::Instant::now() + GROUP_WINDOW;
            while group.len() < GROUP {
                let left = until.saturating_duration_since(std::time::Instant::now());
                let next =
                    if left.is_zero() { mailbox.try_recv().ok() } else { mailbox.recv_timeout(left).ok() };
                match next {
                    Some(msg) => group.push(msg),
                    None => break,
                }
            }
            self.handle_group(group);
        }
    }

    /// Writes a group of batches with one ledger sync, then logs, publishes the new marks, and wakes
    /// whoever waits. If the ledger cannot be written, nothing of the group is logged or acknowledged:
    /// the clients keep and resend it.
    pub fn handle_group<W: From<Flushed>>(&mut self, group: Vec<Batch<W>>) {
        let mut tentative: HashMap<&ClientId, u64> = HashMap::new();
        let mut accepted = Vec::new();
        // Only this thread writes the table, so what it reads here stays true until it publishes.
        let written = self.acks.read();
        let mut tallies = Vec::with_capacity(group.len());
        for Batch { cid, readings, received, .. } in &group {
            let mut tally = AnswerTally::default();
            for r in readings {
                if let Some(seq) = r.seq {
                    let hw = tentative.get(cid).or(written.get(cid)).copied();
                    if hw.is_some_and(|h| seq <= h) {
                        log::debug!("duplicate reading cid={cid} seq={seq} dropped");
                        tally.duplicate(seq);
                        continue;
                    }
                    tally.fresh = true;
                    if let Some(h) = hw.filter(|&h| seq > h + 1) {
                        log::warn!(
                            "cid={cid}: {} readings missing (seq {} to {})",
                            seq - h - 1,
                            h + 1,
                            seq - 1
                        );
                    }
                    tentative.insert(cid, seq);
                }
                let at = r.unix_ms.map_or(*received, |ms| UNIX_EPOCH + Duration::from_millis(ms));
                let ts = humantime::format_rfc3339_millis(at).to_string();
                accepted.push(Accepted { cid: cid.clone(), reading: r.clone(), ts });
            }
            tallies.push((cid, tally));
        }
        for (cid, tally) in tallies {
            let stored = tentative.get(cid).or(written.get(cid)).copied();
            if let Some(warning) = self.duplicates.note(cid, tally, stored) {
                log::warn!("{warning}");
            }
        }
        drop(written);
        if self.write_ledger(&accepted) {
            for a in &accepted {
                log_reading(a);
            }
            // After the log: without a ledger the log is the record, and an ack must not beat it.
            self.acks.publish(tentative);
        }
        for wake in group.iter().filter_map(|b| b.wake.as_ref()) {
            let _ = wake.send(Flushed.into());
        }
    }

    fn write_ledger(&mut self, accepted: &[Accepted]) -> bool {
        let Some(ledger) = self.ledger.as_mut() else { return true };
        if accepted.is_empty() {
            return true;
        }
        let mut text = String::with_capacity(accepted.len() * 64);
        for a in accepted {
            csv_line(&mut text, &a.ts, &a.cid, &a.reading);
        }
        match ledger.append(text.as_bytes()) {
            Ok(()) => true,
            Err(e) => {
                log::error!(
                    "cannot write readings CSV {}: {e}; {} readings not logged nor acknowledged (clients keep them and resend)",
                    ledger.path().display(),
                    accepted.len()
                );
                false
            }
        }
    }
}

fn log_reading(a: &Accepted) {
    let seq = a.reading.seq.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let (cid, sensor, ts) = (&a.cid, &a.reading.sensor, &a.ts);
    match &a.reading.value {
        Value::Celsius(c) => {
            log::info!("reading cid={cid} sensor={sensor} temp_c={} ts={ts} seq={seq}", c.fixed())
        }
        Value::Error(e) => log::warn!("reading cid={cid} sensor={sensor} error={e} ts={ts} seq={seq}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn cid(s: &str) -> ClientId {
        ClientId::new(s).unwrap()
    }

    fn batch(cid: &str, tokens: &[&str], wake: Option<&Sender<Flushed>>) -> Batch<Flushed> {
        Batch {
            cid: ClientId::new(cid).unwrap(),
            readings: tokens.iter().map(|t| Reading::parse(t).unwrap()).collect(),
            received: SystemTime::now(),
            wake: wake.cloned(),
        }
    }

    /// Handles one group of `(cid, tokens)` batches that each want a wake-up; returns, per batch, what
    /// the table holds for its cid once it is woken.
    fn acks(sink: &mut Sink, group: &[(&str, &[&str])]) -> Vec<Option<u64>> {
        let wakes: Vec<_> = group.iter().map(|_| channel()).collect();
        sink.handle_group(group.iter().zip(&wakes).map(|((c, t), (tx, _))| batch(c, t, Some(tx))).collect());
        let table = sink.acks();
        group
            .iter()
            .zip(&wakes)
            .map(|((c, _), (_, rx))| {
                assert_eq!(rx.try_iter().collect::<Vec<_>>(), [Flushed], "one wake-up per batch");
                table.get(&cid(c))
            })
            .collect()
    }

    #[test]
    fn the_ack_table_holds_what_was_written_and_no_wake_up_is_sent_unasked() {
        let mut sink = Sink::new(None, HashMap::new());
        let table = sink.acks();
        let (tx, rx) = channel();
        assert_eq!(table.get(&cid("q")), None);
        sink.handle_group(vec![batch("q", &["t=1#7", "t=2#8"], None)]);
        assert_eq!(table.get(&cid("q")), Some(8));
        sink.handle_group(vec![batch("q", &["t=1"], None), batch("q", &["t=3"], Some(&tx))]);
        assert_eq!(table.get(&cid("q")), Some(8));
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [Flushed], "only the batch that asked");
    }

    #[test]
    fn dedupes_by_seq_and_acks_the_high_water_mark() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = CsvLedger::open(&dir.path().join("r.csv")).unwrap();
        let mut sink = Sink::new(Some(ledger), HashMap::new());
        assert_eq!(
            acks(&mut sink, &[("a", &["t=1#1", "t=2#2"]), ("a", &["t=2#2", "t=3#3"])]),
            [Some(3), Some(3)]
        );
        assert_eq!(acks(&mut sink, &[("a", &["t=1#1"]), ("b", &["t=9"])]), [Some(3), None]);
        let text = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
        assert_eq!(text.lines().count(), 1 + 3 + 1, "{text}");
    }

    #[test]
    fn a_failed_ledger_write_logs_and_acks_nothing() {
        // /dev/full accepts the open and fails every write with ENOSPC: a full disk.
        let path = std::path::Path::new("/dev/full");
        let file = std::fs::OpenOptions::new().write(true).open(path).expect("/dev/full");
        let ledger = CsvLedger::with_file(file, path, 0);
        let mut sink = Sink::new(Some(ledger), HashMap::from([(cid("a"), 5)]));
        assert_eq!(acks(&mut sink, &[("a", &["t=1#6"])]), [Some(5)]);
    }
}
