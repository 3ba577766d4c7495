//! Store benchmark: commit throughput in groups, bytes on disk per million readings, and the
//! latency of two queries in a database of 10 million readings or more. Run in release:
//!
//! ```text
//! cargo run --release -p cliser-store --example store_bench -- --backend sqlite [--dir DIR]
//! cargo run --release -p cliser-store --example store_bench -- --backend pg [--pg-url URL]
//! ```
//!
//! Without `--pg-url` it starts a private PostgreSQL cluster (fsync on) in a temp dir. The fleet is
//! 1,000 clients x 8 sensors; figures go to stdout as `key=value` lines (bench/store.sh makes the
//! table), progress to stderr.
//!
//! The database: (1) the throughput run, 60 days back; (2) 29 days of hourly readings of every
//! sensor; (3) the last 24 h at 10 s of the first 60 clients (480 sensors), interleaved as they
//! would arrive. The queries: 24 h of one of those sensors (8,640 rows) and 30 days of hourly
//! buckets of it (720 buckets, from the rollups).

use cliser_protocol::{Celsius, ClientId, ErrorReason, SensorId, Value};
use cliser_store::{NewReading, PgStore, ReadingQuery, SqliteStore, Store, TsQuality};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// The end of the filled history (a whole hour; 2026-06-01T00:00Z).
const T_END: i64 = 1_780_272_000_000;

struct Args {
    backend: String,
    dir: Option<PathBuf>,
    pg_url: Option<String>,
    clients: usize,
    sensors: usize,
    group: usize,
    throughput: usize,
    hot_clients: usize,
    history_days: i64,
    runs: usize,
}

