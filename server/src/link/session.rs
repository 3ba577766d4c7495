//! The session thread of one connection (the original's auth_manager): the handshake (110 password,
//! 120 id, registration with the Manager, 140), then the keep-alive loop: a first `100` at once, then
//! one every interval.
//!
//! A session does not know the Manager's mailbox type: it reports with [`SessionReport`] through a
//! sender of any type that can carry one, so the Manager (which starts sessions) depends on this
//! module and not the other way round.

use crate::auth::credentials::{Credential, Verdict};
use crate::config::Config;
use crate::fleet::presence::{Holder, Presence, CLAIM_WAIT};
use crate::link::conn::{Inbound, LineCredit, Socket, WriterMsg};
use crate::readings::ack_table::AckTable;
use crate::readings::registrations::Registrations;
use crate::readings::sensor_cap::SensorRoster;
use crate::readings::sink::{Batch, Flushed, SinkSender};
use cliser_common::mailbox;
use cliser_protocol::{
    ClientId, ClientLine, KeepAliveAnswer, ParseError, RejectedToken, SensorId, ServerMsg, Value,
};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How often a session tells the Manager what it last heard (for the console's `L`). Not every
/// answer: at 10,000 clients that would wake the Manager 10,000 times a second for a list people
/// read now and then.
const SEEN_EVERY: Duration = Duration::from_secs(2);

/// How long after a fleet lease held elsewhere would run out the claim is made again: its
/// holder's renewal, if it lives, has landed by then.
const LEASE_SLACK: Duration = Duration::from_millis(200);

/// Bytes allocated for a line to the client: a poll (`100 ack=<seq>`) and its line end fit.
const LINE_ROOM: usize = 32;

/// What arrives in a session's mailbox.
#[derive(Debug)]
pub enum SessionEvent {
    /// A line from the client (tcp_reader).
    Line(String),
    /// The connection ended: EOF (`None`) or why (tcp_reader).
    ReaderClosed(Option<String>),
    /// The TLS handshake failed: why (tcp_reader).
    TlsFailed(String),
    /// The id is registered (Manager).
    Registered,
    /// A live session holds the id (Manager).
    IdInUse,
    /// A reload took away what this client logged in with (its token removed or changed); the
    /// Manager has already sent 111 (before registration) or closed the connection (after).
    Revoked,
    /// Another server of the fleet took this client's lease; the Manager has closed the
    /// connection (no 999: the client reconnects, and finds its other server).
    LeaseLost,
    /// A batch that wanted to know is written: the [`AckTable`] covers it now (sink).
    Flushed,
    /// Send a keep-alive now (the console's `200`).
    PollNow,
    /// The operator disconnected this client; 999 is already on its way (Manager).
    Disconnected,
    /// The server is stopping: end without 999 so the client reconnects later (Manager).
    Stop,
}

impl From<Inbound> for SessionEvent {
    fn from(i: Inbound) -> Self {
        match i {
            Inbound::Line(l) => SessionEvent::Line(l),
            Inbound::Closed(why) => SessionEvent::ReaderClosed(why),
            Inbound::TlsFailed(why) => SessionEvent::TlsFailed(why),
        }
    }
}

impl From<Flushed> for SessionEvent {
    fn from(_: Flushed) -> Self {
        SessionEvent::Flushed
    }
}

/// What a session tells the Manager.
#[derive(Debug)]
pub enum SessionReport {
    /// Register `cid`; the answer comes as [`SessionEvent::Registered`] or [`SessionEvent::IdInUse`].
    Register {
        /// Session id.
        sid: u16,
        /// The id the client gave.
        cid: ClientId,
        /// What it logged in with, checked again against the clients file in force.
        credential: Credential,
    },
    /// A login from `ip` failed.
    AuthFailed {
        /// The peer's address.
        ip: IpAddr,
    },
    /// A registered session heard from its client; `values` are the last value per sensor.
    Seen {
        /// Session id.
        sid: u16,
        /// `(sensor, value)` pairs from the latest answer.
        values: Vec<(String, String)>,
        /// The answer said `more` (a backlog still on its way).
        more: bool,
    },
    /// The session has ended.
    Closed {
        /// Session id.
        sid: u16,
    },
}

/// Everything a session thread needs; `M` is the Manager's mailbox type.
pub struct SessionCtx<M> {
    /// Session id.
    pub sid: u16,
    /// The client's address.
    pub peer: SocketAddr,
    /// When the connection was accepted (the handshake deadline counts from here).
    pub accepted: Instant,
    /// Timing and passwords.
    pub config: Arc<Config>,
    /// The Manager's mailbox.
    pub manager: Sender<M>,
    /// The readings sink's mailbox.
    pub sink: SinkSender<SessionEvent>,
    /// The highest seq written per client id: where every ack comes from.
    pub acks: Arc<AckTable>,
    /// Where a registration reads its client's mark when other servers share the store.
    pub registrations: Option<Arc<Registrations>>,
    /// With other servers on the store: the client's lease, so it is registered on one at a time.
    pub presence: Option<Presence>,
    /// The sensor ids each client may report (`--max-sensors-per-client`).
    pub sensors: Arc<SensorRoster>,
    /// This connection's tcp_writer.
    pub writer: mailbox::Sender<WriterMsg>,
    /// This session's own mailbox, and a sender into it for replies.
    pub mailbox: mailbox::Receiver<SessionEvent>,
    /// Sender into [`mailbox`](Self::mailbox), handed to the sink for its wake-ups.
    pub me: mailbox::Sender<SessionEvent>,
    /// Backpressure towards the tcp_reader.
    pub credit: Arc<LineCredit>,
    /// The connection's socket, asked only whether its TLS handshake is done (for the log).
    pub link: Arc<dyn Socket>,
}

/// Why a session ended.
#[derive(Debug)]
enum End {
    PeerClosed,
    Broken(String),
    TlsFailed(String),
    AuthTimeout,
    CheckTimeout,
    WrongPassword(Option<ClientId>),
    Revoked,
    InvalidId,
    IdInUse(ClientId),
    /// Registered on another server of the fleet (its lease there is live).
    IdInUseElsewhere(ClientId, String),
    /// Another server took its lease while it was registered here.
    LeaseLost,
    Dead,
    Disconnected,
    Stopped,
}

/// Closes the connection and unregisters the session when the session ends, however it ends: a
/// panic in a session must not leave its client id taken and its socket open.
struct Farewell<M: From<SessionReport>> {
    sid: u16,
    manager: Sender<M>,
    writer: mailbox::Sender<WriterMsg>,
    credit: Arc<LineCredit>,
    /// [`unregister`](Self::unregister) has told the Manager already.
    unregistered: bool,
}

impl<M: From<SessionReport>> Farewell<M> {
    /// Tells the Manager the session is over (frees its client id) before the connection closes.
    fn unregister(&mut self) {
        if !std::mem::replace(&mut self.unregistered, true) {
            let _ = self.manager.send(SessionReport::Closed { sid: self.sid }.into());
        }
    }
}

impl<M: From<SessionReport>> Drop for Farewell<M> {
    fn drop(&mut self) {
        self.credit.close();
        let _ = self.writer.send(WriterMsg::Close);
        self.unregister();
    }
}

/// Runs a session to its end, then unregisters it and closes the connection.
pub fn run_session<M: From<SessionReport>>(ctx: SessionCtx<M>) {
    let mut farewell = Farewell {
        sid: ctx.sid,
        manager: ctx.manager.clone(),
        writer: ctx.writer.clone(),
        credit: ctx.credit.clone(),
        unregistered: false,
    };
    let mut cid = None;
    let end = match handshake(&ctx, &mut cid) {
        Err(end) => end,
        Ok(()) => match keepalive_loop(&ctx, cid.as_ref().expect("registered")) {
            Err(end) => end,
            Ok(never) => match never {},
        },
    };
    // The id is free before the line that says why (whoever reads it and reconnects at once finds
    // it free), and the line is written before the connection closes (whoever sees the close finds
    // the line).
    farewell.unregister();
    log_end(&ctx, cid.as_ref(), end);
    drop(farewell);
}

/// Logs why a session ended. Out of line and cold: its formatting (a dozen messages) would
/// otherwise sit in [`run_session`]'s frame, below which the keep-alive loop and every answer run
/// (see "session stack" in docs/PERFORMANCE.md: each frame there decides whether a session's stack
/// keeps 2 pages or 3).
#[cold]
#[inline(never)]
fn log_end<M: From<SessionReport>>(ctx: &SessionCtx<M>, cid: Option<&ClientId>, end: End) {
    let who = match cid {
        Some(c) => format!("cid={c} sid={} from {}", ctx.sid, ctx.peer),
        None => format!("sid={} from {}", ctx.sid, ctx.peer),
    };
    match end {
        End::PeerClosed => log::info!("disconnected {who}: peer closed the connection"),
        End::Broken(why) => log::warn!("closing {who}: {why}"),
        End::TlsFailed(why) => {
            // Each ClientHello costs the server a key exchange and a signature: a peer that keeps
            // failing its handshakes is braked like one that keeps guessing passwords.
            ctx.report(SessionReport::AuthFailed { ip: ctx.peer.ip() });
            log::warn!("TLS handshake failed from {}: {why} (sid={})", ctx.peer, ctx.sid)
        }
        End::AuthTimeout => {
            let within = cliser_common::duration::format(ctx.config.auth_timeout);
            match ctx.credit.unframed_bytes() {
                // Silence on a TLS port: most likely a cliser client in clear, waiting for the 110
                // this port sends only inside TLS. Not counted in the brake: a silent peer cost no
                // key exchange, and a half-migrated Pi must keep getting this line, not a block.
                _ if ctx.link.heard_nothing() => log::warn!(
                    "TLS handshake failed from {}: nothing received within {within}, not even a TLS \
                     hello {} (sid={})",
                    ctx.peer,
                    crate::link::plain_or_tls::NOT_TLS_HINT,
                    ctx.sid
                ),
                _ if ctx.link.handshaking() => log::warn!(
                    "auth timeout {who}: its TLS handshake was not finished within {within} (a client \
                     speaking TLS too slowly, or something that is not a cliser client)"
                ),
                0 => log::warn!("auth timeout {who}: no password and id within {within}"),
                n => log::warn!(
                    "auth timeout {who}: no password and id within {within}; the client sent {n} bytes \
                     without a line end: is it an old unframed client? protocol v1 ends every line with \\n"
                ),
            }
        }
        End::CheckTimeout => log::warn!(
            "auth timeout {who}: its token check waited past {} for a free CPU (one check per CPU \
             at a time: a fleet reconnecting at once?); the client will retry",
            cliser_common::duration::format(ctx.config.auth_timeout)
        ),
        End::WrongPassword(None) => log::warn!("auth failed {who} (ip {}): wrong password", ctx.peer.ip()),
        End::WrongPassword(Some(id)) => {
            log::warn!("auth failed {who} (ip {}): wrong password for id {id}", ctx.peer.ip())
        }
        End::Revoked => {
            log::warn!("closing {who}: its token was removed or changed in the clients file (reloaded)")
        }
        End::InvalidId => log::warn!("auth failed {who} (ip {}): invalid id", ctx.peer.ip()),
        End::IdInUse(cid) => {
            log::warn!("refused cid={cid} sid={} from {}: id in use by a live session", ctx.sid, ctx.peer)
        }
        End::IdInUseElsewhere(cid, server) => log::warn!(
            "refused cid={cid} sid={} from {}: id in use by a live session on server {server}",
            ctx.sid,
            ctx.peer
        ),
        End::LeaseLost => log::warn!("closing {who}: registered on another server of the fleet meanwhile"),
        End::Dead => log::warn!("dead session {who}: nothing received for {:?}", ctx.config.dead_timeout()),
        End::Disconnected => log::info!("disconnected {who}: by the operator (999)"),
        End::Stopped => log::info!("disconnected {who}: server stopping"),
    }
}

impl<M: From<SessionReport>> SessionCtx<M> {
    fn send(&self, msg: ServerMsg) {
        // Room for the line end the writer adds: no second allocation for it (one per poll).
        let mut line = String::with_capacity(LINE_ROOM);
        let _ = write!(line, "{msg}");
        // A failed send means the writer is gone; the reader will report the closed connection.
        let _ = self.writer.send(WriterMsg::Line(line));
    }

    fn report(&self, r: SessionReport) {
        // The Manager outlives every session; a failed send means the server is going down anyway.
        let _ = self.manager.send(r.into());
    }

    /// The next event before `deadline`; `Ok(None)` at the deadline.
    fn next(&self, deadline: Instant) -> Result<Option<SessionEvent>, End> {
        match self.mailbox.recv_deadline(deadline) {
            Ok(SessionEvent::Line(l)) => {
                self.credit.release();
                Ok(Some(SessionEvent::Line(l)))
            }
            Ok(SessionEvent::ReaderClosed(None)) => Err(End::PeerClosed),
            Ok(SessionEvent::ReaderClosed(Some(why))) => Err(End::Broken(why)),
            Ok(SessionEvent::TlsFailed(why)) => Err(End::TlsFailed(why)),
            Ok(SessionEvent::Disconnected) => Err(End::Disconnected),
            Ok(SessionEvent::Stop) => Err(End::Stopped),
            Ok(SessionEvent::Revoked) => Err(End::Revoked),
            Ok(SessionEvent::LeaseLost) => Err(End::LeaseLost),
            Ok(ev) => Ok(Some(ev)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            // `me` lives in this struct, so the mailbox cannot disconnect while we read it.
            Err(RecvTimeoutError::Disconnected) => Err(End::Stopped),
        }
    }

    /// When the handshake must be done.
    fn auth_deadline(&self) -> Instant {
        self.accepted + self.config.auth_timeout
    }

    /// Waits for the handshake event `pick` accepts, before the auth deadline.
    fn handshake_wait<T>(&self, pick: impl FnMut(SessionEvent) -> Option<T>) -> Result<T, End> {
        self.wait_for(self.auth_deadline(), pick)
    }

    /// Waits for the event `pick` accepts, before `deadline`.
    fn wait_for<T>(
        &self,
        deadline: Instant,
        mut pick: impl FnMut(SessionEvent) -> Option<T>,
    ) -> Result<T, End> {
        loop {
            match self.next(deadline)? {
                None => return Err(End::AuthTimeout),
                Some(ev) => {
                    if let Some(v) = pick(ev) {
                        return Ok(v);
                    }
                }
            }
        }
    }
}

/// 111, and the failure counted in the brake.
fn refuse<M: From<SessionReport>>(ctx: &SessionCtx<M>, cid: Option<ClientId>) -> End {
    ctx.send(ServerMsg::WrongPassword);
    ctx.report(SessionReport::AuthFailed { ip: ctx.peer.ip() });
    End::WrongPassword(cid)
}

/// 110 and 120, and the check of what the client sent: the password right after 110 as protocol v1
/// says, or, with a clients file, the password and the id together (a token belongs to its id).
fn credentials<M: From<SessionReport>>(ctx: &SessionCtx<M>) -> Result<(ClientId, Credential), End> {
    let line = |ev| match ev {
        SessionEvent::Line(l) => Some(l),
        _ => None,
    };
    ctx.send(ServerMsg::PasswordRequest);
    let password = ctx.handshake_wait(line)?;
    let fleet = ctx.config.password.as_ref();
    let clients = &ctx.config.clients;
    if !clients.is_on() {
        if !fleet.is_some_and(|f| f.matches(&password)) {
            return Err(refuse(ctx, None));
        }
        ctx.send(ServerMsg::IdRequest);
        let Ok(cid) = ClientId::new(&ctx.handshake_wait(line)?) else {
            ctx.send(ServerMsg::IdInvalid);
            return Err(End::InvalidId);
        };
        return Ok((cid, Credential::Fleet));
    }
    ctx.send(ServerMsg::IdRequest);
    let cid = ClientId::new(&ctx.handshake_wait(line)?).ok();
    // On this thread, not the Manager's: argon2 takes tens of milliseconds.
    match clients.check(cid.as_ref(), &password, fleet, ctx.auth_deadline()) {
        Verdict::TimedOut => Err(End::CheckTimeout),
        Verdict::Refused => Err(refuse(ctx, cid)),
        Verdict::Accepted(credential) => match cid {
            Some(cid) => Ok((cid, credential)),
            // The fleet password with an id that is not one.
            None => {
                ctx.send(ServerMsg::IdInvalid);
                Err(End::InvalidId)
            }
        },
    }
}

/// Out of line: its frame (the credentials, the fleet claim) is gone before the keep-alive loop runs.
#[inline(never)]
fn handshake<M: From<SessionReport>>(ctx: &SessionCtx<M>, cid_out: &mut Option<ClientId>) -> Result<(), End> {
    let (cid, credential) = credentials(ctx)?;
    if let Some(presence) = &ctx.presence {
        claim_fleetwide(ctx, presence, &cid)?;
    }
    ctx.report(SessionReport::Register { sid: ctx.sid, cid: cid.clone(), credential });
    // The client has proved itself; a fleet claim may have used the handshake's time up.
    let deadline = ctx.auth_deadline().max(Instant::now() + CLAIM_WAIT);
    let registered = ctx.wait_for(deadline, |ev| match ev {
        SessionEvent::Registered => Some(true),
        SessionEvent::IdInUse => Some(false),
        _ => None,
    })?;
    if !registered {
        ctx.send(ServerMsg::IdInUse);
        return Err(End::IdInUse(cid));
    }
    *cid_out = Some(cid.clone());
    if let Some(r) = &ctx.registrations {
        r.refresh(&cid, &ctx.acks);
    }
    let ack = ctx.acks.get(&cid);
    log::info!("registered cid={cid} sid={} from {}", ctx.sid, ctx.peer);
    // Health reports go to the sink with the readings: this server takes them.
    ctx.send(ServerMsg::Connected { ack, health: true });
    Ok(())
}

/// Takes `cid`'s lease for this server, or answers 121 when another server of the fleet holds a
/// live one. A lease held elsewhere is asked for once more just after it would run out, if the
/// handshake's time allows: a server that died stops renewing, so its Pis move here as soon as
/// its leases expire instead of after their backoff; a live holder has renewed it by then.
fn claim_fleetwide<M: From<SessionReport>>(
    ctx: &SessionCtx<M>,
    presence: &Presence,
    cid: &ClientId,
) -> Result<(), End> {
    let mut verdict = presence.claim(cid, ctx.sid, CLAIM_WAIT);
    if let Holder::Elsewhere { expires_in, .. } = &verdict {
        let again = Instant::now() + *expires_in + LEASE_SLACK;
        if again < ctx.auth_deadline() {
            while ctx.next(again)?.is_some() {}
            verdict = presence.claim(cid, ctx.sid, CLAIM_WAIT);
        }
    }
    match verdict {
        Holder::Here => Ok(()),
        Holder::Unknown => {
            log::warn!("cid={cid}: the fleet's leases could not be asked within {CLAIM_WAIT:?}; registering it here, the claim follows");
            Ok(())
        }
        Holder::Elsewhere { server, .. } => {
            ctx.send(ServerMsg::IdInUse);
            Err(End::IdInUseElsewhere(cid.clone(), server))
        }
    }
}

/// Out of line, like [`handle_line`]: the loop's own frame is what every wait and answer sits on.
#[inline(never)]
fn keepalive_loop<M: From<SessionReport>>(ctx: &SessionCtx<M>, cid: &ClientId) -> Result<Infallible, End> {
    let interval = ctx.config.keepalive;
    // The first poll right after 140, not one interval later: a Pi back from an outage has its
    // backlog waiting (12,000 readings sat idle 10 s at the default interval), and a Pi with
    // nothing waiting answers a bare `100`. The cadence counts from here.
    ctx.send(ServerMsg::KeepAlive { ack: ctx.acks.get(cid) });
    let mut next_poll = Instant::now() + interval;
    let mut last_rx = Instant::now();
    let mut last_seen_sent: Option<Instant> = None;
    let mut poll_when_flushed = false;
    loop {
        let dead_at = last_rx + ctx.config.dead_timeout();
        let event = ctx.next(next_poll.min(dead_at))?;
        let now = Instant::now();
        let mut poll_now = false;
        match event {
            None if now >= dead_at => return Err(End::Dead),
            None => poll_now = now >= next_poll,
            Some(SessionEvent::Line(line)) => {
                last_rx = now;
                let tell_manager = last_seen_sent.is_none_or(|t| now.duration_since(t) >= SEEN_EVERY);
                if tell_manager {
                    last_seen_sent = Some(now);
                }
                match handle_line(ctx, cid, &line, tell_manager) {
                    // Poll again at once, but only after what this answer carried is flushed, so the
                    // poll's ack covers it.
                    Answer::More { waiting_for_flush: true } => poll_when_flushed = true,
                    Answer::More { waiting_for_flush: false } => poll_now = true,
                    Answer::Done => {}
                }
            }
            Some(SessionEvent::Flushed) => {
                poll_now = poll_when_flushed;
                poll_when_flushed = false;
            }
            Some(SessionEvent::PollNow) => poll_now = true,
            Some(other) => debug_ignored(ctx.sid, &other),
        }
        if poll_now {
            ctx.send(ServerMsg::KeepAlive { ack: ctx.acks.get(cid) });
            next_poll = Instant::now() + interval;
        }
    }
}

/// What an answer asks of the session.
enum Answer {
    /// Poll at the interval.
    Done,
    /// Poll again at once (`more`), after the flush if readings are on their way to the sink.
    More { waiting_for_flush: bool },
}

/// Handles one line of a registered client. Out of line, and its rare paths (warnings, the
/// Manager's `Seen`) in functions of their own, so the frame below which the sink's send runs stays
/// small: a session's stack keeps 2 pages only if an answer stays ~8 KB below the top.
#[inline(never)]
fn handle_line<M: From<SessionReport>>(
    ctx: &SessionCtx<M>,
    cid: &ClientId,
    line: &str,
    tell_manager: bool,
) -> Answer {
    let parsed = match parse_line(line) {
        Ok(ClientLine::KeepAlive(p)) => p,
        Ok(ClientLine::ShutdownAck) => {
            info_shutdown_ack(cid);
            ctx.report(SessionReport::Seen { sid: ctx.sid, values: Vec::new(), more: false });
            return Answer::Done;
        }
        Err(e) => {
            warn_not_an_answer(ctx, cid, &e);
            return Answer::Done;
        }
    };
    if !parsed.rejected.is_empty() {
        warn_rejected(ctx, cid, &parsed.rejected);
    }
    let mut answer = parsed.answer;
    let refused = ctx.sensors.admit(cid, &mut answer.readings);
    if refused.first {
        warn_refused(ctx, cid, &refused.sensors);
    }
    if refused.readings > 0 && answer.readings.is_empty() {
        // Nothing of this answer is stored, so the ack will not move: polling again at once for
        // its `more` would have the client resend the same refused readings in a loop.
        return Answer::Done;
    }
    if tell_manager {
        report_seen(ctx, &answer);
    }
    if answer.readings.is_empty() && answer.health.is_empty() && answer.facts.is_empty() {
        return if answer.more { Answer::More { waiting_for_flush: false } } else { Answer::Done };
    }
    let batch = Batch {
        cid: cid.clone(),
        readings: answer.readings,
        health: answer.health,
        facts: answer.facts,
        received: SystemTime::now(),
        wake: answer.more.then(|| ctx.me.clone()),
    };
    let sent = send_batch(&ctx.sink, batch);
    if answer.more {
        Answer::More { waiting_for_flush: sent }
    } else {
        Answer::Done
    }
}

/// [`ClientLine::parse`] in a frame of its own: inlined (link-time optimisation does it across
/// crates), the parser's locals for readings, health and facts tokens were added to
/// [`handle_line`]'s frame, below which the sink's send then ran.
#[inline(never)]
fn parse_line(line: &str) -> Result<ClientLine, ParseError> {
    ClientLine::parse(line)
}

/// Hands `batch` to the sink; whether it took it. In a frame of its own: `mpmc`'s send, inlined,
/// made [`handle_line`]'s frame 1.3 KB (its blocking flavours' copies of the message included).
#[inline(never)]
fn send_batch(sink: &SinkSender<SessionEvent>, batch: Batch<SessionEvent>) -> bool {
    sink.send(batch).is_ok()
}

#[cold]
#[inline(never)]
fn debug_ignored(sid: u16, event: &SessionEvent) {
    log::debug!("sid={sid} ignoring {event:?} after registration");
}

#[cold]
#[inline(never)]
fn info_shutdown_ack(cid: &ClientId) {
    log::info!("cid={cid} acknowledged 130: shutting its machine down");
}

#[cold]
#[inline(never)]
fn warn_not_an_answer<M>(ctx: &SessionCtx<M>, cid: &ClientId, e: &ParseError) {
    log::warn!("cid={cid} from {}: ignoring a line that is not an answer: {e}", ctx.peer);
}

#[cold]
#[inline(never)]
fn warn_rejected<M>(ctx: &SessionCtx<M>, cid: &ClientId, rejected: &[RejectedToken]) {
    for bad in rejected {
        log::warn!("cid={cid} from {}: ignoring malformed token {:?}: {}", ctx.peer, bad.token, bad.error);
    }
}

#[cold]
#[inline(never)]
fn warn_refused<M>(ctx: &SessionCtx<M>, cid: &ClientId, sensors: &[SensorId]) {
    let shown: Vec<String> = sensors.iter().take(5).map(ToString::to_string).collect();
    let more = sensors.len().saturating_sub(shown.len());
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    log::warn!(
        "cid={cid} from {}: refusing the readings of sensor ids beyond its first {} \
         (--max-sensors-per-client): {}{more}; they are refused by configuration, not stored nor \
         acknowledged (a later stored reading's ack covers them), and counted in the console's L; \
         its other sensors are stored as usual. Said once per client.",
        ctx.peer,
        ctx.sensors.limit(),
        shown.join(", ")
    );
}

/// Tells the Manager the answer's last values (every [`SEEN_EVERY`]): out of line, its strings are
/// formatted in a frame of their own.
#[inline(never)]
fn report_seen<M: From<SessionReport>>(ctx: &SessionCtx<M>, answer: &KeepAliveAnswer) {
    let values = answer
        .readings
        .iter()
        .map(|r| {
            let v = match &r.value {
                Value::Celsius(c) => c.fixed().to_string(),
                Value::Error(e) => format!("err:{e}"),
            };
            (r.sensor.to_string(), v)
        })
        .collect();
    ctx.report(SessionReport::Seen { sid: ctx.sid, values, more: answer.more });
}
