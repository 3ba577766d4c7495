//! `cliser-demo`: a cliser server and two simulated Pi clients on this machine, as separate processes,
//! with a throwaway password and state in a temp dir. Ctrl-C stops them all.

mod binaries;
mod child;

use child::{say, Running};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Short cadences so that readings show within seconds (production: 10 s each).
const KEEPALIVE: &str = "2s";
const INTERVAL: &str = "2s";
const CLIENTS: [&str; 2] = ["demo-pi-1", "demo-pi-2"];
/// How long each child gets to stop after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("cliser-demo: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// What the main loop waits for.
enum Event {
    /// The server logged one of its bound addresses.
    Addr { backdoor: bool, addr: SocketAddr },
    /// SIGINT or SIGTERM reached the demo.
    Signal(i32),
}

fn random_password() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    writeln!(f, "{text}")
}

/// The address after `needle` in a log line, e.g. `... listening on 127.0.0.1:41234`.
fn addr_after(line: &str, needle: &str) -> Option<SocketAddr> {
    line.split(needle).nth(1)?.split_whitespace().next()?.parse().ok()
}

fn run() -> Result<(), String> {
    let bins = binaries::find(std::env::var("CARGO").ok()).map_err(|e| e.to_string())?;
    let tmp =
        tempfile::Builder::new().prefix("cliser-demo-").tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let pw_file = tmp.path().join("password");
    let password = random_password().map_err(|e| format!("random password: {e}"))?;
    write_secret(&pw_file, &password).map_err(|e| format!("password file: {e}"))?;

    let (tx, events) = mpsc::channel();
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("signal handlers: {e}"))?;
    let on_signal = tx.clone();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if on_signal.send(Event::Signal(sig)).is_err() {
                return;
            }
        }
    });

    let mut server_cmd = Command::new(&bins.server);
    server_cmd
        .args(["--listen", "127.0.0.1:0", "--backdoor", "127.0.0.1:0", "--keepalive", KEEPALIVE])
        .arg("--password-file")
        .arg(&pw_file)
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
    let addr_tx = tx.clone();
    let server = child::spawn("cliser-server", server_cmd, move |line| {
        // The server's log passes through as it is: it is what the demo is for.
        say(line);
        if let Some(addr) = addr_after(line, "listening on ") {
            let _ = addr_tx.send(Event::Addr { backdoor: false, addr });
        } else if let Some(addr) = addr_after(line, "backdoor on ") {
            let _ = addr_tx.send(Event::Addr { backdoor: true, addr });
        }
    })
    .map_err(|e| format!("cannot start {}: {e}", bins.server.display()))?;
    let mut children = vec![server];

    let Some((listen, backdoor)) = wait_for_addrs(&events, &mut children[0])? else {
        return stop_all(children);
    };
    for id in CLIENTS {
        let mut cmd = Command::new(&bins.client);
        cmd.arg("--server")
            .arg(listen.to_string())
            .args(["--id", id, "--sensor", "sim", "--interval", INTERVAL, "--server-timeout", "10s"])
            .arg("--password-file")
            .arg(&pw_file)
            .arg("--state-dir")
            .arg(tmp.path().join(id))
            .env_remove("CLISER_PASSWORD")
            // Quieter than the server: its readings show in the server's log already.
            .env("RUST_LOG", std::env::var("CLISER_DEMO_CLIENT_LOG").unwrap_or_else(|_| "warn".into()));
        let prefix = format!("[{id}] ");
        let running = child::spawn(id, cmd, move |line| say(&format!("{prefix}{line}")))
            .map_err(|e| format!("cannot start {}: {e}", bins.client.display()))?;
        children.push(running);
    }
    say(&banner(listen, backdoor, tmp.path()));

    loop {
        match events.recv_timeout(Duration::from_millis(200)) {
            Ok(Event::Signal(sig)) => {
                say(&format!("cliser-demo: got {}, stopping everything", signal_name(sig)));
                break;
            }
            Ok(Event::Addr { .. }) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(c) = children.iter_mut().find_map(|c| c.exited().map(|s| (c.name.clone(), s))) {
            stop_all(children)?;
            return Err(format!("{} exited unexpectedly ({}); stopped the others", c.0, c.1));
        }
    }
    stop_all(children)
}

fn signal_name(sig: i32) -> &'static str {
    if sig == SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

/// Waits for the server's two addresses; `None` when a signal came first.
fn wait_for_addrs(
    events: &Receiver<Event>,
    server: &mut Running,
) -> Result<Option<(SocketAddr, SocketAddr)>, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut listen, mut backdoor) = (None, None);
    while listen.is_none() || backdoor.is_none() {
        if let Some(status) = server.exited() {
            return Err(format!("the server exited before listening ({status})"));
        }
        if Instant::now() >= deadline {
            return Err("the server did not log its addresses within 30 s".into());
        }
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(Event::Addr { backdoor: false, addr }) => listen = Some(addr),
            Ok(Event::Addr { backdoor: true, addr }) => backdoor = Some(addr),
            Ok(Event::Signal(_)) => return Ok(None),
            Err(_) => {}
        }
    }
    Ok(listen.zip(backdoor))
}

fn banner(listen: SocketAddr, backdoor: SocketAddr, tmp: &Path) -> String {
    format!(
        "\n\
         ==> cliser demo: a server and two simulated Pi clients ({}) on this machine\n\
         ==>   server      {listen}  (its log scrolls here; a reading per sensor every {INTERVAL})\n\
         ==>   admin       nc {} {}   then L to list the clients, ? for help\n\
         ==>   temp dir    {}  (throwaway password, client backlogs; removed on exit)\n\
         ==> Press Ctrl-C to stop everything.\n",
        CLIENTS.join(", "),
        backdoor.ip(),
        backdoor.port(),
        tmp.display()
    )
}

/// Stops the clients, then the server (so the clients do not see it go and retry), each with SIGTERM
/// and a grace period.
fn stop_all(mut children: Vec<Running>) -> Result<(), String> {
    let mut failed = Vec::new();
    while let Some(mut c) = children.pop() {
        match c.stop(GRACE) {
            Some(s) if s.success() => {}
            Some(s) => failed.push(format!("{} ended with {s}", c.name)),
            None => failed.push(format!("{} could not be waited for", c.name)),
        }
    }
    if failed.is_empty() {
        say("cliser-demo: all stopped cleanly");
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bound_address_from_a_log_line() {
        let line = "2026-11-22T02:21:30.010Z INFO  [cliser_server::server] listening on 127.0.0.1:45379";
        assert_eq!(addr_after(line, "listening on "), Some("127.0.0.1:45379".parse().unwrap()));
        assert_eq!(addr_after("backdoor on [::1]:7 x", "backdoor on "), Some("[::1]:7".parse().unwrap()));
        assert_eq!(addr_after("listening on nowhere", "listening on "), None);
    }

    #[test]
    fn the_password_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        write_secret(&p, &random_password().unwrap()).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&p).unwrap().trim().len(), 32);
    }
}
