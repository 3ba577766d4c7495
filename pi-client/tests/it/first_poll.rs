//! A Pi back from an outage (issue 23, item 2): the real server at its default 10 s keep-alive and
//! the real client with a backlog of 12,000 readings on disk. The server polls right after `140`,
//! so the backlog starts to flow at once instead of one keep-alive later.

use crate::common;

use cliser_pi_client::backlog::{Backlog, Limits};
use cliser_protocol::{Celsius, SensorId, Value};
use cliser_testkit::{wait_until, LogFile, ServerHandle};
use common::{real_client, DumpLogsOnPanic};
use std::time::Duration;

/// The backlog of the report.
const BACKLOG: u64 = 12_000;

/// Milliseconds since midnight (UTC) of a log line's timestamp (`2026-12-05T16:40:35.123Z ...`).
fn millis_of_day(line: &str) -> i64 {
    let stamp = line.split_whitespace().next().expect("a timestamp");
    let time = stamp.split_once('T').expect("a date and a time").1.trim_end_matches('Z');
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut parts = hms.split(':').map(|p| p.parse::<i64>().expect("a number"));
    let (h, m, s) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    // Three digits of milliseconds, whatever precision the logger writes.
    let ms: i64 = format!("{frac:0<3}")[..3].parse().expect("milliseconds");
    ((h * 60 + m) * 60 + s) * 1000 + ms
}

/// Milliseconds from the line `from` to the line `to` (across midnight too).
fn millis_between(from: &str, to: &str) -> i64 {
    (millis_of_day(to) - millis_of_day(from)).rem_euclid(86_400_000)
}

fn first_line_with(log: &LogFile, needle: &str, within: Duration) -> String {
    wait_until(within, needle, || log.lines_with(needle).into_iter().next())
}

#[test]
fn a_backlog_of_12000_readings_starts_to_flow_within_1s_of_140_at_the_default_keepalive() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    {
        let b = Backlog::open(&dir.path().join("pi-back.state"), Limits::default()).unwrap();
        let sensor = SensorId::new("28-0316a2795aff").unwrap();
        for _ in 0..BACKLOG / 100 {
            let readings = (0..100)
                .map(|i| (sensor.clone(), Value::Celsius(Celsius::from_millis(20_000 + i).unwrap())))
                .collect();
            b.record(readings);
        }
        assert_eq!(b.len(), BACKLOG as usize);
    }
    // No --keepalive: the default 10 s of a real fleet.
    let server = ServerHandle::start(dir.path(), &[]);
    let client = real_client(
        dir.path(),
        server.addr,
        &server.password,
        "pi-back",
        "info",
        &[],
        &["--sensor", "w1:/nonexistent", "--interval", "1h"],
    );
    let said = client.log.wait_for("registered with", Duration::from_secs(10));
    let waiting: u64 = said
        .split("; ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("how many readings wait, in {said:?}"));
    assert!(waiting >= BACKLOG, "only {waiting} readings waiting: {said}");

    let registered = first_line_with(server.log(), "registered cid=pi-back", Duration::from_secs(10));
    // Long enough to see the old behaviour (the first poll one keep-alive later) and say how late.
    let first = first_line_with(server.log(), "reading cid=pi-back ", Duration::from_secs(20));
    let gap = millis_between(&registered, &first);
    eprintln!("first reading stored {gap} ms after 140 ({waiting} readings waiting)");
    assert!(gap <= 1_000, "the first reading was stored {gap} ms after 140:\n{registered}\n{first}");
    // And the whole backlog follows (the sensorless client's own `w1=err:no_sensors` is the last).
    wait_until(Duration::from_secs(30), "the whole backlog stored", || {
        (server.stored_seqs("pi-back").len() as u64 > BACKLOG).then_some(())
    });
}
