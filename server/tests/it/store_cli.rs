//! The store from the operator's side, with the real binary and SQLite: where it lives by default,
//! what the server refuses to open, `--readings-csv` gone, the `query`, `export` and `import-csv`
//! subcommands, and retention keeping the hourly rollups.

use crate::common;
use cliser_protocol::{Celsius, ClientId, SensorId, Value};
use cliser_store::{NewReading, ReadingQuery};
use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The server binary run in `cwd` (so a default data dir lands in a temp dir, never the source
/// tree), with none of the environment that would change where it looks or what it logs.
fn binary(cwd: &Path) -> Command {
    let mut c = Command::new(cliser_testkit::bin("cliser-server"));
    c.current_dir(cwd)
        .env_remove("STATE_DIRECTORY")
        .env_remove("CLISER_PASSWORD")
        .env_remove("CLISER_ADMIN_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

/// Runs a subcommand (or the server with `args`) to its end.
fn run(cwd: &Path, args: &[&str]) -> Output {
    binary(cwd).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `cliser-server query --store URL ARGS`, which must succeed; its stdout.
fn query(url: &str, args: &[&str]) -> String {
    let cwd = tempfile::tempdir().unwrap();
    let mut all = vec!["query", "--store", url];
    all.extend_from_slice(args);
    let o = run(cwd.path(), &all);
    assert!(o.status.success(), "query {args:?}: {}", stderr(&o));
    stdout(&o)
}

/// `query ... --format json`, parsed.
fn query_json(url: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let text = query(url, &all);
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Array(items)) => items,
        other => panic!("query {args:?} gave no JSON array ({other:?}): {text}"),
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn rfc3339(ms: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string()
}

/// The start of the hour holding `ms`.
fn hour_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(HOUR_MS)
}

/// Sends one answer and answers the following polls with nothing until the ack reaches `ack`.
fn send_acked(c: &mut LineClient, answer: &str, ack: u64) {
    c.expect("100: keep alive", T);
    c.send(answer);
    let want = format!("ack={ack}");
    cliser_testkit::wait_until(T, &format!("the server to ack {ack}"), || {
        let poll = c.expect("100: keep alive", T);
        c.send("100");
        poll.ends_with(&want).then_some(())
    });
}

// --- what the server refuses -------------------------------------------------------------------

#[test]
fn readings_csv_is_refused_with_exit_2_naming_store_and_import_csv() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pw"), "client-secret\n").unwrap();
    let conf = d.path().join("server.toml");
    std::fs::write(&conf, "readings-csv = \"ledger.csv\"\n").unwrap();
    let base = ["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--password-file", "pw"];
    for extra in [["--readings-csv", "x.csv"], ["--config", conf.to_str().unwrap()]] {
        let args: Vec<&str> = base.iter().chain(&extra).copied().collect();
        let o = run(d.path(), &args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains("--store") && err.contains("import-csv"), "{extra:?}: {err}");
        assert!(!d.path().join("x.csv").exists() && !d.path().join("ledger.csv").exists());
        assert!(!d.path().join("cliser-data").exists(), "refused before any store was made");
    }
}

/// The bytes of `path` and the names in its directory (SQLite's -wal, -shm, -journal).
fn snapshot(path: &Path) -> (Vec<u8>, Vec<String>) {
    let mut names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    (std::fs::read(path).unwrap(), names)
}

/// Starts the server on the file at `path`: it must exit 1 before listening, with an error that
/// names the file and says `says`, and leave the file and its directory as they were.
fn assert_server_refuses(path: &Path, says: &str) {
    let before = snapshot(path);
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pw"), "client-secret\n").unwrap();
    let store = format!("sqlite:{}", path.display());
    let ready = d.path().join("ready");
    let args =
        ["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--http", "off", "--password-file", "pw"];
    let args = [&args[..], &["--store"]].concat();
    let o = binary(d.path()).args(args).arg(&store).arg("--ready-file").arg(&ready).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("ERROR") && err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains(says) && err.contains("refusing to use it (it was not modified)"), "{err}");
    assert!(!ready.exists(), "it never listened");
    let after = snapshot(path);
    assert!(after.0 == before.0, "{} was modified", path.display());
    assert_eq!(after.1, before.1, "files appeared beside {}", path.display());
}

#[test]
fn a_corrupt_file_at_store_is_refused_at_start_and_left_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("readings.db");
    let noise: Vec<u8> = std::iter::repeat_with(|| fastrand::u8(..)).take(16 * 1024).collect();
    std::fs::write(&path, &noise).unwrap();
    assert_server_refuses(&path, "not an SQLite database, or a damaged one");
}

