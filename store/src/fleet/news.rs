//! News between the servers of a fleet, through PostgreSQL's `NOTIFY`/`LISTEN`: each server
//! publishes what it committed and which of its clients came and went, and every other server
//! shows it live (its page's live view). News is best-effort: a server that dies between a commit
//! and its publication leaves that news unsaid, and the store, which every view reads at load,
//! still has the readings.
//!
//! A notification's payload is text, at most [`PAYLOAD_MAX`] bytes (PostgreSQL's limit is 8000):
//! the publishing server's id on the first line, then one item per line, tab-separated. A batch
//! that does not fit goes in several notifications, sent in one transaction (delivered together,
//! in order, when it commits).

use super::{pg_err, PgFleet};
use crate::fleet::FleetError;
use crate::{NewReading, TsQuality};
use cliser_protocol::{ClientId, SensorId, Value};
use postgres::fallible_iterator::FallibleIterator;
use std::time::Duration;

/// The channel every server of a fleet publishes on and listens to.
pub const CHANNEL: &str = "cliser_fleet";

/// The most bytes of one payload (PostgreSQL refuses 8000 and more).
pub const PAYLOAD_MAX: usize = 7900;

/// What a server tells the others.
#[derive(Debug, Clone, PartialEq)]
pub enum News {
    /// Readings it committed (stored now, duplicates left out).
    Stored(Vec<NewReading>),
    /// One of its clients registered.
    NodeUp {
        /// The client.
        cid: ClientId,
        /// Where the client connects from.
        addr: String,
        /// When (Unix ms).
        at_ms: i64,
    },
    /// One of its clients' session ended.
    NodeDown {
        /// The client.
        cid: ClientId,
        /// When (Unix ms).
        at_ms: i64,
    },
}

/// News from another server.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// The publishing server's id.
    pub server_id: String,
    /// What it said, in order.
    pub news: Vec<News>,
}

impl PgFleet {
    /// Publishes `news` to the fleet, in one transaction (several notifications if needed).
    pub fn publish(&mut self, news: &[News]) -> Result<(), FleetError> {
        if news.is_empty() {
            return Ok(());
        }
        let payloads = encode(self.identity.id(), news);
        let (client, _, location) = self.conn()?;
        let err = pg_err(location, "publish news");
        let mut tx = client.transaction().map_err(&err)?;
        for p in &payloads {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, p]).map_err(&err)?;
        }
        tx.commit().map_err(&err)
    }

    /// Listens to the fleet's news on this connection (again after each reconnection).
    pub fn listen(&mut self) -> Result<(), FleetError> {
        self.listening = true;
        let (client, _, location) = self.conn()?;
        client.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(pg_err(location, "listen"))
    }

    /// The news other servers published, waiting at most `wait` for the first; this server's own
    /// is left out. Call [`listen`](Self::listen) first.
    pub fn next_news(&mut self, wait: Duration) -> Result<NewsBatch, FleetError> {
        let me = self.identity.id().to_owned();
        let (client, _, location) = self.conn()?;
        let err = pg_err(location, "wait for news");
        let mut notes = client.notifications();
        let mut payloads = Vec::new();
        match notes.timeout_iter(wait).next().map_err(&err)? {
            None => return Ok(NewsBatch::default()),
            Some(first) => payloads.push(first.payload().to_owned()),
        }
        // Whatever else has arrived already, without waiting again.
        let mut more = notes.iter();
        while let Some(note) = more.next().map_err(&err)? {
            payloads.push(note.payload().to_owned());
        }
        let mut batch = NewsBatch::default();
        for payload in payloads {
            match decode(&payload) {
                Some(h) if h.server_id == me => {}
                Some(h) => batch.heard.push(h),
                None => batch.unreadable += 1,
            }
        }
        Ok(batch)
    }
}

/// What [`PgFleet::next_news`] brought.
#[derive(Debug, Default)]
pub struct NewsBatch {
    /// The news of other servers, in the order published.
    pub heard: Vec<Heard>,
    /// Notifications on the channel that are not cliser's news (left out).
    pub unreadable: usize,
}

