//! The admin console: a line-based console on its own port (`--console ADDR`). It reads commands, asks the
//! Manager to carry them out, and prints the Manager's answer.

use crate::auth::brake::{Brake, Secret};
use crate::console::conn::{ConsoleStream, HandshakeError};
use crate::link::manager::{AdminCmd, ManagerEvent};
use cliser_alerts::admin::{MatcherError, Request};
use cliser_alerts::Kind;
use cliser_common::duration::DurationError;
use cliser_common::lines::LineReader;
use cliser_protocol::{ClientId, IdentError, SensorId};
use cliser_tls::rustls::ServerConfig;
use cliser_web::LiveEvent;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HELP: &str = "\
200:        keep-alive to all clients now
201:        disconnect all clients (999)
202:<cid>   disconnect one client (999)
203:<cid>   shut one client's machine down (130)
204:all     shut EVERY connected client's machine down (130; for a power cut: they stay off)
L           list clients
A           list firing alerts (with who acknowledged them, and the silence holding them)
H           alert history: the last 50 events (fired, resolved, acknowledged, silenced, ...)
S           silences in force
S+ <cid> <sensor|name> <kind> <duration> <by> <comment...>
            silence matching alerts for <duration> (each of the first three may be *)
S- <id>     end a silence now
K <kind> <cid>[/<sensor>] <by> <note...>
            acknowledge a firing alert
F:<cid>     forget a node (F:<cid>/<sensor>: one sensor); its readings are kept
N           per-sensor health (last value, readings, errors by reason, seq gaps) and the
            Pis' bus health over the last hour (reads, error rate, retries, mean read, ! above 1 %;
            by bus when a Pi has several)
X           exporters (MQTT, InfluxDB): connected, lag in readings and seconds, last error
F           the fleet: this server, the leader (runs retention and the exporters), the live servers
R           reload names, calibration, limits and alert targets from the config file, and the clients file
E           end this admin session
Q           stop the server
?           this help";

/// The console's `Q`: someone asks the server to stop. Sent through a sender of any type that can
/// carry it, so the console need not know what starts and stops the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quit;

/// A console question for the server thread (which answers it or passes it on): the answer text
/// goes to the sender.
#[derive(Debug)]
pub enum Ask {
    /// `R`: reload the config file's names, calibration and limits.
    Reload(Sender<String>),
    /// `A`: the firing alerts.
    Alerts(Sender<String>),
    /// `N`: per-sensor health.
    Health(Sender<String>),
    /// `X`: the exporters' status.
    Exporters(Sender<String>),
    /// `F`: the fleet (this server, the leader, the live servers).
    Fleet(Sender<String>),
    /// `H`, `S`, `S+`, `S-`, `F:`, `K`: for the alerts thread, which has the store connection.
    AlertAdmin(Request, Sender<String>),
}

/// What `A`, `N`, `R`, `X` and `F` ask, before the reply channel is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// `R`.
    Reload,
    /// `A`.
    Alerts,
    /// `N`.
    Health,
    /// `X`.
    Exporters,
    /// `F`.
    Fleet,
}

/// One parsed console line.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Carried out by the Manager.
    Manager(AdminCmd),
    /// `E`.
    End,
    /// `Q`.
    Quit,
    /// `?`.
    Help,
    /// `A`, `N`, `R`, `X`, `F`.
    Ask(Question),
    /// `H`, `S`, `S+`, `S-`, `F:`, `K`.
    Alerts(Request),
    /// A known command with bad arguments: what is wrong.
    Bad(BadArguments),
    /// Anything else.
    Invalid,
}

