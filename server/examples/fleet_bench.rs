//! Issue 26's figures, on a private PostgreSQL cluster with real servers and clients (run by
//! `bench/fleet.sh`, which formats what this prints as `key=value` lines):
//!
//! - duty failover: the leader killed with -9 → the survivor leads (its `/api/fleet`);
//! - Pi failover: a server killed with -9 → each of its Pis registered on the other server, and
//!   its first reading stored after the kill;
//! - live lag across servers: a reading committed on A → its event on B's `/api/events`, with
//!   `cliser-load` driving A;
//! - PostgreSQL's load meanwhile (transactions per second, its processes' CPU), and with the same
//!   number of Pis registered but polled only every 30 s: what the fleet's own statements cost.
//!
//! Usage: `fleet_bench [TRIALS] [LOAD_CLIENTS] [LOAD_SECONDS] [ONLY]` (10, 1000, 30; ONLY one of
//! `duty`, `pi`, `lag`, `idle`). The load's clients answer the servers' polls every second (`--keepalive
//! 1s`): LOAD_CLIENTS readings per second.

use cliser_testkit::{PgCluster, Proc, ServerHandle};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LONG: Duration = Duration::from_secs(60);

fn arg(n: usize, default: u64) -> u64 {
    std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The body of `GET path` on `addr`.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// Who `/api/fleet` on `http` says leads, if anyone.
fn leader(http: SocketAddr) -> Option<String> {
    let body = get(http, "/api/fleet")?;
    let j: serde_json::Value = serde_json::from_str(&body).ok()?;
    j["leader"]["name"].as_str().map(str::to_owned)
}

fn wait<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two servers named a and b on database `db` of `pg`.
fn pair(pg: &PgCluster, db: &str, dir: &Path, extra: &[&str]) -> (ServerHandle, ServerHandle) {
    let url = pg.create_database(db);
    let (da, dbb) = (dir.join(format!("{db}-a")), dir.join(format!("{db}-b")));
    std::fs::create_dir_all(&da).unwrap();
    std::fs::create_dir_all(&dbb).unwrap();
    let mut args_a = vec!["--store", url.as_str(), "--fleet-name", "a"];
    args_a.extend(extra);
    let a = ServerHandle::start(&da, &args_a);
    let mut args_b = vec!["--store", url.as_str(), "--fleet-name", "b"];
    args_b.extend(extra);
    let b = ServerHandle::start_with(&dbb, &a.password, &args_b);
    (a, b)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!("{name}_n={}", ms.len());
    println!("{name}_p50_ms={:.0}", percentile(&ms, 0.5));
    println!("{name}_p99_ms={:.0}", percentile(&ms, 0.99));
    println!("{name}_max_ms={:.0}", ms.last().copied().unwrap_or(f64::NAN));
}

fn duty_failover(pg: &PgCluster, dir: &Path, trials: u64) {
    let mut took = Vec::new();
    for t in 0..trials {
        let (mut a, mut b) = pair(pg, &format!("duty{t}"), dir, &[]);
        let (ha, hb) = (a.http.unwrap(), b.http.unwrap());
        let lead = wait(LONG, "a leader", || leader(hb).filter(|_| leader(ha).is_some()));
        let (killed, survivor, name) = match lead.as_str() {
            "a" => (&mut a, hb, "b"),
            _ => (&mut b, ha, "a"),
        };
        killed.proc.kill9();
        let t0 = Instant::now();
        wait(LONG, "the survivor to lead", || (leader(survivor).as_deref() == Some(name)).then_some(()));
        took.push(t0.elapsed().as_secs_f64() * 1000.0);
        eprintln!("duty failover {t}: {:.0} ms", took.last().unwrap());
    }
    report("duty_failover", took);
}

fn pi_client(servers: &str, password: &str, id: &str, dir: &Path) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = std::process::Command::new(cliser_testkit::bin("cliser-pi-client"));
    cmd.args(["--server", servers, "--id", id, "--sensor", "sim", "--interval", "1s", "--state-dir"])
        .arg(dir.join("state"))
        .env("CLISER_PASSWORD", password)
        .env("RUST_LOG", "info");
    Proc::spawn(cmd, &dir.join("client.log"))
}

fn pi_failover(pg: &PgCluster, dir: &Path, trials: u64) {
    const PIS: usize = 3;
    let (mut registered, mut stored) = (Vec::new(), Vec::new());
    for t in 0..trials {
        let db = format!("pis{t}");
        let (mut a, b) = pair(pg, &db, dir, &[]);
        let url = pg.url_for(&db);
        let servers = format!("{},{}", a.addr, b.addr);
        let mut pis: Vec<Proc> = (0..PIS)
            .map(|i| pi_client(&servers, &a.password, &format!("pi-{i}"), &dir.join(format!("{db}-pi{i}"))))
            .collect();
        for p in &pis {
            p.log.wait_for(&format!("registered with {}", a.addr), LONG);
        }
        let mut store = cliser_store::open(&url).expect("open the store");
        a.proc.kill9();
        let (t0, t0_ms) = (Instant::now(), now_ms());
        for i in 0..PIS {
            let cid = format!("pi-{i}");
            b.log().wait_for(&format!("registered cid={cid} "), LONG);
            registered.push(t0.elapsed().as_secs_f64() * 1000.0);
            wait(LONG, "a reading stored after the kill", || {
                let q = cliser_store::ReadingQuery {
                    cid: cid.parse().ok(),
                    since_ms: Some(t0_ms - 60_000),
                    ..Default::default()
                };
                let rows = store.readings(&q).ok()?;
                rows.iter().any(|r| r.received_ms > t0_ms).then_some(())
            });
            stored.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        eprintln!("pi failover {t}: registered {:?} ms", &registered[registered.len() - PIS..]);
        for p in &mut pis {
            p.kill9();
        }
    }
    report("pi_registered", registered);
    report("pi_first_stored", stored);
}

/// User and system CPU seconds of every `postgres` process now.
fn postgres_cpu_s() -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((name, rest)) = stat.split_once(") ") else { continue };
        if !name.ends_with("(postgres") {
            continue;
        }
        let f: Vec<&str> = rest.split(' ').collect();
        let (u, s): (f64, f64) = (f[11].parse().unwrap_or(0.0), f[12].parse().unwrap_or(0.0));
        total += (u + s) / tick;
    }
    total
}