/// `news` as payloads of at most [`PAYLOAD_MAX`] bytes, each starting with the server's id.
pub fn encode(server_id: &str, news: &[News]) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut current = String::from(server_id);
    let mut push = |line: String| {
        if current.len() + 1 + line.len() > PAYLOAD_MAX && current.len() > server_id.len() {
            payloads.push(std::mem::replace(&mut current, String::from(server_id)));
        }
        current.push('\n');
        current.push_str(&line);
    };
    for n in news {
        match n {
            News::Stored(readings) => {
                for r in readings {
                    let seq = r.seq.map_or_else(|| "-".to_owned(), |s| s.to_string());
                    push(format!(
                        "S\t{}\t{}\t{}\t{}\t{}\t{seq}\t{}",
                        r.cid,
                        r.sensor,
                        r.value,
                        r.sampled_ms,
                        r.received_ms,
                        r.ts_quality.code()
                    ));
                }
            }
            News::NodeUp { cid, addr, at_ms } => push(format!("U\t{cid}\t{addr}\t{at_ms}")),
            News::NodeDown { cid, at_ms } => push(format!("D\t{cid}\t{at_ms}")),
        }
    }
    if current.len() > server_id.len() {
        payloads.push(current);
    }
    payloads
}

/// A payload back as news; `None` when it is not one of [`encode`]'s.
pub fn decode(payload: &str) -> Option<Heard> {
    let mut lines = payload.split('\n');
    let server_id = lines.next().filter(|id| !id.is_empty() && !id.contains('\t'))?.to_owned();
    let mut news: Vec<News> = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["S", cid, sensor, value, sampled, received, seq, tsq] => {
                let r = NewReading {
                    cid: ClientId::new(cid).ok()?,
                    sensor: SensorId::new(sensor).ok()?,
                    value: Value::parse(value).ok()?,
                    sampled_ms: sampled.parse().ok()?,
                    received_ms: received.parse().ok()?,
                    seq: match *seq {
                        "-" => None,
                        s => Some(s.parse().ok()?),
                    },
                    ts_quality: TsQuality::from_code(tsq.parse().ok()?)?,
                };
                match news.last_mut() {
                    Some(News::Stored(rs)) => rs.push(r),
                    _ => news.push(News::Stored(vec![r])),
                }
            }
            ["U", cid, addr, at] => news.push(News::NodeUp {
                cid: ClientId::new(cid).ok()?,
                addr: (*addr).to_owned(),
                at_ms: at.parse().ok()?,
            }),
            ["D", cid, at] => {
                news.push(News::NodeDown { cid: ClientId::new(cid).ok()?, at_ms: at.parse().ok()? })
            }
            _ => return None,
        }
    }
    Some(Heard { server_id, news })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(cid: &str, sensor: &str, value: &str, seq: Option<u64>) -> NewReading {
        NewReading {
            cid: ClientId::new(cid).unwrap(),
            sensor: SensorId::new(sensor).unwrap(),
            value: Value::parse(value).unwrap(),
            sampled_ms: 1_700_000_000_000,
            received_ms: 1_700_000_000_050,
            seq,
            ts_quality: TsQuality::FromAge,
        }
    }

    #[test]
    fn news_goes_through_a_payload_unchanged() {
        let news = vec![
            News::NodeUp { cid: ClientId::new("pi-a").unwrap(), addr: "10.0.0.7:50123".into(), at_ms: 5 },
            News::Stored(vec![
                reading("pi-a", "28-1", "21.375", Some(7)),
                reading("pi-a", "28-2", "err:crc", None),
            ]),
            News::NodeDown { cid: ClientId::new("pi-b").unwrap(), at_ms: 9 },
        ];
        let payloads = encode("server-1", &news);
        assert_eq!(payloads.len(), 1);
        assert_eq!(decode(&payloads[0]), Some(Heard { server_id: "server-1".into(), news }));
    }

    #[test]
    fn a_big_commit_is_split_under_postgres_limit_and_nothing_is_lost() {
        let readings: Vec<NewReading> = (0..1000)
            .map(|i| reading("pi-with-a-long-name-01", "28-00000a1b2c3d", "-12.5", Some(i)))
            .collect();
        let payloads = encode("0123456789abcdef0123456789abcdef", &[News::Stored(readings.clone())]);
        assert!(payloads.len() > 1);
        assert!(
            payloads.iter().all(|p| p.len() <= PAYLOAD_MAX),
            "{:?}",
            payloads.iter().map(String::len).max()
        );
        let back: Vec<NewReading> = payloads
            .iter()
            .flat_map(|p| decode(p).unwrap().news)
            .flat_map(|n| match n {
                News::Stored(rs) => rs,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(back, readings);
    }

    #[test]
    fn a_payload_that_is_not_ours_is_refused() {
        assert_eq!(decode(""), None);
        assert_eq!(decode("server\nX\tsomething"), None);
        assert_eq!(decode("server\nS\tpi\t28-1\tnot-a-value\t1\t2\t-\t0"), None);
    }
}