#[test]
fn a_foreign_sqlite_database_at_store_is_refused_at_start_and_left_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("recipes.db");
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "CREATE TABLE recipes (name TEXT PRIMARY KEY, minutes INTEGER);
             INSERT INTO recipes VALUES ('bread', 240), ('soup', 45);",
        )
        .unwrap();
    }
    assert_server_refuses(&path, "a database of some other program (it has tables recipes");
    let db = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = db.query_row("SELECT count(*) FROM recipes", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 2, "its rows are still there");
}

// --- query -------------------------------------------------------------------------------------

/// What [`a_store_to_query`] sent: sample times of alpha's readings, the hour they start in, and
/// the time of the fresh one.
struct Sent {
    base: i64,
    fresh: i64,
}

/// A server whose store holds, from two LineClients with `@unix_ms` times and seqs:
/// alpha: #1 s1 20.0 and #2 s1 22.0 in the hour `base`, #3 s2 5.5 and #4 s2 err:crc in the same
/// hour, #5 s1 24.0 in the hour after, #6 s1 19.5 a minute ago; beta: #1 s1 -3.25 two hours after
/// `base`. `base` is six to eight hours ago.
fn a_store_to_query(dir: &Path) -> (ServerHandle, Sent) {
    let s = ServerHandle::start(dir, &["--keepalive", "100ms"]);
    // On an even hour, so that two-hour buckets hold the first two hours whole.
    let t = now_ms() - 6 * HOUR_MS;
    let base = t - t.rem_euclid(2 * HOUR_MS);
    let fresh = now_ms() - 60_000;
    let m = |min: i64| base + min * 60_000;
    let (mut alpha, _) = client(&s, "alpha");
    send_acked(
        &mut alpha,
        &format!(
            "100 s1=20@{}#1 s1=22@{}#2 s2=5.5@{}#3 s2=err:crc@{}#4 s1=24@{}#5 s1=19.5@{fresh}#6",
            m(10),
            m(20),
            m(30),
            m(40),
            m(65)
        ),
        6,
    );
    let (mut beta, _) = client(&s, "beta");
    send_acked(&mut beta, &format!("100 s1=-3.25@{}#1", m(121)), 1);
    (s, Sent { base, fresh })
}

/// (cid, sensor, value, seq) of each JSON reading.
fn rows(items: &[serde_json::Value]) -> Vec<(String, String, String, u64)> {
    items
        .iter()
        .map(|r| {
            let value = match (&r["temp_c"], &r["error"]) {
                (serde_json::Value::Number(n), serde_json::Value::Null) => {
                    format!("{:.3}", n.as_f64().unwrap())
                }
                (serde_json::Value::Null, serde_json::Value::String(e)) => format!("err:{e}"),
                other => panic!("a reading with temp_c and error {other:?}: {r}"),
            };
            let text = |k: &str| r[k].as_str().unwrap_or_else(|| panic!("{k} in {r}")).to_owned();
            (text("cid"), text("sensor"), value, r["seq"].as_u64().unwrap())
        })
        .collect()
}

fn row(cid: &str, sensor: &str, value: &str, seq: u64) -> (String, String, String, u64) {
    (cid.into(), sensor.into(), value.into(), seq)
}

