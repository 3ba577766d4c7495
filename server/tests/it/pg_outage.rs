//! The server on a PostgreSQL that stops answering: a registration query stuck behind a lock, and a
//! database host that vanishes (packets dropped, no reset). Registrations, the console and a stop
//! must not wait for it; the outage is logged; nothing acked is lost and nothing is stored twice.
//! Each test starts its own private cluster; where PostgreSQL is not installed they print
//! `SKIPPED: PostgreSQL not found` and pass, unless `CLISER_REQUIRE_PG=1`.

use crate::common;
use cliser_testkit::{pg_bin_dir, wait_until, PgCluster};
use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `psql` on `url` running `sql` to its end, as the test's own session (not the server's).
fn psql(url: &str, sql: &str) -> Command {
    let mut cmd = Command::new(pg_bin_dir().expect("PostgreSQL's bin dir").join("psql"));
    cmd.args([url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]);
    for v in ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGSERVICE", "PGOPTIONS"] {
        cmd.env_remove(v);
    }
    cmd
}

/// One line `psql` prints for `sql`.
fn psql_value(url: &str, sql: &str) -> String {
    let out = psql(url, sql).output().expect("run psql");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A session of the test's own that holds `table` locked against every reader until dropped.
struct TableLock {
    child: Child,
    url: String,
}

impl TableLock {
    fn take(url: &str, table: &str) -> TableLock {
        let sql = format!("BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);");
        let child = psql(url, &sql).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("run psql");
        let held = format!(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE c.relname = '{table}' AND l.mode = 'AccessExclusiveLock' AND l.granted"
        );
        wait_until(T, "the test's session to hold the lock", || {
            (psql_value(url, &held) == "1").then_some(())
        });
        TableLock { child, url: url.to_owned() }
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        let _ = psql(
            &self.url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' \
             AND pid <> pg_backend_pid()",
        )
        .output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registration reads the client's high-water mark from PostgreSQL. With that query stuck (the
/// `nodes` table locked by another session), two clients still get `140` at once, the console
/// answers, and SIGTERM ends the server at once: no registration waits for another's query, and
/// the stop waits for none.
#[test]
fn a_stuck_registration_query_stalls_neither_other_registrations_nor_the_stop() {
    let Some(pg) = PgCluster::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let mut s = ServerHandle::start(dir.path(), &["--store", &url]);
    let lock = TableLock::take(&url, "nodes");

    // Both at once, as a fleet reconnecting after a restart would.
    let started = Instant::now();
    let logins: Vec<_> = ["pi-stuck-1", "pi-stuck-2"]
        .into_iter()
        .map(|id| {
            let (addr, pw) = (s.addr, s.password.clone());
            std::thread::spawn(move || {
                let mut c = LineClient::connect(addr);
                let line = c.login(&pw, id);
                (c, line, started.elapsed())
            })
        })
        .collect();
    let mut clients = Vec::new();
    for login in logins {
        let (c, line, took) = login.join().expect("a login failed");
        assert!(line.starts_with("140"), "{line}");
        assert!(took < Duration::from_secs(5), "a registration waited {took:?} for the stuck query");
        clients.push(c);
    }
    let mut a = admin(&s);
    let listed = ask(&mut a, "L");
    assert!(listed.contains("pi-stuck-1") && listed.contains("pi-stuck-2"), "{listed}");

    let stopping = Instant::now();
    s.proc.signal(15);
    let status = s.proc.wait_exit(Duration::from_secs(30));
    let took = stopping.elapsed();
    assert!(status.success(), "the server exits 0 on SIGTERM: {status:?}");
    assert!(took < Duration::from_secs(5), "the stop waited {took:?} for the stuck query");
    drop(lock);
}

/// A hand-driven Pi: answers every poll with its unacked readings (one new reading per poll, as a
/// Pi sampling at the poll rate would), and keeps what the server's acks said.
struct Pi {
    state: std::sync::Arc<std::sync::Mutex<PiState>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct PiState {
    /// The newest seq sent.
    sent: u64,
    /// The highest ack heard.
    acked: u64,
    /// Polls heard.
    polls: u64,
}

impl Pi {
    fn start(s: &ServerHandle, id: &str) -> Pi {
        use std::sync::atomic::Ordering;
        let mut c = LineClient::connect(s.addr);
        let first = c.login(&s.password, id);
        let state = std::sync::Arc::new(std::sync::Mutex::new(PiState::default()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (st, flag) = (state.clone(), stop.clone());
        // `140: Connected ack=7 health=1`: the word after `ack=`, whatever follows it.
        let ack_of = |line: &str| line.split("ack=").nth(1)?.split_whitespace().next()?.parse::<u64>().ok();
        st.lock().unwrap().acked = ack_of(&first).unwrap_or(0);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let poll = c.expect("100", Duration::from_secs(20));
                let mut s = st.lock().unwrap();
                s.polls += 1;
                if let Some(a) = ack_of(&poll) {
                    s.acked = s.acked.max(a);
                }
                s.sent += 1;
                let answer: Vec<String> = (s.acked + 1..=s.sent).map(|q| format!("t=20.5#{q}")).collect();
                drop(s);
                c.send(&format!("100 {}", answer.join(" ")));
            }
        });
        Pi { state, stop, thread: Some(thread) }
    }

    /// (newest seq sent, highest ack heard, polls heard).
    fn now(&self) -> (u64, u64, u64) {
        let s = self.state.lock().unwrap();
        (s.sent, s.acked, s.polls)
    }

    fn finish(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.take().unwrap().join().expect("the Pi thread failed");
    }
}

/// The database host vanishes (its end of the link goes down: packets dropped, no reset, no
/// error back) while a client sends readings. Within 60 s the server logs the outage naming the
/// database; no reading sent after the cut is acked; another client still registers and the
/// console still answers; once the link is back, every reading is stored exactly once.
#[test]
fn a_vanished_database_host_is_noticed_within_60_s_and_nothing_is_lost_or_doubled() {
    let Some(pg) = PgCluster::start_in_netns() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let host = url.split('@').nth(1).and_then(|h| h.split(':').next()).unwrap().to_owned();
    let mut s = ServerHandle::start(dir.path(), &["--store", &url, "--keepalive", "1s"]);
    let pi = Pi::start(&s, "pi-bh");
    wait_until(T, "three readings acked", || (pi.now().1 >= 3).then_some(()));

    pg.cut(true);
    let cut_at = Instant::now();
    let (sent_at_cut, _, _) = pi.now();
    let outage = wait_until(Duration::from_secs(90), "the outage in the log", || {
        s.log().lines_with(&host).into_iter().find(|l| l.contains("ERROR") || l.contains("WARN"))
    });
    let noticed = cut_at.elapsed();
    eprintln!("noticed after {noticed:?}: {outage}");
    assert!(noticed < Duration::from_secs(60), "the outage was logged after {noticed:?}: {outage}");

    // Registrations and the console answer during the outage.
    let registering = Instant::now();
    let (mut other, line) = client(&s, "pi-bh-other");
    assert!(line.starts_with("140"), "{line}");
    let took = registering.elapsed();
    assert!(took < Duration::from_secs(5), "a registration during the outage took {took:?}");
    let asking = Instant::now();
    let listed = ask(&mut admin(&s), "L");
    assert!(listed.contains("pi-bh") && listed.contains("pi-bh-other"), "{listed}");
    let took = asking.elapsed();
    assert!(took < Duration::from_secs(2), "the console's L took {took:?} during the outage");
    other.send("100");

    // Acks stopped: three more polls, and none acks a reading sent after the cut.
    let polls = pi.now().2;
    wait_until(T, "three more polls", || (pi.now().2 >= polls + 3).then_some(()));
    let (_, acked, _) = pi.now();
    assert!(
        acked <= sent_at_cut,
        "reading {acked} acked, but only up to {sent_at_cut} was sent before the cut"
    );

    pg.cut(false);
    let restored = Instant::now();
    let (sent, _, _) = pi.now();
    wait_until(Duration::from_secs(90), "every reading acked after the link is back", || {
        (pi.now().1 >= sent).then_some(())
    });
    eprintln!("caught up {:?} after the link came back", restored.elapsed());
    let acked = pi.now().1;
    pi.finish();
    let stored = s.stored_seqs("pi-bh");
    let twice: Vec<_> = stored.iter().filter(|(_, &n)| n != 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let missing: Vec<u64> = (1..=acked).filter(|q| !stored.contains_key(q)).collect();
    assert!(missing.is_empty(), "acked but not stored: {missing:?}");
    s.proc.signal(15);
    assert!(s.proc.wait_exit(Duration::from_secs(30)).success(), "the server exits 0 on SIGTERM");
}
