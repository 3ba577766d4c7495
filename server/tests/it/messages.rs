//! What the server says when a client misbehaves in ways a new user runs into: the words must name
//! the client and the likely cause.

use crate::common;

use common::{client, server, LineClient, T};

#[test]
fn an_old_unframed_client_is_told_apart_from_a_silent_one() {
    let (_d, s) = server(&["--auth-timeout", "500ms"]);
    let mut c = LineClient::connect(s.addr);
    c.expect("110", T);
    // The original cliser sends its password with no line end.
    c.send_raw(b"s3cr");
    let line = s.log().wait_for("auth timeout sid=", T);
    assert!(line.contains("the client sent 4 bytes without a line end"), "{line}");
    assert!(line.contains("is it an old unframed client? protocol v1 ends every line with \\n"), "{line}");
    let mut silent = LineClient::connect(s.addr);
    silent.expect("110", T);
    cliser_testkit::wait_until(T, "the second timeout", || {
        (s.log().count("auth timeout sid=") == 2).then_some(())
    });
    let lines = s.log().lines_with("auth timeout sid=");
    assert!(!lines[1].contains("without a line end"), "{}", lines[1]);
}

#[test]
fn a_121_refusal_names_the_id() {
    let (_d, s) = server(&["--keepalive", "5s"]);
    let (_first, _) = client(&s, "kitchen");
    let mut second = LineClient::connect(s.addr);
    second.expect("110", T);
    second.send(&s.password);
    second.expect("120", T);
    second.send("kitchen");
    second.expect("121", T);
    let line = s.log().wait_for("refused cid=kitchen sid=", T);
    assert!(line.contains(": id in use by a live session"), "{line}");
}

#[test]
fn answer_after_answer_of_duplicates_is_warned_about_naming_the_id() {
    let (_d, s) = server(&["--keepalive", "5s"]);
    let (mut c, _) = client(&s, "kitchen");
    let poll = |c: &mut LineClient| c.expect("100", T);
    // This id already has seqs up to 10 (another kitchen, or this Pi before its state dir was wiped).
    c.send("100 t=1#1 t=2#2 t=3#3 t=4#4 t=5#5 t=6#6 t=7#7 t=8#8 t=9#9 t=10#10 more");
    assert_eq!(poll(&mut c), "100: keep alive ack=10");
    // A client that starts again at 1: each answer is all duplicates. One is normal (a lost ack) ...
    c.send("100 t=1#1 t=2#2 more");
    assert_eq!(poll(&mut c), "100: keep alive ack=10");
    assert_eq!(s.log().count("dropped as duplicates"), 0, "one answer of resends is normal");
    // ... a second in a row is not.
    c.send("100 t=3#3 t=4#4 more");
    assert_eq!(poll(&mut c), "100: keep alive ack=10");
    let line = s.log().wait_for("dropped as duplicates", T);
    assert!(line.contains("WARN") && line.contains("cid=kitchen: 4 readings in 2 answers"), "{line}");
    assert!(line.contains("another client may use id kitchen, or its state dir was reset"), "{line}");
}