fn args() -> Args {
    let mut a = Args {
        backend: "sqlite".into(),
        dir: None,
        pg_url: None,
        clients: 1000,
        sensors: 8,
        group: 512,
        throughput: 512_000,
        hot_clients: 60,
        history_days: 29,
        runs: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--backend" => a.backend = val(),
            "--dir" => a.dir = Some(val().into()),
            "--pg-url" => a.pg_url = Some(val()),
            "--clients" => a.clients = val().parse().expect("--clients N"),
            "--group" => a.group = val().parse().expect("--group N"),
            "--throughput" => a.throughput = val().parse().expect("--throughput N"),
            "--hot-clients" => a.hot_clients = val().parse().expect("--hot-clients N"),
            "--history-days" => a.history_days = val().parse().expect("--history-days N"),
            "--runs" => a.runs = val().parse().expect("--runs N"),
            "-h" | "--help" => {
                eprintln!("store_bench --backend sqlite|pg [--dir DIR] [--pg-url URL] [--clients 1000] [--group 512] [--throughput 512000] [--hot-clients 60] [--history-days 29] [--runs 30]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// The simulated fleet: ids, each client's next seq, and a cheap deterministic value source.
struct Fleet {
    clients: Vec<ClientId>,
    sensors: Vec<SensorId>,
    seq: Vec<u64>,
    rng: u64,
}

impl Fleet {
    fn new(clients: usize, sensors: usize) -> Fleet {
        Fleet {
            clients: (0..clients).map(|i| ClientId::new(&format!("pi-{i:04}")).unwrap()).collect(),
            sensors: (0..sensors).map(|i| SensorId::new(&format!("28-00000000{i:04x}")).unwrap()).collect(),
            seq: vec![0; clients],
            rng: 0x2545_f491_4f6c_dd1d,
        }
    }

    fn reading(&mut self, client: usize, sensor: usize, t: i64) -> NewReading {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.seq[client] += 1;
        let value = if self.rng.is_multiple_of(500) {
            Value::Error(ErrorReason::new("crc").unwrap())
        } else {
            Value::Celsius(Celsius::from_millis(15_000 + (self.rng % 10_000) as i32).unwrap())
        };
        NewReading {
            cid: self.clients[client].clone(),
            sensor: self.sensors[sensor].clone(),
            value,
            sampled_ms: t,
            received_ms: t + 150,
            seq: Some(self.seq[client]),
            // What a current Pi client sends: an age, counted back by the server.
            ts_quality: TsQuality::FromAge,
        }
    }

    /// `n` readings as clients would send them: each client its 8 sensors at once, one client
    /// after the other, one round every 10 s from `t0`.
    fn rounds(&mut self, t0: i64, n: usize) -> Vec<NewReading> {
        let mut out = Vec::with_capacity(n);
        let mut round = 0;
        'outer: loop {
            for c in 0..self.clients.len() {
                for s in 0..self.sensors.len() {
                    if out.len() == n {
                        break 'outer;
                    }
                    out.push(self.reading(c, s, t0 + round * 10_000));
                }
            }
            round += 1;
        }
        out
    }
}

/// Commits `readings` in groups of `group`; returns readings per second.
fn throughput(store: &mut dyn Store, readings: &[NewReading], group: usize) -> f64 {
    let start = Instant::now();
    for g in readings.chunks(group) {
        let stored = store.commit(g).expect("commit");
        assert!(stored.iter().all(|&x| x), "all new");
    }
    readings.len() as f64 / start.elapsed().as_secs_f64()
}

fn fill(store: &mut dyn Store, fleet: &mut Fleet, a: &Args) -> (u64, f64) {
    let start = Instant::now();
    let mut n = 0u64;
    let hours = a.history_days * 24;
    let from = T_END - DAY - hours * HOUR;
    for h in 0..hours {
        let t = from + h * HOUR;
        let mut g = Vec::with_capacity(a.clients * a.sensors);
        for c in 0..a.clients {
            for s in 0..a.sensors {
                g.push(fleet.reading(c, s, t));
            }
        }
        store.commit(&g).expect("commit");
        n += g.len() as u64;
        if h % 96 == 0 {
            eprintln!(
                "  history: day {}/{}, {n} readings, {:.0}/s",
                h / 24,
                a.history_days,
                n as f64 / start.elapsed().as_secs_f64()
            );
        }
    }
    // The last day at 10 s for the hot clients: 20 rounds (200 s) per transaction.
    let steps = DAY / 10_000;
    let mut g = Vec::new();
    for step in 0..steps {
        let t = T_END - DAY + step * 10_000;
        for c in 0..a.hot_clients {
            for s in 0..a.sensors {
                g.push(fleet.reading(c, s, t));
            }
        }
        if step % 20 == 19 || step == steps - 1 {
            store.commit(&g).expect("commit");
            n += g.len() as u64;
            g.clear();
        }
        if step % 1440 == 0 {
            eprintln!("  last day: {}/{steps} steps, {n} readings", step);
        }
    }
    (n, n as f64 / start.elapsed().as_secs_f64())
}

/// Runs `f` `runs` times after one first (reported apart: caches not yet warm); returns (first,
/// median, max) in milliseconds and what the last run returned.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64, f64, T) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let start = Instant::now();
    let mut last = f();
    let first = ms(start.elapsed());
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        last = f();
        all.push(ms(start.elapsed()));
    }
    all.sort_by(|a, b| a.total_cmp(b));
    (first, all[all.len() / 2], all[all.len() - 1], last)
}

fn queries(store: &mut dyn Store, fleet: &Fleet, runs: usize, tag: &str) {
    let day = ReadingQuery {
        cid: Some(fleet.clients[0].clone()),
        sensor: Some(fleet.sensors[0].clone()),
        since_ms: Some(T_END - DAY),
        until_ms: Some(T_END),
        limit: None,
    };
    let (first, median, max, rows) = time(runs, || store.readings(&day).expect("query").len());
    println!("{tag}q24h_rows={rows}");
    println!("{tag}q24h_ms_first={first:.2}");
    println!("{tag}q24h_ms_median={median:.2}");
    println!("{tag}q24h_ms_max={max:.2}");
    let month = ReadingQuery { since_ms: Some(T_END - 30 * DAY), ..day };
    let (first, median, max, n) =
        time(runs, || store.buckets(&month, Duration::from_secs(3600)).expect("buckets").len());
    println!("{tag}q30d_buckets={n}");
    println!("{tag}q30d_ms_first={first:.2}");
    println!("{tag}q30d_ms_median={median:.2}");
    println!("{tag}q30d_ms_max={max:.2}");
}

/// Where the database is, to measure its size from a connection of our own.
enum Db {
    Sqlite(PathBuf),
    Pg(String),
}

impl Db {
    /// Bytes of every table and index, by name (SQLite: after a checkpoint, from dbstat).
    fn sizes(&self) -> Vec<(String, u64)> {
        match self {
            Db::Sqlite(path) => {
                let c = rusqlite::Connection::open(path).expect("open");
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
                let mut st = c
                    .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
                    .expect("dbstat");
                let rows = st
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))
                    .expect("dbstat");
                rows.map(Result::unwrap).collect()
            }
            Db::Pg(url) => {
                let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
                c.query(
                    "SELECT c.relname::text, pg_relation_size(c.oid) FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i') ORDER BY 2 DESC",
                    &[],
                )
                .expect("sizes")
                .iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
                .collect()
            }
        }
    }

    /// Prints the bytes per million readings of the raw readings (table and indexes) and of the
    /// whole database, and each table and index with `detail`.
    fn report(&self, readings: u64, tag: &str, detail: bool) {
        let sizes = self.sizes();
        let raw: u64 = sizes.iter().filter(|(n, _)| n.starts_with("readings")).map(|(_, b)| b).sum();
        let all: u64 = sizes.iter().map(|(_, b)| b).sum();
        let per_m = |b: u64| b as f64 / readings as f64 * 1e6;
        println!("{tag}bytes_all={all}");
        println!("{tag}bytes_per_million_raw={:.0}", per_m(raw));
        println!("{tag}bytes_per_million_all={:.0}", per_m(all));
        if detail {
            for (name, b) in sizes.iter().filter(|(_, b)| *b > 1 << 20) {
                println!("{tag}size_{name}={b}");
            }
        }
    }
}

