//! Per-client tokens against the real binary: `add-client` and `remove-client`, the handshake with a
//! clients file (the password line checked with the id), a reload that closes a revoked client's
//! session, and a broken file refused at start and on reload.

use crate::common;
use cliser_testkit::{bin, wait_until, Proc};
use common::*;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// `cliser-server ARGS` (no password in the environment).
fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(bin("cliser-server"))
        .args(args)
        .env_remove("CLISER_PASSWORD")
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `add-client ID` on `file`; its token.
fn add_client(file: &Path, id: &str) -> String {
    let o = run(&["add-client", id, "--clients-file", file.to_str().unwrap()], file.parent().unwrap());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(out.lines().count(), 1, "only the token on stdout: {out:?}");
    out.trim_end().to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// 110, `password`, 120, `id`: the answer after the id (140, 111, 121, 122).
fn try_login(addr: SocketAddr, password: &str, id: &str) -> (LineClient, String) {
    let mut c = LineClient::connect(addr);
    c.expect("110", T);
    c.send(password);
    c.expect("120", T);
    c.send(id);
    let answer = c.recv(T).unwrap_or_default();
    (c, answer)
}

fn refused(addr: SocketAddr, password: &str, id: &str) {
    let (mut c, answer) = try_login(addr, password, id);
    assert_eq!(answer, "111: senha incorreta", "{id}");
    c.expect_closed(T);
}

/// Reads until the server closes the connection (keep-alives may come first).
fn closed_soon(c: &mut LineClient) {
    wait_until(T, "the connection closed", || c.recv(T).is_none().then_some(()));
}

#[test]
fn a_listed_id_takes_only_its_own_token_and_others_the_fleet_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.toml");
    let (one, two) = (add_client(&file, "pi-1"), add_client(&file, "pi-2"));
    let s = ServerHandle::start(dir.path(), &["--clients-file", file.to_str().unwrap()]);
    let _logs = DumpLogsOnPanic(dir.path());
    s.log().wait_for("2 ids with their own token; other ids log in with the fleet password", T);

    let (_held, answer) = try_login(s.addr, &one, "pi-1");
    assert_eq!(answer, "140: Connected health=1");
    // Another id's token, the fleet password for a listed id, a token for an unlisted id.
    refused(s.addr, &one, "pi-2");
    refused(s.addr, &s.password, "pi-2");
    refused(s.addr, &two, "pi-9");
    refused(s.addr, "guess", "pi-9");
    assert_eq!(try_login(s.addr, &two, "pi-2").1, "140: Connected health=1");
    assert_eq!(try_login(s.addr, &s.password, "pi-9").1, "140: Connected health=1");
    // The fleet password and an id that is none: 122 as before; a wrong password with one: 111.
    assert_eq!(try_login(s.addr, &s.password, "not an id").1, "122: ID invalido");
    refused(s.addr, "guess", "not an id");
    // A token's id still taken by its live session: 121 as before.
    assert_eq!(try_login(s.addr, &one, "pi-1").1, "121: ID em uso");

    let failed = s.log().wait_count("auth failed", 5, T);
    assert!(failed.iter().any(|l| l.contains("wrong password for id pi-2")), "{failed:?}");
    let text = s.log().text();
    assert!(!text.contains(&one) && !text.contains(&two), "a token was logged");
}

#[test]
fn wrong_tokens_count_in_the_brake() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.toml");
    let (one, two) = (add_client(&file, "pi-1"), add_client(&file, "pi-2"));
    let args =
        ["--clients-file", file.to_str().unwrap(), "--auth-exempt", "none", "--auth-max-failures", "3"];
    let s = ServerHandle::start(dir.path(), &args);
    let _logs = DumpLogsOnPanic(dir.path());
    for _ in 0..3 {
        refused(s.addr, &two, "pi-1");
    }
    s.log().wait_for("blocking 127.0.0.1 for 60 s: 3 failed logins within 60 s", T);
    let mut c = LineClient::connect(s.addr);
    assert_eq!(c.recv(T), None, "even the right token is refused from a blocked address");
    assert!(!s.log().text().contains(&one));
}

