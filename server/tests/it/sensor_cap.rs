//! `--max-sensors-per-client` (default 64) against the real server and a client over the real
//! protocol: a client reporting more distinct sensor ids than that has its first 64 stored, the
//! others refused with one warning naming it, and the web page's fleet view holds 64 sensors.

use crate::alert_kit;
use crate::common;
use alert_kit::{http_get, Pi};
use common::*;
use std::time::Instant;

const CID: &str = "pi-many";
const WARNING: &str = "refusing the readings of sensor ids beyond its first 64";

fn sensor(i: usize) -> String {
    format!("28-0000000{i:05}")
}

/// Answers the next keep-alive with `(sensor index, seq)` readings; returns the keep-alive's ack.
fn answer(pi: &mut Pi, readings: &[(usize, u64)]) -> Option<u64> {
    let mut line = String::from("100");
    for (i, seq) in readings {
        line.push_str(&format!(" {}=20.{i:03}#{seq}", sensor(*i)));
    }
    let poll = pi.c.expect("100", T);
    pi.c.send(&line);
    poll.split("ack=").nth(1).and_then(|a| a.split_whitespace().next()?.parse().ok())
}

/// Answers keep-alives with nothing until the ack reaches `seq`.
fn wait_ack(pi: &mut Pi, seq: u64) {
    let deadline = Instant::now() + T;
    loop {
        let poll = pi.c.expect("100", T);
        let ack: Option<u64> =
            poll.split("ack=").nth(1).and_then(|a| a.split_whitespace().next()?.parse().ok());
        if ack >= Some(seq) {
            pi.c.send("100");
            return;
        }
        assert!(Instant::now() < deadline, "ack {ack:?} never reached {seq}");
        pi.c.send("100");
    }
}

#[test]
fn a_client_with_100_sensor_ids_has_64_stored_one_warning_and_64_on_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let s = alert_kit::start(dir.path(), "", &[]);
    let _logs = DumpLogsOnPanic(dir.path());
    let mut pi = Pi::login(&s, CID);
    // One answer with 100 distinct sensors, seqs 1..=100: the first 64 ids are its own.
    let first: Vec<(usize, u64)> = (0..100).map(|i| (i, i as u64 + 1)).collect();
    answer(&mut pi, &first);
    wait_ack(&mut pi, 64);
    // Known and refused sensors in one answer: the known ones are stored and acked.
    answer(&mut pi, &[(0, 101), (99, 102), (1, 103)]);
    wait_ack(&mut pi, 103);
    // More answers with refused ids: still one warning.
    answer(&mut pi, &[(70, 104), (2, 105)]);
    wait_ack(&mut pi, 105);

    let log = s.log().text();
    let stored = log.lines().filter(|l| l.contains("reading cid=pi-many ")).count();
    assert_eq!(stored, 64 + 2 + 1, "64 from the first answer, then 2 and 1 of known sensors");
    for refused in [64, 70, 99] {
        assert!(!log.contains(&format!("sensor={} ", sensor(refused))), "sensor {refused} was stored");
    }

    let (status, body) = http_get(&s, "/api/nodes");
    assert_eq!(status, 200, "{body}");
    let nodes: serde_json::Value = serde_json::from_str(&body).unwrap();
    let node = nodes["nodes"].as_array().unwrap().iter().find(|n| n["cid"] == CID).expect("the node");
    assert_eq!(node["sensors"].as_array().unwrap().len(), 64, "the fleet view lists 64 sensors");

    let warnings: Vec<&str> = log.lines().filter(|l| l.contains(WARNING)).collect();
    assert_eq!(warnings.len(), 1, "one warning for the client, not one per reading: {warnings:#?}");
    assert!(warnings[0].contains("WARN") && warnings[0].contains(&format!("cid={CID}")), "{}", warnings[0]);
    assert!(warnings[0].contains("refused by configuration"), "{}", warnings[0]);
    let mut console = admin(&s);
    let list = ask(&mut console, "L");
    assert!(list.contains("refused_readings=38"), "36 + 1 + 1 refused readings counted: {list}");
}
