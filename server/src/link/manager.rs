//! The Manager thread: the only owner of the client registry. Connections are admitted here, sessions
//! register and unregister here, and the console's commands are carried out here.
//!
//! It is the hub: it owns its mailbox and holds a sender to every connection's session and writer.
//! The modules it starts (session, conn, sink) define the messages they emit and never name this
//! module's types, so dependencies point one way, from here outwards.

use crate::auth::brake::Brake;
use crate::auth::credentials::Credential;
use crate::config::Config;
use crate::fleet::presence::Presence;
use crate::link::conn::{self, LineCredit, WriterMsg, CONN_THREAD_STACK, TLS_THREAD_STACK};
use crate::link::last_values::LastValues;
use crate::link::plain_or_tls::Link;
use crate::link::session::{self, SessionCtx, SessionEvent, SessionReport};
use crate::link::small_thread::spawn_detached;
use crate::readings::ack_table::AckTable;
use crate::readings::registrations::Registrations;
use crate::readings::sensor_cap::SensorRoster;
use crate::readings::sink::SinkSender;
use crate::readings::watchers::Watchers;
use cliser_common::mailbox::{self, Sender as MailboxSender};
use cliser_common::sensors::SharedSettings;
use cliser_protocol::{Celsius, ClientId, ServerMsg};
use cliser_web::LiveEvent;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// What arrives in the Manager's mailbox.
#[derive(Debug)]
pub enum ManagerEvent {
    /// A listener accepted a connection.
    Accepted(TcpStream, SocketAddr, Transport),
    /// A session's report.
    Session(SessionReport),
    /// An admin command; the reply text goes to `reply`.
    Admin(AdminCmd, Sender<String>),
    /// Another server of the fleet took this client's lease: close its session here.
    LeaseLost(ClientId),
    /// Stop: close every connection without 999, then end.
    Shutdown,
}

/// What a Manager on a store other servers may share uses; both `None` with SQLite (one server).
#[derive(Debug, Default)]
pub struct Fleetwide {
    /// Where registrations read their client's mark from the database.
    pub registrations: Option<Registrations>,
    /// The clients' leases, so each is registered on one server of the fleet at a time.
    pub presence: Option<Presence>,
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `--listen`: the protocol in clear.
    Plain,
    /// `--listen-tls`: the protocol inside TLS.
    Tls,
}

impl From<SessionReport> for ManagerEvent {
    fn from(r: SessionReport) -> Self {
        ManagerEvent::Session(r)
    }
}

/// The console's commands that the Manager carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCmd {
    /// `200:` keep-alive to all now.
    KeepAliveAll,
    /// `201:` 999 to all, then close and unregister them.
    DisconnectAll,
    /// `202:<cid>` 999 to one.
    Disconnect(String),
    /// `203:<cid>` 130 to one.
    ShutdownSys(String),
    /// `204:all` 130 to every registered client.
    ShutdownAll,
    /// `L` list the clients.
    List,
    /// The clients file was reloaded (SIGHUP, `R`): close every session whose token was removed or
    /// changed, or that logged in with the fleet password as an id the file now lists.
    CloseRevoked,
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Between accept and 140.
    Authenticating,
    /// Registered, in the keep-alive loop.
    Registered,
}

/// One connection in the registry (the original design's `ClientData`).
#[derive(Debug)]
pub struct ClientData {
    /// Session id.
    pub id: u16,
    /// Peer ip.
    pub ip: IpAddr,
    /// Peer port.
    pub port: u16,
    /// Where it is in its life.
    pub status: Status,
    /// The client id, once registered.
    pub cid: Option<ClientId>,
    /// What it logged in with, once registered.
    pub credential: Option<Credential>,
    /// Its tcp_writer's mailbox.
    pub sender_tcp_writer: MailboxSender<WriterMsg>,
    /// Its session's mailbox.
    pub sender_session: MailboxSender<SessionEvent>,
    /// When it connected.
    pub since: SystemTime,
    /// When its client was last heard.
    pub last_seen: SystemTime,
    /// Last value per sensor.
    pub last_values: LastValues,
}

