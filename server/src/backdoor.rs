//! The admin console ("backdoor"): a line-based console on its own port. It reads commands, asks the
//! Manager to carry them out, and prints the Manager's answer.

use crate::auth::Secret;
use crate::manager::{AdminCmd, ManagerEvent};
use cliser_common::lines::LineReader;
use cliser_tls::rustls::ServerConfig;
use cliser_tls::ServerStream;
use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::Duration;

const HELP: &str = "\
200:        keep-alive to all clients now
201:        disconnect all clients (999)
202:<cid>   disconnect one client (999)
203:<cid>   shut one client's machine down (130)
204:all     shut EVERY connected client's machine down (130; for a power cut: they stay off)
L           list clients
A           list firing alerts
N           per-sensor health (last value, readings, errors by reason, seq gaps)
X           exporters (MQTT, InfluxDB): connected, lag in readings and seconds, last error
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
}

/// What `A`, `N`, `R` and `X` ask, before the reply channel is made.
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
}

/// One parsed console line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Carried out by the Manager.
    Manager(AdminCmd),
    /// `E`.
    End,
    /// `Q`.
    Quit,
    /// `?`.
    Help,
    /// `A`, `N`, `R`, `X`.
    Ask(Question),
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
            "R" | "r" => Command::Ask(Question::Reload),
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
                _ => Command::Invalid,
            },
        }
    }
}

/// Accepts admin connections, one thread each, until `closed` is set and a connection wakes it;
/// with `tls`, the console speaks TLS (the handshake on the session's thread).
pub fn serve<S: From<Quit> + From<Ask> + Send + 'static>(
    listener: TcpListener,
    manager: Sender<ManagerEvent>,
    stop: Sender<S>,
    password: Option<Secret>,
    closed: Arc<AtomicBool>,
    tls: Option<Arc<ServerConfig>>,
) {
    for stream in listener.incoming() {
        if closed.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log::warn!("backdoor accept failed: {e}");
                continue;
            }
        };
        let (manager, stop, password, tls) = (manager.clone(), stop.clone(), password.clone(), tls.clone());
        let spawned = std::thread::Builder::new()
            .name("backdoor".into())
            // rustls and ring need more stack than the console's lines.
            .stack_size(if tls.is_some() { 256 * 1024 } else { 128 * 1024 })
            .spawn(move || match ServerStream::new(stream, tls) {
                Ok(stream) => admin_session(stream, manager, stop, password),
                Err(e) => log::warn!("backdoor: cannot start TLS: {e}"),
            });
        if let Err(e) = spawned {
            log::error!("backdoor: cannot start a session thread: {e}");
        }
    }
}

fn admin_session<S: From<Quit> + From<Ask>>(
    stream: ServerStream,
    manager: Sender<ManagerEvent>,
    stop: Sender<S>,
    password: Option<Secret>,
) {
    let peer = stream.tcp().peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    // One thread reads and writes in turn, through the one stream (a TLS session cannot be cloned).
    let mut lines = LineReader::new(stream);
    log::info!("backdoor: admin connected from {peer}");
    if let Some(pw) = password {
        let _ = lines.get_mut().write_all(b"senha: ");
        let ok = lines.next_line().ok().flatten().is_some_and(|l| pw.matches(&l));
        if !ok {
            log::warn!("backdoor: wrong admin password from {peer}");
            let _ = lines.get_mut().write_all(b"senha incorreta\n");
            return;
        }
    }
    let _ = lines.get_mut().write_all(b"#> ");
    while let Some(line) = lines.next_line().ok().flatten() {
        let reply = match Command::parse(&line) {
            Command::Manager(cmd) => ask_manager(&manager, cmd),
            Command::Help => HELP.to_owned(),
            Command::Ask(q) => ask_server(&stop, q),
            Command::Invalid => "Invalid command (? for help)".to_owned(),
            Command::End => break,
            Command::Quit => {
                log::info!("backdoor: stop requested from {peer}");
                let _ = lines.get_mut().write_all(b"ok: stopping\n");
                let _ = stop.send(Quit.into());
                return;
            }
        };
        if lines.get_mut().write_all(format!("{reply}\n#> ").as_bytes()).is_err() {
            break;
        }
    }
    log::info!("backdoor: admin from {peer} left");
}

fn ask_server<S: From<Ask>>(server: &Sender<S>, q: Question) -> String {
    let (tx, rx) = channel();
    let ask = match q {
        Question::Reload => Ask::Reload(tx),
        Question::Alerts => Ask::Alerts(tx),
        Question::Health => Ask::Health(tx),
        Question::Exporters => Ask::Exporters(tx),
    };
    if server.send(ask.into()).is_err() {
        return "error: server is stopping".into();
    }
    rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| "error: no answer from the server".into())
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
        assert_eq!(Command::parse("R"), Command::Ask(Question::Reload));
        assert_eq!(Command::parse("E"), Command::End);
        assert_eq!(Command::parse("Q"), Command::Quit);
        assert_eq!(Command::parse("?"), Command::Help);
        for bad in ["", "202:", "204:x", "204:", "LL", "hello"] {
            assert_eq!(Command::parse(bad), Command::Invalid, "{bad:?}");
        }
    }
}
