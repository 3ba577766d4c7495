//! The server on PostgreSQL, with the real Pi client: the database stopped mid-run, the database
//! unreachable at start, and two servers sharing one database while a client fails over from one to
//! the other. The tests that need a database start their own private cluster ([`PgCluster`]); where
//! PostgreSQL is not installed they print `SKIPPED: PostgreSQL not found` and pass, unless
//! `CLISER_REQUIRE_PG=1`.

use crate::common;
use cliser_store::{ReadingQuery, Store, StoredReading};
use cliser_testkit::{wait_until, LogFile, PgCluster};
use common::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LONG: Duration = Duration::from_secs(40);

/// The real Pi client with the simulated sensors, `--server` given as a list (`a:1,b:2`), logging
/// at `level` (debug shows each answer it sends and how many readings wait for an ack).
fn pi_client(servers: &str, password: &str, id: &str, dir: &Path, level: &str, extra: &[&str]) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = std::process::Command::new(cliser_testkit::bin("cliser-pi-client"));
    cmd.args(["--server", servers, "--id", id, "--sensor", "sim", "--state-dir"])
        .arg(dir.join("state"))
        .args(extra)
        .env("CLISER_PASSWORD", password)
        .env("RUST_LOG", level);
    Proc::spawn(cmd, &dir.join("client.log"))
}

/// The test's own connection to the database at `url`, as an operator's `query` would read it
/// (one for the whole test: the checks poll it often).
fn open(url: &str) -> Box<dyn Store> {
    cliser_store::open(url).unwrap_or_else(|e| panic!("open the store: {e}"))
}

/// Every reading of `cid` in the database.
fn stored(store: &mut dyn Store, cid: &str) -> Vec<StoredReading> {
    let q = ReadingQuery { cid: Some(cliser_protocol::ClientId::new(cid).unwrap()), ..Default::default() };
    store.readings(&q).unwrap_or_else(|e| panic!("read the store: {e}"))
}

/// How many times each seq of `cid` is logged as stored, over all the servers' logs.
fn logged_seqs(logs: &[&LogFile], cid: &str) -> BTreeMap<u64, usize> {
    let prefix = format!("reading cid={cid} ");
    let mut n = BTreeMap::new();
    for log in logs {
        for l in log.lines_with(&prefix) {
            let seq = l.rsplit("seq=").next().and_then(|t| t.trim().parse().ok());
            *n.entry(seq.unwrap_or_else(|| panic!("no seq in {l}"))).or_insert(0) += 1;
        }
    }
    n
}

/// The seqs of `cid` recorded: each stored row, plus one more copy for each time a seq is logged
/// again by any server (the unique key cannot hold a seq twice; a reading recorded twice would
/// show in the logs).
fn ledger(store: &mut dyn Store, logs: &[&LogFile], cid: &str) -> Vec<u64> {
    let mut seqs: Vec<u64> = stored(store, cid).iter().filter_map(|r| r.seq).collect();
    for (seq, n) in logged_seqs(logs, cid) {
        seqs.extend(std::iter::repeat_n(seq, n.saturating_sub(1)));
    }
    seqs
}

