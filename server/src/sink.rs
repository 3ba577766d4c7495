//! The readings sink thread: logs every reading once (and appends it to the CSV ledger), then tells
//! the session what is flushed. Acks are built from its answers, so an ack never runs ahead of the log.

use crate::csv_ledger::{csv_line, CsvLedger};
use cliser_protocol::{ClientId, Reading, Value};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The highest seq logged for one session's client id, published by the sink and read by the session
/// when it polls. A cell instead of a message per batch: nothing waits for it in the common case, and
/// waking the session for every answer would cost a thread switch per reading.
#[derive(Debug, Default)]
pub struct AckCell(Mutex<Option<u64>>);

impl AckCell {
    /// The highest seq logged, if any.
    pub fn get(&self) -> Option<u64> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, hw: Option<u64>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = hw;
    }
}

/// Readings up to `hw` are written and flushed for a client id. The sink knows nothing of its
/// senders' mailboxes: a batch or query names a sender of any type that can carry this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Highest seq logged for the id, if any.
    pub hw: Option<u64>,
}

/// What arrives in the sink's mailbox; `W` is the type of the mailboxes it answers.
#[derive(Debug)]
pub enum SinkMsg<W> {
    /// Readings from one keep-alive answer.
    Batch {
        /// Whose.
        cid: ClientId,
        /// The readings, in line order.
        readings: Vec<Reading>,
        /// When the line arrived (the time stamp of readings without `@`).
        received: SystemTime,
        /// Updated once the batch is written (or not, if the write failed).
        ack: Arc<AckCell>,
        /// Also answer with [`Flushed`]: the session waits to poll again (`more`).
        reply: Option<Sender<W>>,
    },
    /// What is the highest seq logged for `cid`? (Answered with [`Flushed`].)
    Query {
        /// Whose.
        cid: ClientId,
        /// Where to answer.
        reply: Sender<W>,
    },
}

/// At most this many mailbox messages are written with one sync of the ledger ...
const GROUP: usize = 512;
/// ... gathered for at most this long after the first.
const GROUP_WINDOW: Duration = Duration::from_millis(2);

/// The sink's state; [`Sink::run`] is the thread's body.
pub struct Sink {
    high_water: HashMap<ClientId, u64>,
    ledger: Option<CsvLedger>,
}

struct Accepted {
    cid: ClientId,
    reading: Reading,
    ts: String,
}

impl Sink {
    /// A sink with the high-water marks recovered from the ledger, if any.
    pub fn new(ledger: Option<CsvLedger>, high_water: HashMap<ClientId, u64>) -> Self {
        Sink { high_water, ledger }
    }