#[test]
fn without_a_fleet_password_unlisted_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.toml");
    let token = add_client(&file, "pi-1");
    let mut cmd = Command::new(bin("cliser-server"));
    cmd.args(["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--http", "off"])
        .args(["--data-dir", "data", "--clients-file", "clients.toml"])
        .env_remove("CLISER_PASSWORD")
        .current_dir(dir.path());
    let p = Proc::spawn(cmd, &dir.path().join("server.log"));
    let _logs = DumpLogsOnPanic(dir.path());
    p.log.wait_for("1 ids with their own token; other ids are refused", T);
    let line = p.log.wait_for("listening on ", T);
    let addr: SocketAddr = line.rsplit(' ').next().unwrap().parse().unwrap();
    refused(addr, &token, "pi-2");
    refused(addr, "", "pi-2");
    assert_eq!(try_login(addr, &token, "pi-1").1, "140: Connected health=1");
}

#[test]
fn a_removed_client_is_closed_on_sighup_and_refused_and_r_closes_a_rotated_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.toml");
    let (one, two) = (add_client(&file, "pi-1"), add_client(&file, "pi-2"));
    let args = ["--clients-file", file.to_str().unwrap(), "--keepalive", "500ms", "--dead-after", "1000"];
    let s = ServerHandle::start(dir.path(), &args);
    let _logs = DumpLogsOnPanic(dir.path());
    let (mut c1, _) = try_login(s.addr, &one, "pi-1");
    let (mut c2, _) = try_login(s.addr, &two, "pi-2");
    let (mut c9, _) = try_login(s.addr, &s.password, "pi-9");

    let o = run(&["remove-client", "pi-1", "--clients-file", file.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    s.proc.signal(libc::SIGHUP);
    s.log().wait_for("reloaded clients file", T);
    let line = s.log().wait_for("; 1 session closed", T);
    assert!(line.contains("1 ids with their own token"), "{line}");
    closed_soon(&mut c1);
    s.log().wait_for("closing cid=pi-1 sid=", T);
    refused(s.addr, &one, "pi-1");
    // The others were left alone.
    c2.expect("100", T);
    c9.expect("100", T);

    // A new token for pi-2, and pi-9 listed: both sessions lose what they logged in with.
    let args = ["add-client", "--replace", "pi-2", "--clients-file", file.to_str().unwrap()];
    let new_two = String::from_utf8(run(&args, dir.path()).stdout).unwrap().trim_end().to_owned();
    let nine = add_client(&file, "pi-9");
    assert_ne!(new_two, two);
    let mut a = admin(&s);
    let answer = ask(&mut a, "R");
    assert!(answer.starts_with("ok: ") && answer.contains("2 sessions closed"), "{answer}");
    closed_soon(&mut c2);
    closed_soon(&mut c9);
    refused(s.addr, &two, "pi-2");
    refused(s.addr, &s.password, "pi-9");
    assert_eq!(try_login(s.addr, &new_two, "pi-2").1, "140: Connected health=1");
    assert_eq!(try_login(s.addr, &nine, "pi-9").1, "140: Connected health=1");
}

#[test]
fn a_broken_clients_file_is_refused_on_reload_and_the_one_in_force_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.toml");
    let token = add_client(&file, "pi-1");
    let s = ServerHandle::start(dir.path(), &["--clients-file", file.to_str().unwrap()]);
    let _logs = DumpLogsOnPanic(dir.path());
    let (mut live, _) = try_login(s.addr, &token, "pi-1");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{good}pi-2 = \"not a hash\"\n")).unwrap();
    s.proc.signal(libc::SIGHUP);
    let line = s.log().wait_for("reload refused, the clients file in force is kept", T);
    assert!(
        line.contains("ERROR") && line.contains("line 2") && line.contains("not an argon2 hash"),
        "{line}"
    );
    let mut a = admin(&s);
    let answer = ask(&mut a, "R");
    assert!(answer.starts_with("error: ") && answer.contains("line 2"), "{answer}");
    // Nothing changed: the live session is served and the token still works.
    // (It was polled right after 140: read that first, or the close would be a reset.)
    live.expect("100", T);
    live.send("100");
    drop(live);
    s.log().wait_for("disconnected cid=pi-1", T);
    assert_eq!(try_login(s.addr, &token, "pi-1").1, "140: Connected health=1");
}