#[test]
fn query_gives_back_what_clients_sent_as_a_table_csv_and_json() {
    let d = tempfile::tempdir().unwrap();
    let (s, sent) = a_store_to_query(d.path());
    let url = s.store_url();
    let m = |min: i64| rfc3339(sent.base + min * 60_000);

    // JSON: every field, in sample-time order.
    let all = query_json(&url, &[]);
    assert_eq!(
        rows(&all),
        [
            row("alpha", "s1", "20.000", 1),
            row("alpha", "s1", "22.000", 2),
            row("alpha", "s2", "5.500", 3),
            row("alpha", "s2", "err:crc", 4),
            row("alpha", "s1", "24.000", 5),
            row("beta", "s1", "-3.250", 1),
            row("alpha", "s1", "19.500", 6),
        ]
    );
    assert_eq!(all[0]["ts"], m(10));
    assert_eq!(all[6]["ts"], rfc3339(sent.fresh));
    let received = humantime::parse_rfc3339(all[0]["received"].as_str().unwrap()).unwrap();
    let age = SystemTime::now().duration_since(received).unwrap();
    assert!(age < Duration::from_secs(120), "received is when the server got it: {}", all[0]["received"]);

    // CSV: the ledger's columns, then the timestamp quality (`@unix_ms`: the client's synced clock).
    let csv = query(&url, &["--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "ts,cid,sensor,temp_c,error,seq,ts_quality");
    assert_eq!(lines.len(), 1 + 7, "{csv}");
    assert_eq!(lines[1], format!("{},alpha,s1,20.000,,1,synced", m(10)));
    assert_eq!(lines[4], format!("{},alpha,s2,,crc,4,synced", m(40)));
    assert_eq!(lines[6], format!("{},beta,s1,-3.250,,1,synced", m(121)));

    // The table (the default): a header, then one line per reading with the same cells.
    let table = query(&url, &[]);
    let cells: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(cells[0], ["time", "cid", "sensor", "value", "seq"], "{table}");
    assert_eq!(cells.len(), 1 + 7, "{table}");
    assert_eq!(cells[1], [m(10).as_str(), "alpha", "s1", "20.000", "1"], "{table}");
    assert_eq!(cells[4], [m(40).as_str(), "alpha", "s2", "err:crc", "4"], "{table}");
}

#[test]
fn query_filters_by_cid_sensor_since_and_until() {
    let d = tempfile::tempdir().unwrap();
    let (s, sent) = a_store_to_query(d.path());
    let url = s.store_url();
    let m = |min: i64| rfc3339(sent.base + min * 60_000);
    assert_eq!(rows(&query_json(&url, &["--cid", "beta"])), [row("beta", "s1", "-3.250", 1)]);
    assert_eq!(
        rows(&query_json(&url, &["--sensor", "s2"])),
        [row("alpha", "s2", "5.500", 3), row("alpha", "s2", "err:crc", 4)]
    );
    assert_eq!(rows(&query_json(&url, &["--cid", "beta", "--sensor", "s2"])), [], "the filters combine");
    // RFC 3339 times: since is inclusive, until exclusive.
    assert_eq!(
        rows(&query_json(&url, &["--since", &m(20), "--until", &m(65)])),
        [row("alpha", "s1", "22.000", 2), row("alpha", "s2", "5.500", 3), row("alpha", "s2", "err:crc", 4)]
    );
    // A duration ago: only the fresh reading is from the last ten minutes, and the default (24h)
    // holds everything.
    assert_eq!(rows(&query_json(&url, &["--since", "10m"])), [row("alpha", "s1", "19.500", 6)]);
    assert_eq!(rows(&query_json(&url, &["--until", "10m"])).len(), 6);
    assert_eq!(rows(&query_json(&url, &["--since", "1m", "--until", "30s"])), []);
}

#[test]
fn query_every_gives_min_mean_max_and_count_per_bucket() {
    let d = tempfile::tempdir().unwrap();
    let (s, sent) = a_store_to_query(d.path());
    let url = s.store_url();
    let until = rfc3339(sent.base + 3 * HOUR_MS);
    let b = query_json(&url, &["--every", "1h", "--cid", "alpha", "--until", &until]);
    let got: Vec<(String, String, serde_json::Value, serde_json::Value, serde_json::Value, u64, u64)> = b
        .iter()
        .map(|x| {
            (
                x["bucket"].as_str().unwrap().to_owned(),
                x["sensor"].as_str().unwrap().to_owned(),
                x["min"].clone(),
                x["mean"].clone(),
                x["max"].clone(),
                x["count"].as_u64().unwrap(),
                x["errors"].as_u64().unwrap(),
            )
        })
        .collect();
    let j = |v: f64| serde_json::json!(v);
    let (h0, h1) = (rfc3339(sent.base), rfc3339(sent.base + HOUR_MS));
    assert_eq!(
        got,
        [
            (h0.clone(), "s1".into(), j(20.0), j(21.0), j(22.0), 2, 0),
            (h1, "s1".into(), j(24.0), j(24.0), j(24.0), 1, 0),
            (h0.clone(), "s2".into(), j(5.5), j(5.5), j(5.5), 1, 1),
        ]
    );
    // The table says the same.
    let table = query(&url, &["--every", "1h", "--cid", "alpha", "--sensor", "s1", "--until", &until]);
    let cells: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(cells[0], ["bucket", "cid", "sensor", "min", "mean", "max", "count", "errors"], "{table}");
    assert_eq!(cells[1], [h0.as_str(), "alpha", "s1", "20.000", "21.000", "22.000", "2", "0"], "{table}");
    assert_eq!(cells.len(), 3, "{table}");
    // Two-hour buckets from the same rollups.
    let two = query_json(&url, &["--every", "2h", "--cid", "alpha", "--sensor", "s1", "--until", &until]);
    assert_eq!(two.len(), 1, "{two:?}");
    assert_eq!(
        (two[0]["min"].clone(), two[0]["max"].clone(), two[0]["count"].clone()),
        (j(20.0), j(24.0), serde_json::json!(3))
    );
}

#[test]
fn bad_query_arguments_exit_2_naming_the_flag() {
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", d.path().join("q.db").display());
    cliser_store::open(&url).unwrap();
    for (args, says) in [
        (&["--since", "soon"][..], "--since \"soon\""),
        (&["--until", "later"][..], "--until \"later\""),
        (&["--every", "0"][..], "--every"),
        (&["--cid", "a b"][..], "--cid"),
    ] {
        let mut all = vec!["query", "--store", &url];
        all.extend_from_slice(args);
        let o = run(d.path(), &all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?} should name {says}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?}: {}", stdout(&o));
    }
}

#[test]
fn query_without_a_store_exits_2_saying_where_it_looked_and_creates_nothing() {
    let d = tempfile::tempdir().unwrap();
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for (args, looked) in [
        (vec!["query", "--data-dir", empty.to_str().unwrap()], empty.join("cliser.db").display().to_string()),
        // No flag at all: the working dir's default.
        (vec!["query"], "cliser-data/cliser.db".to_owned()),
        (vec!["export"], "cliser-data/cliser.db".to_owned()),
    ] {
        let o = run(d.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("no store at {looked}")), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--store") && stderr(&o).contains("--data-dir"), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "no database made in the data dir");
    assert!(!d.path().join("cliser-data").exists(), "no default data dir made");
}

// --- export and import-csv ---------------------------------------------------------------------

/// `export --format csv` of `url`.
fn export(url: &str) -> String {
    let cwd = tempfile::tempdir().unwrap();
    let o = run(cwd.path(), &["export", "--format", "csv", "--store", url]);
    assert!(o.status.success(), "export: {}", stderr(&o));
    stdout(&o)
}

/// `import-csv FILE --store URL`: its output.
fn import(url: &str, file: &Path) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    run(cwd.path(), &["import-csv", file.to_str().unwrap(), "--store", url])
}

/// Readings stamped before 1970 or after 9999, as a server before the sink refused them could
/// store (and then stop, its log line failing): `export` writes their times as the nearest RFC
/// 3339 can, and the rest as they are, instead of panicking.
#[test]
fn export_writes_a_stored_time_out_of_rfc3339s_range_as_the_nearest_it_can_and_goes_on() {
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", d.path().join("old.db").display());
    let mut store = cliser_store::open(&url).unwrap();
    let reading = |sampled_ms: i64, seq: u64| cliser_store::NewReading {
        cid: cliser_protocol::ClientId::new("pi").unwrap(),
        sensor: cliser_protocol::SensorId::new("t").unwrap(),
        value: cliser_protocol::Value::Celsius(cliser_protocol::Celsius::new(1.5).unwrap()),
        sampled_ms,
        received_ms: 1_796_536_559_777,
        seq: Some(seq),
        ts_quality: cliser_store::TsQuality::Synced,
    };
    let late = cliser_common::when::LATEST_MS * 1000;
    store.commit(&[reading(-5_000, 1), reading(late, 2), reading(1_796_536_559_777, 3)]).unwrap();
    drop(store);
    let lines: Vec<String> = export(&url).lines().skip(1).map(str::to_owned).collect();
    let times: Vec<&str> = lines.iter().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(times, ["1970-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "2026-12-06T05:55:59.777Z"]);
}

#[test]
fn export_then_import_csv_into_a_fresh_store_gives_the_same_rows_and_a_second_import_adds_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (s, _) = a_store_to_query(d.path());
    let exported = export(&s.store_url());
    assert_eq!(exported.lines().count(), 1 + 7, "{exported}");
    let file = d.path().join("ledger.csv");
    std::fs::write(&file, &exported).unwrap();

    let fresh = format!("sqlite:{}", d.path().join("fresh.db").display());
    let o = import(&fresh, &file);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = stdout(&o);
    assert!(
        summary.starts_with(&format!("imported 7 readings from {} into {fresh}", file.display()))
            && summary.contains("(0 already stored, 0 bad lines)"),
        "{summary}"
    );
    assert_eq!(export(&fresh), exported, "the same rows, in the same order");
    assert_eq!(query(&fresh, &["--format", "csv"]), query(&s.store_url(), &["--format", "csv"]));

    let o = import(&fresh, &file);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("imported 0 readings") && stdout(&o).contains("(7 already stored, 0 bad lines)"),
        "{}",
        stdout(&o)
    );
    assert_eq!(export(&fresh), exported, "nothing new stored");
    // The imported marks are the clients' acks: a client moving its history along is not re-sent.
    let mut store = cliser_store::open(&fresh).unwrap();
    assert_eq!(store.high_water(&ClientId::new("alpha").unwrap()).unwrap(), Some(6));
}

#[test]
fn import_csv_with_a_bad_line_imports_the_good_ones_names_the_bad_line_and_exits_1() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("ledger.csv");
    std::fs::write(
        &file,
        "ts,cid,sensor,temp_c,error,seq\n\
         2026-01-01T00:00:00.000Z,pi,t,1.500,,1\n\
         2026-01-01T00:00:10.000Z,pi,t,hot,,2\n\
         2026-01-01T00:00:20.000Z,pi,t,,crc,3\n",
    )
    .unwrap();
    let url = format!("sqlite:{}", d.path().join("fresh.db").display());
    let o = import(&url, &file);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{} line 3: temp_c \"hot\"", file.display())), "{err}");
    assert!(
        stdout(&o).contains("imported 2 readings") && stdout(&o).contains("1 bad lines"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        export(&url),
        "ts,cid,sensor,temp_c,error,seq\n\
         2026-01-01T00:00:00.000Z,pi,t,1.500,,1\n\
         2026-01-01T00:00:20.000Z,pi,t,,crc,3\n"
    );
}