impl Command {
    /// Parses a console line (surrounding white space ignored).
    pub fn parse(line: &str) -> Command {
        let line = line.trim();
        let cid = |rest: &str| rest.trim().to_owned();
        match line {
            "200:" | "200" => Command::Manager(AdminCmd::KeepAliveAll),
            "201:" | "201" => Command::Manager(AdminCmd::DisconnectAll),
            "L" | "l" => Command::Manager(AdminCmd::List),
            "204:all" => Command::Manager(AdminCmd::ShutdownAll),
            "A" | "a" => Command::Ask(Question::Alerts),
            "N" | "n" => Command::Ask(Question::Health),
            "X" | "x" => Command::Ask(Question::Exporters),
            "F" | "f" => Command::Ask(Question::Fleet),
            "R" | "r" => Command::Ask(Question::Reload),
            "H" | "h" => Command::Alerts(Request::History),
            "S" | "s" => Command::Alerts(Request::Silences),
            "E" | "e" => Command::End,
            "Q" | "q" => Command::Quit,
            "?" => Command::Help,
            _ => match line.split_once(':') {
                Some(("202", rest)) if !rest.trim().is_empty() => {
                    Command::Manager(AdminCmd::Disconnect(cid(rest)))
                }
                Some(("203", rest)) if !rest.trim().is_empty() => {
                    Command::Manager(AdminCmd::ShutdownSys(cid(rest)))
                }
                Some(("F" | "f", rest)) => alerts_command(forget(rest.trim())),
                _ => match line.split_once(char::is_whitespace).unwrap_or((line, "")) {
                    ("S+" | "s+", rest) => alerts_command(silence_add(rest)),
                    ("S-" | "s-", rest) => alerts_command(silence_end(rest.trim())),
                    ("K" | "k", rest) => alerts_command(ack(rest)),
                    _ => Command::Invalid,
                },
            },
        }
    }
}

/// Why a known command's arguments are refused; the message starts with the command's usage or
/// names the argument, as the console prints it after `error: `.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadArguments {
    /// A word the command needs is missing.
    #[error("{usage}: {what} is missing")]
    Missing {
        /// The command's usage line.
        usage: &'static str,
        /// The missing word as the usage names it (`<duration>`).
        what: &'static str,
    },
    /// `F:` or `K` without a client id.
    #[error("{usage}: the client id is missing")]
    NoClientId {
        /// The command's usage line.
        usage: &'static str,
    },
    /// Not a client id.
    #[error("{usage}: client id {cid:?}: {source}")]
    ClientId {
        /// The command's usage line.
        usage: &'static str,
        /// The id as typed.
        cid: String,
        /// Why not.
        source: IdentError,
    },
    /// Not a sensor id.
    #[error("{usage}: sensor {sensor:?}: {source}")]
    SensorId {
        /// The command's usage line.
        usage: &'static str,
        /// The id as typed.
        sensor: String,
        /// Why not.
        source: IdentError,
    },
    /// A silence's matcher is refused.
    #[error(transparent)]
    Matcher(#[from] MatcherError),
    /// A silence's duration does not parse, or is zero.
    #[error("duration {text:?}: {source}")]
    Duration {
        /// The duration as typed.
        text: String,
        /// Why.
        source: DurationError,
    },
    /// `S-` without an id.
    #[error("S- <id>: the silence id is missing")]
    NoSilenceId,
    /// `S-` with something other than a silence id.
    #[error("S- <id>: {text:?} is not a silence id (a number, as S lists them)")]
    SilenceId {
        /// What was typed.
        text: String,
    },
    /// `K` with something other than an alert kind.
    #[error("kind {text:?}: not an alert kind ({})", alert_kinds())]
    Kind {
        /// What was typed.
        text: String,
    },
}

