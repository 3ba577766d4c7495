//! What the event loop asks of one simulated client, whatever its protocol.

use crate::stats::{HandshakeTime, Stats};
use std::fmt;
use std::time::Instant;

/// The phase of a run. Clients send readings in `Ramp` and `Steady`; in `Drain` they send none and
/// wait until what they sent is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Clients are still being started.
    Ramp,
    /// Every client has registered (or failed); the measured phase.
    Steady,
    /// No new readings; waiting for the last acks.
    Drain,
}

impl Phase {
    /// Whether clients send new readings now.
    pub fn sends_readings(self) -> bool {
        self != Phase::Drain
    }
}

/// Shared state the event loop hands to a client on each call.
#[derive(Debug)]
pub struct Ctx {
    /// The phase of the run.
    pub phase: Phase,
    /// The time of the event being handled.
    pub now: Instant,
    /// When the run began.
    pub start: Instant,
    /// Counters and samples.
    pub stats: Stats,
    /// Timers asked for during the current call.
    pub(crate) timer: Option<Instant>,
}

impl Ctx {
    /// A context for a run starting now.
    pub fn new(now: Instant) -> Ctx {
        Ctx { phase: Phase::Ramp, now, start: now, stats: Stats::default(), timer: None }
    }

    /// Counts client number `client`, whose connect began at `started`, as registered now.
    pub fn registered(&mut self, client: u32, started: Instant) {
        let took = self.now - started;
        self.stats.registered += 1;
        self.stats.handshake.record(took);
        let connect_at = started.saturating_duration_since(self.start);
        self.stats.handshakes.push(HandshakeTime { client, connect_at, took });
    }

    /// Asks for [`Session::timer`] to be called at `at` (one timer per call).
    pub fn timer_at(&mut self, at: Instant) {
        self.timer = Some(at);
    }
}

/// After a call: keep the connection, or close it because the client is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Keep going.
    Continue,
    /// Everything sent was acknowledged after the drain began: close cleanly.
    Finished,
}

/// Why a simulated client failed.
#[derive(Debug)]
pub enum Failure {
    /// The TCP connect failed.
    Connect(std::io::Error),
    /// A read or write failed.
    Io(std::io::Error),
    /// The TLS handshake or a TLS record failed.
    Tls(String),
    /// The peer closed the connection before the client was done.
    Closed,
    /// `111`: wrong password.
    WrongPassword,
    /// `121`: id in use.
    IdInUse,
    /// `122`: invalid id.
    IdInvalid,
    /// `999` or `130` from the server.
    Commanded(&'static str),
    /// A line or packet the client did not expect.
    Protocol(String),
    /// The handshake did not finish in time.
    HandshakeTimeout,
    /// Nothing arrived from a registered client's peer for too long.
    Stalled,
}

impl Failure {
    /// A short name for the counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Connect(_) => "connect",
            Failure::Io(_) => "io",
            Failure::Tls(_) => "tls",
            Failure::Closed => "closed",
            Failure::WrongPassword => "wrong_password",
            Failure::IdInUse => "id_in_use",
            Failure::IdInvalid => "id_invalid",
            Failure::Commanded(_) => "commanded",
            Failure::Protocol(_) => "protocol",
            Failure::HandshakeTimeout => "handshake_timeout",
            Failure::Stalled => "stalled",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect failed: {e}"),
            Failure::Io(e) => write!(f, "i/o error: {e}"),
            Failure::Tls(why) => write!(f, "TLS: {why}"),
            Failure::Closed => f.write_str("the peer closed the connection"),
            Failure::WrongPassword => f.write_str("111: wrong password"),
            Failure::IdInUse => f.write_str("121: id in use"),
            Failure::IdInvalid => f.write_str("122: invalid id"),
            Failure::Commanded(what) => write!(f, "the server sent {what}"),
            Failure::Protocol(what) => write!(f, "protocol error: {what}"),
            Failure::HandshakeTimeout => f.write_str("handshake not finished in time"),
            Failure::Stalled => f.write_str("nothing received for too long"),
        }
    }
}

/// One simulated client: a state machine fed by the event loop. Bytes to send go to `out`.
pub trait Session {
    /// The TCP connection is up.
    fn connected(&mut self, ctx: &mut Ctx, out: &mut Vec<u8>) -> Result<Next, Failure>;
    /// Bytes arrived.
    fn received(&mut self, data: &[u8], ctx: &mut Ctx, out: &mut Vec<u8>) -> Result<Next, Failure>;
    /// A timer asked for with [`Ctx::timer_at`] is due.
    fn timer(&mut self, ctx: &mut Ctx, out: &mut Vec<u8>) -> Result<Next, Failure>;
    /// The drain phase began (`ctx.phase` is already `Drain`).
    fn drain(&mut self, ctx: &mut Ctx, out: &mut Vec<u8>) -> Result<Next, Failure>;
    /// The handshake is done.
    fn registered(&self) -> bool;
    /// Readings sent and not yet acknowledged.
    fn unacked(&self) -> usize;
}