// --- the default data dir ----------------------------------------------------------------------

/// Starts the server binary in `cwd` with `env`, without `--store` or `--data-dir`; waits for its
/// ready file and returns it with its client address.
fn default_server(cwd: &Path, env: &[(&str, &Path)], log: &Path) -> (Proc, std::net::SocketAddr, String) {
    let password = cliser_testkit::free_password();
    let pw = cwd.join("pw");
    std::fs::write(&pw, &password).unwrap();
    let ready = cwd.join("ready.json");
    let mut cmd = binary(cwd);
    cmd.args(["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--password-file", "pw", "--keepalive", "200ms", "--ready-file"])
        .arg(&ready);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut p = Proc::spawn(cmd, log);
    let text = cliser_testkit::wait_until(Duration::from_secs(20), "the ready file", || {
        assert!(!p.has_exited(), "the server exited: {}", p.log.text());
        std::fs::read_to_string(&ready).ok()
    });
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    (p, v["listen"].as_str().unwrap().parse().unwrap(), password)
}

/// A reading sent to the server at `addr` is in the SQLite file `db` once acked.
fn assert_reading_lands_in(addr: std::net::SocketAddr, password: &str, db: &Path) {
    let mut c = LineClient::connect(addr);
    c.login(password, "homed");
    c.expect("100: keep alive", T);
    c.send("100 t=21.5#1");
    let mut store = cliser_store::open(&format!("sqlite:{}", db.display())).unwrap();
    cliser_testkit::wait_until(T, "the reading in the store", || {
        let got = store.readings(&ReadingQuery::default()).unwrap();
        (got.len() == 1).then_some(())
    });
}

