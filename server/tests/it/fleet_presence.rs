//! Presence across a fleet of servers on one PostgreSQL store (a private cluster per test): a
//! client id is registered on one server at a time, fleet-wide; a killed server's clients register
//! on a survivor once its leases run out; a server paused past its leases finds its client taken
//! and closes the session.

use crate::common::*;
use cliser_testkit::{LineClient, PgCluster};
use std::time::{Duration, Instant};

/// The lease TTL the servers use (`FleetSettings::default`), with room for a renewal period.
const TTL: Duration = Duration::from_secs(8);

/// Logs in as `id` and returns what the server answered the id with (`140 ...` or `121 ...`).
fn register(s: &ServerHandle, id: &str, within: Duration) -> (LineClient, String) {
    let mut c = LineClient::connect(s.addr);
    c.expect("110", T);
    c.send(&s.password);
    c.expect("120", T);
    c.send(id);
    let answer = c.recv(within).unwrap_or_else(|| panic!("no answer to id {id} within {within:?}"));
    (c, answer)
}

#[test]
fn an_id_registered_on_one_server_gets_121_on_another_until_its_server_is_killed() {
    let Some(pg) = PgCluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let (mut a, b) = fleet_of_two(&pg.url(), d.path(), &[]);

    let (mut on_a, answer) = register(&a, "pi-roamer", T);
    assert!(answer.starts_with("140"), "{answer}");
    on_a.expect("100", T);
    // B asks again once A's lease would have run out; A renews it meanwhile: still 121.
    let (_, answer) = register(&b, "pi-roamer", TTL + T);
    assert!(answer.starts_with("121"), "B must refuse an id registered on A: {answer}");
    let refused = b.log().wait_for("refused cid=pi-roamer", T);
    assert!(refused.contains("id in use by a live session on server server-a"), "{refused}");
    let on_a_log = a.log().text();
    assert!(!on_a_log.contains("closing cid=pi-roamer"), "A's client was never disturbed: {on_a_log}");

    a.proc.kill9();
    let killed = Instant::now();
    // B holds the handshake until A's lease has run out, then registers the client.
    let (mut on_b, answer) = register(&b, "pi-roamer", TTL + T);
    let took = killed.elapsed();
    assert!(answer.starts_with("140"), "{answer}");
    assert!(took < Duration::from_secs(15), "registered on the survivor {took:?} after the kill");
    on_b.expect("100", T);
    b.log().wait_for("registered cid=pi-roamer", T);
}

#[test]
fn a_server_paused_past_its_lease_finds_the_client_registered_elsewhere_and_closes_it() {
    let Some(pg) = PgCluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let (a, b) = fleet_of_two(&pg.url(), d.path(), &[]);

    let (mut on_a, answer) = register(&a, "pi-paused", T);
    assert!(answer.starts_with("140"), "{answer}");
    on_a.expect("100", T);
    a.proc.signal(libc::SIGSTOP);
    let (mut on_b, answer) = register(&b, "pi-paused", TTL + T);
    assert!(answer.starts_with("140"), "B takes the client once A's lease ran out: {answer}");
    on_b.expect("100", T);
    a.proc.signal(libc::SIGCONT);
    // A's next renewal finds the lease gone: it closes its session (no 999), B's goes on.
    let line = a.log().wait_for("closing cid=pi-paused", TTL + T);
    assert!(line.contains("registered on another server of the fleet meanwhile"), "{line}");
    on_a.expect_closed(T);
    // A's later release of its closed session does not touch B's lease.
    let (_, answer) = register(&a, "pi-paused", TTL + T);
    assert!(answer.starts_with("121"), "{answer}");
}

#[test]
fn a_stopped_server_gives_its_leases_up_at_once() {
    let Some(pg) = PgCluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let (a, b) = fleet_of_two(&pg.url(), d.path(), &[]);
    let (mut on_a, answer) = register(&a, "pi-moving", T);
    assert!(answer.starts_with("140"), "{answer}");
    on_a.expect("100", T);
    a.proc.signal(libc::SIGTERM);
    a.log().wait_for("client leases given up", T);
    // No waiting for a TTL: the lease is gone.
    let asked = Instant::now();
    let (_, answer) = register(&b, "pi-moving", T);
    assert!(answer.starts_with("140"), "{answer}");
    assert!(asked.elapsed() < TTL / 2, "registered after {:?}", asked.elapsed());
}