/// The alert kinds, for [`BadArguments::Kind`]'s message.
fn alert_kinds() -> String {
    Kind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

fn alerts_command(parsed: Result<Request, BadArguments>) -> Command {
    parsed.map_or_else(Command::Bad, Command::Alerts)
}

/// `<cid>` or `<cid>/<sensor>`, checked as the protocol checks ids.
fn node_or_sensor(text: &str, usage: &'static str) -> Result<(String, Option<String>), BadArguments> {
    if text.is_empty() {
        return Err(BadArguments::NoClientId { usage });
    }
    let (cid, sensor) = match text.split_once('/') {
        Some((cid, sensor)) => (cid, Some(sensor)),
        None => (text, None),
    };
    ClientId::new(cid).map_err(|source| BadArguments::ClientId { usage, cid: cid.to_owned(), source })?;
    if let Some(s) = sensor {
        SensorId::new(s).map_err(|source| BadArguments::SensorId { usage, sensor: s.to_owned(), source })?;
    }
    Ok((cid.to_owned(), sensor.map(str::to_owned)))
}

fn forget(rest: &str) -> Result<Request, BadArguments> {
    let (cid, sensor) = node_or_sensor(rest, "F:<cid> or F:<cid>/<sensor>")?;
    Ok(Request::Forget { cid, sensor })
}

const SILENCE_USAGE: &str = "S+ <cid> <sensor|name> <kind> <duration> <by> <comment...>";

fn silence_add(rest: &str) -> Result<Request, BadArguments> {
    let mut words = rest.split_whitespace();
    let mut next =
        |what: &'static str| words.next().ok_or(BadArguments::Missing { usage: SILENCE_USAGE, what });
    let (cid, sensor, kind) = (next("<cid>")?, next("<sensor|name>")?, next("<kind>")?);
    let duration_text = next("<duration>")?;
    let by = next("<by>")?.to_owned();
    let comment = words.collect::<Vec<_>>().join(" ");
    cliser_alerts::admin::check_matcher(cid, sensor, kind)?;
    let duration = cliser_common::duration::parse_positive(duration_text)
        .map_err(|source| BadArguments::Duration { text: duration_text.to_owned(), source })?;
    Ok(Request::SilenceAdd {
        cid: cid.into(),
        sensor: sensor.into(),
        kind: kind.into(),
        duration,
        by,
        comment,
    })
}

fn silence_end(rest: &str) -> Result<Request, BadArguments> {
    match rest.parse::<i64>() {
        Ok(id) if id > 0 => Ok(Request::SilenceEnd(id)),
        _ if rest.is_empty() => Err(BadArguments::NoSilenceId),
        _ => Err(BadArguments::SilenceId { text: rest.to_owned() }),
    }
}

const ACK_USAGE: &str = "K <kind> <cid>[/<sensor>] <by> <note...>";

fn ack(rest: &str) -> Result<Request, BadArguments> {
    let mut words = rest.split_whitespace();
    let mut next = |what: &'static str| words.next().ok_or(BadArguments::Missing { usage: ACK_USAGE, what });
    let kind_text = next("<kind>")?;
    let target = next("<cid>")?;
    let by = next("<by>")?.to_owned();
    let note = words.collect::<Vec<_>>().join(" ");
    let kind = Kind::parse(kind_text).ok_or_else(|| BadArguments::Kind { text: kind_text.to_owned() })?;
    let (cid, sensor) = node_or_sensor(target, ACK_USAGE)?;
    Ok(Request::Ack { kind, cid, sensor: sensor.unwrap_or_default(), by, note })
}

/// Admin sessions open at once; the connection past this gets a one-line refusal and is closed.
/// The console is for a person or two and perhaps a script, not a fleet: 16 leaves them room while
/// a flood of connections costs at most 16 threads (and, before the password, each only until the
/// auth deadline). The page's 512 serves browsers that open several connections each.
pub const MAX_SESSIONS: usize = 16;
/// An open console with no new command for this long is closed. Far longer than the page's 15 s
/// (`cliser_web::http::IDLE`, a browser's kept-alive connection): a person reads what `N` printed,
/// looks something up, then types the next command. An abandoned `nc` holds its place this long at
/// most. A constant, as the page's deadlines are.
pub const IDLE: Duration = Duration::from_secs(10 * 60);
/// A command line must arrive whole within this of its first byte, as a request head on the page
/// (`cliser_web::http::HEAD_DEADLINE`): `nc` and `openssl s_client` send a line at once.
pub const LINE_DEADLINE: Duration = Duration::from_secs(10);

/// What a console connection is refused with when the address is blocked by the brake.
const BLOCKED: &str = "refused: too many failed logins from this address; try again later";

/// What the console needs besides the mailboxes.
#[derive(Clone)]
pub struct ConsoleConfig {
    /// The admin password; with it, every session must give it first.
    pub password: Option<Secret>,
    /// Speak TLS with this (beyond loopback, with `--listen-tls`).
    pub tls: Option<Arc<ServerConfig>>,
    /// The server's one brake: a wrong admin password or a failed TLS handshake counts there, and
    /// a blocked address is refused here as on the page and the client port.
    pub brake: Arc<Brake>,
    /// `--auth-timeout`: the TLS handshake and the password must be done within it of the accept.
    pub auth_timeout: Duration,
    /// The page's live view, told of each failure (`cliser_auth_failures_total`).
    pub live: Option<Sender<LiveEvent>>,
}

impl ConsoleConfig {
    fn failed(&self, ip: IpAddr) {
        self.brake.record_failure(ip);
        if let Some(live) = &self.live {
            let _ = live.send(LiveEvent::AuthFailed);
        }
    }
}

/// Accepts admin connections, one thread each and at most [`MAX_SESSIONS`], until `closed` is set
/// and a connection wakes it; with `config.tls`, the console speaks TLS (the handshake on the
/// session's thread, within the auth deadline).
pub fn serve<S: From<Quit> + From<Ask> + Send + 'static>(
    listener: TcpListener,
    manager: Sender<ManagerEvent>,
    stop: Sender<S>,
    config: ConsoleConfig,
    closed: Arc<AtomicBool>,
) {
    let open = Arc::new(Open::default());
    for stream in listener.incoming() {
        if closed.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(s) => s,
            // A stop shuts the listener down, which fails the accept: not worth a warning.
            Err(_) if closed.load(Ordering::SeqCst) => return,
            Err(e) => {
                log::warn!("console accept failed: {e}");
                // Out of file descriptors, typically: let connections close instead of spinning.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let accepted = Instant::now();
        let Ok(peer) = stream.peer_addr() else { continue };
        if config.brake.is_blocked(peer.ip()) {
            log::warn!("console: refusing {peer}: too many failed logins from {}", peer.ip());
            refuse(stream, config.tls.is_some(), BLOCKED);
            continue;
        }
        if open.count.load(Ordering::SeqCst) >= MAX_SESSIONS {
            if !open.told_full.swap(true, Ordering::SeqCst) {
                log::warn!(
                    "console: refusing {peer}: {MAX_SESSIONS} admin sessions open, the most at once \
                     (the next refusals are not logged until one ends)"
                );
            }
            let busy = format!("busy: {MAX_SESSIONS} admin sessions open, the most at once; try again later");
            refuse(stream, config.tls.is_some(), &busy);
            continue;
        }
        open.count.fetch_add(1, Ordering::SeqCst);
        let session = OpenSession(open.clone());
        let (manager, stop, config) = (manager.clone(), stop.clone(), config.clone());
        let spawned = std::thread::Builder::new()
            .name("console".into())
            // rustls and ring need more stack than the console's lines.
            .stack_size(if config.tls.is_some() { 256 * 1024 } else { 128 * 1024 })
            .spawn(move || {
                // Counted out however the thread ends.
                let _session = session;
                let deadline = accepted + config.auth_timeout;
                match ConsoleStream::new(stream, config.tls.clone(), deadline) {
                    Ok(stream) => admin_session(stream, peer, manager, stop, &config, deadline),
                    Err(e) => log::warn!("console: cannot start TLS: {e}"),
                }
            });
        if let Err(e) = spawned {
            log::error!("console: cannot start a session thread: {e}");
        }
    }
}

/// The sessions open, and whether the console said it is full since one last ended.
#[derive(Default)]
struct Open {
    count: AtomicUsize,
    told_full: AtomicBool,
}

/// One open session, counted until dropped (on the session's thread, or with the closure when
/// the thread could not start).
struct OpenSession(Arc<Open>);

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.told_full.store(false, Ordering::SeqCst);
    }
}

