//! The server on a PostgreSQL that stops answering: a registration query stuck behind a lock, and a
//! database host that vanishes (packets dropped, no reset). Registrations, the console and a stop
//! must not wait for it; the outage is logged; nothing acked is lost and nothing is stored twice.
//! Each test starts its own private cluster; where PostgreSQL is not installed they print
//! `SKIPPED: PostgreSQL not found` and pass, unless `CLISER_REQUIRE_PG=1`.

mod common;
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