#[test]
fn a_malformed_or_missing_clients_file_exits_2_at_start_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "fleet\n").unwrap();
    let file = dir.path().join("clients.toml");
    let token = add_client(&file, "pi-1");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("# the fleet\n{good}pi 2 = \"x\"\n")).unwrap();
    let start = |clients: &str| {
        run(
            &[
                "--listen",
                "127.0.0.1:0",
                "--console",
                "127.0.0.1:0",
                "--http",
                "off",
                "--password-file",
                "pw",
            ]
            .iter()
            .chain(&["--data-dir", "data", "--clients-file", clients])
            .copied()
            .collect::<Vec<_>>(),
            dir.path(),
        )
    };
    let o = start("clients.toml");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("clients file clients.toml, line 3: "), "{err}");
    assert!(!err.contains(&token));
    assert!(!dir.path().join("data").exists(), "it stopped before opening the store");
    let o = start("missing.toml");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot read the clients file missing.toml"), "{err}");
}

#[test]
fn add_client_and_remove_client_keep_the_file_0600_and_say_what_went_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.toml");
    let f = file.to_str().unwrap();
    let code = |args: &[&str]| {
        let o = run(args, dir.path());
        (
            o.status.code(),
            String::from_utf8(o.stdout).unwrap(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };

    let (rc, out, err) = code(&["add-client", "pi-1"]);
    assert_eq!((rc, out.as_str()), (Some(2), ""), "no clients file: {err}");
    assert!(err.contains("--clients-file"), "{err}");
    assert!(!file.exists());

    let one = add_client(&file, "pi-1");
    assert_eq!(one.len(), 48, "192 bits in hex: {one}");
    assert_eq!(mode(&file), 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("pi-1 = \"$argon2id$v=19$m=19456,t=2,p=1$"), "{text}");
    assert!(!text.contains(&one), "the file holds the hash, never the token");

    // Comments and other lines survive the edits.
    std::fs::write(&file, format!("# kitchen and hall\n{text}")).unwrap();
    let hall = add_client(&file, "pi.hall");
    let (rc, out, err) = code(&["add-client", "pi-1", "--clients-file", f]);
    assert_eq!((rc, out.as_str()), (Some(2), ""), "{err}");
    assert!(err.contains("already has a token") && err.contains("--replace"), "{err}");
    let before = std::fs::read_to_string(&file).unwrap();
    let (rc, new_one, err) = code(&["add-client", "--replace", "pi-1", "--clients-file", f]);
    assert_eq!(rc, Some(0), "{err}");
    assert_ne!(new_one.trim_end(), one);
    assert!(err.contains("gave a new token to pi-1"), "{err}");
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(after.lines().count(), before.lines().count());
    assert_ne!(after.lines().nth(1), before.lines().nth(1), "pi-1's line has a new hash");
    assert_eq!(after.lines().nth(2), before.lines().nth(2), "pi.hall's line is untouched");
    assert!(after.contains("\n\"pi.hall\" = \"$argon2id$"), "{after}");
    assert!(!after.contains(&hall));

    for bad in [
        &["add-client", "two words", "--clients-file", f][..],
        &["remove-client", "pi-7", "--clients-file", f],
    ] {
        let (rc, _, err) = code(bad);
        assert_eq!(rc, Some(2), "{bad:?}: {err}");
    }
    let (rc, _, err) = code(&["remove-client", "pi-1", "--clients-file", "missing.toml"]);
    assert_eq!(rc, Some(2), "{err}");
    assert!(!dir.path().join("missing.toml").exists());
    // A file it cannot write: exit 1.
    let (rc, _, err) = code(&["add-client", "pi-1", "--clients-file", dir.path().to_str().unwrap()]);
    assert_eq!(rc, Some(1), "{err}");

    let (rc, _, err) = code(&["remove-client", "pi-1", "--clients-file", f]);
    assert_eq!(rc, Some(0), "{err}");
    assert!(err.contains("removed pi-1"), "{err}");
    let left = std::fs::read_to_string(&file).unwrap();
    assert!(left.starts_with("# kitchen and hall\n\"pi.hall\" = ") && left.lines().count() == 2, "{left}");
    assert_eq!(mode(&file), 0o600);

    // The config file's key works too, and a malformed file is refused naming the line.
    std::fs::write(dir.path().join("server.toml"), "clients-file = \"clients.toml\"\n").unwrap();
    let (rc, _, err) = code(&["--config", "server.toml", "remove-client", "pi.hall"]);
    assert_eq!(rc, Some(0), "{err}");
    std::fs::write(&file, "pi-1 = \"$argon2id$\"\n").unwrap();
    let (rc, _, err) = code(&["--config", "server.toml", "add-client", "pi-2"]);
    assert_eq!(rc, Some(2), "{err}");
    assert!(err.contains("line 1"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "pi-1 = \"$argon2id$\"\n");

    // No temp file left behind by any of it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
}

#[test]
fn add_clients_at_once_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.toml");
    let _ = bin("cliser-server");
    let adds: Vec<_> = (0..8)
        .map(|i| {
            let file = file.clone();
            std::thread::spawn(move || add_client(&file, &format!("pi-{i}")))
        })
        .collect();
    let tokens: Vec<String> = adds.into_iter().map(|t| t.join().unwrap()).collect();
    let text = std::fs::read_to_string(&file).unwrap();
    for i in 0..8 {
        assert!(text.lines().any(|l| l.starts_with(&format!("pi-{i} = "))), "pi-{i} lost:\n{text}");
    }
    assert_eq!(text.lines().count(), 8);
    assert_eq!(tokens.iter().collect::<std::collections::BTreeSet<_>>().len(), 8);
}

/// Logs in all of `clients` (id, token) at once from their own threads; each one's time from the
/// common start to its 140, sorted, and the clients (still connected).
fn all_at_once(
    addr: SocketAddr,
    clients: &[(String, String)],
) -> (Vec<std::time::Duration>, Vec<LineClient>) {
    let start = std::sync::Arc::new(std::sync::Barrier::new(clients.len()));
    let threads: Vec<_> = clients
        .iter()
        .cloned()
        .map(|(id, token)| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let t0 = std::time::Instant::now();
                let mut c = LineClient::connect(addr);
                assert_eq!(c.login(&token, &id), "140: Connected health=1", "{id}");
                (t0.elapsed(), c)
            })
        })
        .collect();
    let (mut times, conns): (Vec<_>, Vec<_>) = threads.into_iter().map(|t| t.join().unwrap()).unzip();
    times.sort();
    (times, conns)
}