/// Says `why` on one line and closes, on the acceptor: a write that cannot wait (one line into an
/// empty socket buffer). A TLS peer gets no line (that needs a handshake, which is no acceptor's
/// work): just the close.
fn refuse(mut stream: TcpStream, tls: bool, why: &str) {
    if !tls {
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = stream.write_all(format!("{why}\n").as_bytes());
    }
    let _ = stream.shutdown(Shutdown::Write);
}

/// When the next command line must be done: [`IDLE`] after the prompt while nothing of it came,
/// [`LINE_DEADLINE`] after its first byte once something did.
fn command_deadline(prompted: Instant, line_started: Option<Instant>) -> Instant {
    match line_started {
        Some(first_byte) => first_byte + LINE_DEADLINE,
        None => prompted + IDLE,
    }
}

/// Why no line came.
#[derive(Debug)]
enum NoLine {
    /// The peer closed, or the connection broke.
    Closed,
    /// The deadline passed.
    TimedOut {
        /// Part of a line had arrived.
        begun: bool,
    },
    /// Not a line of the console: too long, or not UTF-8.
    Bad(String),
}

/// The next line, read until the deadline `deadline` gives (from when its first byte arrived).
fn next_line(
    lines: &mut LineReader<ConsoleStream>,
    deadline: impl Fn(Option<Instant>) -> Instant,
) -> Result<String, NoLine> {
    let mut started = (lines.pending() > 0).then(Instant::now);
    loop {
        match lines.buffered_line() {
            Ok(Some(line)) => return Ok(line),
            Ok(None) => {}
            Err(e) => return Err(NoLine::Bad(e.to_string())),
        }
        lines.get_mut().set_deadline(deadline(started));
        match lines.fill() {
            Ok(false) => return Err(NoLine::Closed),
            Ok(true) if started.is_none() && lines.pending() > 0 => started = Some(Instant::now()),
            Ok(true) => {}
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                return Err(NoLine::TimedOut { begun: started.is_some() })
            }
            Err(_) => return Err(NoLine::Closed),
        }
    }
}