fn main() {
    let a = args();
    let mut fleet = Fleet::new(a.clients, a.sensors);
    let mut _cluster = None;
    let mut _tmp = None;
    let (mut store, db): (Box<dyn Store>, Db) = match a.backend.as_str() {
        "sqlite" => {
            let dir = match &a.dir {
                Some(d) => d.clone(),
                None => {
                    let t = tempfile::tempdir().expect("temp dir");
                    let p = t.path().to_owned();
                    _tmp = Some(t);
                    p
                }
            };
            let path = dir.join("bench.db");
            let _ = std::fs::remove_file(&path);
            (Box::new(SqliteStore::open(&path).expect("open")), Db::Sqlite(path))
        }
        "pg" => {
            let url = match &a.pg_url {
                Some(u) => u.clone(),
                None => {
                    let opts = cliser_testkit::PgOptions {
                        fsync: true,
                        settings: vec![
                            "shared_buffers = '512MB'".into(),
                            "max_wal_size = '4GB'".into(),
                            "checkpoint_timeout = '15min'".into(),
                        ],
                    };
                    let c = cliser_testkit::PgCluster::start_with(opts).expect("PostgreSQL not found");
                    let u = c.url();
                    _cluster = Some(c);
                    u
                }
            };
            (Box::new(PgStore::connect(&url).expect("connect")), Db::Pg(url))
        }
        other => panic!("unknown backend {other}"),
    };
    println!("backend={}", a.backend);
    match &db {
        Db::Sqlite(_) => println!("sqlite_version={}", rusqlite::version()),
        Db::Pg(url) => {
            let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
            let v: String = c.query_one("SHOW server_version", &[]).expect("version").get(0);
            println!("server_version={}", v.split_whitespace().next().unwrap_or(&v));
        }
    }
    println!("location={}", store.location());
    println!("group={}", a.group);
    println!("fleet={}x{}", a.clients, a.sensors);

    eprintln!(
        "{}: throughput, {} readings in groups of {} (fresh database)",
        a.backend, a.throughput, a.group
    );
    let tp = fleet.rounds(T_END - 60 * DAY, a.throughput);
    println!("commit_per_s_fresh={:.0}", throughput(&mut *store, &tp, a.group));
    // Sizes here: a fleet at 10 s, whose rollups are a few rows per sensor (the fill below, an
    // hour apart, would make one rollup row per reading).
    db.report(tp.len() as u64, "fleet_", false);
    drop(tp);

    eprintln!("{}: filling", a.backend);
    let (n, rate) = fill(&mut *store, &mut fleet, &a);
    println!("fill_readings={n}");
    println!("fill_per_s={rate:.0}");

    eprintln!("{}: throughput again, on the full database", a.backend);
    // One round first, not timed: it opens a new hour, so each sensor gets a new rollup row (and
    // index entry), which happens once an hour, not on every round.
    let warm = fleet.rounds(T_END + HOUR, a.clients * a.sensors);
    throughput(&mut *store, &warm, a.group);
    let more = fleet.rounds(T_END + HOUR + 10_000, a.throughput / 4);
    println!("commit_per_s_full={:.0}", throughput(&mut *store, &more, a.group));
    drop(more);
    let total = store.info().expect("info").readings;
    println!("readings_total={total}");

    eprintln!("{}: queries", a.backend);
    queries(&mut *store, &fleet, a.runs, "");

    if let Db::Pg(url) = &db {
        eprintln!("pg: VACUUM ANALYZE (what autovacuum does in time), then the queries again");
        let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
        for t in ["readings", "rollups"] {
            c.batch_execute(&format!("VACUUM (ANALYZE) {t}")).expect("vacuum");
        }
        queries(&mut *store, &fleet, a.runs, "vacuumed_");
    }
    drop(store);
    db.report(total, "", true);
}
