//! Bad input closes only the connection that sent it.

use crate::common;
use common::*;

#[test]
fn an_oversized_line_closes_only_that_connection() {
    let (_d, s) = server(&["--keepalive", "200ms"]);
    let (mut good, _) = client(&s, "good");
    let mut bad = LineClient::connect(s.addr);
    bad.expect("110", T);
    bad.send_raw(&vec![b'x'; 5000]);
    bad.expect_closed(T);
    let w = s.log().wait_for("line longer than 4096 bytes", T);
    assert!(w.contains("WARN") && w.contains("from 127.0.0.1:"), "{w}");
    good.expect("100", T);
    good.send("100 t=1#1");
    s.log().wait_for("reading cid=good", T);
}

#[test]
fn a_line_of_exactly_4096_bytes_is_accepted() {
    let (_d, s) = server(&["--keepalive", "200ms"]);
    let (mut c, _) = client(&s, "edge");
    c.expect("100", T);
    let mut line = "100 t=1#1".to_owned();
    line.push_str(&" ".repeat(4096 - line.len()));
    c.send(&line);
    s.log().wait_for("reading cid=edge", T);
}

#[test]
fn invalid_utf8_closes_only_that_connection() {
    let (_d, s) = server(&["--keepalive", "200ms"]);
    let (mut good, _) = client(&s, "good");
    let (mut bad, _) = client(&s, "bad");
    bad.send_raw(b"100 t=\xff\xfe\n");
    bad.expect_closed(T);
    let w = s.log().wait_for("not valid UTF-8", T);
    assert!(w.contains("cid=bad") && w.contains("127.0.0.1:"), "{w}");
    good.expect("100", T);
    good.send("100 t=2#1");
    s.log().wait_for("reading cid=good", T);
}