#[test]
fn without_store_or_data_dir_the_store_goes_to_state_directory() {
    let d = tempfile::tempdir().unwrap();
    let (cwd, state) = (d.path().join("cwd"), d.path().join("state"));
    std::fs::create_dir(&cwd).unwrap();
    let (mut p, addr, pw) =
        default_server(&cwd, &[("STATE_DIRECTORY", &state)], &d.path().join("server.log"));
    let db = state.join("cliser.db");
    assert!(db.is_file(), "{} made", db.display());
    p.log.wait_for(&format!("data dir {}", state.display()), T);
    assert_reading_lands_in(addr, &pw, &db);
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(T).code(), Some(0));
    assert!(!cwd.join("cliser-data").exists(), "nothing in the working dir");
}

#[test]
fn without_store_data_dir_or_state_directory_the_store_goes_to_cliser_data_in_the_working_dir() {
    let d = tempfile::tempdir().unwrap();
    let (mut p, addr, pw) = default_server(d.path(), &[], &d.path().join("server.log"));
    let db = d.path().join("cliser-data").join("cliser.db");
    assert!(db.is_file(), "{} made", db.display());
    p.log.wait_for("data dir cliser-data", T);
    assert_reading_lands_in(addr, &pw, &db);
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(T).code(), Some(0));
}

