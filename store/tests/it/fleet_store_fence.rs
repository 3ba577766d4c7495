//! The store's own writes fenced by a duty's epoch (`Described::set_fence`) on a real private
//! PostgreSQL: a server that lost the duty can neither prune nor move an export cursor, and
//! nothing of the refused write is kept; the new holder's fenced writes go through.

use crate::common::{c, r};
use cliser_store::fleet::{FleetSettings, PgFleet, ServerIdentity};
use cliser_store::{Described, ExportFeed, Ledger, Retention, StoreError};
use cliser_testkit::{PgCluster, PgOptions};
use std::time::Duration;

fn server(pg: &PgCluster, name: &str) -> PgFleet {
    // A lease that outlasts the test: it runs out when the test says (`run_out`), never because
    // a loaded machine was slow between two of a's fenced writes.
    let long = FleetSettings { ttl: Duration::from_secs(60), ..FleetSettings::default() };
    PgFleet::connect(&pg.url(), ServerIdentity::new(name), long).unwrap()
}

fn count(pg: &PgCluster) -> i64 {
    let mut admin = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    admin.query_one("SELECT count(*) FROM readings", &[]).unwrap().get(0)
}

#[test]
fn a_fenced_prune_or_cursor_after_a_takeover_is_refused_and_changes_nothing() {
    let Some(pg) = PgCluster::start_with(PgOptions { fsync: false, ..PgOptions::default() }) else { return };
    let mut writer = cliser_store::PgStore::connect(&pg.url()).unwrap();
    let old: Vec<_> = (1..=5).map(|i| r("pi", "t", c(20.0), i, Some(i as u64))).collect();
    writer.commit(&old).unwrap();

    let (mut a, mut b) = (server(&pg, "a"), server(&pg, "b"));
    let e1 = a.acquire_duty("leader").unwrap().unwrap();
    let mut a_store = cliser_store::PgStore::connect(&pg.url()).unwrap();
    a_store.set_fence(Some(a.fence("leader", e1)));
    // While a holds the duty, its fenced writes go through.
    a_store.set_cursor("mqtt", 2).unwrap();
    assert_eq!(a_store.prune_raw(2, 100).unwrap(), 1, "the reading sampled at 1");

    // a's lease runs out (as if it had paused) and b takes the duty.
    postgres::Client::connect(&pg.url(), postgres::NoTls)
        .unwrap()
        .execute("UPDATE fleet_duties SET expires = clock_timestamp() WHERE name = 'leader'", &[])
        .unwrap();
    let e2 = b.acquire_duty("leader").unwrap().expect("expired: b takes it");
    assert!(e2 > e1);
    let refused = a_store.prune_raw(i64::MAX, 100).expect_err("a lost the duty");
    assert!(
        matches!(&refused, StoreError::Fenced { duty, epoch, .. } if duty == "leader" && *epoch == e1),
        "{refused:?}"
    );
    assert_eq!(count(&pg), 4, "nothing pruned under the old epoch");
    let refused = a_store.set_cursor("mqtt", 5).expect_err("a lost the duty");
    assert!(matches!(refused, StoreError::Fenced { .. }), "{refused:?}");
    assert!(matches!(a_store.prune_alert_events(i64::MAX, 100), Err(StoreError::Fenced { .. })));
    assert_eq!(a_store.cursor("mqtt").unwrap(), Some(2), "the cursor did not move");
    // Reading is not fenced: a follower reads the cursor the leader moves.
    assert_eq!(a_store.feed(0, 10).unwrap().len(), 4);

    let mut b_store = cliser_store::PgStore::connect(&pg.url()).unwrap();
    b_store.set_fence(Some(b.fence("leader", e2)));
    b_store.set_cursor("mqtt", 4).unwrap();
    assert_eq!(b_store.prune_raw(3, 100).unwrap(), 1);
    assert_eq!((count(&pg), a_store.cursor("mqtt").unwrap()), (3, Some(4)));
    // Unfenced again (as opened): a's store writes as before (SQLite's and a lone server's case).
    a_store.set_fence(None);
    a_store.set_cursor("mqtt", 5).unwrap();
}