    /// Handles messages until every sender is gone.
    pub fn run<W: From<Flushed>>(mut self, mailbox: Receiver<SinkMsg<W>>) {
        while let Ok(first) = mailbox.recv() {
            // Group commit: answers that arrive within a moment of each other share one fdatasync.
            // Nobody waits on this but a `more` poll; the ack itself goes out on the next poll. A
            // registration's query is answered at once: a handshake is waiting on it.
            let window = if matches!(first, SinkMsg::Query { .. }) { Duration::ZERO } else { GROUP_WINDOW };
            let mut group = vec![first];
            let until = std::time::Instant::now() + window;
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

    /// Writes a group of batches with one ledger sync, then logs and answers. If the ledger cannot be
    /// written, nothing of the group is logged or acknowledged: the clients keep and resend it.
    pub fn handle_group<W: From<Flushed>>(&mut self, group: Vec<SinkMsg<W>>) {
        let mut tentative: HashMap<&ClientId, u64> = HashMap::new();
        let mut accepted = Vec::new();
        for msg in &group {
            let SinkMsg::Batch { cid, readings, received, .. } = msg else { continue };
            for r in readings {
                if let Some(seq) = r.seq {
                    let hw = tentative.get(cid).or(self.high_water.get(cid)).copied();
                    if hw.is_some_and(|h| seq <= h) {
                        log::debug!("duplicate reading cid={cid} seq={seq} dropped");
                        continue;
                    }
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
        }
        let written = self.write_ledger(&accepted);
        if written {
            for a in &accepted {
                log_reading(a);
            }
            for (cid, seq) in tentative {
                self.high_water.insert(cid.clone(), seq);
            }
        }
        for msg in group {
            match msg {
                SinkMsg::Batch { cid, ack, reply, .. } => {
                    let hw = self.high_water.get(&cid).copied();
                    ack.set(hw);
                    if let Some(reply) = reply {
                        let _ = reply.send(Flushed { hw }.into());
                    }
                }
                SinkMsg::Query { cid, reply } => {
                    let _ = reply.send(Flushed { hw: self.high_water.get(&cid).copied() }.into());
                }
            }
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
        Value::Celsius(c) => log::info!("reading cid={cid} sensor={sensor} temp_c={c} ts={ts} seq={seq}"),
        Value::Error(e) => log::warn!("reading cid={cid} sensor={sensor} error={e} ts={ts} seq={seq}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn batch(cid: &str, tokens: &[&str], reply: &Sender<Flushed>) -> SinkMsg<Flushed> {
        SinkMsg::Batch {
            cid: ClientId::new(cid).unwrap(),
            readings: tokens.iter().map(|t| Reading::parse(t).unwrap()).collect(),
            received: SystemTime::now(),
            ack: Arc::new(AckCell::default()),
            reply: Some(reply.clone()),
        }
    }

    #[test]
    fn the_ack_cell_holds_what_was_written_and_no_reply_is_sent_unasked() {
        let mut sink = Sink::new(None, HashMap::new());
        let cell = Arc::new(AckCell::default());
        let (tx, rx) = channel();
        let quiet = |tokens: &[&str]| SinkMsg::Batch {
            cid: ClientId::new("q").unwrap(),
            readings: tokens.iter().map(|t| Reading::parse(t).unwrap()).collect(),
            received: SystemTime::now(),
            ack: cell.clone(),
            reply: None,
        };
        assert_eq!(cell.get(), None);
        sink.handle_group(vec![quiet(&["t=1#7", "t=2#8"])]);
        assert_eq!(cell.get(), Some(8));
        sink.handle_group(vec![
            quiet(&["t=1"]),
            SinkMsg::Query { cid: ClientId::new("q").unwrap(), reply: tx },
        ]);
        assert_eq!(cell.get(), Some(8));
        assert_eq!(acks(&rx), [Some(8)]);
    }

    fn acks(rx: &Receiver<Flushed>) -> Vec<Option<u64>> {
        rx.try_iter().map(|Flushed { hw }| hw).collect()
    }

    #[test]
    fn dedupes_by_seq_and_acks_the_high_water_mark() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = CsvLedger::open(&dir.path().join("r.csv")).unwrap();
        let mut sink = Sink::new(Some(ledger), HashMap::new());
        let (tx, rx) = channel();
        sink.handle_group(vec![batch("a", &["t=1#1", "t=2#2"], &tx), batch("a", &["t=2#2", "t=3#3"], &tx)]);
        sink.handle_group(vec![batch("a", &["t=1#1"], &tx), batch("b", &["t=9"], &tx)]);
        assert_eq!(acks(&rx), [Some(3), Some(3), Some(3), None]);
        let text = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
        assert_eq!(text.lines().count(), 1 + 3 + 1, "{text}");
    }

    #[test]
    fn a_failed_ledger_write_logs_and_acks_nothing() {
        // /dev/full accepts the open and fails every write with ENOSPC: a full disk.
        let path = std::path::Path::new("/dev/full");
        let file = std::fs::OpenOptions::new().write(true).open(path).expect("/dev/full");
        let ledger = CsvLedger::with_file(file, path, 0);
        let mut sink = Sink::new(Some(ledger), HashMap::from([(ClientId::new("a").unwrap(), 5)]));
        let (tx, rx) = channel();
        sink.handle_group(vec![batch("a", &["t=1#6"], &tx)]);
        assert_eq!(acks(&rx), [Some(5)]);
    }
}
