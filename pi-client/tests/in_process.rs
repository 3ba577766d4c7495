//! The client library run in-process with a fake thermometer against a fake server: pins what the
//! client sends on keep-alives as acks come and go.

// A binary of its own: this test installs the process's logger and waits for a line the client
// logs; the tests in `it` share their process and must not log into it. It borrows `it`'s helpers.
#[path = "it/common/mod.rs"]
#[allow(dead_code, reason = "this binary uses only the fake server; the rest serves tests/it")]
mod common;

use cliser_hal::{HalError, Sample, Thermometers};
use cliser_pi_client::backlog::{Backlog, Limits};
use cliser_pi_client::{run, Config, Outcome, Stop};
use cliser_protocol::{ClientId, SensorId, Value};
use common::{FakeConn, FakeServer, WAIT};
use std::sync::Mutex;
use std::time::Duration;

/// What the client logged, for waiting on it: a reading is logged once it is synced, and only then
/// may it be sent.
struct Captured(Mutex<Vec<String>>);

impl log::Log for Captured {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // Debug: the line per reading is a debug line (issue 16: none at the default level).
        metadata.level() <= log::Level::Debug
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

static LOGGED: Captured = Captured(Mutex::new(Vec::new()));

fn logged(needle: &str) -> Option<()> {
    LOGGED.0.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|l| l.contains(needle)).then_some(())
}

/// One sensor, always 20 °C.
struct OneSensor;

impl Thermometers for OneSensor {
    fn discover(&mut self) -> Result<Vec<String>, HalError> {
        Ok(vec!["28-000000000001".into()])
    }
    fn read_all(&mut self) -> Result<Vec<Sample>, HalError> {
        Ok(vec![Sample { sensor: SensorId::new("28-000000000001").unwrap(), result: Ok(20_000) }])
    }
}

fn config(dir: &std::path::Path, server: &FakeServer) -> Config {
    Config {
        server: vec![server.addr.to_string()],
        tls: None,
        id: ClientId::new("pi-inproc").unwrap(),
        password: "pw".into(),
        sensor: cliser_hal::SensorSpec::Sim(Default::default()),
        // One sample at start, then none during the test.
        interval: Duration::from_secs(3600),
        server_timeout: Duration::from_secs(30),
        state_dir: dir.join("state"),
        durability: cliser_pi_client::backlog::Durability::Sync,
        health_every: Duration::from_secs(3600),
        shutdown_command: None,
        resolution: Default::default(),
    }
}

/// Polls (without ack) until the answer has no `more`; returns every seq received.
fn drain(conn: &mut FakeConn) -> Vec<u64> {
    let mut all = Vec::new();
    loop {
        let (seqs, more) = conn.poll(None);
        all.extend(seqs);
        if !more {
            return all;
        }
    }
}

#[test]
fn acks_trim_more_splits_and_a_reconnect_resends_from_the_ack() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = common::DumpLogsOnPanic(dir.path());
    log::set_logger(&LOGGED).expect("the only logger");
    log::set_max_level(log::LevelFilter::Debug);
    {
        let b = Backlog::open(&dir.path().join("state"), Limits::default()).unwrap();
        let s = SensorId::new("28-000000000002").unwrap();
        let batch =
            (0..1000).map(|_| (s.clone(), Value::Error(cliser_protocol::ErrorReason::new("crc").unwrap())));
        b.record(batch.collect());
    }
    let server = FakeServer::new();
    let cfg = config(dir.path(), &server);
    let stop = Stop::new().unwrap();
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            run(&cfg, Box::new(|| Ok(Box::new(OneSensor) as Box<dyn Thermometers>)), stop)
        })
    };
    // The sampler's first reading (seq 1001) is synced (logged as taken) before the test looks at
    // the backlog: until then an answer leaves it out.
    cliser_testkit::wait_until(WAIT, "the first sample", || logged("seq=1001"));

    let mut conn = server.accept();
    conn.handshake(None);
    let sent = drain(&mut conn);
    assert_eq!(sent, (1..=1001).collect::<Vec<_>>(), "all of it, in order, nothing twice");
    // Everything was sent on this connection: an ack for part of it brings nothing again.
    assert_eq!(conn.poll(Some(500)), (vec![], false));

    // A new connection resends exactly what was not acked.
    drop(conn);
    let mut conn = server.accept();
    conn.handshake(Some(500));
    assert_eq!(drain(&mut conn), (501..=1001).collect::<Vec<_>>());

    // The server knows of a higher seq than this state dir (say, it was wiped): the counter jumps.
    assert_eq!(conn.poll(Some(5000)), (vec![], false));
    stop.stop();
    assert_eq!(client.join().unwrap().unwrap(), Outcome::Stopped);
    // The sampler thread is not joined by `run` (a bus read can be slow); it lets go of the state
    // dir's lock as soon as it sees the stop.
    let b = cliser_testkit::wait_until(WAIT, "the sampler to release the state dir", || {
        Backlog::open(&dir.path().join("state"), Limits::default()).ok()
    });
    assert!(b.is_empty());
    assert_eq!((b.acked(), b.next_seq()), (5000, 5001));
}