/// Tells the peer (best effort) and the log why the session ends before its time.
fn closing(lines: &mut LineReader<ConsoleStream>, peer: SocketAddr, why: &str) {
    log::warn!("console: closing {peer}: {why}");
    let _ = lines.get_mut().write_all(format!("closing: {why}\n").as_bytes());
}

/// The TLS handshake and the password, both before `auth_deadline` (which the stream was made
/// with). False when the session must end (said in the log).
fn log_in(
    lines: &mut LineReader<ConsoleStream>,
    peer: SocketAddr,
    config: &ConsoleConfig,
    auth_deadline: Instant,
) -> bool {
    let within = cliser_common::duration::format(config.auth_timeout);
    match lines.get_mut().handshake() {
        Ok(()) => {}
        Err(HandshakeError::TimedOut) => {
            log::warn!("console: closing {peer}: its TLS handshake was not finished within {within}");
            return false;
        }
        Err(HandshakeError::Closed) => return false,
        Err(HandshakeError::Failed(why)) => {
            // As on the client's TLS port: each ClientHello costs a key exchange and a signature.
            log::warn!("console: TLS handshake failed from {peer}: {why}");
            config.failed(peer.ip());
            return false;
        }
    }
    log::info!("console: admin connected from {peer}");
    // A set admin password is asked on every address, loopback too, as the page asks it: anyone
    // with a shell on the machine could otherwise stop the server or power the Pis off.
    let Some(pw) = &config.password else { return true };
    if lines.get_mut().write_all(b"password: ").is_err() {
        return false;
    }
    let guess = match next_line(lines, |_| auth_deadline) {
        Ok(guess) => guess,
        Err(NoLine::Closed) => return false,
        Err(NoLine::TimedOut { .. }) => {
            closing(lines, peer, &format!("no password within {within}"));
            return false;
        }
        Err(NoLine::Bad(why)) => {
            closing(lines, peer, &why);
            return false;
        }
    };
    // Guesses sent at once on several connections: once the address is blocked, those still
    // waiting are not checked either.
    if config.brake.is_blocked(peer.ip()) {
        log::warn!("console: refusing {peer}: too many failed logins from {}", peer.ip());
        let _ = lines.get_mut().write_all(format!("{BLOCKED}\n").as_bytes());
        return false;
    }
    if !pw.matches(&guess) {
        log::warn!("console: wrong admin password from {peer}");
        config.failed(peer.ip());
        let _ = lines.get_mut().write_all(b"wrong password\n");
        return false;
    }
    true
}

