//! The event loop: one thread, non-blocking sockets (mio/epoll), every simulated client a state
//! machine in a slab. It ramps the connections up, runs the steady phase, drains, and closes.

use crate::session::{Ctx, Failure, Next, Phase, Session};
use crate::snapshot::Snapshot;
use crate::transport::{Got, Transport, Wire};
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How a run is shaped.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where the clients connect.
    pub addr: SocketAddr,
    /// Plain TCP or TLS.
    pub wire: Wire,
    /// How many clients.
    pub clients: usize,
    /// New connections per second during the ramp.
    pub ramp_per_sec: f64,
    /// Length of the steady phase, which begins once every client has registered or failed.
    pub steady: Duration,
    /// Longest wait for the last acknowledgements after the steady phase.
    pub drain_timeout: Duration,
    /// A client not registered this long after its connect began has failed.
    pub handshake_timeout: Duration,
    /// A registered client that hears nothing for this long has failed.
    pub stall_timeout: Duration,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// A process whose /proc figures are sampled at each phase change.
    pub watch_pid: Option<u32>,
    /// How many clients hold a backlog: the steady phase ends as soon as all of theirs is
    /// acknowledged (or after `steady`, whichever comes first).
    pub backlog_clients: usize,
    /// Readings each backlog client holds.
    pub backlog_readings: u64,
}

/// What the run found: the counters and the samples at each phase change.
#[derive(Debug)]
pub struct Outcome {
    /// The counters and latency samples.
    pub ctx: Ctx,
    /// Before the first connect.
    pub start: Snapshot,
    /// When the steady phase began.
    pub steady_start: Snapshot,
    /// When it ended.
    pub steady_end: Snapshot,
    /// After the drain.
    pub end: Snapshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Connecting,
    Open,
    Closed,
}

struct Slot<S> {
    /// `None` once closed (or if the connect failed at once).
    stream: Option<TcpStream>,
    transport: Transport,
    session: S,
    /// Bytes the session queued that the socket has not taken yet.
    out: Vec<u8>,
    state: SlotState,
    /// Registered or failed: counts towards the end of the ramp.
    settled: bool,
    started: Instant,
    last_rx: Instant,
}

const HOUSEKEEPING: Duration = Duration::from_millis(200);
/// Failures whose detail is printed; the rest are only counted.
const FAILURES_SHOWN: u64 = 10;

/// Runs the plan; `make` builds client number `i` as its connect starts.
pub fn run<S: Session>(plan: &Plan, make: impl FnMut(u32, Instant) -> S) -> std::io::Result<Outcome> {
    EventLoop::new(plan)?.run(make)
}

struct EventLoop<'p, S> {
    plan: &'p Plan,
    poll: Poll,
    slots: Vec<Slot<S>>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    ctx: Ctx,
    t0: Instant,
    settled: usize,
    open: usize,
    shown: u64,
}

impl<'p, S: Session> EventLoop<'p, S> {
    fn new(plan: &'p Plan) -> std::io::Result<Self> {
        let t0 = Instant::now();
        let mut ctx = Ctx::new(t0);
        ctx.stats.backlog.readings = plan.backlog_clients as u64 * plan.backlog_readings;
        Ok(EventLoop {
            plan,
            poll: Poll::new()?,
            slots: Vec::with_capacity(plan.clients),
            timers: BinaryHeap::new(),
            ctx,
            t0,
            settled: 0,
            open: 0,
            shown: 0,
        })
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::take(&self.ctx.stats, self.plan.watch_pid)
    }