// --- retention ---------------------------------------------------------------------------------

fn reading(cid: &str, value: f64, sampled_ms: i64, seq: u64) -> NewReading {
    NewReading {
        cid: ClientId::new(cid).unwrap(),
        sensor: SensorId::new("t").unwrap(),
        value: Value::Celsius(Celsius::new(value).unwrap()),
        sampled_ms,
        received_ms: sampled_ms,
        seq: Some(seq),
        ts_quality: cliser_store::TsQuality::Synced,
    }
}

#[test]
fn retain_raw_deletes_old_raw_readings_keeps_fresh_ones_and_the_rollups_still_answer() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let url = format!("sqlite:{}", data.join("cliser.db").display());
    let old = hour_of(now_ms() - 100 * DAY_MS);
    let fresh = now_ms() - HOUR_MS;
    {
        let mut store = cliser_store::open(&url).unwrap();
        let group = [
            reading("cellar", 10.0, old + 5 * 60_000, 1),
            reading("cellar", 12.0, old + 10 * 60_000, 2),
            reading("cellar", 14.0, old + HOUR_MS + 5 * 60_000, 3),
            reading("cellar", 16.0, fresh, 4),
            reading("cellar", 18.0, fresh + 60_000, 5),
        ];
        assert_eq!(store.commit(&group).unwrap(), [true; 5]);
        // The sensor's health: an old hour goes with the raw readings, the fresh one stays.
        let health = |hour_ms, last_report| cliser_store::HealthRow {
            cid: "cellar".into(),
            sensor: "t".into(),
            hour_ms,
            reads: 360,
            crc: 1,
            empty: 0,
            reset: 0,
            other: 0,
            retries: 0,
            read_ms: 3600,
            period_ms: HOUR_MS,
            last_report,
        };
        assert_eq!(store.health_add(&[health(old, 1), health(hour_of(fresh), 5)]).unwrap(), 2);
    }
    let s = ServerHandle::start(d.path(), &["--retain-raw", "90d"]);
    assert_eq!(s.store_url(), url);
    let line = s.log().wait_for("retention: deleted", T);
    assert!(line.contains("retention: deleted 3 raw readings older than "), "{line}");
    s.log().wait_for("retention: deleted 1 hourly sensor health rows older than ", T);
    let mut store = cliser_store::open(&url).unwrap();
    let health: Vec<i64> = store.health_since(0).unwrap().iter().map(|r| r.hour_ms).collect();
    assert_eq!(health, [hour_of(fresh)], "the fresh hour of health stays");

    let kept: Vec<u64> = s.stored_seqs("cellar").into_keys().collect();
    assert_eq!(kept, [4, 5], "the fresh readings stay");
    let raw = query_json(&url, &["--since", "120d"]);
    assert_eq!(rows(&raw), [row("cellar", "t", "16.000", 4), row("cellar", "t", "18.000", 5)]);

    let hours = query_json(&url, &["--every", "1h", "--since", "120d", "--until", "90d"]);
    let j = |v: f64| serde_json::json!(v);
    let got: Vec<_> = hours
        .iter()
        .map(|b| {
            (
                b["bucket"].as_str().unwrap().to_owned(),
                b["min"].clone(),
                b["mean"].clone(),
                b["max"].clone(),
                b["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (rfc3339(old), j(10.0), j(11.0), j(12.0), 2),
            (rfc3339(old + HOUR_MS), j(14.0), j(14.0), j(14.0), 1),
        ],
        "the old hours, from the rollups"
    );
    // And the fresh hour(s) after them, for the whole range.
    let all = query_json(&url, &["--every", "1h", "--since", "120d"]);
    let counted: u64 = all.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 5, "{all:?}");
    assert_eq!(s.log().count("retention: deleted"), 2, "one round");
}

