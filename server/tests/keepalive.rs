//! Keep-alive cadence, `more`, and the reaping of dead sessions.

mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn keepalives_come_one_interval_after_140_and_every_interval_after() {
    let (_d, s) = server(&["--keepalive", "300ms"]);
    let (mut c, _) = client(&s, "cadence");
    let mut t = Instant::now();
    for i in 0..4 {
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
    let (mut c, _) = client(&s, "backlog");
    let mut a = admin(&s);
    assert_eq!(ask(&mut a, "200:"), "ok: keep-alive sent to 1 clients");
    c.expect("100: keep alive", T);
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
    assert_eq!(l, "140: Connected");
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