/// Waits until the database holds every seq the client has sampled so far, then stops the client
/// with SIGTERM.
fn drain_and_stop(client: &mut Proc, store: &mut dyn Store, cid: &str) {
    let target = sampled_seqs(&client.log).into_iter().max().unwrap_or(0);
    wait_until(LONG, "the store to catch up with the client", || {
        let max = stored(store, cid).iter().filter_map(|r| r.seq).max().unwrap_or(0);
        (max >= target).then_some(())
    });
    client.signal(15);
    assert!(client.wait_exit(Duration::from_secs(15)).success(), "the client exits 0 on SIGTERM");
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A TCP relay that notes when each connection was made and, if asked, each line that comes back
/// from upstream, with its time. In front of PostgreSQL it shows the sink's commit tries (the
/// store connects anew for each while the database is down; with the database down the relay
/// accepts and closes at once); between the Pi client and the server, the acks the server sends.
struct Relay {
    port: u16,
    connects: Arc<Mutex<Vec<Instant>>>,
    lines: Lines,
}

/// Lines with the time they arrived.
type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

impl Relay {
    fn start(upstream: SocketAddr, tap_lines: bool) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connects = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (noted, tapped) = (connects.clone(), lines.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let at = Instant::now();
                let (noted, tap) = (noted.clone(), tap_lines.then(|| tapped.clone()));
                std::thread::spawn(move || {
                    // In front of PostgreSQL: the fleet's lease connection (its startup packet
                    // names it) is not one of the sink's tries.
                    let mut first = vec![0u8; 4096];
                    let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
                    let n = if tap.is_none() { conn.read(&mut first).unwrap_or(0) } else { 0 };
                    let _ = conn.set_read_timeout(None);
                    first.truncate(n);
                    if !first.windows(12).any(|w| w == b"cliser fleet") {
                        noted.lock().unwrap().push(at);
                    }
                    let Ok(mut up) = TcpStream::connect(upstream) else { return };
                    if up.write_all(&first).is_err() {
                        return;
                    }
                    let (c2, u2) = (conn.try_clone().unwrap(), up.try_clone().unwrap());
                    std::thread::spawn(move || relay(c2, u2, None));
                    relay(up, conn, tap);
                });
            }
        });
        Relay { port, connects, lines }
    }

    /// The connections made between `from` and `to`.
    fn connects_between(&self, from: Instant, to: Instant) -> Vec<Instant> {
        let mut between: Vec<Instant> =
            self.connects.lock().unwrap().iter().copied().filter(|t| (from..to).contains(t)).collect();
        between.sort();
        between
    }

    /// The lines from upstream that arrived between `from` and `to`.
    fn lines_between(&self, from: Instant, to: Instant) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|(t, _)| (from..to).contains(t)).map(|(_, l)| l.clone()).collect()
    }
}