fn admin_session<S: From<Quit> + From<Ask>>(
    stream: ConsoleStream,
    peer: SocketAddr,
    manager: Sender<ManagerEvent>,
    stop: Sender<S>,
    config: &ConsoleConfig,
    auth_deadline: Instant,
) {
    // One thread reads and writes in turn, through the one stream (a TLS session cannot be cloned).
    let mut lines = LineReader::new(stream);
    if !log_in(&mut lines, peer, config, auth_deadline) {
        lines.get_ref().close();
        return;
    }
    let _ = lines.get_mut().write_all(b"#> ");
    loop {
        let prompted = Instant::now();
        let line = match next_line(&mut lines, |started| command_deadline(prompted, started)) {
            Ok(line) => line,
            Err(NoLine::Closed) => break,
            Err(NoLine::TimedOut { begun: false }) => {
                closing(&mut lines, peer, &format!("idle for {}", cliser_common::duration::format(IDLE)));
                break;
            }
            Err(NoLine::TimedOut { begun: true }) => {
                let within = cliser_common::duration::format(LINE_DEADLINE);
                closing(&mut lines, peer, &format!("a line not finished within {within}"));
                break;
            }
            Err(NoLine::Bad(why)) => {
                closing(&mut lines, peer, &why);
                break;
            }
        };
        let reply = match Command::parse(&line) {
            Command::Manager(cmd) => ask_manager(&manager, cmd),
            Command::Help => HELP.to_owned(),
            Command::Ask(q) => ask_server(&stop, q),
            Command::Alerts(request) => {
                log::info!("console: {} from {peer}", line.trim());
                ask_alerts(&stop, request)
            }
            Command::Bad(why) => format!("error: {why}"),
            Command::Invalid => "Invalid command (? for help)".to_owned(),
            Command::End => break,
            Command::Quit => {
                log::info!("console: stop requested from {peer}");
                let _ = lines.get_mut().write_all(b"ok: stopping\n");
                let _ = stop.send(Quit.into());
                return;
            }
        };
        if lines.get_mut().write_all(format!("{reply}\n#> ").as_bytes()).is_err() {
            break;
        }
    }
    lines.get_ref().close();
    log::info!("console: admin from {peer} left");
}

fn ask_server<S: From<Ask>>(server: &Sender<S>, q: Question) -> String {
    let (tx, rx) = channel();
    let ask = match q {
        Question::Reload => Ask::Reload(tx),
        Question::Alerts => Ask::Alerts(tx),
        Question::Health => Ask::Health(tx),
        Question::Exporters => Ask::Exporters(tx),
        Question::Fleet => Ask::Fleet(tx),
    };
    if server.send(ask.into()).is_err() {
        return "error: server is stopping".into();
    }
    rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| "error: no answer from the server".into())
}

fn ask_alerts<S: From<Ask>>(server: &Sender<S>, request: Request) -> String {
    let (tx, rx) = channel();
    if server.send(Ask::AlertAdmin(request, tx).into()).is_err() {
        return "error: server is stopping".into();
    }
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| "error: no answer from the alerts thread".into())
}

