//! The web page's login against the real server: with an admin password every path asks for it
//! (HTTP Basic), wrong ones count in the server's per-ip brake that the client port shares, and the
//! settings decide whether and where the page is served.

use crate::common;
use cliser_testkit::wait_until;
use common::http::{basic, connect_from, get, get_as, Conn, Events, Reply};
use common::*;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;

/// A server whose admin password (returned) is in a file in its dir.
fn admin_server(extra: &[&str]) -> (tempfile::TempDir, ServerHandle, String) {
    let dir = tempfile::tempdir().unwrap();
    let admin = cliser_testkit::free_password();
    let file = dir.path().join("admin-password");
    std::fs::write(&file, format!("{admin}\n")).unwrap();
    let mut args = vec!["--admin-password-file", file.to_str().unwrap()];
    args.extend(extra);
    let s = ServerHandle::start(dir.path(), &args);
    (dir, s, admin)
}

/// A `GET` from the loopback address `src`, with `authorization` as the header's value.
fn get_from(src: [u8; 4], to: SocketAddr, target: &str, authorization: Option<&str>) -> Reply {
    let mut c = Conn::from_stream(connect_from(src, to));
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    c.send(format!("GET {target} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes());
    c.reply(false).unwrap_or_else(|e| panic!("GET {target} from {src:?}: {e}"))
}

fn assert_challenge(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.text());
    let challenge = r.header("WWW-Authenticate").unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
    assert!(challenge.starts_with("Basic realm="), "{what}: {challenge}");
    assert!(r.json()["error"].as_str().unwrap().contains("admin password"), "{what}: {}", r.text());
}

fn auth_failures(s: &ServerHandle, admin: &str) -> f64 {
    let r = get_as(s.http.unwrap(), "/metrics", Some(admin));
    assert_eq!(r.status, 200);
    let text = r.text();
    text.lines().find_map(|l| l.strip_prefix("cliser_auth_failures_total ")?.parse().ok()).unwrap()
}

const PATHS: [&str; 7] = [
    "/",
    "/app.js",
    "/api/nodes",
    "/api/readings?cid=pi",
    "/api/readings?colour=red",
    "/metrics",
    "/nothing",
];

#[test]
fn with_an_admin_password_every_path_asks_for_it() {
    let (d, s, admin) = admin_server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = s.http.unwrap();
    for (i, path) in PATHS.iter().chain(&["/api/events"]).enumerate() {
        assert_challenge(&get(http, path), &format!("{path} without a password"));
        // Each from an address of its own: five from one would block it.
        let wrong = get_from([127, 0, 0, 10 + i as u8], http, path, Some(&basic("wrong")));
        assert_challenge(&wrong, &format!("{path} with a wrong password"));
    }
    let mut head = Conn::open(http);
    head.send(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.reply(true).unwrap().status, 401);
    // Only the wrong passwords count; a request without one is a browser asking how to log in.
    assert_eq!(auth_failures(&s, &admin), PATHS.len() as f64 + 1.0);

    for path in PATHS {
        let r = get_as(http, path, Some(&admin));
        let status = match path {
            "/nothing" => 404,
            "/api/readings?colour=red" => 400,
            _ => 200,
        };
        assert_eq!(r.status, status, "{path} with the password: {}", r.text());
    }
    let mut events = Events::open(http, Some(&admin));
    assert_eq!(events.next(T).0, "snapshot");
    // Any user name, either spelling of the scheme.
    let header = basic(&admin).replace("Basic ", "basic ");
    assert_eq!(get_from([127, 0, 0, 1], http, "/", Some(&header)).status, 200);
    let other_user = format!("Basic {}", b64(&format!("someone-else:{admin}")));
    assert_eq!(get_from([127, 0, 0, 1], http, "/", Some(&other_user)).status, 200);
    // The password must be all of it.
    let longer = format!("Basic {}", b64(&format!("admin:{admin}x")));
    assert_challenge(&get_from([127, 0, 0, 30], http, "/", Some(&longer)), "the password and more");
    let shorter = format!("Basic {}", b64(&format!("admin:{}", &admin[..admin.len() - 1])));
    assert_challenge(&get_from([127, 0, 0, 31], http, "/", Some(&shorter)), "a prefix of the password");
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn five_wrong_passwords_block_the_ip_for_the_page_and_the_client_port_alike() {
    // Only 127.0.0.1 (the test's own requests) is exempt: the other loopback addresses stand for
    // machines on the network.
    let (d, s, admin) = admin_server(&["--auth-exempt", "127.0.0.1/32"]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = s.http.unwrap();
    let (web_attacker, pi_attacker, bystander) = ([127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 4]);

    // Requests without a password never block.
    for _ in 0..10 {
        assert_challenge(&get_from(bystander, http, "/", None), "no password");
    }
    for i in 1..=5 {
        let r = get_from(web_attacker, http, "/", Some(&basic("guess")));
        assert_challenge(&r, &format!("wrong password {i}"));
    }
    let r = get_from(web_attacker, http, "/", Some(&basic(&admin)));
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("Connection"), Some("close"));
    let mut pi = LineClient::from_stream(connect_from(web_attacker, s.addr));
    assert_eq!(pi.recv(T), None, "a client connection from a blocked ip is closed before 110");
    s.log().wait_for("refusing connection from 127.0.0.2:", T);

    // Wrong client passwords block the page too.
    for _ in 0..5 {
        let mut c = LineClient::from_stream(connect_from(pi_attacker, s.addr));
        c.expect("110", T);
        c.send("guess");
        c.expect("111", T);
    }
    // The session answers 111 before the Manager has counted the failure.
    s.log().wait_for("blocking 127.0.0.3 for 60 s", T);
    let r = get_from(pi_attacker, http, "/api/nodes", Some(&basic(&admin)));
    assert_eq!(r.status, 429, "{}", r.text());

    // Other addresses go on.
    assert_eq!(get_from(bystander, http, "/", Some(&basic(&admin))).status, 200);
    assert_eq!(get_as(http, "/api/nodes", Some(&admin)).status, 200);
    let mut good = LineClient::from_stream(connect_from(bystander, s.addr));
    good.login(&s.password, "pi-ok");
    // The client port's failures reach the metrics through the live thread, a moment later.
    wait_until(T, "10 failed logins counted", || (auth_failures(&s, &admin) == 10.0).then_some(()));
}

/// The TCP ports the process `pid` listens on (from /proc: its sockets in LISTEN state).
fn listening_ports(pid: u32) -> BTreeSet<u16> {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| Some(l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned()))
        .collect();
    let mut ports = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table).unwrap_or_default().lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is field 1 (hex ip:port), st is field 3 (0A = LISTEN), inode field 9.
            if f.len() > 9 && f[3] == "0A" && inodes.contains(f[9]) {
                let port = f[1].rsplit(':').next().unwrap();
                ports.insert(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

#[test]
fn with_http_off_nothing_more_listens_and_the_ready_file_has_no_http() {
    let (d, s) = server(&["--http", "off"]);
    let _logs = DumpLogsOnPanic(d.path());
    assert_eq!(s.http, None);
    let ready: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("server.ready")).unwrap()).unwrap();
    assert!(ready.get("http").is_none(), "{ready}");
    assert!(ready.get("listen").is_some(), "{ready}");
    assert_eq!(listening_ports(s.proc.pid()), BTreeSet::from([s.addr.port(), s.console.port()]));
    assert!(!s.log().text().contains("web page on"), "{}", s.log().text());

    // The same check sees the page when it is served.
    let (_d, served) = server(&[]);
    let expected = BTreeSet::from([served.addr.port(), served.console.port(), served.http.unwrap().port()]);
    assert_eq!(listening_ports(served.proc.pid()), expected);
}

#[test]
fn serving_the_page_beyond_loopback_needs_the_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "client-secret\n").unwrap();
    let o = Command::new(cliser_testkit::bin("cliser-server"))
        .args(["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--http", "0.0.0.0:0"])
        .args(["--password-file", "pw", "--data-dir", "data"])
        .env_remove("CLISER_ADMIN_PASSWORD")
        .env_remove("CLISER_PASSWORD")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--admin-password-file"), "{stderr}");
    assert!(stderr.contains("0.0.0.0:0"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "it stopped before opening the store");

    // With the password it serves, and asks for it.
    let (d, s, admin) = admin_server(&["--http", "0.0.0.0:0"]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = s.http.unwrap();
    assert!(http.ip().is_unspecified(), "{http}");
    let local = SocketAddr::from(([127, 0, 0, 1], http.port()));
    assert_challenge(&get(local, "/"), "beyond loopback, no password");
    assert_eq!(get_as(local, "/", Some(&admin)).status, 200);
}
