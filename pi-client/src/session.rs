//! One connection to the server: handshake, then answering until the connection ends.
//!
//! The connection loop reads the socket itself: it `poll(2)`s the socket and the stop doorbell with
//! the `--server-timeout` deadline, so a server that says nothing for that long is given up on even
//! though the socket looks healthy (a Wi-Fi drop does not close a TCP connection), and a stop request
//! is seen at once. One thread per client does it all; no reader thread, no channel per line.
//!
//! It never waits for the disk before answering: acks only update the backlog in memory, an answer
//! carries only readings already synced, and an ack that is due in the journal is written after the
//! answer is sent ([`Backlog::write_due_ack`]).

use crate::backlog::{Backlog, NeverSent};
use crate::config::Config;
use crate::facts_board::FactsSent;
use crate::link::Link;
use crate::stop::{Stop, Wake};
use cliser_common::lines::LineReader;
use cliser_protocol::{KeepAliveAnswer, ServerMsg, MAX_LINE};
use cliser_tls::Failure;
use log::{debug, info, warn};
use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The client was asked to stop.
    Stopped,
    /// `999`: the operator disconnected this client; it must not come back.
    Disconnected,
    /// `130`: answered; the shutdown command is to be run.
    ShutdownOrdered,
    /// `111`.
    WrongPassword,
    /// `122`.
    IdInvalid,
    /// The server's TLS certificate is refused for a reason only new settings can fix.
    Untrusted(Failure),
    /// Anything worth another try: refused, lost, silent, `121`.
    Retry {
        /// For the log.
        why: String,
        /// The server answered at least one keep-alive exchange: it works, so start the backoff over.
        healthy: bool,
    },
}

/// The longest a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection in clear may wait for the server's `110` before the client says the port
/// may speak TLS. A cliser server sends `110` as soon as it accepts (in milliseconds, even for a
/// fleet reconnecting at once), while a TLS port waits in silence for a ClientHello and closes the
/// connection at its `--auth-timeout` (10 s by default): 5 s is far past the one and before the
/// other, so the hint comes while the connection is still open, once per connection.
pub const TLS_HINT_AFTER: Duration = Duration::from_secs(5);

/// Readings taken at most into one answer before packing: more than a 4096-byte line can hold even
/// with the shortest tokens (`a=1#1`, 6 bytes), so `pack`'s `more` stays exact.
const PACK_WINDOW: usize = MAX_LINE / 4;

/// The answer to a keep-alive: the readings after `sent` (those already sent on this connection are
/// not sent again: the server may ack them only once they are flushed), as many as fit one line, with
/// `more` if some are left. Returns the answer and the highest seq it carries (or `sent`).
pub fn answer(store: &Backlog, sent: u64) -> (KeepAliveAnswer, u64) {
    answer_with(store, sent, false)
}

/// [`answer`], with the health reports waiting when `health` (the server advertised `health=1`);
/// reports that do not fit the line are kept for the next one.
pub fn answer_with(store: &Backlog, sent: u64, health: bool) -> (KeepAliveAnswer, u64) {
    answer_with_facts(store, sent, health.then_some(&mut FactsSent::default()))
}

/// [`answer_with`] for a server that takes health reports and sensor facts when `facts` is given
/// (what this connection sent of them): the facts it has not sent yet ride along too.
pub fn answer_with_facts(
    store: &Backlog,
    sent: u64,
    mut facts: Option<&mut FactsSent>,
) -> (KeepAliveAnswer, u64) {
    let window = store.after(sent, PACK_WINDOW);
    let health = facts.is_some();
    let pending = if health { store.health().take() } else { Vec::new() };
    let wire = pending.iter().map(|r| r.to_wire()).collect();
    let new_facts = facts.as_deref_mut().map(|f| f.pending(store.facts())).unwrap_or_default();
    let (answer, taken) = KeepAliveAnswer::pack_all(&window, wire, new_facts);
    if let Some(f) = facts {
        f.mark(&answer.facts);
    }
    if answer.health.len() < pending.len() {
        store.health().put_back(pending[answer.health.len()..].to_vec());
    }
    let last = if taken > 0 { window[taken - 1].seq.unwrap_or(sent) } else { sent };
    (answer, last)
}

