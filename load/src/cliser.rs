//! A simulated Pi client speaking the cliser protocol: answers 110 and 120, and each `100` with one
//! new reading `t=<value>#<seq>`; tracks which readings the polls' `ack=` cover. A backlog client
//! ([`CliserSession::with_backlog`]) answers from its [`Backlog`] instead, until the server has
//! acknowledged all of it, then with a bare `100`.

use crate::backlog::Backlog;
use crate::session::{Ctx, Failure, Next, Session};
use cliser_common::lines::{LineReader, Pushed};
use cliser_protocol::{Celsius, KeepAliveAnswer, Reading, SensorId, ServerMsg, Value};
use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitPassword,
    AwaitId,
    AwaitConnected,
    Registered,
}

/// A reading sent and not yet acknowledged.
#[derive(Debug)]
struct Pending {
    seq: u64,
    sent: Instant,
    /// The number of polls received when it was sent: the next poll is number `poll + 1`.
    poll: u64,
}

/// One simulated cliser client.
#[derive(Debug)]
pub struct CliserSession {
    index: u32,
    id: String,
    password: Arc<str>,
    sensor: SensorId,
    started: Instant,
    lines: LineReader<Pushed>,
    state: State,
    next_seq: u64,
    polls: u64,
    last_poll: Option<Instant>,
    unacked: VecDeque<Pending>,
    backlog: Option<Backlog>,
}

impl CliserSession {
    /// Client number `index` with id `<prefix><index>`, whose connect began at `started`.
    pub fn new(index: u32, prefix: &str, password: Arc<str>, started: Instant) -> CliserSession {
        CliserSession {
            index,
            id: format!("{prefix}{index}"),
            password,
            sensor: SensorId::new("t").expect("valid sensor id"),
            started,
            lines: LineReader::new(Pushed::default()),
            state: State::AwaitPassword,
            next_seq: 1,
            polls: 0,
            last_poll: None,
            unacked: VecDeque::new(),
            backlog: None,
        }
    }

    /// This client holds `backlog` instead of reading live.
    pub fn with_backlog(mut self, backlog: Backlog) -> CliserSession {
        self.backlog = Some(backlog);
        self
    }

    /// A plausible temperature that varies by client and by reading.
    fn value(&self, seq: u64) -> Value {
        let millis = 15_000 + ((u64::from(self.index) * 37 + seq * 11) % 10_000) as i32;
        Value::Celsius(Celsius::from_millis(millis).expect("within range"))
    }

    fn line(&mut self, line: &str, ctx: &mut Ctx, out: &mut Vec<u8>) -> Result<Next, Failure> {
        let msg = ServerMsg::parse(line).map_err(|e| Failure::Protocol(format!("{line:?}: {e}")))?;
        match (self.state, msg) {
            (State::AwaitPassword, ServerMsg::PasswordRequest) => {
                out.extend_from_slice(self.password.as_bytes());
                out.push(b'\n');
                self.state = State::AwaitId;
            }
            (State::AwaitId, ServerMsg::IdRequest) => {
                out.extend_from_slice(self.id.as_bytes());
                out.push(b'\n');
                self.state = State::AwaitConnected;
            }
            (State::AwaitConnected, ServerMsg::Connected { ack, .. }) => {
                self.state = State::Registered;
                ctx.registered(self.index, self.started);
                if let Some(b) = &mut self.backlog {
                    b.registered(ack);
                    let at = ctx.now - ctx.start;
                    let first = ctx.stats.backlog.first_registered.get_or_insert(at);
                    *first = (*first).min(at);
                }
                // Readings at or below the server's ack are already logged: start past them.
                if let Some(a) = ack {
                    self.next_seq = self.next_seq.max(a + 1);
                }
            }
            (State::Registered, ServerMsg::KeepAlive { ack }) => return Ok(self.poll(ack, ctx, out)),
            (_, ServerMsg::WrongPassword) => return Err(Failure::WrongPassword),
            (_, ServerMsg::IdInUse) => return Err(Failure::IdInUse),
            (_, ServerMsg::IdInvalid) => return Err(Failure::IdInvalid),
            (_, ServerMsg::Disconnect) => return Err(Failure::Commanded("999")),
            (_, ServerMsg::ShutdownSys) => return Err(Failure::Commanded("130")),
            (state, _) => return Err(Failure::Protocol(format!("{line:?} while {state:?}"))),
        }
        Ok(Next::Continue)
    }