/// The Manager's state; [`Manager::run`] is the thread's body.
pub struct Manager {
    config: Arc<Config>,
    me: Sender<ManagerEvent>,
    sink: SinkSender<SessionEvent>,
    acks: Arc<AckTable>,
    registrations: Option<Arc<Registrations>>,
    presence: Option<Presence>,
    /// Each client's sensor ids, within `--max-sensors-per-client`.
    sensors: Arc<SensorRoster>,
    registry: HashMap<u16, ClientData>,
    by_cid: HashMap<ClientId, u16>,
    next_sid: u16,
    brake: Arc<Brake>,
    watchers: Watchers,
    stopping: bool,
    /// Most connections seen since the heap was last trimmed.
    peak_since_trim: usize,
    /// Names for the console's `L`.
    settings: SharedSettings,
}

impl Manager {
    /// Shows sensors with the names (and calibration) of `settings` in the console's `L`.
    pub fn use_settings(&mut self, settings: SharedSettings) {
        self.settings = settings;
    }

    /// A Manager that hands `me`, `sink` and `acks` to the sessions it starts, refuses ips the
    /// `brake` blocks, and tells the `watchers` who comes and goes.
    pub fn new(
        config: Arc<Config>,
        me: Sender<ManagerEvent>,
        sink: SinkSender<SessionEvent>,
        acks: Arc<AckTable>,
        fleetwide: Fleetwide,
        brake: Arc<Brake>,
        watchers: Watchers,
    ) -> Self {
        Manager {
            sensors: Arc::new(SensorRoster::new(config.max_sensors_per_client)),
            config,
            me,
            sink,
            acks,
            registrations: fleetwide.registrations.map(Arc::new),
            presence: fleetwide.presence,
            registry: HashMap::new(),
            by_cid: HashMap::new(),
            next_sid: 1,
            brake,
            watchers,
            settings: SharedSettings::default(),
            stopping: false,
            peak_since_trim: 0,
        }
    }

    /// Handles events until [`ManagerEvent::Shutdown`] has arrived and every connection has ended.
    pub fn run(mut self, mailbox: Receiver<ManagerEvent>) {
        while let Ok(event) = mailbox.recv() {
            match event {
                ManagerEvent::Accepted(stream, peer, transport) => self.admit(stream, peer, transport),
                ManagerEvent::Session(report) => self.session_report(report),
                ManagerEvent::Admin(cmd, reply) => {
                    let _ = reply.send(self.admin(cmd));
                }
                ManagerEvent::LeaseLost(cid) => self.lease_lost(&cid),
                ManagerEvent::Shutdown => {
                    self.stopping = true;
                    for c in self.registry.values() {
                        let _ = c.sender_tcp_writer.send(WriterMsg::Close);
                        let _ = c.sender_session.send(SessionEvent::Stop);
                    }
                }
            }
            if self.stopping && self.registry.is_empty() {
                break;
            }
        }
    }