fn relay(mut from: TcpStream, mut to: TcpStream, tap: Option<Lines>) {
    let (mut buf, mut partial) = ([0u8; 4096], Vec::new());
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(tap) = &tap {
            partial.extend_from_slice(&buf[..n]);
            while let Some(end) = partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = partial.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                tap.lock().unwrap().push((Instant::now(), text));
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// The `W` of a client's debug line `sending N readings (seq A..=B)..., W waiting`: the readings it
/// holds that the server has not acknowledged.
fn waiting(line: &str) -> u64 {
    let w = line.rsplit(", ").next().and_then(|t| t.strip_suffix(" waiting")).and_then(|t| t.parse().ok());
    w.unwrap_or_else(|| panic!("not a sending line: {line}"))
}

/// The `N` of a server's poll `100: keep alive ack=N`.
fn ack_of(poll: &str) -> u64 {
    let n = poll.strip_prefix("100: keep alive ack=").and_then(|t| t.parse().ok());
    n.unwrap_or_else(|| panic!("not a poll with an ack: {poll:?}"))
}

#[test]
fn postgres_stopped_for_20s_acks_nothing_meanwhile_logs_one_error_retries_with_backoff_and_stores_everything_once_after(
) {
    let Some(mut pg) = PgCluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let tries = Relay::start(SocketAddr::from(([127, 0, 0, 1], pg.port())), false);
    let url = pg.url().replace(&format!("@127.0.0.1:{}/", pg.port()), &format!("@127.0.0.1:{}/", tries.port));
    assert_ne!(url, pg.url());
    // No retention thread: its connection would be one more that the relay counts.
    let s = ServerHandle::start(d.path(), &["--store", &url, "--keepalive", "300ms", "--retain-raw", "0"]);
    // The client reaches the server through a relay that notes the acks it is sent.
    let polls = Relay::start(s.addr, true);
    let cdir = d.path().join("client");
    let mut c = pi_client(
        &format!("127.0.0.1:{}", polls.port),
        &s.password,
        "cellar",
        &cdir,
        "debug",
        &["--interval", "100ms", "--server-timeout", "3s"],
    );
    // The test reads the database directly, not through the relay that counts the server's tries.
    let mut db = open(&pg.url());
    wait_until(LONG, "readings stored before the outage", || {
        (stored(db.as_mut(), "cellar").len() >= 20).then_some(())
    });

    let stopping = Instant::now();
    pg.stop();
    let down = Instant::now();
    let error = s.log().wait_for("cannot commit", LONG);
    let erred = Instant::now();
    assert!(error.contains(" ERROR ") && error.contains("postgres://cliser:***@"), "{error}");
    // What was stored before the database went is all the sink logs until it is back.
    let logged_at_error = s.log().count("reading cid=cellar");
    // An answer to a poll sent before the failure may still be on its way: count from the next.
    let from = c.log.count("sending ") + 1;
    // The outage itself: a deliberate wait, 20 s of the database down while the client samples.
    std::thread::sleep(Duration::from_secs(20).saturating_sub(down.elapsed()));
    let backlog: Vec<u64> = c.log.lines_with("sending ").iter().skip(from).map(|l| waiting(l)).collect();
    assert_eq!(s.log().count("reading cid=cellar"), logged_at_error, "nothing stored nor logged while down");
    let up = Instant::now();
    let frozen: Vec<u64> = polls.lines_between(erred, up).iter().skip(1).map(|l| ack_of(l)).collect();
    pg.start_again();
    // The test's own connection did not live through it either.
    db = open(&pg.url());

    // Nothing acknowledged meanwhile: every poll carried the same ack, and the client's backlog
    // only grew.
    assert!(frozen.len() >= 30, "the server kept polling: {frozen:?}");
    assert!(frozen.iter().all(|&a| a == frozen[0]), "the ack moved while the database was down: {frozen:?}");
    assert!(backlog.len() >= 30, "the client kept answering: {backlog:?}");
    assert!(backlog.windows(2).all(|w| w[0] <= w[1]), "the backlog shrank during the outage: {backlog:?}");
    assert!(backlog[backlog.len() - 1] - backlog[0] >= 100, "a backlog grew: {backlog:?}");

    // The sink retried with backoff: a few tries, first soon, then further and further apart,
    // never over 5 s (every try connects anew, which the relay sees).
    let tried = tries.connects_between(stopping, up);
    let gaps: Vec<Duration> = tried.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("commit tries while down: {}, gaps {gaps:?}", tried.len());
    assert!((5..=20).contains(&tried.len()), "tries: {} in 20 s, gaps {gaps:?}", tried.len());
    assert!(gaps[0] < Duration::from_secs(1), "the first retry comes soon: {gaps:?}");
    assert!(gaps.iter().all(|g| *g <= Duration::from_secs(6)), "backoff capped: {gaps:?}");
    assert!(gaps.last().is_some_and(|g| *g >= Duration::from_secs(3)), "backoff grew: {gaps:?}");

    let back = s.log().wait_for("committing again after", LONG);
    assert!(back.contains(" INFO ") && back.contains("postgres://cliser:***@"), "{back}");
    let errors = s.log().lines_with("cannot commit");
    assert_eq!(errors.len(), 1, "one line for the outage, not one per try: {errors:#?}");
    // Acks move again once it is back. Waited for before the client is stopped: the answer that
    // carries the whole backlog can be stored, and the test see it, before the next poll acks it.
    wait_until(LONG, "a poll whose ack moved past the frozen one", || {
        polls.lines_between(up, Instant::now()).iter().map(|l| ack_of(l)).find(|&a| a > frozen[0])
    });
    drain_and_stop(&mut c, db.as_mut(), "cellar");
    assert_eq!(s.log().count("committing again"), 1);
    let pending = pending_seqs(&cdir.join("state"));
    let logged = ledger(db.as_mut(), &[s.log()], "cellar");
    assert_exactly_once("postgres stopped", &sampled_seqs(&c.log), &logged, &pending);
    assert_eq!(s.log().count("reading cid=cellar"), logged.len(), "log lines = stored rows");
    let password = &url[url.find("cliser:").unwrap() + "cliser:".len()..url.find('@').unwrap()];
    assert!(!s.log().text().contains(password), "the password stays out of the log");
}

#[test]
fn postgres_unreachable_at_start_exits_1_naming_the_url_with_the_password_elided() {
    // A port nobody listens on: bound, then closed.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let secret = cliser_testkit::free_password();
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pw"), "client-secret\n").unwrap();
    for (url, shown) in [
        (
            format!("postgres://cliser:{secret}@127.0.0.1:{port}/cliser"),
            format!("postgres://cliser:***@127.0.0.1:{port}/cliser"),
        ),
        (
            format!("postgresql://127.0.0.1:{port}/cliser?user=cliser&password={secret}"),
            format!("postgresql://127.0.0.1:{port}/cliser?user=cliser&password=***"),
        ),
    ] {
        let server = [
            "--listen",
            "127.0.0.1:0",
            "--console",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--password-file",
            "pw",
        ];
        let query = ["query"];
        for args in [&server[..], &query[..]] {
            let o = std::process::Command::new(cliser_testkit::bin("cliser-server"))
                .current_dir(d.path())
                .args(args)
                .args(["--store", &url])
                .env_remove("RUST_LOG")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{args:?} {shown}: {err}");
            assert!(
                err.contains(" ERROR ") && err.contains(&format!("PostgreSQL at {shown}: connect")),
                "{err}"
            );
            assert!(!err.contains(&secret), "the password is elided: {err}");
            assert!(String::from_utf8_lossy(&o.stdout).is_empty());
        }
    }
    assert!(!d.path().join("cliser-data").exists(), "no SQLite store made instead");
}

#[test]
fn two_servers_on_one_database_a_client_fails_over_on_kill_9_with_the_right_ack_and_nothing_lost_or_stored_twice(
) {
    let Some(pg) = PgCluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let url = pg.url();
    let (dir_a, dir_b) = (d.path().join("a"), d.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let flags = ["--store", url.as_str(), "--keepalive", "300ms"];
    let mut a = ServerHandle::start(&dir_a, &flags);
    let b = ServerHandle::start_with(&dir_b, &a.password, &flags);
    // B knows nothing of the client at start: its 140 can only come from the database.
    b.log().wait_for("clients with a high-water mark: 0", T);
    let (addr_a, addr_b) = (a.addr.to_string(), b.addr.to_string());
    let cdir = d.path().join("client");
    let mut c = pi_client(
        &format!("{addr_a},{addr_b}"),
        &a.password,
        "roamer",
        &cdir,
        // Debug: `sampled_seqs` reads the client's line per reading, a debug line.
        "debug",
        &["--interval", "50ms", "--server-timeout", "2s"],
    );
    let first = c.log.wait_for("registered with", LONG);
    assert!(
        first.contains(&format!("registered with {addr_a} as roamer")),
        "the first server first: {first}"
    );
    let mut db = open(&url);
    wait_until(LONG, "server A to store 100 readings", || {
        (stored(db.as_mut(), "roamer").len() >= 100).then_some(())
    });

    a.proc.kill9();
    let killed_ms = now_ms();
    let moved = c.log.wait_for(&format!("registered with {addr_b}"), LONG);
    let failed_over = c.log.wait_for(&format!("server {addr_a} failed ("), LONG);
    assert!(failed_over.contains(&format!("trying {addr_b}")), "{failed_over}");
    // Whatever A committed is in the database; B reads it there for its 140.
    let ack: u64 = moved
        .split("(server has up to seq ")
        .nth(1)
        .and_then(|t| t.strip_suffix(')'))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no ack in {moved}"));
    wait_until(LONG, "server B to store readings", || {
        b.log().lines_with("reading cid=roamer").first().cloned()
    });
    drain_and_stop(&mut c, db.as_mut(), "roamer");

    let rows = stored(db.as_mut(), "roamer");
    // Rows A received were received before it died; B's only after the client had moved.
    let by_a = rows.iter().filter(|r| r.received_ms <= killed_ms).filter_map(|r| r.seq).max();
    assert_eq!(Some(ack), by_a, "B's 140 acks exactly what A committed");
    let logged_by_a = logged_seqs(&[a.log()], "roamer").into_keys().max().unwrap_or(0);
    assert!(ack >= logged_by_a && logged_by_a > 0, "A logged up to {logged_by_a}, B acked {ack}");
    assert!(
        logged_seqs(&[b.log()], "roamer").into_keys().all(|seq| seq > ack),
        "B logs none of what A stored"
    );
    let twice: Vec<(u64, usize)> =
        logged_seqs(&[a.log(), b.log()], "roamer").into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(twice.is_empty(), "seqs logged more than once over both servers: {twice:?}");
    let pending = pending_seqs(&cdir.join("state"));
    let logged = ledger(db.as_mut(), &[a.log(), b.log()], "roamer");
    assert_exactly_once("failover", &sampled_seqs(&c.log), &logged, &pending);
    assert_eq!(rows.len(), logged.len(), "every row once");
}
