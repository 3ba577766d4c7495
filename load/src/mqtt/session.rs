//! A simulated publisher: CONNECT, then one QoS 1 PUBLISH of a reading per interval to
//! `<topic prefix><id>`, each PUBACK timed.

use crate::mqtt::codec::{self, Decoder, Packet};
use crate::session::{Ctx, Failure, Next, Session};
use std::collections::VecDeque;
use std::io::Write as _;
use std::time::{Duration, Instant};

/// The MQTT keep-alive asked for: far above the publish interval, so no PINGREQ is needed.
const KEEP_ALIVE_SECS: u16 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitConnAck,
    Publishing,
    Draining,
}

/// One simulated MQTT client.
#[derive(Debug)]
pub struct MqttSession {
    index: u32,
    id: String,
    topic: String,
    interval: Duration,
    started: Instant,
    decoder: Decoder,
    state: State,
    next_due: Instant,
    next_seq: u64,
    next_packet_id: u16,
    /// Packet id and send time of each PUBLISH not yet acknowledged, oldest first.
    inflight: VecDeque<(u16, Instant)>,
    payload: Vec<u8>,
}

impl MqttSession {
    /// Client number `index` with id `<prefix><index>`, publishing every `interval` to
    /// `<topic_prefix><id>`; its connect began at `started`.
    pub fn new(index: u32, prefix: &str, topic_prefix: &str, interval: Duration, started: Instant) -> Self {
        let id = format!("{prefix}{index}");
        MqttSession {
            index,
            topic: format!("{topic_prefix}{id}"),
            id,
            interval,
            started,
            decoder: Decoder::default(),
            state: State::AwaitConnAck,
            next_due: started,
            next_seq: 1,
            next_packet_id: 1,
            inflight: VecDeque::new(),
            payload: Vec::with_capacity(32),
        }
    }

    fn publish(&mut self, ctx: &mut Ctx, out: &mut Vec<u8>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let millis = 15_000 + (u64::from(self.index) * 37 + seq * 11) % 10_000;
        self.payload.clear();
        let _ = write!(self.payload, "t={}.{:03}#{seq}", millis / 1000, millis % 1000);
        let id = self.next_packet_id;
        // Packet id 0 is not allowed.
        self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
        codec::publish_qos1(out, &self.topic, id, &self.payload);
        self.inflight.push_back((id, ctx.now));
        ctx.stats.sent += 1;
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Next {
        codec::disconnect(out);
        Next::Finished
    }
}

impl Session for MqttSession {
    fn connected(&mut self, _ctx: &mut Ctx, out: &mut Vec<u8>) -> Result<Next, Failure> {
        codec::connect(out, &self.id, KEEP_ALIVE_SECS);
        Ok(Next::Continue)
    }

    fn received(&mut self, data: &[u8], ctx: &mut Ctx, out: &mut Vec<u8>) -> Result<Next, Failure> {
        self.decoder.extend(data);
        while let Some(packet) = self.decoder.next_packet().map_err(|e| Failure::Protocol(e.to_string()))? {
            match (self.state, packet) {
                (State::AwaitConnAck, Packet::ConnAck { code: 0, .. }) => {
                    self.state = State::Publishing;
                    ctx.registered(self.index, self.started);
                    // Like a cliser client, the first reading goes one interval after the handshake.
                    self.next_due = ctx.now + self.interval;
                    ctx.timer_at(self.next_due);
                }
                (State::AwaitConnAck, Packet::ConnAck { code, .. }) => {
                    return Err(Failure::Protocol(format!("CONNACK refused with code {code}")));
                }
                (State::Publishing | State::Draining, Packet::PubAck { packet_id }) => {
                    let Some(i) = self.inflight.iter().position(|&(id, _)| id == packet_id) else {
                        return Err(Failure::Protocol(format!("PUBACK for unknown packet id {packet_id}")));
                    };
                    let (_, sent) = self.inflight.remove(i).expect("position is valid");
                    ctx.stats.acked += 1;
                    ctx.stats.ack_latency.record(ctx.now - sent);
                    if self.state == State::Draining && self.inflight.is_empty() {
                        return Ok(self.finish(out));
                    }
                }
                (_, Packet::PingResp) => {}
                (state, p) => return Err(Failure::Protocol(format!("{p:?} while {state:?}"))),
            }
        }
        Ok(Next::Continue)
    }

    fn timer(&mut self, ctx: &mut Ctx, out: &mut Vec<u8>) -> Result<Next, Failure> {
        if self.state != State::Publishing || !ctx.phase.sends_readings() {
            return Ok(Next::Continue);
        }
        self.publish(ctx, out);
        // A fixed rate: the next one is due an interval after this one was due, not after now.
        self.next_due += self.interval;
        ctx.timer_at(self.next_due.max(ctx.now));
        Ok(Next::Continue)
    }

    fn drain(&mut self, _ctx: &mut Ctx, out: &mut Vec<u8>) -> Result<Next, Failure> {
        if self.state == State::AwaitConnAck {
            return Ok(Next::Continue);
        }
        self.state = State::Draining;
        Ok(if self.inflight.is_empty() { self.finish(out) } else { Next::Continue })
    }

    fn registered(&self) -> bool {
        self.state != State::AwaitConnAck
    }

    fn unacked(&self) -> usize {
        self.inflight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Phase;

    #[test]
    fn publishes_on_its_timer_and_finishes_when_drained() {
        let t0 = Instant::now();
        let mut ctx = Ctx::new(t0);
        let mut s = MqttSession::new(3, "pi-", "cliser/", Duration::from_secs(1), t0);
        let mut out = Vec::new();
        s.connected(&mut ctx, &mut out).unwrap();
        assert_eq!(out[0], 0x10);
        s.received(&[0x20, 2, 0, 0], &mut ctx, &mut out).unwrap();
        assert!(s.registered());
        assert_eq!(ctx.timer, Some(t0 + Duration::from_secs(1)));
        out.clear();
        s.timer(&mut ctx, &mut out).unwrap();
        assert_eq!(&out[..2], [0x32, 2 + 11 + 2 + 10]);
        assert!(out.ends_with(b"#1"), "{:?}", String::from_utf8_lossy(&out));
        ctx.phase = Phase::Drain;
        assert_eq!(s.drain(&mut ctx, &mut out).unwrap(), Next::Continue);
        out.clear();
        assert_eq!(s.received(&[0x40, 2, 0, 1], &mut ctx, &mut out).unwrap(), Next::Finished);
        assert_eq!(out, [0xE0, 0]);
        assert_eq!((ctx.stats.sent, ctx.stats.acked), (1, 1));
    }
}