/// Why no connection to a server was made; the client tries again after its backoff.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The host name did not resolve.
    #[error("cannot resolve {server}: {source}")]
    Resolve {
        /// `HOST:PORT`.
        server: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The host name resolved to nothing.
    #[error("{0} resolves to no address")]
    NoAddress(String),
    /// No address took the connection (the last one's error).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried last.
        addr: std::net::SocketAddr,
        /// Its error.
        source: std::io::Error,
    },
    /// A `tls://` server without a CA to check it with.
    #[error("tls:// without --tls-ca")]
    NoCa,
    /// The host is not a name a certificate can be checked against.
    #[error("{0}")]
    ServerName(cliser_tls::TlsError),
    /// TLS could not start.
    #[error("cannot start TLS: {0}")]
    Tls(cliser_tls::rustls::Error),
    /// The TLS hello could not be sent.
    #[error("sending the TLS hello: {0}")]
    Hello(std::io::Error),
}

fn connect(server: &str, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let addrs = server
        .to_socket_addrs()
        .map_err(|source| ConnectError::Resolve { server: server.to_owned(), source })?;
    let mut last = ConnectError::NoAddress(server.to_owned());
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(source) => last = ConnectError::Connect { addr, source },
        }
    }
    Err(last)
}

/// Connects to `server` (`HOST:PORT` or `tls://HOST:PORT`), and starts TLS for the latter.
fn open(cfg: &Config, server: &str) -> Result<Link, ConnectError> {
    let (tls, host_port) = match server.strip_prefix(crate::config::TLS_SCHEME) {
        Some(rest) => (true, rest),
        None => (false, server),
    };
    // Capped so that a stop request is not held up long by a connect to an unreachable address.
    let stream = connect(host_port, cfg.server_timeout.min(CONNECT_TIMEOUT))?;
    let _ = stream.set_nodelay(true);
    // A server that stops reading must not block us forever on a full send buffer.
    let _ = stream.set_write_timeout(Some(cfg.server_timeout));
    if !tls {
        return Ok(Link::Plain(stream));
    }
    let tls_cfg = cfg.tls.as_ref().ok_or(ConnectError::NoCa)?;
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    let name = cliser_tls::server_name(host).map_err(ConnectError::ServerName)?;
    let session =
        cliser_tls::rustls::ClientConnection::new(tls_cfg.client.clone(), name).map_err(ConnectError::Tls)?;
    Link::tls(stream, session).map_err(ConnectError::Hello)
}

