//! `spill` mode and the journal's versions, through the backlog's API.

use super::tests::FakeClock;
use super::*;
use cliser_protocol::Celsius;

fn batch(n: usize) -> Vec<(SensorId, Value)> {
    (0..n)
        .map(|i| {
            (
                SensorId::new(&format!("28-s{i}")).unwrap(),
                Value::Celsius(Celsius::from_millis(20_000).unwrap()),
            )
        })
        .collect()
}

fn spill(after_ms: u64, bound: usize) -> Limits {
    Limits {
        durability: Durability::Spill { after: Duration::from_millis(after_ms), bound },
        ..Limits::default()
    }
}

fn raw(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(JOURNAL)).unwrap()
}

fn readings_in(dir: &Path) -> usize {
    raw(dir).lines().filter(|l| l.starts_with("r ")).count()
}

#[test]
fn acked_readings_never_reach_the_disk_and_unacked_ones_spill_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new("b", 1_000, 1_700_000_000_000, true);
    let b = Backlog::open_with_clock(dir.path(), spill(60_000, 10_000), clock.clone()).unwrap();
    let start = raw(dir.path());
    assert!(start.starts_with("cliser-backlog v1 *") && start.contains("\nn 100001 *"), "{start}");
    // A healthy link: every batch sent and acked within a keep-alive.
    for _ in 0..200 {
        b.record(batch(8));
        let sent = b.after(0, 100);
        b.ack(sent.last().unwrap().seq.unwrap());
        b.write_due_ack();
        b.maintain();
        clock.advance(1_000);
    }
    assert_eq!(raw(dir.path()), start, "a healthy link writes nothing");
    // An outage: nothing is acked. The first spill comes once the oldest waited a minute, the next a
    // minute later, each with all that waits.
    for _ in 0..150 {
        b.record(batch(8));
        b.maintain();
        clock.advance(1_000);
    }
    // Two spills: at 60 s (batches 0..=60), and at 121 s, when batch 61 has waited a minute.
    assert_eq!(readings_in(dir.path()), 8 * 122);
    // The link is back: the ack is written, as the journal holds readings it covers.
    b.ack(b.next_seq() - 1);
    clock.advance(1_000);
    b.write_due_ack();
    b.close();
    drop(b);
    let b = Backlog::open_with_clock(dir.path(), spill(60_000, 10_000), clock).unwrap();
    assert!(b.is_empty());
    assert_eq!(b.next_seq(), 8 * 350 + 1, "a clean stop keeps the exact counter");
}

#[test]
fn a_stop_writes_everything_unacked_and_a_crash_continues_above_the_reservation() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new("b", 1_000, 1_700_000_000_000, true);
    {
        let b = Backlog::open_with_clock(dir.path(), spill(60_000, 10_000), clock.clone()).unwrap();
        b.record(batch(3));
        b.close();
    }
    {
        let b = Backlog::open_with_clock(dir.path(), spill(60_000, 10_000), clock.clone()).unwrap();
        assert_eq!(b.after(0, 10).len(), 3, "written on the stop");
        b.record(batch(2));
        // Dropped without close: a crash. The two readings are lost (the bound), never their seqs.
    }
    let b = Backlog::open_with_clock(dir.path(), spill(60_000, 10_000), clock).unwrap();
    assert_eq!(b.len(), 3);
    assert_eq!(b.next_seq(), 4 + SEQ_RESERVE);
}

#[test]
fn too_many_unwritten_readings_spill_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new("b", 1_000, 1_700_000_000_000, true);
    let b = Backlog::open_with_clock(dir.path(), spill(60_000, 20), clock).unwrap();
    b.record(batch(8));
    b.record(batch(8));
    assert_eq!(readings_in(dir.path()), 0);
    b.record(batch(8));
    assert_eq!(readings_in(dir.path()), 24);
}

#[test]
fn an_old_journal_is_converted_and_an_unknown_version_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(JOURNAL),
        "next 3\nack 1\n28-a=21.5@1700000000000#2\nack 2\n28-a=22@1700000010000#3\n",
    )
    .unwrap();
    {
        let b = Backlog::open(dir.path(), Limits::default()).unwrap();
        let r = b.after(0, 9);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].to_string(), "28-a=22@1700000010000#3");
        assert_eq!(b.next_seq(), 4);
    }
    let text = raw(dir.path());
    assert!(
        text.starts_with("cliser-backlog v1 *") && text.contains("\nr 3 - 0 1700000010000 s 28-a=22 *"),
        "{text}"
    );
    let mut v2 = "cliser-backlog v2".to_owned();
    let crc = crc32fast::hash(v2.as_bytes());
    v2.push_str(&format!(" *{crc:08x}\n"));
    std::fs::write(dir.path().join(JOURNAL), &v2).unwrap();
    let e = Backlog::open(dir.path(), Limits::default()).unwrap_err();
    assert!(matches!(&e, StoreError::Version { found, .. } if found == "v2"), "{e}");
    assert!(e.to_string().contains("format version \"v2\""), "{e}");
    assert_eq!(raw(dir.path()), v2, "left alone");
}
