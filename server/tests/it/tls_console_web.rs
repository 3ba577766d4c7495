//! Beyond loopback, with `--listen-tls`, the admin console speaks TLS and the web page is HTTPS,
//! both with the client link's certificate; on loopback they stay in clear (nc, a local browser);
//! beyond loopback without TLS the server warns that their password crosses the network in clear.

use crate::common;
use cliser_tls::rustls::{ClientConnection, StreamOwned};
use common::http::basic;
use common::tls::*;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

/// A connection to `addr` on loopback (it may be bound to 0.0.0.0) inside TLS, trusting `ca`.
fn tls_connect(addr: SocketAddr, ca: &Path) -> StreamOwned<ClientConnection, TcpStream> {
    let config = cliser_tls::client_config(&std::fs::read(ca).unwrap(), None).unwrap();
    let name = cliser_tls::server_name("localhost").unwrap();
    let socket = TcpStream::connect(("127.0.0.1", addr.port())).unwrap();
    socket.set_read_timeout(Some(T)).unwrap();
    StreamOwned::new(ClientConnection::new(config, name).unwrap(), socket)
}

/// Reads until the text read so far ends with `suffix`.
fn read_until(s: &mut impl Read, suffix: &str) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(suffix.as_bytes()) {
        match s.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            other => panic!("{other:?} before {suffix:?}; read {:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8(got).unwrap()
}

/// A server with the admin password in a file, TLS for the clients, and `extra` flags.
fn server_beyond_loopback(dir: &Path, fleet: &Fleet, extra: &[&str]) -> (ServerHandle, String) {
    let admin = cliser_testkit::free_password();
    let file = dir.join("admin-password");
    std::fs::write(&file, format!("{admin}\n")).unwrap();
    let mut args = vec!["--admin-password-file", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    (tls_server(dir, fleet, &args), admin)
}

#[test]
fn beyond_loopback_the_console_and_the_page_use_the_tls_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = gen_tls(&dir.path().join("tls"), "localhost");
    let (server, admin) =
        server_beyond_loopback(dir.path(), &fleet, &["--console", "0.0.0.0:0", "--http", "0.0.0.0:0"]);
    let log = server.log().text();
    assert!(log.contains(&format!("console on {} (TLS", server.console)), "{log}");
    let http = server.http.unwrap();
    assert!(log.contains(&format!("web page on https://{http}/")), "{log}");

    // The console: the password and the commands inside TLS.
    let mut console = tls_connect(server.console, &fleet.ca);
    read_until(&mut console, "password: ");
    console.write_all(format!("{admin}\n").as_bytes()).unwrap();
    read_until(&mut console, "#> ");
    console.write_all(b"L\n").unwrap();
    assert_eq!(read_until(&mut console, "#> "), "No clients connected\n#> ");
    console.write_all(b"E\n").unwrap();

    // The page: HTTPS, with the admin password.
    let mut page = tls_connect(http, &fleet.ca);
    let request = format!(
        "GET /api/nodes HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        basic(&admin)
    );
    page.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = page.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\"nodes\""), "{answer}");

    // Plain HTTP to the HTTPS port gets no HTTP answer: the connection just ends.
    let mut plain = TcpStream::connect(("127.0.0.1", http.port())).unwrap();
    plain.set_read_timeout(Some(T)).unwrap();
    plain.write_all(b"GET /api/nodes HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!got.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&got));
}

#[test]
fn on_loopback_they_stay_in_clear_and_beyond_it_without_tls_the_server_warns() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = gen_tls(&dir.path().join("tls"), "localhost");
    let (server, _) = server_beyond_loopback(dir.path(), &fleet, &[]);
    let log = server.log().text();
    assert!(log.contains(&format!("console on {}\n", server.console)), "{log}");
    assert!(log.contains(&format!("web page on http://{}/", server.http.unwrap())), "{log}");
    let mut console = LineClient::connect(server.console);
    assert_eq!(console.recv_until("password: ", T), "", "the prompt in clear");
    drop(server);

    // No TLS, beyond loopback: allowed, with a warning for each.
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("admin-password");
    std::fs::write(&admin, "adm1n\n").unwrap();
    let flags =
        ["--console", "0.0.0.0:0", "--http", "0.0.0.0:0", "--admin-password-file", admin.to_str().unwrap()];
    let server = ServerHandle::start(dir.path(), &flags);
    let warned = server.log().lines_with("reachable beyond this machine in clear");
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(warned.iter().all(|l| l.contains("WARN")), "{warned:?}");
}
