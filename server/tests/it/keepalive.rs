//! Keep-alive cadence, `more`, and the reaping of dead sessions.

use crate::common;
use common::*;
use std::time::{Duration, Instant};

/// The first poll comes right after `140` (a Pi back from an outage has its backlog waiting: issue
/// 23), the next ones every interval after it.
#[test]
fn the_first_keepalive_comes_right_after_140_then_every_interval() {
    let (_d, s) = server(&["--keepalive", "300ms"]);
    let mut c = LineClient::connect(s.addr);
    c.login(&s.password, "cadence");
    let mut t = Instant::now();
    assert_eq!(c.recv(T).as_deref(), Some("100: keep alive"), "the first poll");
    let first = t.elapsed();
    assert!(first < Duration::from_millis(250), "the first poll came {first:?} after 140");
    c.send("100");
    t = Instant::now();
    for i in 1..4 {
        assert_eq!(c.recv(T).as_deref(), Some("100: keep alive"), "poll {i}");
        let gap = t.elapsed();
        t = Instant::now();
        assert!(gap >= Duration::from_millis(250), "poll {i} after only {gap:?}");
        assert!(gap < Duration::from_secs(3), "poll {i} after {gap:?}");
        c.send("100");
    }
}

#[test]
fn an_answer_with_more_is_polled_again_at_once_with_the_ack() {
    // A long interval: any poll seen within a few seconds is the server reacting, not its timer.
    let (_d, s) = server(&["--keepalive", "60s"]);
    // The poll right after 140 (the helper `client` takes it).
    let (mut c, _) = client(&s, "backlog");
    c.send("100 t=1#1 t=2#2 more");
    assert_eq!(c.recv(T).as_deref(), Some("100: keep alive ack=2"));
    c.send("100 t=3#3 more");
    assert_eq!(c.recv(T).as_deref(), Some("100: keep alive ack=3"));
    c.send("100 more");
    assert_eq!(c.recv(T).as_deref(), Some("100: keep alive ack=3"));
}

#[test]
fn a_silent_session_is_reaped_after_dead_after_intervals_and_its_id_freed() {
    let (_d, s) = server(&["--keepalive", "200ms", "--dead-after", "2"]);
    let (mut c, _) = client(&s, "sleepy");
    let t0 = Instant::now();
    c.expect_closed(T);
    assert!(t0.elapsed() >= Duration::from_millis(350), "reaped after only {:?}", t0.elapsed());
    let line = s.log().wait_for("dead session cid=sleepy", T);
    assert!(line.contains("WARN"), "{line}");
    let (_again, l) = client(&s, "sleepy");
    assert_eq!(l, "140: Connected health=1");
}

#[test]
fn a_session_that_answers_stays_alive_past_the_dead_time() {
    let (_d, s) = server(&["--keepalive", "100ms", "--dead-after", "2"]);
    let (mut c, _) = client(&s, "lively");
    for _ in 0..10 {
        c.expect("100", T);
        c.send("100");
    }
    assert_eq!(s.log().count("dead session"), 0);
}