    fn poll(&mut self, ack: Option<u64>, ctx: &mut Ctx, out: &mut Vec<u8>) -> Next {
        if let Some(b) = &mut self.backlog {
            return backlog_poll(b, ack, ctx, out);
        }
        self.polls += 1;
        ctx.stats.polls += 1;
        if let Some(prev) = self.last_poll.replace(ctx.now) {
            ctx.stats.max_poll_gap = ctx.stats.max_poll_gap.max(ctx.now - prev);
            ctx.stats.poll_gaps.record(ctx.now - prev);
        }
        if let Some(a) = ack {
            while self.unacked.front().is_some_and(|p| p.seq <= a) {
                let p = self.unacked.pop_front().expect("front exists");
                ctx.stats.acked += 1;
                ctx.stats.ack_latency.record(ctx.now - p.sent);
                if p.poll + 1 == self.polls {
                    ctx.stats.acked_next_poll += 1;
                } else {
                    ctx.stats.acked_late += 1;
                }
            }
        }
        if !ctx.phase.sends_readings() {
            out.extend_from_slice(b"100\n");
            return if self.unacked.is_empty() { Next::Finished } else { Next::Continue };
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let reading =
            Reading { sensor: self.sensor.clone(), value: self.value(seq), stamp: None, seq: Some(seq) };
        let answer =
            KeepAliveAnswer { readings: vec![reading], health: Vec::new(), facts: Vec::new(), more: false };
        let _ = writeln!(out, "{answer}");
        self.unacked.push_back(Pending { seq, sent: ctx.now, poll: self.polls });
        ctx.stats.sent += 1;
        Next::Continue
    }
}

/// A backlog client's poll: drop what `ack` covers, then the next line of the backlog, or a bare
/// `100` once all of it is sent.
fn backlog_poll(b: &mut Backlog, ack: Option<u64>, ctx: &mut Ctx, out: &mut Vec<u8>) -> Next {
    let was_done = b.done();
    ctx.stats.backlog.acked += b.ack(ack);
    if b.done() && !was_done {
        ctx.stats.backlog.clients_done += 1;
        ctx.stats.backlog.last_done = Some(ctx.now - ctx.start);
        ctx.stats.backlog.done_at.push(ctx.now - ctx.start);
    }
    let answer = if ctx.phase.sends_readings() { b.answer() } else { None };
    match answer {
        Some((answer, taken)) => {
            let _ = writeln!(out, "{answer}");
            ctx.stats.backlog.sent += taken;
            ctx.stats.backlog.answers += 1;
            if !answer.more {
                ctx.stats.backlog.last_sent = Some(ctx.now - ctx.start);
            }
        }
        None => out.extend_from_slice(b"100\n"),
    }
    if !ctx.phase.sends_readings() && b.unacked() == 0 {
        Next::Finished
    } else {
        Next::Continue
    }
}

impl Session for CliserSession {
    fn connected(&mut self, _ctx: &mut Ctx, _out: &mut Vec<u8>) -> Result<Next, Failure> {
        // The server speaks first (110).
        Ok(Next::Continue)
    }

    fn received(&mut self, data: &[u8], ctx: &mut Ctx, out: &mut Vec<u8>) -> Result<Next, Failure> {
        self.lines.get_mut().push(data);
        let mut next = Next::Continue;
        loop {
            match self.lines.next_line() {
                Ok(Some(line)) => {
                    if self.line(&line, ctx, out)? == Next::Finished {
                        next = Next::Finished;
                    }
                }
                Err(e) if e.is_would_block() => return Ok(next),
                Err(e) => return Err(Failure::Protocol(e.to_string())),
                Ok(None) => unreachable!("pushed bytes never end"),
            }
        }
    }

    fn timer(&mut self, _ctx: &mut Ctx, _out: &mut Vec<u8>) -> Result<Next, Failure> {
        Ok(Next::Continue)
    }