#[test]
fn importing_again_after_retention_pruned_the_readings_stores_them_not_again_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let url = format!("sqlite:{}", data.join("cliser.db").display());
    let old = hour_of(now_ms() - 100 * DAY_MS);
    let fresh = now_ms() - HOUR_MS;
    let ledger = d.path().join("ledger.csv");
    {
        let mut store = cliser_store::open(&url).unwrap();
        let group = [
            reading("cellar", 10.0, old + 5 * 60_000, 1),
            reading("cellar", 12.0, old + 10 * 60_000, 2),
            reading("cellar", 14.0, old + HOUR_MS + 5 * 60_000, 3),
            reading("cellar", 16.0, fresh, 4),
            reading("cellar", 18.0, fresh + 60_000, 5),
        ];
        assert_eq!(store.commit(&group).unwrap(), [true; 5]);
    }
    std::fs::write(&ledger, export(&url)).unwrap();
    let s = ServerHandle::start(d.path(), &["--retain-raw", "90d"]);
    let line = s.log().wait_for("retention: deleted", T);
    assert!(line.contains("retention: deleted 3 raw readings older than "), "{line}");
    drop(s);
    let hours = || query_json(&url, &["--every", "1h", "--since", "120d"]);
    let before = hours();
    let counted: u64 = before.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 5);

    let o = import(&url, &ledger);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = stdout(&o);
    assert!(
        summary.starts_with("imported 0 readings")
            && summary.contains("2 already stored, 3 older than the readings retention pruned"),
        "{summary}"
    );
    assert_eq!(hours(), before, "the rollups count each reading once");
    assert_eq!(query_json(&url, &["--since", "120d"]).len(), 2, "only the fresh raw readings");
}
