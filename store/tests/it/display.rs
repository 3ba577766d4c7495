//! The display rows held back (SQLite, `Ledger::hold_display`): the nodes' seen times and
//! high-water marks and the sensors' newest readings, written at most once per interval by the
//! sink. A store dropped without writing them is what a `kill -9` leaves: reopened, the rows are
//! stale until `hold_display` repairs them from the readings, after which they equal those of a
//! store that wrote them in every commit.

use crate::common::*;
use cliser_store::{AdminLog, History, Ledger, NewReading, Retention, SqliteStore};
use std::path::Path;
use std::time::Duration;

/// Longer than any test: nothing is written unless a test flushes.
const LONG: Duration = Duration::from_secs(3600);

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).unwrap()
}

/// A store that wrote every commit's rows, given the same groups.
fn reference(groups: &[Vec<NewReading>]) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("ref.db"));
    for g in groups {
        s.commit(g).unwrap();
    }
    (dir, s)
}

fn groups() -> Vec<Vec<NewReading>> {
    vec![
        vec![r("a", "t", c(1.5), T0, Some(1)), r("a", "u", err("crc"), T0, Some(2))],
        // Sampled out of order: the newest by sample time wins, not the last committed.
        vec![r("a", "t", c(2.5), T0 + 2_000, Some(3)), r("b", "t", c(-4.0), T0 + 500, Some(7))],
        vec![r("a", "t", c(9.0), T0 + 1_000, Some(4)), r("a", "u", c(20.0), T0 + 3_000, Some(5))],
        // A repeat: stored before, so it changes nothing.
        vec![r("b", "t", c(-4.0), T0 + 500, Some(7))],
    ]
}

#[test]
fn held_rows_are_repaired_after_a_kill_and_equal_rows_written_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cliser.db");
    {
        let mut s = open(&path);
        assert_eq!(s.hold_display(LONG).unwrap(), 0, "a new store has nothing to repair");
        for g in groups() {
            s.commit(&g).unwrap();
        }
        assert!(s.display_due().is_some(), "changes are held");
        // Dropped without a flush: the process killed.
    }
    let (_ref_dir, mut want) = reference(&groups());
    let mut s = open(&path);
    // Before the repair: the readings are there, their rows are not up to date (so the repair
    // below is what makes them right).
    assert_eq!(s.readings(&Default::default()).unwrap().len(), 6);
    assert_ne!(s.sensors().unwrap(), want.sensors().unwrap());
    assert_eq!(s.hold_display(LONG).unwrap(), 6, "every reading after the cursor re-applied");
    assert_eq!(s.sensors().unwrap(), want.sensors().unwrap());
    assert_eq!(s.nodes().unwrap(), want.nodes().unwrap());
    assert_eq!(s.high_water_all().unwrap(), want.high_water_all().unwrap());
    // A second repair finds nothing new, and re-applying would change nothing anyway.
    drop(s);
    let mut s = open(&path);
    assert_eq!(s.hold_display(LONG).unwrap(), 0);
    assert_eq!(s.sensors().unwrap(), want.sensors().unwrap());
}

#[test]
fn a_flush_writes_what_is_held_and_a_commit_writes_it_when_due() {
    let mut db = Sqlite::new();
    let s = &mut db.store;
    s.hold_display(LONG).unwrap();
    let all = groups();
    s.commit(&all[0]).unwrap();
    s.commit(&all[1]).unwrap();
    s.flush_display().unwrap();
    assert_eq!(s.display_due(), None);
    let (_d, mut want) = reference(&all[..2]);
    assert_eq!(s.sensors().unwrap(), want.sensors().unwrap());
    assert_eq!(s.nodes().unwrap(), want.nodes().unwrap());

    // With a zero interval every commit writes (the default, and what a store not holding does).
    s.hold_display(Duration::ZERO).unwrap();
    s.commit(&all[2]).unwrap();
    assert_eq!(s.display_due(), None);
    let (_d, mut want) = reference(&all[..3]);
    assert_eq!(s.sensors().unwrap(), want.sensors().unwrap());
}

#[test]
fn held_readings_received_before_a_forgetting_do_not_bring_the_node_back() {
    let mut db = Sqlite::new();
    let s = &mut db.store;
    s.commit(&[r("a", "t", c(1.0), T0, Some(1))]).unwrap();
    s.hold_display(LONG).unwrap();
    // Received at T0 + 1_100, committed, held; then forgotten at T0 + 5_000.
    s.commit(&[r("a", "t", c(2.0), T0 + 1_000, Some(2))]).unwrap();
    s.forget("a", None, false, T0 + 5_000).unwrap();
    s.flush_display().unwrap();
    assert!(s.is_forgotten("a", None).unwrap(), "a reading received before it was forgotten");
    // One received after the forgetting brings it back, as a commit written at once does.
    s.commit(&[r("a", "t", c(3.0), T0 + 6_000, Some(3))]).unwrap();
    s.flush_display().unwrap();
    assert!(!s.is_forgotten("a", None).unwrap());
    assert!(!s.is_forgotten("a", Some("t")).unwrap());
}

#[test]
fn pruning_keeps_the_high_water_mark_of_held_readings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cliser.db");
    {
        let mut s = open(&path);
        s.hold_display(LONG).unwrap();
        // Old samples (a Pi back after a long absence), pruned as soon as they are stored.
        s.commit(&[r("a", "t", c(1.0), T0, Some(40)), r("a", "t", c(2.0), T0 + 1, Some(41))]).unwrap();
        assert_eq!(s.prune_raw(T0 + HOUR, 100).unwrap(), 2);
    }
    let mut s = open(&path);
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(41), "the mark outlives the pruned rows");
    s.hold_display(LONG).unwrap();
    // A resend of the pruned readings is refused (counted once in the rollups).
    assert_eq!(s.commit(&[r("a", "t", c(1.0), T0, Some(40))]).unwrap(), vec![false]);
}