    fn session_report(&mut self, report: SessionReport) {
        match report {
            SessionReport::Register { sid, cid, credential } => self.register(sid, cid, credential),
            SessionReport::AuthFailed { ip } => {
                self.brake.record_failure(ip);
                self.watchers.live(LiveEvent::AuthFailed);
            }
            SessionReport::Seen { sid, values, more } => {
                if let Some(c) = self.registry.get_mut(&sid) {
                    c.last_seen = SystemTime::now();
                    c.last_values.extend(values);
                    if let Some(cid) = c.cid.clone() {
                        let at = c.last_seen;
                        self.watchers.live(LiveEvent::Seen { cid, at, more });
                    }
                }
            }
            SessionReport::Closed { sid } => self.unregister(sid),
        }
    }

    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, transport: Transport) {
        if self.stopping {
            return;
        }
        if self.brake.is_blocked(peer.ip()) {
            log::warn!("refusing connection from {peer}: too many failed logins from {}", peer.ip());
            return;
        }
        if self.registry.len() >= self.config.max_clients {
            log::warn!("refusing connection from {peer}: max clients ({}) reached", self.config.max_clients);
            return;
        }
        let Some(sid) = self.free_sid() else {
            log::warn!("refusing connection from {peer}: no free session id");
            return;
        };
        match self.spawn_connection(sid, stream, peer, transport) {
            Ok((writer, session)) => {
                match transport {
                    Transport::Plain => log::info!("connection from {peer} sid={sid}"),
                    Transport::Tls => log::info!("TLS connection from {peer} sid={sid}"),
                }
                let t = SystemTime::now();
                self.registry.insert(
                    sid,
                    ClientData {
                        id: sid,
                        ip: peer.ip(),
                        port: peer.port(),
                        status: Status::Authenticating,
                        cid: None,
                        credential: None,
                        sender_tcp_writer: writer,
                        sender_session: session,
                        since: t,
                        last_seen: t,
                        last_values: LastValues::default(),
                    },
                );
                self.watchers.live(LiveEvent::Sessions(self.registry.len()));
            }
            Err(e) => log::error!("refusing connection from {peer}: cannot start its threads: {e}"),
        }
    }

    fn free_sid(&mut self) -> Option<u16> {
        for _ in 0..=u16::MAX {
            let sid = self.next_sid;
            self.next_sid = self.next_sid.checked_add(1).unwrap_or(1);
            if sid != 0 && !self.registry.contains_key(&sid) {
                return Some(sid);
            }
        }
        None
    }

    /// Starts the tcp_writer, tcp_reader and session threads of a connection. If a later thread cannot
    /// start, dropping the senders makes the earlier ones end and close the socket.
    fn spawn_connection(
        &self,
        sid: u16,
        stream: TcpStream,
        peer: SocketAddr,
        transport: Transport,
    ) -> std::io::Result<(MailboxSender<WriterMsg>, MailboxSender<SessionEvent>)> {
        // Small lines both ways: send them now rather than wait for more.
        let _ = stream.set_nodelay(true);
        // A peer that stops reading must not hold its writer forever.
        stream.set_write_timeout(Some(self.config.dead_timeout()))?;
        let (link, stack) = match (transport, &self.config.tls) {
            (Transport::Tls, Some(tls)) => (Link::tls(stream, tls.server.clone())?, TLS_THREAD_STACK),
            _ => (Link::Plain(stream), CONN_THREAD_STACK),
        };
        let socket = Arc::new(link);
        let (read_half, session_link) = (socket.clone(), socket.clone());
        let (writer_tx, writer_rx) = mailbox::mailbox();
        let (session_tx, session_rx) = mailbox::mailbox();
        let credit = Arc::new(LineCredit::default());
        let name = |role: &str| format!("{role}-{sid}");
        spawn_detached(&name("tcp_writer"), stack, move || conn::tcp_writer(socket, writer_rx))?;
        let (reader_session, reader_credit) = (session_tx.clone(), credit.clone());
        let reader = move || conn::tcp_reader(read_half, reader_session, reader_credit);
        spawn_detached(&name("tcp_reader"), stack, reader)?;
        let ctx = SessionCtx {
            sid,
            peer,
            accepted: Instant::now(),
            config: self.config.clone(),
            manager: self.me.clone(),
            sink: self.sink.clone(),
            acks: self.acks.clone(),
            registrations: self.registrations.clone(),
            presence: self.presence.clone(),
            sensors: self.sensors.clone(),
            writer: writer_tx.clone(),
            mailbox: session_rx,
            me: session_tx.clone(),
            credit,
            link: session_link,
        };
        spawn_detached(&name("session"), CONN_THREAD_STACK, move || session::run_session(ctx))?;
        Ok((writer_tx, session_tx))
    }

    /// Whether `credential` proves `cid` under the clients file in force now: the session checked
    /// it against the file as it was, and a reload may have come in between.
    fn still_holds(&self, cid: &ClientId, credential: &Credential) -> bool {
        self.config.clients.get().still_holds(cid, credential)
    }

    fn register(&mut self, sid: u16, cid: ClientId, credential: Credential) {
        let holds = self.still_holds(&cid, &credential);
        let Some(client) = self.registry.get_mut(&sid) else { return };
        if !holds {
            let _ = client.sender_tcp_writer.send(WriterMsg::Line(ServerMsg::WrongPassword.to_string()));
            let _ = client.sender_session.send(SessionEvent::Revoked);
            return;
        }
        if self.stopping || self.by_cid.contains_key(&cid) {
            let _ = client.sender_session.send(SessionEvent::IdInUse);
            return;
        }
        client.status = Status::Registered;
        client.cid = Some(cid.clone());
        client.credential = Some(credential);
        client.since = SystemTime::now();
        client.last_seen = client.since;
        self.by_cid.insert(cid.clone(), sid);
        let _ = client.sender_session.send(SessionEvent::Registered);
        let (addr, at) = (SocketAddr::new(client.ip, client.port), client.since);
        self.watchers.node_up(cid, addr, at);
    }

    fn unregister(&mut self, sid: u16) {
        if let Some(c) = self.registry.remove(&sid) {
            if let Some(cid) = c.cid {
                if self.by_cid.get(&cid) == Some(&sid) {
                    self.by_cid.remove(&cid);
                    if let Some(presence) = &self.presence {
                        presence.release(&cid, sid);
                    }
                    self.watchers.node_down(cid);
                }
            }
            self.watchers.live(LiveEvent::Sessions(self.registry.len()));
        }
        self.release_memory_after_a_drop();
    }

    /// After a flood of connections has gone, hands the freed heap back to the system: the allocator
    /// keeps it otherwise, and a server that weathered one attack should not look leaky for months.
    fn release_memory_after_a_drop(&mut self) {
        let n = self.registry.len();
        self.peak_since_trim = self.peak_since_trim.max(n + 1);
        if self.peak_since_trim >= 256 && n <= self.peak_since_trim / 4 {
            crate::link::process_limits::release_free_memory();
            self.peak_since_trim = n;
        }
    }

    /// Sends 999 to a registered client, closes it, and unregisters it at once.
    fn disconnect(&mut self, sid: u16) {
        if let Some(c) = self.registry.get(&sid) {
            let _ = c.sender_tcp_writer.send(WriterMsg::Line(ServerMsg::Disconnect.to_string()));
            let _ = c.sender_tcp_writer.send(WriterMsg::Close);
            let _ = c.sender_session.send(SessionEvent::Disconnected);
        }
        self.unregister(sid);
    }

    /// Closes the session of `cid`, registered on another server now (no 999: the client comes
    /// back, and is told 121 here while that server holds it).
    fn lease_lost(&mut self, cid: &ClientId) {
        let Some(&sid) = self.by_cid.get(cid) else { return };
        if let Some(c) = self.registry.get(&sid) {
            let _ = c.sender_session.send(SessionEvent::LeaseLost);
            let _ = c.sender_tcp_writer.send(WriterMsg::Close);
        }
        self.unregister(sid);
    }

    /// Closes the registered sessions whose credential a reload took away (no 999: the client comes
    /// back, and is refused with 111). Returns how many.
    fn close_revoked(&mut self) -> usize {
        let table = self.config.clients.get();
        let revoked: Vec<u16> = self
            .registry
            .values()
            .filter(|c| match (&c.cid, &c.credential) {
                (Some(cid), Some(cred)) => !table.still_holds(cid, cred),
                _ => false,
            })
            .map(|c| c.id)
            .collect();
        for &sid in &revoked {
            if let Some(c) = self.registry.get(&sid) {
                // The session hears why before the reader can tell it the connection closed.
                let _ = c.sender_session.send(SessionEvent::Revoked);
                let _ = c.sender_tcp_writer.send(WriterMsg::Close);
            }
            self.unregister(sid);
        }
        revoked.len()
    }

    fn admin(&mut self, cmd: AdminCmd) -> String {
        let registered: Vec<u16> = self.by_cid.values().copied().collect();
        let by_text = |m: &Self, cid: &str| ClientId::new(cid).ok().and_then(|c| m.by_cid.get(&c).copied());
        match cmd {
            AdminCmd::KeepAliveAll => {
                for sid in &registered {
                    let _ = self.registry[sid].sender_session.send(SessionEvent::PollNow);
                }
                format!("ok: keep-alive sent to {} clients", registered.len())
            }
            AdminCmd::DisconnectAll => {
                for &sid in &registered {
                    self.disconnect(sid);
                }
                format!("ok: {} clients disconnected", registered.len())
            }
            AdminCmd::Disconnect(cid) => match by_text(self, &cid) {
                Some(sid) => {
                    self.disconnect(sid);
                    "ok".into()
                }
                None => format!("error: no client {cid}"),
            },
            AdminCmd::ShutdownSys(cid) => match by_text(self, &cid) {
                Some(sid) => {
                    let line = ServerMsg::ShutdownSys.to_string();
                    let _ = self.registry[&sid].sender_tcp_writer.send(WriterMsg::Line(line));
                    "ok".into()
                }
                None => format!("error: no client {cid}"),
            },
            AdminCmd::ShutdownAll => {
                let line = ServerMsg::ShutdownSys.to_string();
                for sid in &registered {
                    let _ = self.registry[sid].sender_tcp_writer.send(WriterMsg::Line(line.clone()));
                }
                log::warn!("console 204:all: 130 (shut down) sent to {} clients", registered.len());
                format!("ok: 130 sent to {} clients", registered.len())
            }
            AdminCmd::List => self.list(),
            AdminCmd::CloseRevoked => match self.close_revoked() {
                1 => "1 session closed".into(),
                n => format!("{n} sessions closed"),
            },
        }
    }

    fn list(&self) -> String {
        if self.registry.is_empty() {
            return "No clients connected".into();
        }
        let settings = self.settings.get();
        let mut sids: Vec<&u16> = self.registry.keys().collect();
        sids.sort();
        let mut out = String::new();
        for sid in sids {
            let c = &self.registry[sid];
            let status = match c.status {
                Status::Authenticating => "authenticating",
                Status::Registered => "registered",
            };
            let cid = c.cid.as_ref().map_or("-", ClientId::as_str);
            let _ = write!(
                out,
                "sid={} cid={cid} ip={} port={} status={status} since={} last_seen={}",
                c.id,
                c.ip,
                c.port,
                humantime::format_rfc3339_seconds(c.since),
                humantime::format_rfc3339_seconds(c.last_seen),
            );
            // Readings of sensor ids past --max-sensors-per-client: refused, and counted here.
            let refused = c.cid.as_ref().map_or(0, |cid| self.sensors.refused(cid));
            if refused > 0 {
                let _ = write!(out, " refused_readings={refused}");
            }
            for (sensor, value) in c.last_values.iter() {
                // `name(28-...)=-18.250`: the name and the true value when the config file has them.
                let shown = match Celsius::parse(value) {
                    Some(raw) => settings.calibrate(sensor, raw).fixed().to_string(),
                    None => value.clone(),
                };
                match settings.name(sensor) {
                    Some(name) => {
                        let _ = write!(out, " {name}({sensor})={shown}");
                    }
                    None => {
                        let _ = write!(out, " {sensor}={shown}");
                    }
                }
            }
            out.push('\n');
        }
        out.pop();
        out
    }
}