fn xact_commits(url: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query_one("SELECT sum(xact_commit)::bigint FROM pg_stat_database", &[]).unwrap().get(0)
}

fn live_lag_and_load(pg: &PgCluster, dir: &Path, clients: u64, secs: u64) {
    let (a, b) = pair(pg, "lag", dir, &["--keepalive", "1s"]);
    let url = pg.url_for("lag");
    let hb = b.http.unwrap();
    let lags: Arc<Mutex<Vec<f64>>> = Arc::default();
    let seen = lags.clone();
    let mut events = TcpStream::connect(hb).unwrap();
    events.write_all(format!("GET /api/events HTTP/1.1\r\nHost: {hb}\r\n\r\n").as_bytes()).unwrap();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(events).lines();
        let mut readings = false;
        while let Some(Ok(line)) = lines.next() {
            if let Some(name) = line.strip_prefix("event: ") {
                readings = name == "readings";
            } else if let (true, Some(data)) = (readings, line.strip_prefix("data: ")) {
                let at = now_ms();
                let Ok(serde_json::Value::Array(rs)) = serde_json::from_str(data) else { continue };
                let mut l = seen.lock().unwrap();
                l.extend(rs.iter().filter_map(|r| r["ts"].as_i64()).map(|ts| (at - ts) as f64));
            }
        }
    });
    let xact0 = xact_commits(&url);
    let cpu0 = postgres_cpu_s();
    let t0 = Instant::now();
    let out = std::process::Command::new(cliser_testkit::bin("cliser-load"))
        .args(["--server", &a.addr.to_string(), "--clients", &clients.to_string(), "--ramp", "500"])
        .args(["--duration", &format!("{secs}s"), "--keepalive", "1s"])
        .env("CLISER_PASSWORD", &a.password)
        .output()
        .expect("run cliser-load");
    let elapsed = t0.elapsed().as_secs_f64();
    let (xact1, cpu1) = (xact_commits(&url), postgres_cpu_s());
    if !out.status.success() {
        eprintln!("cliser-load: {}", String::from_utf8_lossy(&out.stderr));
    }
    std::thread::sleep(Duration::from_millis(500));
    let lags = std::mem::take(&mut *lags.lock().unwrap());
    println!("lag_clients={clients}");
    println!("lag_rate={clients}");
    report("live_lag", lags);
    println!("pg_xact_per_s={:.0}", (xact1 - xact0) as f64 / elapsed);
    println!("pg_cpu_percent={:.1}", (cpu1 - cpu0) / elapsed * 100.0);
    drop((a, b));
}

/// PostgreSQL's load from the fleet itself: `clients` Pis registered on one of two servers, polled
/// every 30 s (so their few readings hardly count), for `secs`.
fn idle_load(pg: &PgCluster, dir: &Path, clients: u64, secs: u64) {
    let (a, _b) = pair(pg, "idle", dir, &["--keepalive", "30s"]);
    let url = pg.url_for("idle");
    let mut load = std::process::Command::new(cliser_testkit::bin("cliser-load"))
        .args(["--server", &a.addr.to_string(), "--clients", &clients.to_string(), "--ramp", "500"])
        .args(["--duration", &format!("{}s", secs + 10), "--keepalive", "30s"])
        .env("CLISER_PASSWORD", &a.password)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run cliser-load");
    wait(LONG, "every client registered", || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).ok()?;
        let n: i64 =
            c.query_one("SELECT count(*) FROM fleet_presence WHERE expires > now()", &[]).ok()?.get(0);
        (n as u64 >= clients).then_some(())
    });
    let (xact0, cpu0, t0) = (xact_commits(&url), postgres_cpu_s(), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let elapsed = t0.elapsed().as_secs_f64();
    let (xact1, cpu1) = (xact_commits(&url), postgres_cpu_s());
    let _ = load.kill();
    let _ = load.wait();
    println!("idle_clients={clients}");
    println!("idle_pg_xact_per_s={:.1}", (xact1 - xact0) as f64 / elapsed);
    println!("idle_pg_cpu_percent={:.1}", (cpu1 - cpu0) / elapsed * 100.0);
}

fn main() {
    let trials = arg(1, 10);
    let (clients, secs) = (arg(2, 1000), arg(3, 30));
    let only = std::env::args().nth(4).unwrap_or_default();
    let pg = PgCluster::start().expect("PostgreSQL (initdb, pg_ctl) not found");
    let dir = tempfile::tempdir().unwrap();
    println!("postgres_port={}", pg.port());
    let run = |part: &str| only.is_empty() || only == part;
    if run("duty") {
        duty_failover(&pg, dir.path(), trials);
    }
    if run("pi") {
        pi_failover(&pg, dir.path(), trials.div_ceil(2));
    }
    if run("lag") {
        live_lag_and_load(&pg, dir.path(), clients, secs);
    }
    if run("idle") {
        idle_load(&pg, dir.path(), clients, secs);
    }
}