    fn drain(&mut self, _ctx: &mut Ctx, _out: &mut Vec<u8>) -> Result<Next, Failure> {
        // Keep answering polls until they ack what was sent. A backlog client stays until its
        // next poll, like the live ones: the server's threads for it are measured at the drain.
        Ok(if self.state == State::Registered && self.unacked() == 0 && self.backlog.is_none() {
            Next::Finished
        } else {
            Next::Continue
        })
    }

    fn registered(&self) -> bool {
        self.state == State::Registered
    }

    fn unacked(&self) -> usize {
        match &self.backlog {
            Some(b) => b.unacked() as usize,
            None => self.unacked.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Phase;

    fn feed(s: &mut CliserSession, ctx: &mut Ctx, line: &str) -> (Result<Next, Failure>, String) {
        let mut out = Vec::new();
        let r = s.received(format!("{line}\n").as_bytes(), ctx, &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    #[test]
    fn handshake_then_one_reading_per_poll_acked_on_the_next() {
        let t0 = Instant::now();
        let mut ctx = Ctx::new(t0);
        let mut s = CliserSession::new(7, "pi-", Arc::from("pw"), t0);
        assert_eq!(feed(&mut s, &mut ctx, "110: qual a senha").1, "pw\n");
        assert_eq!(feed(&mut s, &mut ctx, "120: qual o ID").1, "pi-7\n");
        assert_eq!(feed(&mut s, &mut ctx, "140: Connected ack=4").1, "");
        assert!(s.registered());
        let (_, a) = feed(&mut s, &mut ctx, "100: keep alive ack=4");
        let r = KeepAliveAnswer::parse(a.trim_end()).unwrap().answer.readings;
        assert_eq!((r.len(), r[0].seq, r[0].sensor.as_str()), (1, Some(5), "t"));
        let (_, a) = feed(&mut s, &mut ctx, "100: keep alive ack=5");
        assert!(a.ends_with("#6\n"), "{a}");
        assert_eq!((ctx.stats.sent, ctx.stats.acked, ctx.stats.acked_next_poll), (2, 1, 1));
        ctx.phase = Phase::Drain;
        assert_eq!(s.drain(&mut ctx, &mut Vec::new()).unwrap(), Next::Continue);
        let (next, a) = feed(&mut s, &mut ctx, "100: keep alive ack=6");
        assert_eq!((next.unwrap(), a.as_str()), (Next::Finished, "100\n"));
        assert_eq!((ctx.stats.acked, ctx.stats.polls, ctx.stats.handshake.len()), (2, 3, 1));
    }

    #[test]
    fn each_gap_between_two_polls_is_a_sample() {
        let t0 = Instant::now();
        let mut ctx = Ctx::new(t0);
        let mut s = CliserSession::new(0, "pi-", Arc::from("pw"), t0);
        for line in ["110", "120", "140: Connected"] {
            feed(&mut s, &mut ctx, line).0.unwrap();
        }
        for (at, ack) in [(1000, 0), (2000, 1), (3700, 2), (4700, 3)] {
            ctx.now = t0 + std::time::Duration::from_millis(at);
            feed(&mut s, &mut ctx, &format!("100: keep alive ack={ack}")).0.unwrap();
        }
        let late = ctx.stats.poll_lateness(std::time::Duration::from_secs(1)).unwrap();
        assert_eq!((late.gaps, late.max.as_millis(), late.over_half), (3, 700, 1));
        assert_eq!(ctx.stats.max_poll_gap.as_millis(), 1700);
    }

    #[test]
    fn refusals_and_surprises_are_failures() {
        let t0 = Instant::now();
        let mut ctx = Ctx::new(t0);
        let mut s = CliserSession::new(1, "x", Arc::from("pw"), t0);
        assert!(matches!(feed(&mut s, &mut ctx, "111: senha incorreta").0, Err(Failure::WrongPassword)));
        let mut s = CliserSession::new(1, "x", Arc::from("pw"), t0);
        assert!(matches!(feed(&mut s, &mut ctx, "100: keep alive").0, Err(Failure::Protocol(_))));
    }
}
