//! `ServerHandle::stored_seqs` reads what the server stored.

use cliser_testkit::{LineClient, ServerHandle};
use std::time::Duration;

#[test]
fn stored_seqs_sees_what_the_server_acked() {
    let dir = tempfile::tempdir().unwrap();
    let s = ServerHandle::start(dir.path(), &["--keepalive", "200ms"]);
    let mut c = LineClient::connect(s.addr);
    c.login(&s.password, "pi");
    c.expect("100", Duration::from_secs(10));
    c.send("100 t=1#1 t=2#2");
    let acked = cliser_testkit::wait_until(Duration::from_secs(10), "the ack", || {
        let l = c.expect("100", Duration::from_secs(10));
        c.send("100");
        l.ends_with("ack=2").then_some(l)
    });
    assert_eq!(acked, "100: keep alive ack=2");
    assert_eq!(s.stored_seqs("pi").into_iter().collect::<Vec<_>>(), [(1, 1), (2, 1)]);
}
