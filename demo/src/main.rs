//! `cliser-demo`: a cliser server and two simulated Pi clients on this machine, as separate processes,
//! with a throwaway password and state in a temp dir. Ctrl-C stops them all.

use cliser_launch::{random_password, write_secret, Output, ProfileDir, Progress, ReadyFile, Supervised};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// Short cadences so that readings show within seconds (production: 10 s each).
const KEEPALIVE: &str = "2s";
const INTERVAL: &str = "2s";
const CLIENTS: [&str; 2] = ["demo-pi-1", "demo-pi-2"];
/// How long each child gets to stop after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(10);
/// How long the server gets to bind its ports.
const READY_WITHIN: Duration = Duration::from_secs(30);
const SERVER: &str = "cliser-server";
const CLIENT: &str = "cliser-pi-client";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("cliser-demo: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// Writes a line to the demo's stderr; a closed terminal is not worth a panic.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The server and client binaries, next to the demo's own. Under cargo (`cargo run`, which sets
/// `CARGO`) they are built first, so that the README's first command works on a fresh clone.
fn binaries() -> Result<[PathBuf; 2], String> {
    let dir = ProfileDir::of_program().map_err(|e| e.to_string())?;
    if let Ok(cargo) = std::env::var("CARGO") {
        dir.build(&cargo, &[SERVER, CLIENT], Progress::Shown).map_err(|e| e.to_string())?;
    }
    dir.find([SERVER, CLIENT]).map_err(|e| e.to_string())
}

fn run() -> Result<(), String> {
    let [server_bin, client_bin] = binaries()?;
    let tmp =
        tempfile::Builder::new().prefix("cliser-demo-").tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let pw_file = tmp.path().join("password");
    let password = random_password().map_err(|e| format!("random password: {e}"))?;
    write_secret(&pw_file, &password).map_err(|e| format!("password file: {e}"))?;

    let (tx, signals) = mpsc::channel();
    let mut handlers = Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("signal handlers: {e}"))?;
    std::thread::spawn(move || {
        for sig in handlers.forever() {
            if tx.send(sig).is_err() {
                return;
            }
        }
    });

    let ready = ReadyFile::new(tmp.path().join("server.ready")).map_err(|e| format!("ready file: {e}"))?;
    let mut server_cmd = Command::new(&server_bin);
    server_cmd
        .args(["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--keepalive", KEEPALIVE])
        .arg("--password-file")
        .arg(&pw_file)
        .arg("--ready-file")
        .arg(ready.path())
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
    // The server's log passes through as it is: it is what the demo is for.
    let server = Supervised::spawn(SERVER, server_cmd, Output::lines(say))
        .map_err(|e| format!("cannot start {}: {e}", server_bin.display()))?;
    let mut children = vec![server];

    // A signal while the server starts stops everything, as it does later.
    let interrupted = || signals.try_recv().is_ok();
    let Some(bound) =
        ready.wait_unless(&mut children[0], READY_WITHIN, interrupted).map_err(|e| e.to_string())?
    else {
        return stop_all(children);
    };
    let listen =
        bound.listen.ok_or("the server does not listen in clear (its ready file has no \"listen\")")?;
    let console = bound.console;
    let http =
        bound.http.ok_or("the server did not say where its web page is (its ready file has no \"http\")")?;
    for id in CLIENTS {
        let mut cmd = Command::new(&client_bin);
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
        let running = Supervised::spawn(id, cmd, Output::lines(move |line| say(&format!("{prefix}{line}"))))
            .map_err(|e| format!("cannot start {}: {e}", client_bin.display()))?;
        children.push(running);
    }
    say(&banner(listen, console, http, tmp.path(), &server_bin));

    loop {
        match signals.recv_timeout(Duration::from_millis(200)) {
            Ok(sig) => {
                say(&format!("cliser-demo: got {}, stopping everything", signal_name(sig)));
                break;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some((name, status)) =
            children.iter_mut().find_map(|c| c.exited().map(|s| (c.name().to_owned(), s)))
        {
            stop_all(children)?;
            return Err(format!("{name} exited unexpectedly ({status}); stopped the others"));
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

fn banner(
    listen: SocketAddr,
    console: SocketAddr,
    http: SocketAddr,
    tmp: &Path,
    server_bin: &Path,
) -> String {
    // The binaries this run built: the follow-up commands use them as they are, since another
    // `cargo run` would check (and could relink) the build again before answering.
    let server_bin = shown(server_bin);
    let client_bin = shown(&server_bin.with_file_name(CLIENT));
    format!(
        "\n\
         ==> cliser demo: a server and two simulated Pi clients ({}) on this machine\n\
         ==>   open        http://{http}/   (the page: live values and charts; /metrics for Prometheus)\n\
         ==>   server      {listen}  (its log scrolls here; a reading per sensor every {INTERVAL})\n\
         ==>   admin       nc {} {}   then L to list the clients, ? for help\n\
         ==>   readings    stored in {}  (ask them: {} query --data-dir {} --since 10m)\n\
         ==>   binaries    {}  {}  (built; --help for what they do)\n\
         ==>   temp dir    {}  (throwaway password, the store, client backlogs; removed on exit)\n\
         ==> Press Ctrl-C to stop everything.\n",
        CLIENTS.join(", "),
        console.ip(),
        console.port(),
        tmp.join("data").join("cliser.db").display(),
        server_bin.display(),
        tmp.join("data").display(),
        server_bin.display(),
        client_bin.display(),
        tmp.display()
    )
}

/// A path as short as it can be told and still run as a command: relative to the working directory
/// when it lies below it (`./` when it sits right there, so that the shell does not search PATH).
fn shown(path: &Path) -> PathBuf {
    match std::env::current_dir().ok().and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf)) {
        Some(rel) if rel.components().count() == 1 => Path::new(".").join(rel),
        Some(rel) => rel,
        None => path.to_path_buf(),
    }
}

/// Stops the clients, then the server (so the clients do not see it go and retry), each with SIGTERM
/// and a grace period.
fn stop_all(mut children: Vec<Supervised>) -> Result<(), String> {
    let mut failed = Vec::new();
    while let Some(mut c) = children.pop() {
        let status = c.terminate(GRACE).or_else(|| {
            say(&format!("cliser-demo: {} did not stop within {GRACE:?}; killing it", c.name()));
            c.kill().ok()
        });
        match status {
            Some(s) if s.success() => {}
            Some(s) => failed.push(format!("{} ended with {s}", c.name())),
            None => failed.push(format!("{} could not be waited for", c.name())),
        }
    }
    if failed.is_empty() {
        say("cliser-demo: all stopped cleanly");
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}