#[test]
fn a_hundred_clients_reconnecting_at_once_after_a_restart_register_within_the_auth_timeout() {
    const N: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.toml");
    // Hashed here, on two threads, rather than by 100 runs of add-client.
    let half = |from: usize| {
        std::thread::spawn(move || {
            (from..N)
                .step_by(2)
                .map(|i| {
                    let (id, token) = (format!("pi-{i:03}"), format!("token-of-pi-{i:03}"));
                    let hash = cliser_server::credentials::hash_token(&token).unwrap();
                    (id, token, hash)
                })
                .collect::<Vec<_>>()
        })
    };
    let (a, b) = (half(0), half(1));
    let all: Vec<_> = a.join().unwrap().into_iter().chain(b.join().unwrap()).collect();
    let text: String = all.iter().map(|(id, _, hash)| format!("{id} = \"{hash}\"\n")).collect();
    std::fs::write(&file, text).unwrap();
    let clients: Vec<(String, String)> = all.into_iter().map(|(id, token, _)| (id, token)).collect();

    let mut s = ServerHandle::start(dir.path(), &["--clients-file", file.to_str().unwrap()]);
    let _logs = DumpLogsOnPanic(dir.path());
    let (first, conns) = all_at_once(s.addr, &clients);
    s.restart();
    drop(conns);
    let (again, _conns) = all_at_once(s.addr, &clients);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (what, times) in [("first start", &first), ("after a restart", &again)] {
        let (p50, p99, max) = (times[N / 2], times[N * 99 / 100 - 1], times[N - 1]);
        eprintln!(
            "{N} clients with their own tokens logging in at once, {what}: handshake p50 {p50:?}, \
             p99 {p99:?}, all registered after {max:?} ({cpus} CPUs)"
        );
        // Inside the default auth timeout (10 s), or the server would have closed the late ones.
        assert!(max < std::time::Duration::from_secs(10), "{what}: the last one took {max:?}");
    }
    assert_eq!(s.log().count("auth timeout"), 0);
}
