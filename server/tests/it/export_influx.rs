//! The InfluxDB exporter against a real InfluxDB 1.x: every reading stored reaches it, also the
//! ones stored while it was down (the exporter resumes from its cursor), and an outage costs one
//! log line when it starts and one when it ends.

use crate::common;

use cliser_testkit::{wait_until, InfluxD};
use common::*;
use std::time::{Duration, Instant};

/// As long as the issue asks: long enough for the exporter's backoff to grow well past its first
/// retries (0.5 s doubling to 30 s), so the test covers a retry that comes late as well as early ones.
const OUTAGE: Duration = Duration::from_secs(30);

fn stored(s: &ServerHandle) -> u64 {
    cliser_store::open(&s.store_url()).unwrap().info().unwrap().readings
}

fn exported(db: &InfluxD) -> u64 {
    db.count("cliser", "temperature", "value") + db.count("cliser", "temperature_error", "reason")
}

#[test]
fn every_stored_reading_reaches_influxdb_also_those_stored_while_it_was_down() {
    let Some(mut db) = InfluxD::start("cliser") else { return };
    // The exporter notices the outage when it next has readings to send: a poll's answer plus the
    // batch's linger (1 s). With the default 10 s keep-alive that can be 11 s after the stop, so
    // the Pis are polled every second here.
    let (dir, s) = server(&["--influx", &db.write_url("cliser"), "--keepalive", "1s"]);
    let pis: Vec<Proc> = ["pi-a", "pi-b"]
        .iter()
        .map(|id| {
            let state = dir.path().join(format!("state-{id}"));
            let log = dir.path().join(format!("{id}.log"));
            pi_client(s.addr, &s.password, id, &state, &log, &["--interval", "100ms"])
        })
        .collect();
    wait_until(T * 3, "200 readings exported", || (exported(&db) >= 200).then_some(()));
    // Logged once the cursor is saved, a moment after InfluxDB took the batch.
    s.log().wait_for(": connected", T);
    assert_eq!(s.log().count("export influx ->"), 2, "the start line and `connected`: {}", s.log().text());

    db.stop();
    let down = Instant::now();
    let before = stored(&s);
    let problem = s.log().wait_for("WARN", T);
    assert!(problem.contains("export influx -> http://127.0.0.1:"), "{problem}");
    std::thread::sleep(OUTAGE.saturating_sub(down.elapsed()));
    let during = stored(&s) - before;
    assert!(during >= 200, "the Pis kept reporting during the outage: {during} readings stored");
    let mut admin = admin(&s);
    let x = ask(&mut admin, "X");
    assert!(
        x.starts_with("influx -> http://127.0.0.1:")
            && x.contains("NOT connected")
            && x.contains("last error"),
        "{x}"
    );
    assert_eq!(s.log().count("WARN"), 1, "one line for the outage, not one per retry: {}", s.log().text());

    db.start_again();
    s.log().wait_for("export influx -> http://127.0.0.1:", T);
    s.log().wait_for("back, sending what was stored meanwhile", Duration::from_secs(45));
    drop(pis);
    // The Pis are gone: the store stops growing, and InfluxDB must hold exactly what it holds.
    let mut last = (stored(&s), Instant::now());
    wait_until(T * 2, "the store to stop growing", || {
        let n = stored(&s);
        if n != last.0 {
            last = (n, Instant::now());
        }
        (last.1.elapsed() > Duration::from_secs(2)).then_some(())
    });
    let total = stored(&s);
    let mut got = 0;
    let settled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(Duration::from_secs(60), "InfluxDB to hold every stored reading", || {
            got = exported(&db);
            (got == total).then_some(())
        })
    }));
    assert!(settled.is_ok(), "stored {total}, InfluxDB holds {got}");
    println!("stored {total} readings ({during} during a {OUTAGE:?} outage); InfluxDB holds {got}");
    let x = ask(&mut admin, "X");
    assert!(x.contains(": connected, lag 0 readings"), "{x}");
}