/// Runs connection number `conn`, to `server` (one of `cfg.server`), to its end.
pub fn run(cfg: &Config, server: &str, store: &Backlog, stop: &Stop, conn: u64) -> End {
    let link = match open(cfg, server) {
        Ok(l) => l,
        Err(why) => return End::Retry { why: why.to_string(), healthy: false },
    };
    debug!("connected to {server} (connection {conn})");
    let in_clear = matches!(link, Link::Plain(_));
    let mut lines = LineReader::new(link);
    let mut deadline = Instant::now() + cfg.server_timeout;
    // Until the first line: when to say that the port may speak TLS (before giving up on it).
    let hint_after = TLS_HINT_AFTER.min(cfg.server_timeout);
    let mut tls_hint_at = in_clear.then(|| Instant::now() + hint_after);
    let mut sent = 0u64;
    let mut registered = false;
    let mut healthy = false;
    // The server takes health reports (`health=1` in its 140); an older one never sees them.
    let mut health_reports = false;
    // What this connection sent of the sensors' facts (each once per connection).
    let mut facts_sent = FactsSent::default();
    // How far apart the server's polls come, to explain a timeout that the settings cause.
    let mut registered_at: Option<Instant> = None;
    let mut last_poll: Option<Instant> = None;
    let mut widest_poll_gap: Option<Duration> = None;
    loop {
        let line = match lines.buffered_line() {
            Ok(Some(line)) => line,
            Err(e) => return End::Retry { why: format!("bad line from the server: {e}"), healthy },
            Ok(None) => {
                let wait_until = tls_hint_at.map_or(deadline, |at| at.min(deadline));
                let wake = match lines.get_mut().pending() {
                    true => Ok(Wake::Ready),
                    false => stop.wait(Some(lines.get_ref().as_fd()), wait_until),
                };
                match wake {
                    Ok(Wake::Stopped) => return End::Stopped,
                    Ok(Wake::Timeout) if tls_hint_at.is_some() => {
                        tls_hint_at = None;
                        warn!("{}", tls_hint(server, hint_after));
                        continue;
                    }
                    Ok(Wake::Timeout) => {
                        let why = silence_explained(cfg.server_timeout, registered_at, widest_poll_gap);
                        return End::Retry { why, healthy };
                    }
                    Ok(Wake::Ready) => match lines.fill() {
                        Ok(false) => {
                            return End::Retry { why: "the server closed the connection".into(), healthy }
                        }
                        Ok(true) => continue,
                        // TLS records without plaintext (a handshake step, a session ticket).
                        Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                        Err(e) => return lost(e, healthy),
                    },
                    Err(e) => return End::Retry { why: format!("waiting for the server: {e}"), healthy },
                }
            }
        };
        deadline = Instant::now() + cfg.server_timeout;
        tls_hint_at = None;
        let msg = match ServerMsg::parse(&line) {
            Ok(m) => m,
            Err(e) => {
                warn!("ignoring a line from the server: {e}");
                continue;
            }
        };
        let reply = match msg {
            ServerMsg::PasswordRequest => Some(cfg.password.clone()),
            ServerMsg::IdRequest => Some(cfg.id.to_string()),
            ServerMsg::WrongPassword => return End::WrongPassword,
            ServerMsg::IdInvalid => return End::IdInvalid,
            ServerMsg::IdInUse => {
                return End::Retry {
                    why: format!("the server says id {} is in use (121)", cfg.id),
                    healthy: false,
                }
            }
            ServerMsg::Connected { ack, health } => {
                health_reports = health;
                if let Some(a) = ack {
                    warn_never_sent(cfg, a, store.ack(a));
                }
                registered = true;
                registered_at = Some(Instant::now());
                last_poll = registered_at;
                sent = 0;
                info!(
                    "registered with {} as {}; {} readings waiting (server has up to seq {})",
                    server,
                    cfg.id,
                    store.len(),
                    ack.map_or_else(|| "none".to_owned(), |a| a.to_string())
                );
                None
            }
            ServerMsg::KeepAlive { ack } => {
                if let Some(a) = ack {
                    warn_never_sent(cfg, a, store.ack(a));
                }
                healthy |= registered;
                if let Some(last) = last_poll.replace(Instant::now()) {
                    widest_poll_gap = widest_poll_gap.max(Some(last.elapsed()));
                }
                let (answer, last) =
                    answer_with_facts(store, sent, health_reports.then_some(&mut facts_sent));
                if let (Some(first), n) = (answer.readings.first(), answer.readings.len()) {
                    debug!(
                        "sending {n} readings (seq {}..={last}){}, {} waiting",
                        first.seq.unwrap_or(0),
                        if answer.more { " and more" } else { "" },
                        store.len()
                    );
                }
                sent = last;
                store.mark_sent(last);
                Some(answer.to_string())
            }
            ServerMsg::ShutdownSys => {
                info!("the server orders a shutdown (130)");
                if let Err(e) = lines.get_mut().send_line("130") {
                    warn!("could not acknowledge 130: {e}");
                }
                lines.get_mut().shutdown_write();
                return End::ShutdownOrdered;
            }
            ServerMsg::Disconnect => return End::Disconnected,
        };
        if let Some(reply) = reply {
            if let Err(e) = lines.get_mut().send_line(&reply) {
                return End::Retry { why: format!("sending to the server: {e}"), healthy };
            }
        }
        store.write_due_ack();
    }
}

/// What the client says when a server in clear has not sent `110` within [`TLS_HINT_AFTER`]: a
/// client in clear pointed at a TLS port otherwise only sees the connection closed, again and again.
fn tls_hint(server: &str, after: Duration) -> String {
    format!(
        "no 110 from {server} within {} of connecting: that port may speak TLS (the server's \
         listen-tls); if so, use --server tls://{server} with --tls-ca (or server = \"tls://{server}\" \
         and tls-ca in the config file); still trying",
        cliser_common::duration::format(after)
    )
}

/// How a read error ends the connection: a certificate refused for good, or a retry.
fn lost(e: std::io::Error, healthy: bool) -> End {
    match Failure::from_io(&e) {
        Some(f) if f.needs_new_settings() => End::Untrusted(f),
        Some(f) => End::Retry { why: f.to_string(), healthy },
        None => End::Retry { why: format!("connection lost: {e}"), healthy },
    }
}

