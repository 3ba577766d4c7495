//! A series over sensors that replaced one another, on both backends: each id's readings up to the
//! next one's first reading, the old one's later readings (still on the bus) left out, a limit
//! counting the whole series, and buckets of each id's part.

use crate::common::*;
use cliser_store::{series_buckets, series_readings, BucketSource, ReadingQuery, Store};
use std::time::Duration;

fn spans_the_ids_each_up_to_the_next_ones_first_reading(s: &mut dyn Store) {
    // Old reports at T0..T0+4s; new from T0+3s; old still reports at T0+3s and T0+4s.
    let mut g = Vec::new();
    for i in 0..5 {
        g.push(r("garage", "28-old", c(-18.0 - i as f64), T0 + i * 1000, Some(1 + i as u64)));
    }
    for i in 3..7 {
        g.push(r("garage", "28-new", c(-17.0 - i as f64), T0 + i * 1000 + 1, Some(10 + i as u64)));
    }
    g.push(r("shed", "28-old", c(5.0), T0 + 6000, Some(1)));
    s.commit(&g).unwrap();
    let members = [sid("28-old"), sid("28-mid"), sid("28-new")];
    let q = ReadingQuery { cid: Some(cid("garage")), ..Default::default() };
    let got: Vec<(String, i64)> = series_readings(s, &members, &q)
        .unwrap()
        .into_iter()
        .map(|r| (r.sensor.to_string(), r.sampled_ms - T0))
        .collect();
    let want: Vec<(String, i64)> = [("28-old", 0), ("28-old", 1000), ("28-old", 2000), ("28-old", 3000)]
        .into_iter()
        .chain([("28-new", 3001), ("28-new", 4001), ("28-new", 5001), ("28-new", 6001)])
        .map(|(s, t)| (s.to_owned(), t))
        .collect();
    assert_eq!(got, want, "old up to (not after) the new one's first reading; 28-mid never reported");

    let window =
        ReadingQuery { since_ms: Some(T0 + 2000), until_ms: Some(T0 + 5000), limit: Some(3), ..q.clone() };
    let got: Vec<i64> =
        series_readings(s, &members, &window).unwrap().iter().map(|r| r.sampled_ms - T0).collect();
    assert_eq!(got, [2000, 3000, 3001], "the range and the limit over the whole series");

    let hourly = series_buckets(s, &members, &q, Duration::from_secs(1), BucketSource::Raw).unwrap();
    let parts: Vec<(String, u64)> = hourly.iter().map(|b| (b.sensor.to_string(), b.count)).collect();
    assert_eq!(parts.iter().filter(|(s, _)| s == "28-old").map(|(_, n)| n).sum::<u64>(), 4);
    assert_eq!(parts.iter().filter(|(s, _)| s == "28-new").map(|(_, n)| n).sum::<u64>(), 4);
    assert_eq!(parts.first().map(|p| p.0.as_str()), Some("28-old"), "the older id's buckets first");

    // One id is just that id; without the node, the new one took over at its first reading anywhere.
    let one = series_readings(s, &[sid("28-old")], &q).unwrap();
    assert_eq!(one.len(), 5);
    let anywhere = series_readings(s, &members, &ReadingQuery::default()).unwrap();
    assert!(anywhere.iter().all(|r| r.cid.as_str() == "garage"), "shed's old reading is after the swap");
}

#[test]
fn on_sqlite() {
    let mut t = Sqlite::new();
    spans_the_ids_each_up_to_the_next_ones_first_reading(&mut t.store);
}

#[test]
fn on_postgres() {
    let Some(mut t) = Pg::new() else { return };
    spans_the_ids_each_up_to_the_next_ones_first_reading(&mut t.store);
}