fn ask_manager(manager: &Sender<ManagerEvent>, cmd: AdminCmd) -> String {
    let (tx, rx) = channel();
    if manager.send(ManagerEvent::Admin(cmd, tx)).is_err() {
        return "error: server is stopping".into();
    }
    rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| "error: no answer from the manager".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_has_the_idle_time_until_its_first_byte_then_the_line_deadline() {
        let prompted = Instant::now();
        assert_eq!(command_deadline(prompted, None), prompted + IDLE);
        let first_byte = prompted + Duration::from_secs(300);
        assert_eq!(command_deadline(prompted, Some(first_byte)), first_byte + LINE_DEADLINE);
        // A line begun late in the idle time still gets its whole line deadline.
        let late = prompted + IDLE - Duration::from_secs(1);
        assert!(command_deadline(prompted, Some(late)) > prompted + IDLE);
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(Command::parse("200:"), Command::Manager(AdminCmd::KeepAliveAll));
        assert_eq!(Command::parse("201:\r"), Command::Manager(AdminCmd::DisconnectAll));
        assert_eq!(Command::parse("202:pi-1"), Command::Manager(AdminCmd::Disconnect("pi-1".into())));
        assert_eq!(Command::parse("203: pi-1 "), Command::Manager(AdminCmd::ShutdownSys("pi-1".into())));
        assert_eq!(Command::parse("L"), Command::Manager(AdminCmd::List));
        assert_eq!(Command::parse("204:all"), Command::Manager(AdminCmd::ShutdownAll));
        assert_eq!(Command::parse("A"), Command::Ask(Question::Alerts));
        assert_eq!(Command::parse("N"), Command::Ask(Question::Health));
        assert_eq!(Command::parse("X"), Command::Ask(Question::Exporters));
        assert_eq!(Command::parse("F"), Command::Ask(Question::Fleet));
        assert_eq!(Command::parse("R"), Command::Ask(Question::Reload));
        assert_eq!(Command::parse("E"), Command::End);
        assert_eq!(Command::parse("Q"), Command::Quit);
        assert_eq!(Command::parse("?"), Command::Help);
        assert_eq!(Command::parse("H"), Command::Alerts(Request::History));
        assert_eq!(Command::parse("S"), Command::Alerts(Request::Silences));
        for bad in ["", "202:", "204:x", "204:", "LL", "hello", "S+x", "Kx"] {
            assert_eq!(Command::parse(bad), Command::Invalid, "{bad:?}");
        }
    }

    fn bad(line: &str) -> String {
        match Command::parse(line) {
            Command::Bad(why) => why.to_string(),
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn parses_silences_with_their_matcher_duration_and_comment() {
        assert_eq!(
            Command::parse("S+ garage freezer above_max 2h alice defrosting: back at 4"),
            Command::Alerts(Request::SilenceAdd {
                cid: "garage".into(),
                sensor: "freezer".into(),
                kind: "above_max".into(),
                duration: Duration::from_secs(7200),
                by: "alice".into(),
                comment: "defrosting: back at 4".into(),
            })
        );
        let Command::Alerts(Request::SilenceAdd { comment, .. }) = Command::parse("S+ * * * 10m bob") else {
            panic!("no comment is fine")
        };
        assert_eq!(comment, "");
        assert_eq!(Command::parse("S- 12"), Command::Alerts(Request::SilenceEnd(12)));
        assert!(bad("S+ garage * *").ends_with(": <duration> is missing"), "{}", bad("S+ garage * *"));
        assert!(bad("S+ garage * * 2h").ends_with(": <by> is missing"));
        assert!(bad("S+ garage * too_hot 2h al").starts_with("kind \"too_hot\": not an alert kind"));
        assert!(bad("S+ garage * * soon al").starts_with("duration \"soon\": "));
        assert!(bad("S+ garage * * 0s al").starts_with("duration \"0s\": "));
        assert_eq!(bad("S-"), "S- <id>: the silence id is missing");
        assert!(bad("S- three").contains("\"three\" is not a silence id"));
    }

    #[test]
    fn parses_forget_and_ack() {
        let forget = |cid: &str, sensor: Option<&str>| {
            Command::Alerts(Request::Forget { cid: cid.into(), sensor: sensor.map(Into::into) })
        };
        assert_eq!(Command::parse("F:pi-1"), forget("pi-1", None));
        assert_eq!(Command::parse("F: pi-1/28-x "), forget("pi-1", Some("28-x")));
        assert!(bad("F:").contains("the client id is missing"));
        assert!(bad("F:pi/").contains("sensor \"\""), "{}", bad("F:pi/"));
        assert_eq!(
            Command::parse("K node_offline pi-1 bob moved to the shed"),
            Command::Alerts(Request::Ack {
                kind: Kind::NodeOffline,
                cid: "pi-1".into(),
                sensor: "".into(),
                by: "bob".into(),
                note: "moved to the shed".into(),
            })
        );
        let Command::Alerts(Request::Ack { sensor, .. }) = Command::parse("K above_max pi/28-x bob") else {
            panic!("a sensor's alert")
        };
        assert_eq!(sensor, "28-x");
        assert!(bad("K hot pi bob").starts_with("kind \"hot\": not an alert kind"));
        assert!(bad("K above_max pi").ends_with("<by> is missing"));
    }
}