/// Says so when an ack dropped readings this client never sent: they are lost to the server, which
/// got the same seqs from someone else.
fn warn_never_sent(cfg: &Config, ack: u64, dropped: Option<NeverSent>) {
    if let Some(NeverSent { count, first, last }) = dropped {
        warn!(
            "the server acknowledged up to seq {ack}, which drops {count} readings this client never sent \
             (seq {first}..={last}): another client uses id {}, or this state dir was reset",
            cfg.id
        );
    }
}

/// Why the connection is given up after `timeout` of silence, and what to change when the settings
/// themselves are the cause: a `--server-timeout` at or below the server's keep-alive interval makes
/// the client drop every connection just before the poll would have come.
fn silence_explained(
    timeout: Duration,
    registered_at: Option<Instant>,
    widest_gap: Option<Duration>,
) -> String {
    let t = cliser_common::duration::format(timeout);
    match (registered_at, widest_gap) {
        (Some(_), None) => format!(
            "no line from the server for {t}: no keep-alive came within --server-timeout {t} of \
             registering, so the server's keep-alive interval is probably longer; raise \
             --server-timeout (to about 3 times the server's --keepalive)"
        ),
        (Some(_), Some(gap)) if gap * 2 > timeout => format!(
            "no line from the server for {t}: its polls came up to {} apart, too close to \
             --server-timeout {t}; raise --server-timeout (to about 3 times the server's --keepalive)",
            cliser_common::duration::format(Duration::from_millis(gap.as_millis() as u64))
        ),
        _ => format!("no line from the server for {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backlog::Limits;
    use cliser_protocol::{Celsius, SensorId, Value};

    fn store_with(n: usize) -> (tempfile::TempDir, Backlog) {
        let dir = tempfile::tempdir().unwrap();
        let b =
            Backlog::open(dir.path(), Limits { capacity: 100_000, compact_min: 1000, ..Limits::default() })
                .unwrap();
        let sensor = SensorId::new("28-0316a2795aff").unwrap();
        let batch = (0..n)
            .map(|i| (sensor.clone(), Value::Celsius(Celsius::from_millis(i as i32).unwrap())))
            .collect();
        b.record(batch);
        (dir, b)
    }

    #[test]
    fn a_timeout_the_settings_cause_names_the_flag_to_raise() {
        let t = Duration::from_secs(1);
        let now = Some(Instant::now());
        let never = silence_explained(t, now, None);
        assert!(never.starts_with("no line from the server for 1s: no keep-alive"), "{never}");
        assert!(never.contains("raise --server-timeout"), "{never}");
        let close = silence_explained(t, now, Some(Duration::from_millis(900)));
        assert!(close.contains("900ms apart") && close.contains("raise --server-timeout"), "{close}");
        assert_eq!(
            silence_explained(t, now, Some(Duration::from_millis(100))),
            "no line from the server for 1s"
        );
        assert_eq!(silence_explained(t, None, None), "no line from the server for 1s");
    }

    #[test]
    fn an_empty_backlog_answers_bare_100() {
        let (_d, b) = store_with(0);
        let (a, last) = answer(&b, 0);
        assert_eq!((a.to_string().as_str(), last), ("100", 0));
    }

    #[test]
    fn a_long_backlog_goes_out_in_lines_with_more_and_nothing_twice() {
        let (_d, b) = store_with(1000);
        let mut sent = 0;
        let mut seen = Vec::new();
        let mut lines = 0;
        loop {
            let (a, last) = answer(&b, sent);
            let text = a.to_string();
            assert!(text.len() <= MAX_LINE);
            seen.extend(a.readings.iter().map(|r| r.seq.unwrap()));
            sent = last;
            lines += 1;
            if !a.more {
                break;
            }
        }
        assert_eq!(seen, (1..=1000).collect::<Vec<_>>());
        assert!(lines > 5 && lines < 30, "{lines} lines");
        // Acks trim; a new connection (sent = 0) resends only what is unacked.
        b.ack(990);
        let (a, last) = answer(&b, 0);
        assert_eq!(a.readings.len(), 10);
        assert_eq!((last, a.more), (1000, false));
    }
}