    fn run(mut self, mut make: impl FnMut(u32, Instant) -> S) -> std::io::Result<Outcome> {
        let plan = self.plan;
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 64 * 1024];
        let start = self.snapshot();
        let mut steady: Option<Snapshot> = None;
        let mut steady_end: Option<Snapshot> = None;
        let mut next_housekeeping = self.t0;
        let mut next_progress = self.t0 + Duration::from_secs(1);
        loop {
            let now = Instant::now();
            self.ctx.now = now;
            self.start_due(now, &mut make)?;

            if self.ctx.phase == Phase::Ramp && self.settled == plan.clients {
                self.ctx.phase = Phase::Steady;
                steady = Some(self.snapshot());
                self.progress(now, "steady phase begins");
            }
            let backlogs_done = plan.backlog_clients > 0
                && self.ctx.stats.backlog.clients_done >= plan.backlog_clients as u64;
            if self.ctx.phase == Phase::Steady
                && (backlogs_done || steady.is_some_and(|s| now >= s.at + plan.steady))
            {
                self.ctx.phase = Phase::Drain;
                steady_end = Some(self.snapshot());
                self.progress(now, "drain: no new readings, waiting for the last acks");
                self.drain_all();
            }
            if let Some(end) = steady_end {
                if self.open == 0 || now >= end.at + plan.drain_timeout {
                    break;
                }
            } else if self.slots.len() == plan.clients && self.open == 0 {
                // Every client has failed (the server is gone): nothing left to measure.
                self.progress(now, "no client left open: ending the run");
                steady_end = Some(self.snapshot());
                steady.get_or_insert(steady_end.expect("just set"));
                break;
            }
            self.fire_timers(now);
            if now >= next_housekeeping {
                next_housekeeping = now + HOUSEKEEPING;
                self.housekeeping(now);
            }
            if now >= next_progress {
                next_progress += Duration::from_secs(1);
                self.progress(now, "");
                self.ctx.stats.mark_timeline(now - self.t0);
            }

            // Sleep until the next thing to do.
            let mut wake = next_housekeeping.min(next_progress);
            if self.slots.len() < plan.clients {
                wake =
                    wake.min(self.t0 + Duration::from_secs_f64(self.slots.len() as f64 / plan.ramp_per_sec));
            }
            if let Some(Reverse((at, _))) = self.timers.peek() {
                wake = wake.min(*at);
            }
            if let (Phase::Steady, Some(s)) = (self.ctx.phase, steady) {
                wake = wake.min(s.at + plan.steady);
            }
            self.poll.poll(&mut events, Some(wake.saturating_duration_since(Instant::now())))?;
            for event in events.iter() {
                self.ctx.now = Instant::now();
                self.handle(event, &mut buf);
            }
        }
        let end = self.snapshot();
        for s in &mut self.slots {
            if let Some(mut stream) = s.stream.take() {
                let _ = self.poll.registry().deregister(&mut stream);
            }
        }
        let (steady_start, steady_end) = (steady.expect("steady ran"), steady_end.expect("steady ended"));
        Ok(Outcome { ctx: self.ctx, start, steady_start, steady_end, end })
    }

    /// Starts every connection the ramp has made due by `now`.
    fn start_due(&mut self, now: Instant, make: &mut impl FnMut(u32, Instant) -> S) -> std::io::Result<()> {
        let due = ((now - self.t0).as_secs_f64() * self.plan.ramp_per_sec) as usize + 1;
        while self.slots.len() < self.plan.clients.min(due) {
            let i = self.slots.len();
            self.ctx.stats.started += 1;
            let mut slot = Slot {
                stream: None,
                transport: Transport::Plain,
                session: make(i as u32, now),
                out: Vec::new(),
                state: SlotState::Closed,
                settled: false,
                started: now,
                last_rx: now,
            };
            let connected = self.plan.wire.transport().and_then(|t| {
                slot.transport = t;
                TcpStream::connect(self.plan.addr).map_err(Failure::Connect)
            });
            match connected {
                Ok(mut stream) => {
                    let _ = stream.set_nodelay(true);
                    self.poll.registry().register(
                        &mut stream,
                        Token(i),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    slot.stream = Some(stream);
                    slot.state = SlotState::Connecting;
                    self.open += 1;
                    self.slots.push(slot);
                }
                Err(f) => {
                    // The slot is kept, closed (tokens are slab indexes).
                    self.slots.push(slot);
                    self.after(i, Err(f));
                }
            }
        }
        Ok(())
    }

    fn drain_all(&mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i].state == SlotState::Open {
                let s = &mut self.slots[i];
                let r = s.session.drain(&mut self.ctx, &mut s.out);
                self.after(i, r);
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, i))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.slots[i].state == SlotState::Open {
                let s = &mut self.slots[i];
                let r = s.session.timer(&mut self.ctx, &mut s.out);
                self.after(i, r);
            }
        }
    }

    /// Fails clients whose handshake takes too long and registered clients that hear nothing.
    fn housekeeping(&mut self, now: Instant) {
        let plan = self.plan;
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            let failure = match s.state {
                SlotState::Closed => continue,
                _ if !s.settled && now - s.started > plan.handshake_timeout => Failure::HandshakeTimeout,
                SlotState::Open if s.settled && now - s.last_rx > plan.stall_timeout => Failure::Stalled,
                _ => continue,
            };
            self.after(i, Err(failure));
        }
    }

    fn progress(&self, now: Instant, what: &str) {
        if !self.plan.progress {
            return;
        }
        let st = &self.ctx.stats;
        let t = (now - self.t0).as_secs_f64();
        if !what.is_empty() {
            eprintln!("[{t:7.1}s] {what}");
            return;
        }
        let backlog = if self.plan.backlog_clients > 0 {
            format!(
                " backlog_acked={}/{} backlog_done={}",
                st.backlog.acked, st.backlog.readings, st.backlog.clients_done
            )
        } else {
            String::new()
        };
        eprintln!(
            "[{t:7.1}s] {:?} started={} registered={} open={} sent={} acked={} failed={}{backlog}",
            self.ctx.phase,
            st.started,
            st.registered,
            self.open,
            st.sent,
            st.acked,
            st.failed()
        );
    }

    fn handle(&mut self, event: &Event, buf: &mut [u8]) {
        let i = event.token().0;
        if self.slots[i].state == SlotState::Connecting {
            match connect_result(self.slots[i].stream.as_ref().expect("connecting slot has a stream")) {
                Ok(false) => return,
                Ok(true) => {
                    self.slots[i].state = SlotState::Open;
                    self.ctx.stats.connected += 1;
                    let s = &mut self.slots[i];
                    let r = s.session.connected(&mut self.ctx, &mut s.out);
                    if !self.after(i, r) {
                        return;
                    }
                }
                Err(e) => {
                    self.after(i, Err(Failure::Connect(e)));
                    return;
                }
            }
        }
        if self.slots[i].state != SlotState::Open {
            return;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            loop {
                let s = &mut self.slots[i];
                let Some(stream) = s.stream.as_mut() else { return };
                let r = match s.transport.read(stream, buf) {
                    Ok(Got::Closed) => Err(Failure::Closed),
                    Ok(Got::Data(n)) => {
                        s.last_rx = self.ctx.now;
                        s.session.received(&buf[..n], &mut self.ctx, &mut s.out)
                    }
                    Ok(Got::WouldBlock) => break,
                    Err(f) => Err(f),
                };
                if !self.after(i, r) {
                    return;
                }
            }
        }
        if event.is_writable() {
            self.after(i, Ok(Next::Continue));
        }
    }

    /// Applies a session's answer: schedules the timer it asked for, writes its output, closes it
    /// when finished or failed. Returns whether the connection is still open.
    fn after(&mut self, i: usize, result: Result<Next, Failure>) -> bool {
        if let Some(at) = self.ctx.timer.take() {
            self.timers.push(Reverse((at, i)));
        }
        let slot = &mut self.slots[i];
        let result = result.and_then(|next| flush(slot).map(|()| next));
        if !slot.settled && (result.is_err() || slot.session.registered()) {
            slot.settled = true;
            self.settled += 1;
        }
        match result {
            Ok(Next::Continue) => return true,
            Ok(Next::Finished) => self.ctx.stats.finished += 1,
            Err(f) => {
                self.shown += 1;
                if self.shown <= FAILURES_SHOWN {
                    eprintln!("client {i}: {f}");
                } else if self.shown == FAILURES_SHOWN + 1 {
                    eprintln!("(further failures are only counted)");
                }
                self.ctx.stats.fail(f.kind());
            }
        }
        let slot = &mut self.slots[i];
        slot.state = SlotState::Closed;
        slot.out = Vec::new();
        // A closed client keeps no TLS buffers.
        slot.transport = Transport::Plain;
        if let Some(mut stream) = slot.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
            self.open -= 1;
        }
        false
    }
}

/// Whether a non-blocking connect has finished; its error if it failed.
fn connect_result(stream: &TcpStream) -> std::io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes what the session queued, keeping the rest for the next writable event.
fn flush<S>(slot: &mut Slot<S>) -> Result<(), Failure> {
    let Some(stream) = slot.stream.as_mut() else { return Ok(()) };
    slot.transport.flush(stream, &mut slot.out)
}
