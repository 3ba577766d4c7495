//! The server in-process: `start()` on port 0, then `stop()` or the console's `Q`, then `join()`.

use crate::common;
use cliser_server::config::Cli;
use cliser_server::{start, Config, Listener, RunError};
use common::{LineClient, T};
use std::net::{SocketAddr, TcpStream};

/// Settings for loopback on port 0 with a fresh password; keep the `TempDir` alive with them.
fn config(extra: impl FnOnce(&mut Cli)) -> (tempfile::TempDir, Config, String) {
    let dir = tempfile::tempdir().unwrap();
    let password = cliser_testkit::free_password();
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, format!("{password}\n")).unwrap();
    let mut cli = Cli {
        listen: Some("127.0.0.1:0".into()),
        console: Some("127.0.0.1:0".into()),
        http: Some("127.0.0.1:0".into()),
        password_file: Some(pw_file),
        // Without it the store would land in ./cliser-data: the source tree.
        data_dir: Some(dir.path().to_path_buf()),
        ..Cli::default()
    };
    extra(&mut cli);
    (dir, Config::from_cli(cli).unwrap(), password)
}

fn refused(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, T).is_err()
}

#[test]
fn stop_closes_every_connection_and_join_returns_ok() {
    let (_dir, config, password) = config(|_| {});
    let server = start(config).expect("start");
    let (addr, console) = (server.client_addr().expect("listening in clear"), server.console_addr());
    assert!(addr.port() != 0 && console.port() != 0 && addr != console);
    let mut c = LineClient::connect(addr);
    assert_eq!(c.login(&password, "in-process"), "140: Connected health=1");
    server.stop();
    // Closed without 999: the client comes back when the server does.
    c.expect_closed(T);
    server.join().expect("a clean stop");
    assert!(refused(addr) && refused(console), "both listeners are closed once join returns");
}

#[test]
fn the_consoles_q_stops_the_server_through_the_handle() {
    let (_dir, config, _) = config(|_| {});
    let server = start(config).expect("start");
    let mut admin = LineClient::connect(server.console_addr());
    admin.recv_until("#> ", T);
    admin.send("Q");
    assert_eq!(admin.recv(T).as_deref(), Some("ok: stopping"));
    let addr = server.client_addr().expect("listening in clear");
    server.join().expect("a clean stop");
    assert!(refused(addr));
}

#[test]
fn a_port_in_use_is_an_error_from_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let (_dir, config, _) = config(|cli| cli.listen = Some(taken_addr.clone()));
    match start(config) {
        Err(RunError::Bind { what: Listener::Clients, addr, .. }) => assert_eq!(addr, taken_addr),
        other => panic!("expected a bind error, got {other:?}"),
    }
}
