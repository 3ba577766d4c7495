//! One behaviour suite, run on SQLite and on a private PostgreSQL cluster: every case is a function
//! of `&mut dyn Store`, and the macro at the end makes a test of it for each backend.

use crate::common::*;
use cliser_protocol::Celsius;
use cliser_store::{
    Ack, AdminChange, AlertEvent, Bucket, BucketSource, EventQuery, Forgotten, ReadingQuery, Silence, Store,
    StoreError, StoredAlert, TsQuality, MAX_SEQ,
};
use std::collections::HashMap;
use std::time::Duration;

fn health(cid: &str, sensor: &str, hour_ms: i64, reads: i64, crc: i64, id: i64) -> cliser_store::HealthRow {
    cliser_store::HealthRow {
        cid: cid.into(),
        sensor: sensor.into(),
        hour_ms,
        reads,
        crc,
        empty: 1,
        reset: 0,
        other: 0,
        retries: crc + 1,
        read_ms: reads * 10,
        period_ms: 60_000,
        last_report: id,
    }
}

fn sums_health_reports_per_hour_once_each(s: &mut dyn Store) {
    let h0 = cliser_store::hour_of(T0);
    let h1 = h0 + cliser_store::HOUR_MS;
    let first =
        [health("a", "t", h0, 100, 5, 10), health("a", "u", h0, 100, 0, 10), health("b", "t", h1, 7, 1, 3)];
    assert_eq!(s.health_add(&first).unwrap(), 3);
    // A second period of the same hour adds up; a repeat (same id) and an older one change nothing.
    let second =
        [health("a", "t", h0, 100, 5, 20), health("a", "u", h0, 100, 0, 10), health("a", "u", h0, 1, 1, 9)];
    assert_eq!(s.health_add(&second).unwrap(), 1);
    assert_eq!(s.health_add(&[]).unwrap(), 0);
    let rows = s.health_since(h0).unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.cid.as_str(),
                r.sensor.as_str(),
                r.hour_ms,
                r.reads,
                r.crc,
                r.empty,
                r.retries,
                r.read_ms,
                r.period_ms,
                r.last_report,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a", "t", h0, 200, 10, 2, 12, 2000, 120_000, 20),
            ("a", "u", h0, 100, 0, 1, 1, 1000, 60_000, 10),
            ("b", "t", h1, 7, 1, 1, 2, 70, 60_000, 3),
        ]
    );
    assert_eq!(rows[0].errors(), 12);
    assert_eq!(s.health_since(h1).unwrap().len(), 1);
    // Retention: an hour goes once it ended at or before the cutoff, in batches.
    assert_eq!(s.prune_health(h1 - 1, 10).unwrap(), 0, "the hour h0 ends at h1");
    assert_eq!(s.prune_health(h1, 1).unwrap(), 1);
    assert_eq!(s.prune_health(h1, 10).unwrap(), 1);
    assert_eq!(s.prune_health(h1, 10).unwrap(), 0);
    let left: Vec<_> = s.health_since(0).unwrap().into_iter().map(|r| (r.cid, r.hour_ms)).collect();
    assert_eq!(left, [("b".to_owned(), h1)]);
}

fn dedupes_by_client_and_seq(s: &mut dyn Store) {
    let first = s.commit(&[
        r("a", "t", c(1.0), T0, Some(1)),
        r("a", "t", c(2.0), T0 + 1, Some(2)),
        r("b", "t", c(3.0), T0, Some(1)),
    ]);
    assert_eq!(first.unwrap(), vec![true, true, true]);
    let again = s.commit(&[
        r("a", "t", c(2.0), T0 + 1, Some(2)),
        r("a", "t", c(4.0), T0 + 2, Some(3)),
        r("b", "t", c(3.0), T0, Some(1)),
        r("b", "u", c(5.0), T0 + 3, Some(2)),
    ]);
    assert_eq!(again.unwrap(), vec![false, true, false, true]);
    let stored: Vec<(String, Option<u64>)> = all(s).into_iter().map(|x| (x.cid.to_string(), x.seq)).collect();
    assert_eq!(stored.len(), 5);
    let mut keys = stored.clone();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 5, "each (cid, seq) once: {stored:?}");
}

fn never_dedupes_readings_without_seq(s: &mut dyn Store) {
    let one = r("nc", "t", c(20.5), T0, None);
    assert_eq!(s.commit(&[one.clone(), one.clone()]).unwrap(), vec![true, true]);
    assert_eq!(s.commit(std::slice::from_ref(&one)).unwrap(), vec![true]);
    assert_eq!(all(s).len(), 3);
    assert_eq!(s.high_water(&cid("nc")).unwrap(), None);
    assert!(s.high_water_all().unwrap().is_empty());
}

fn answers_per_reading_including_repeats_inside_a_group(s: &mut dyn Store) {
    let g = [
        r("b", "t", c(1.0), T0, Some(5)),
        r("a", "t", c(1.0), T0, Some(5)),
        r("b", "t", c(1.0), T0, Some(5)),
        r("a", "t", c(1.0), T0, None),
    ];
    assert_eq!(s.commit(&g).unwrap(), vec![true, true, false, true]);
    assert_eq!(s.commit(&[]).unwrap(), Vec::<bool>::new());
    assert_eq!(s.info().unwrap().readings, 3);
}

/// A group of hundreds of rows, as a busy server's: each row's answer is its own, wherever its
/// repeat falls (SQLite writes such a group in several statements of many rows each).
fn answers_each_row_of_a_large_group_with_repeats_spread_through_it(s: &mut dyn Store) {
    // Every third (client, seq) stored first.
    let key = |i: u64| (format!("n{:02}", i % 37), i / 37 + 1);
    let reading = |i: u64| {
        let (client, seq) = key(i);
        r(&client, "t", c(i as f64 / 100.0), T0 + i as i64, Some(seq))
    };
    let early: Vec<_> = (0..300).filter(|i| i % 3 == 0).map(reading).collect();
    assert!(s.commit(&early).unwrap().iter().all(|&new| new));
    // Then all of them, a reading without a seq after every tenth, and a repeat inside the group
    // of every seventh.
    let mut g = Vec::new();
    let mut want = Vec::new();
    for i in 0..300u64 {
        g.push(reading(i));
        want.push(i % 3 != 0);
        if i % 10 == 0 {
            g.push(r("n00", "u", c(1.0), T0 + i as i64, None));
            want.push(true);
        }
        if i % 7 == 0 {
            g.push(reading(i));
            want.push(false);
        }
    }
    assert_eq!(s.commit(&g).unwrap(), want);
    assert_eq!(s.info().unwrap().readings, 300 + 30);
    assert_eq!(s.commit(&g).unwrap(), g.iter().map(|x| x.seq.is_none()).collect::<Vec<_>>());
    assert_eq!(s.high_water(&cid("n00")).unwrap(), Some(key(296).1));
}

fn refuses_a_seq_above_the_limit_and_stores_nothing_of_the_group(s: &mut dyn Store) {
    let g = [r("a", "t", c(1.0), T0, Some(1)), r("a", "t", c(1.0), T0, Some(MAX_SEQ + 1))];
    assert!(matches!(s.commit(&g), Err(StoreError::SeqOutOfRange { .. })));
    assert_eq!(s.info().unwrap().readings, 0);
    assert_eq!(s.commit(&[r("a", "t", c(1.0), T0, Some(MAX_SEQ))]).unwrap(), vec![true]);
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(MAX_SEQ));
}

fn keeps_high_water_marks_per_client(s: &mut dyn Store) {
    assert_eq!(s.high_water(&cid("a")).unwrap(), None);
    s.commit(&[
        r("a", "t", c(1.0), T0, Some(3)),
        r("a", "t", c(1.0), T0, Some(7)),
        r("b", "t", c(1.0), T0, Some(1)),
    ])
    .unwrap();
    // A lower seq arriving late (a gap being filled) does not lower the mark.
    s.commit(&[r("a", "t", c(1.0), T0, Some(5)), r("c", "t", c(1.0), T0, None)]).unwrap();
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(7));
    assert_eq!(s.high_water(&cid("b")).unwrap(), Some(1));
    assert_eq!(s.high_water(&cid("c")).unwrap(), None);
    assert_eq!(s.high_water(&cid("nobody")).unwrap(), None);
    let want: HashMap<_, _> = [(cid("a"), 7), (cid("b"), 1)].into_iter().collect();
    assert_eq!(s.high_water_all().unwrap(), want);
}

/// Readings of two clients over three hours, with errors; the buckets the test expects are computed
/// here from the same numbers.
fn rollup_data() -> Vec<cliser_store::NewReading> {
    let mut g = Vec::new();
    let mut seq = 0;
    for i in 0..360i64 {
        let t = T0 + i * 30_000; // every 30 s for 3 h
        seq += 1;
        let v = if i % 17 == 0 { err("crc") } else { c(((i * 37) % 900) as f64 / 16.0 - 20.0) };
        g.push(r("a", "t1", v, t, Some(seq)));
        g.push(r("b", "t1", c((i % 50) as f64 / 8.0), t + 7, Some(seq)));
    }
    g
}

fn expected_buckets(g: &[cliser_store::NewReading], every: i64, cid_filter: &str) -> Vec<Bucket> {
    // (cid, sensor, start) -> (min, max, sum, count, errors), in millidegrees.
    type Sums = (Option<i64>, Option<i64>, i64, u64, u64);
    let mut map: std::collections::BTreeMap<(String, String, i64), Sums> = Default::default();
    for x in g.iter().filter(|x| x.cid.as_str() == cid_filter) {
        let start = x.sampled_ms - x.sampled_ms.rem_euclid(every);
        let e = map.entry((x.cid.to_string(), x.sensor.to_string(), start)).or_insert((None, None, 0, 0, 0));
        match &x.value {
            cliser_protocol::Value::Celsius(v) => {
                let m = (v.degrees() * 1000.0).round() as i64;
                e.0 = Some(e.0.map_or(m, |o| o.min(m)));
                e.1 = Some(e.1.map_or(m, |o| o.max(m)));
                e.2 += m;
                e.3 += 1;
            }
            cliser_protocol::Value::Error(_) => e.4 += 1,
        }
    }
    map.into_iter()
        .map(|((c, s, start), (min, max, sum, n, errors))| Bucket {
            cid: cid(&c),
            sensor: sid(&s),
            start_ms: start,
            min: min.map(|m| Celsius::from_millis(m as i32).unwrap()),
            mean: (n > 0).then(|| Celsius::new(sum as f64 / n as f64 / 1000.0).unwrap()),
            max: max.map(|m| Celsius::from_millis(m as i32).unwrap()),
            count: n,
            errors,
        })
        .collect()
}

fn rollups_match_the_raw_readings(s: &mut dyn Store) {
    let g = rollup_data();
    // In groups of varied size, so rollup rows are updated across commits.
    for chunk in g.chunks(97) {
        s.commit(chunk).unwrap();
    }
    let q = ReadingQuery { cid: Some(cid("a")), ..Default::default() };
    let hour = Duration::from_secs(3600);
    let want = expected_buckets(&g, HOUR, "a");
    assert_eq!(want.len(), 3);
    let from_rollups = s.buckets_from(&q, hour, BucketSource::Rollups).unwrap();
    let from_raw = s.buckets_from(&q, hour, BucketSource::Raw).unwrap();
    assert_eq!(from_rollups, want);
    assert_eq!(from_raw, want);
    assert_eq!(s.buckets(&q, hour).unwrap(), want);
    // Two-hour buckets from rollups equal those from raw, and what the test computes.
    let two = Duration::from_secs(7200);
    assert_eq!(s.buckets_from(&q, two, BucketSource::Rollups).unwrap(), expected_buckets(&g, 2 * HOUR, "a"));
    assert_eq!(s.buckets_from(&q, two, BucketSource::Raw).unwrap(), expected_buckets(&g, 2 * HOUR, "a"));
    // Quarter hours come from the raw readings; the rollups cannot give them.
    let quarter = Duration::from_secs(900);
    assert_eq!(s.buckets(&q, quarter).unwrap(), expected_buckets(&g, HOUR / 4, "a"));
    assert!(matches!(s.buckets_from(&q, quarter, BucketSource::Rollups), Err(StoreError::BadQuery(_))));
    assert!(matches!(s.buckets(&q, Duration::ZERO), Err(StoreError::BadQuery(_))));
    // A time range selects the buckets it overlaps, whole.
    let mid = ReadingQuery { since_ms: Some(T0 + HOUR + 5), until_ms: Some(T0 + 2 * HOUR), ..q.clone() };
    let got = s.buckets(&mid, hour).unwrap();
    assert_eq!(got, want[1..2].to_vec());
    assert_eq!(s.buckets_from(&mid, hour, BucketSource::Raw).unwrap(), got);
    // The limit caps the buckets.
    let limited = ReadingQuery { limit: Some(2), ..Default::default() };
    assert_eq!(s.buckets(&limited, hour).unwrap().len(), 2);
}

fn prunes_in_batches_and_keeps_marks_and_rollups(s: &mut dyn Store) {
    let g: Vec<_> =
        (0..100).map(|i| r("a", "t", c(i as f64 / 10.0), T0 + i * 60_000, Some(i as u64 + 1))).collect();
    s.commit(&g).unwrap();
    s.commit(&[r("b", "t", c(1.0), T0 + 200 * 60_000, Some(9))]).unwrap();
    let hour = Duration::from_secs(3600);
    let q = ReadingQuery::default();
    let rollups_before = s.buckets(&q, hour).unwrap();
    // The first 50 minutes: 50 readings, in batches of 20.
    let cut = T0 + 50 * 60_000;
    assert_eq!(s.prune_raw(cut, 20).unwrap(), 20);
    assert_eq!(s.prune_raw(cut, 20).unwrap(), 20);
    assert_eq!(s.prune_raw(cut, 20).unwrap(), 10);
    assert_eq!(s.prune_raw(cut, 20).unwrap(), 0);
    let left = s.readings(&q).unwrap();
    assert_eq!(left.len(), 51);
    assert!(left.iter().all(|x| x.sampled_ms >= cut));
    // Everything: the marks stay, so clients are not asked to resend what was pruned.
    while s.prune_raw(i64::MAX, 7).unwrap() > 0 {}
    assert_eq!(s.info().unwrap().readings, 0);
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(100));
    assert_eq!(s.high_water(&cid("b")).unwrap(), Some(9));
    assert_eq!(s.high_water_all().unwrap().len(), 2);
    assert_eq!(s.buckets(&q, hour).unwrap(), rollups_before);
    assert!(s.buckets_from(&q, hour, BucketSource::Raw).unwrap().is_empty());
    assert_eq!(s.prune_raw(i64::MAX, 0).unwrap(), 0);
}

fn filters_queries_by_client_sensor_and_time(s: &mut dyn Store) {
    let mut g = Vec::new();
    for i in 0..10i64 {
        g.push(r("a", "t1", c(i as f64), T0 + i * 1000, Some(i as u64 + 1)));
        g.push(r("a", "t2", c(-(i as f64)), T0 + i * 1000 + 1, Some(i as u64 + 101)));
        g.push(r("b", "t1", err("crc"), T0 + i * 1000 + 2, Some(i as u64 + 1)));
    }
    s.commit(&g).unwrap();
    let q = |cid_: Option<&str>,
             sensor: Option<&str>,
             since: Option<i64>,
             until: Option<i64>,
             limit: Option<usize>| {
        ReadingQuery { cid: cid_.map(cid), sensor: sensor.map(sid), since_ms: since, until_ms: until, limit }
    };
    let everything = s.readings(&q(None, None, None, None, None)).unwrap();
    assert_eq!(everything.len(), 30);
    assert!(everything.windows(2).all(|w| w[0].sampled_ms <= w[1].sampled_ms), "by sample time");
    let a_t1 = s.readings(&q(Some("a"), Some("t1"), None, None, None)).unwrap();
    assert_eq!(a_t1.len(), 10);
    assert!(a_t1.iter().all(|x| x.cid.as_str() == "a" && x.sensor.as_str() == "t1"));
    assert_eq!(a_t1[3].value, c(3.0));
    assert_eq!(a_t1[3].seq, Some(4));
    assert_eq!(a_t1[3].received_ms, T0 + 3000 + 100);
    let t1 = s.readings(&q(None, Some("t1"), None, None, None)).unwrap();
    assert_eq!(t1.len(), 20);
    assert_eq!(t1[1].value, err("crc"));
    let window = s.readings(&q(Some("a"), None, Some(T0 + 2000), Some(T0 + 5000), None)).unwrap();
    let times: Vec<i64> = window.iter().map(|x| x.sampled_ms - T0).collect();
    assert_eq!(times, vec![2000, 2001, 3000, 3001, 4000, 4001]);
    let limited = s.readings(&q(Some("b"), None, None, None, Some(3))).unwrap();
    assert_eq!(limited.iter().map(|x| x.seq.unwrap()).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(s.readings(&q(Some("zz"), None, None, None, None)).unwrap().is_empty());
    assert!(s.readings(&q(Some("a"), Some("nope"), None, None, None)).unwrap().is_empty());
    let one = s.readings(&q(Some("b"), Some("t1"), Some(T0 + 4000), None, Some(2))).unwrap();
    assert_eq!(one.iter().map(|x| x.seq.unwrap()).collect::<Vec<_>>(), vec![5, 6]);
    assert!(one.iter().all(|x| x.cid.as_str() == "b" && x.sensor.as_str() == "t1"));
}

fn keeps_nodes_and_sensors_with_their_newest_reading(s: &mut dyn Store) {
    s.commit(&[r("a", "t1", c(5.0), T0 + 5000, Some(2)), r("a", "t2", err("missing"), T0, Some(3))]).unwrap();
    // An older sample arriving later does not become the sensor's last value.
    s.commit(&[r("a", "t1", c(1.0), T0 + 1000, Some(1))]).unwrap();
    s.commit(&[r("b", "t1", c(-3.5), T0 + 9000, None)]).unwrap();
    let nodes = s.nodes().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].cid.as_str(), "a");
    assert_eq!(nodes[0].first_seen_ms, T0 + 100);
    assert_eq!(nodes[0].last_seen_ms, T0 + 5100);
    assert_eq!(nodes[0].high_water, Some(3));
    assert_eq!(nodes[1].high_water, None);
    let sensors = s.sensors().unwrap();
    let names: Vec<String> = sensors.iter().map(|x| format!("{}/{}", x.cid, x.sensor)).collect();
    assert_eq!(names, vec!["a/t1", "a/t2", "b/t1"]);
    assert_eq!(sensors[0].last, Some((T0 + 5000, c(5.0), Some(2))));
    assert_eq!(sensors[0].first_seen_ms, T0 + 1100);
    assert_eq!(sensors[0].last_seen_ms, T0 + 5100);
    assert_eq!(sensors[1].last, Some((T0, err("missing"), Some(3))));
    assert_eq!(sensors[2].last, Some((T0 + 9000, c(-3.5), None)));
}

fn exports_in_insertion_order_and_stops_on_the_callers_error(s: &mut dyn Store) {
    for i in 0..5u64 {
        s.commit(&[
            r("a", "t", c(1.0), T0 - i as i64, Some(i + 1)),
            r("b", "t", c(1.0), T0 + i as i64, Some(i + 1)),
        ])
        .unwrap();
    }
    let order: Vec<(String, u64)> = all(s).into_iter().map(|x| (x.cid.to_string(), x.seq.unwrap())).collect();
    let want: Vec<(String, u64)> =
        (1..=5).flat_map(|i| [("a".to_string(), i), ("b".to_string(), i)]).collect();
    assert_eq!(order, want);
    let mut n = 0;
    let e = s.export(&mut |_| {
        n += 1;
        if n == 3 {
            Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdout closed"))
        } else {
            Ok(())
        }
    });
    assert!(matches!(e, Err(StoreError::Export(_))), "{e:?}");
    assert_eq!(n, 3);
}

fn keeps_temperatures_to_the_millidegree(s: &mut dyn Store) {
    s.commit(&[
        r("a", "t", c(21.0625), T0, Some(1)),
        r("a", "t", c(-0.0004), T0 + 1, Some(2)),
        r("a", "t", c(-55.0), T0 + 2, Some(3)),
        r("a", "t", c(999.999), T0 + 3, Some(4)),
    ])
    .unwrap();
    let v: Vec<_> = s.readings(&ReadingQuery::default()).unwrap().into_iter().map(|x| x.value).collect();
    assert_eq!(v, vec![c(21.063), c(0.0), c(-55.0), c(999.999)]);
}

fn describes_itself(s: &mut dyn Store) {
    s.commit(&[r("a", "t", c(1.0), T0, Some(1)), r("a", "t", c(1.0), T0, None)]).unwrap();
    let info = s.info().unwrap();
    assert_eq!(info.readings, 2);
    assert_eq!(info.schema_version, cliser_store::SCHEMA_VERSION);
    assert_eq!(info.location, s.location());
    assert!(info.to_string().contains("2 readings"), "{info}");
}

fn alert(kind: &str, client: &str, sensor: &str, since_ms: i64, value: Option<f64>) -> StoredAlert {
    StoredAlert {
        kind: kind.into(),
        cid: client.into(),
        sensor: sensor.into(),
        name: Some(format!("{client} {sensor}")),
        since_ms,
        value,
        limit: value.map(|_| 30.0),
        message: format!("{kind} on {client}/{sensor}"),
        ack: None,
    }
}

fn keeps_the_firing_alerts_one_per_kind_client_and_sensor(s: &mut dyn Store) {
    assert!(s.alerts_firing().unwrap().is_empty());
    let hot = alert("high", "b", "t1", T0, Some(31.25));
    let silent =
        StoredAlert { name: None, value: None, limit: None, ..alert("silent", "a", "", T0 + 5, None) };
    let hot_a = alert("high", "a", "t9", T0 + 7, Some(30.1));
    for a in [&hot, &silent, &hot_a] {
        s.alert_fire(a).unwrap();
    }
    // By kind, then client, then sensor; a node's alert (no sensor) keeps its None fields.
    assert_eq!(s.alerts_firing().unwrap(), vec![hot_a.clone(), hot.clone(), silent.clone()]);

    // Firing again replaces the row of its (kind, cid, sensor), every other field included.
    let hotter = StoredAlert {
        name: None,
        since_ms: T0 + 60_000,
        value: Some(35.0),
        limit: Some(32.5),
        message: "hotter".into(),
        ack: None,
        ..hot.clone()
    };
    s.alert_fire(&hotter).unwrap();
    assert_eq!(s.alerts_firing().unwrap(), vec![hot_a.clone(), hotter.clone(), silent.clone()]);
    // The same client and sensor under another kind is another alert.
    let other_kind = alert("stale", "b", "t1", T0, None);
    s.alert_fire(&other_kind).unwrap();
    assert_eq!(s.alerts_firing().unwrap().len(), 4);

    assert!(s.alert_resolve("high", "b", "t1").unwrap());
    assert!(!s.alert_resolve("high", "b", "t1").unwrap(), "already resolved");
    assert!(!s.alert_resolve("silent", "a", "t1").unwrap(), "the node's alert has sensor ''");
    assert!(s.alert_resolve("silent", "a", "").unwrap());
    assert_eq!(s.alerts_firing().unwrap(), vec![hot_a, other_kind]);
}

fn alerts_are_kept_apart_from_the_readings(s: &mut dyn Store) {
    s.commit(&[r("a", "t", c(1.0), T0, Some(1))]).unwrap();
    s.alert_fire(&alert("high", "a", "t", T0, Some(1.0))).unwrap();
    while s.prune_raw(i64::MAX, 100).unwrap() > 0 {}
    assert_eq!(s.alerts_firing().unwrap().len(), 1, "pruning readings leaves the alerts");
    assert!(s.alert_resolve("high", "a", "t").unwrap());
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(1));
}

fn firing_alerts_survive_reopening_the_store(t: &mut dyn Reopen) {
    let kept = alert("high", "a", "t", T0, Some(30.5));
    let node = StoredAlert { name: None, value: None, limit: None, ..alert("silent", "b", "", T0, None) };
    let gone = alert("high", "c", "t", T0, Some(31.0));
    for a in [&kept, &node, &gone] {
        t.store().alert_fire(a).unwrap();
    }
    assert!(t.store().alert_resolve("high", "c", "t").unwrap());
    t.reopen();
    assert_eq!(t.store().alerts_firing().unwrap(), vec![kept.clone(), node.clone()]);
    // A resolve after the restart is durable too.
    assert!(t.store().alert_resolve("silent", "b", "").unwrap());
    t.reopen();
    assert_eq!(t.store().alerts_firing().unwrap(), vec![kept]);
}

/// Each quality comes back as it was committed, from the filtered query (one series: its own
/// SQL), the unfiltered one and the export.
fn keeps_each_readings_timestamp_quality(s: &mut dyn Store) {
    let with = |mut x: cliser_store::NewReading, q: TsQuality| {
        x.ts_quality = q;
        x
    };
    let g = [
        with(r("a", "t", c(1.0), T0, Some(1)), TsQuality::Synced),
        with(r("a", "t", c(2.0), T0 + 1, Some(2)), TsQuality::FromAge),
        with(r("a", "t", err("crc"), T0 + 2, Some(3)), TsQuality::Unsynced),
        with(r("b", "u", c(3.0), T0 + 3, None), TsQuality::FromAge),
    ];
    assert_eq!(s.commit(&g).unwrap(), vec![true; 4]);
    let want = [TsQuality::Synced, TsQuality::FromAge, TsQuality::Unsynced, TsQuality::FromAge];
    let quality =
        |rows: Vec<cliser_store::StoredReading>| rows.iter().map(|x| x.ts_quality).collect::<Vec<_>>();
    assert_eq!(quality(s.readings(&ReadingQuery::default()).unwrap()), want);
    assert_eq!(quality(all(s)), want);
    let one = ReadingQuery { cid: Some(cid("a")), sensor: Some(sid("t")), ..ReadingQuery::default() };
    assert_eq!(quality(s.readings(&one).unwrap()), want[..3]);
}

fn export_cursors_survive_reopening_the_store(t: &mut dyn Reopen) {
    t.store().set_cursor("mqtt", 9).unwrap();
    t.reopen();
    assert_eq!(t.store().cursor("mqtt").unwrap(), Some(9));
}

// Schema 5: acknowledgements, admin changes, forgetting, the alert history and silences.

fn ack(by: &str, note: &str, at_ms: i64) -> Ack {
    Ack { by: by.into(), note: note.into(), at_ms }
}

fn acked(kind: &str, client: &str, sensor: &str) -> AdminChange {
    AdminChange::Acked { kind: kind.into(), cid: client.into(), sensor: sensor.into() }
}

fn forgot(client: &str, sensor: Option<&str>) -> AdminChange {
    AdminChange::Forgot { cid: client.into(), sensor: sensor.map(Into::into) }
}

fn node_ids(s: &mut dyn Store) -> Vec<String> {
    s.nodes().unwrap().into_iter().map(|n| n.cid.to_string()).collect()
}

fn sensor_ids(s: &mut dyn Store) -> Vec<(String, String)> {
    s.sensors().unwrap().into_iter().map(|x| (x.cid.to_string(), x.sensor.to_string())).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn acknowledgements_survive_refiring_and_go_with_resolving(s: &mut dyn Store) {
    let hot = alert("high", "a", "t", T0, Some(31.5));
    s.alert_fire(&hot).unwrap();
    s.alert_fire(&alert("high", "b", "t", T0, Some(32.0))).unwrap();
    assert!(s.alert_ack("high", "a", "t", &ack("ann", "on it", T0 + 10)).unwrap());
    let with_ack = StoredAlert { ack: Some(ack("ann", "on it", T0 + 10)), ..hot.clone() };
    assert_eq!(s.alerts_firing().unwrap()[0], with_ack);
    assert_eq!(s.alerts_firing().unwrap()[1].ack, None, "only that alert is acknowledged");

    // Firing again (as a restarted server or a new value does) keeps the acknowledgement, even when
    // the alert given carries none.
    let hotter = StoredAlert { value: Some(33.0), message: "hotter".into(), ..hot.clone() };
    s.alert_fire(&hotter).unwrap();
    let want = StoredAlert { ack: Some(ack("ann", "on it", T0 + 10)), ..hotter.clone() };
    assert_eq!(s.alerts_firing().unwrap()[0], want);
    // Acknowledging again replaces it.
    assert!(s.alert_ack("high", "a", "t", &ack("bob", "", T0 + 20)).unwrap());
    assert_eq!(s.alerts_firing().unwrap()[0].ack, Some(ack("bob", "", T0 + 20)));
    // No such alert: false, and nothing recorded.
    assert!(!s.alert_ack("high", "a", "other", &ack("ann", "", T0)).unwrap());
    assert!(!s.alert_ack("low", "a", "t", &ack("ann", "", T0)).unwrap());
    let changes: Vec<AdminChange> = s.admin_changes(0).unwrap().into_iter().map(|(_, c)| c).collect();
    assert_eq!(changes, vec![acked("high", "a", "t"), acked("high", "a", "t")]);

    // Resolving takes the acknowledgement with it: the next firing starts unacknowledged.
    assert!(s.alert_resolve("high", "a", "t").unwrap());
    s.alert_fire(&hot).unwrap();
    assert_eq!(s.alerts_firing().unwrap()[0], hot);
}

fn admin_changes_come_in_order_and_move_the_head(s: &mut dyn Store) {
    assert_eq!(s.admin_changes_head().unwrap(), 0);
    assert_eq!(s.admin_changes(0).unwrap(), vec![]);
    s.commit(&[r("a", "t", c(1.0), T0, Some(1)), r("a", "u", c(1.0), T0, Some(2))]).unwrap();
    s.alert_fire(&alert("high", "a", "t", T0, Some(31.5))).unwrap();
    let node_alert =
        StoredAlert { name: None, value: None, limit: None, ..alert("silent", "a", "", T0, None) };
    s.alert_fire(&node_alert).unwrap();
    assert!(s.alert_ack("high", "a", "t", &ack("ann", "", T0)).unwrap());
    assert_eq!(s.admin_changes_head().unwrap(), s.admin_changes(0).unwrap()[0].0);
    let silence = s.silence_add(&silence("*", "*", "*", T0, T0 + HOUR)).unwrap();
    assert!(s.silence_end(silence, T0 + 1).unwrap());
    assert!(s.forget("a", Some("u"), false, T0 + 2).unwrap().known);
    assert!(s.alert_ack("silent", "a", "", &ack("bob", "", T0 + 3)).unwrap());
    assert!(s.forget("a", None, false, T0 + 4).unwrap().known);
    // What fails records nothing.
    assert!(!s.silence_end(silence, T0 + 5).unwrap());
    assert!(!s.forget("nobody", None, false, T0 + 5).unwrap().known);
    assert!(!s.alert_ack("high", "nobody", "t", &ack("ann", "", T0)).unwrap());

    let all = s.admin_changes(0).unwrap();
    let changes: Vec<AdminChange> = all.iter().map(|(_, c)| c.clone()).collect();
    assert_eq!(
        changes,
        vec![
            acked("high", "a", "t"),
            AdminChange::Silences,
            AdminChange::Silences,
            forgot("a", Some("u")),
            acked("silent", "a", ""),
            forgot("a", None),
        ]
    );
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "ascending ids: {all:?}");
    let head = s.admin_changes_head().unwrap();
    assert_eq!(head, all[5].0);
    assert_eq!(s.admin_changes(head).unwrap(), vec![]);
    assert_eq!(s.admin_changes(all[3].0).unwrap(), all[4..].to_vec());
}

fn forgetting_a_node_hides_it_until_it_reports_again(s: &mut dyn Store) {
    s.commit(&[
        r("a", "t1", c(1.0), T0, Some(1)),
        r("a", "t2", c(2.0), T0, Some(2)),
        r("b", "t", c(3.0), T0, Some(1)),
    ])
    .unwrap();
    assert_eq!(s.forget("a", None, false, T0 + 5).unwrap(), Forgotten { known: true, readings_deleted: 0 });
    assert_eq!(node_ids(s), vec!["b"]);
    assert_eq!(sensor_ids(s), pairs(&[("b", "t")]));
    assert!(s.is_forgotten("a", None).unwrap());
    assert!(s.is_forgotten("a", Some("t1")).unwrap());
    assert!(s.is_forgotten("a", Some("t2")).unwrap());
    assert!(!s.is_forgotten("b", None).unwrap());
    assert!(!s.is_forgotten("b", Some("t")).unwrap());
    assert!(!s.is_forgotten("nobody", None).unwrap());
    // Its readings stay (only delete_readings deletes them), and so does its high-water mark: an
    // old resend is still a duplicate, and does not bring it back.
    let of_a = ReadingQuery { cid: Some(cid("a")), ..ReadingQuery::default() };
    assert_eq!(s.readings(&of_a).unwrap().len(), 2);
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(2));
    assert_eq!(s.high_water_all().unwrap().get(&cid("a")), Some(&2));
    assert_eq!(s.commit(&[r("a", "t1", c(1.0), T0, Some(2))]).unwrap(), vec![false]);
    assert_eq!(node_ids(s), vec!["b"]);

    // A new reading brings back the node and the sensor it is of; its other sensor stays forgotten.
    assert_eq!(s.commit(&[r("a", "t1", c(4.0), T0 + 10, Some(3))]).unwrap(), vec![true]);
    assert_eq!(node_ids(s), vec!["a", "b"]);
    assert_eq!(sensor_ids(s), pairs(&[("a", "t1"), ("b", "t")]));
    assert!(!s.is_forgotten("a", None).unwrap());
    assert!(!s.is_forgotten("a", Some("t1")).unwrap());
    assert!(s.is_forgotten("a", Some("t2")).unwrap());
    let a = s.nodes().unwrap().into_iter().find(|n| n.cid == cid("a")).unwrap();
    assert_eq!((a.first_seen_ms, a.last_seen_ms, a.high_water), (T0 + 100, T0 + 110, Some(3)));
    assert_eq!(s.commit(&[r("a", "t2", c(5.0), T0 + 20, Some(4))]).unwrap(), vec![true]);
    assert_eq!(sensor_ids(s), pairs(&[("a", "t1"), ("a", "t2"), ("b", "t")]));
}

fn forgetting_a_sensor_hides_only_that_sensor(s: &mut dyn Store) {
    s.commit(&[r("a", "t1", c(1.0), T0, Some(1)), r("a", "t2", c(2.0), T0, Some(2))]).unwrap();
    assert_eq!(
        s.forget("a", Some("t1"), false, T0 + 5).unwrap(),
        Forgotten { known: true, readings_deleted: 0 }
    );
    assert_eq!(node_ids(s), vec!["a"]);
    assert_eq!(sensor_ids(s), pairs(&[("a", "t2")]));
    assert!(!s.is_forgotten("a", None).unwrap());
    assert!(s.is_forgotten("a", Some("t1")).unwrap());
    assert!(!s.is_forgotten("a", Some("t2")).unwrap());
    // A reading of its other sensor does not bring it back; one of its own does.
    s.commit(&[r("a", "t2", c(2.0), T0 + 10, Some(3))]).unwrap();
    assert_eq!(sensor_ids(s), pairs(&[("a", "t2")]));
    s.commit(&[r("a", "t1", c(2.0), T0 + 20, Some(4))]).unwrap();
    assert_eq!(sensor_ids(s), pairs(&[("a", "t1"), ("a", "t2")]));
    assert!(!s.is_forgotten("a", Some("t1")).unwrap());
}

fn forgetting_an_unknown_node_or_sensor_does_nothing(s: &mut dyn Store) {
    s.commit(&[r("a", "t", c(1.0), T0, Some(1))]).unwrap();
    assert_eq!(s.forget("nobody", None, true, T0).unwrap(), Forgotten { known: false, readings_deleted: 0 });
    assert_eq!(
        s.forget("a", Some("nope"), true, T0).unwrap(),
        Forgotten { known: false, readings_deleted: 0 }
    );
    assert_eq!(s.admin_changes_head().unwrap(), 0, "nothing recorded");
    assert_eq!(node_ids(s), vec!["a"]);
    assert_eq!(sensor_ids(s), pairs(&[("a", "t")]));
    assert_eq!(s.info().unwrap().readings, 1);
}

fn forgetting_with_delete_readings_deletes_raw_readings_and_rollups(s: &mut dyn Store) {
    s.commit(&[
        r("a", "t1", c(1.0), T0, Some(1)),
        r("a", "t1", c(2.0), T0 + HOUR, Some(2)),
        r("a", "t1", err("crc"), T0 + 2 * HOUR, Some(3)),
        r("a", "t2", c(3.0), T0, Some(4)),
        r("a", "t2", c(4.0), T0 + HOUR, Some(5)),
        r("b", "t1", c(5.0), T0, Some(1)),
        r("b", "t1", c(6.0), T0 + HOUR, Some(2)),
    ])
    .unwrap();
    let q = |client: &str, sensor: Option<&str>| ReadingQuery {
        cid: Some(cid(client)),
        sensor: sensor.map(sid),
        ..ReadingQuery::default()
    };
    let hours = |s: &mut dyn Store, q: &ReadingQuery| {
        s.buckets_from(q, Duration::from_secs(3600), BucketSource::Rollups).unwrap().len()
    };

    assert_eq!(s.forget("a", Some("t1"), true, T0).unwrap(), Forgotten { known: true, readings_deleted: 3 });
    assert_eq!(s.readings(&q("a", Some("t1"))).unwrap(), vec![]);
    assert_eq!(hours(s, &q("a", Some("t1"))), 0);
    assert_eq!(s.readings(&q("a", Some("t2"))).unwrap().len(), 2, "its other sensor keeps its readings");
    assert_eq!(hours(s, &q("a", Some("t2"))), 2);
    assert_eq!(s.readings(&q("b", Some("t1"))).unwrap().len(), 2, "another node's same sensor id is kept");
    assert_eq!(hours(s, &q("b", None)), 2);

    assert_eq!(s.forget("a", None, true, T0).unwrap(), Forgotten { known: true, readings_deleted: 2 });
    assert_eq!(s.readings(&q("a", None)).unwrap(), vec![]);
    assert_eq!(hours(s, &q("a", None)), 0);
    assert_eq!(s.readings(&q("b", None)).unwrap().len(), 2);
    assert_eq!(s.info().unwrap().readings, 2);
    assert_eq!(node_ids(s), vec!["b"]);
    // The high-water mark outlives the readings, so the sink still drops a resend of them (the
    // store alone no longer holds their keys, as after pruning).
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(5));
    assert_eq!(s.high_water_all().unwrap().get(&cid("a")), Some(&5));
    assert_eq!(s.commit(&[r("a", "t1", c(7.0), T0 + 3 * HOUR, Some(6))]).unwrap(), vec![true]);
    assert_eq!(s.readings(&q("a", None)).unwrap().len(), 1);
    assert_eq!(node_ids(s), vec!["a", "b"]);
}

fn event(at_ms: i64, what: &str, kind: &str, client: &str, sensor: &str, value: Option<f64>) -> AlertEvent {
    AlertEvent {
        id: 0,
        at_ms,
        event: what.into(),
        kind: kind.into(),
        cid: client.into(),
        sensor: sensor.into(),
        name: Some(format!("{client}/{sensor}")),
        since_ms: at_ms - 1000,
        value,
        message: format!("{kind} {what}"),
        by: None,
        note: None,
    }
}

fn keeps_the_alert_history_newest_first_with_filters(s: &mut dyn Store) {
    assert_eq!(s.alert_events(&EventQuery::default()).unwrap(), vec![]);
    let mut events = vec![
        event(T0, "fired", "high", "a", "t", Some(31.5)),
        event(T0 + 10, "acknowledged", "high", "a", "t", None),
        event(T0 + 10, "fired", "silent", "b", "", None),
        event(T0 + 20, "fired", "high", "b", "t", Some(-2.25)),
        event(T0 + 30, "resolved", "high", "a", "t", Some(29.0)),
    ];
    events[1].by = Some("ann".into());
    events[1].note = Some("on it".into());
    events[2].name = None;
    for e in &mut events {
        e.id = s.alert_event_add(e).unwrap();
    }
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "rising ids: {events:?}");
    let pick = |idx: &[usize]| -> Vec<AlertEvent> { idx.iter().map(|&i| events[i].clone()).collect() };
    let all = s.alert_events(&EventQuery::default()).unwrap();
    // Newest first; the two at T0 + 10 by id, highest first.
    assert_eq!(all, pick(&[4, 3, 2, 1, 0]));
    let q = |f: &dyn Fn(&mut EventQuery)| {
        let mut q = EventQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(s.alert_events(&q(&|q| q.cid = Some("a".into()))).unwrap(), pick(&[4, 1, 0]));
    assert_eq!(s.alert_events(&q(&|q| q.sensor = Some("".into()))).unwrap(), pick(&[2]));
    assert_eq!(s.alert_events(&q(&|q| q.kind = Some("high".into()))).unwrap(), pick(&[4, 3, 1, 0]));
    assert_eq!(s.alert_events(&q(&|q| q.since_ms = Some(T0 + 10))).unwrap(), pick(&[4, 3, 2, 1]));
    assert_eq!(s.alert_events(&q(&|q| q.until_ms = Some(T0 + 20))).unwrap(), pick(&[2, 1, 0]));
    assert_eq!(s.alert_events(&q(&|q| q.limit = 2)).unwrap(), pick(&[4, 3]));
    let narrow = q(&|q| {
        q.cid = Some("b".into());
        q.sensor = Some("t".into());
        q.kind = Some("high".into());
        q.since_ms = Some(T0 + 20);
        q.until_ms = Some(T0 + 21);
        q.limit = 1;
    });
    assert_eq!(s.alert_events(&narrow).unwrap(), pick(&[3]));
    assert_eq!(s.alert_events(&q(&|q| q.cid = Some("nobody".into()))).unwrap(), vec![]);
}

fn prunes_the_alert_history_then_admin_changes_in_batches(s: &mut dyn Store) {
    let cut = T0 + HOUR;
    for t in [T0, T0 + 1, T0 + 2, cut] {
        s.alert_event_add(&event(t, "fired", "high", "a", "t", None)).unwrap();
    }
    s.silence_add(&silence("*", "*", "*", T0, T0 + 2 * HOUR)).unwrap();
    s.silence_add(&silence("a", "*", "*", T0 + 5, T0 + 2 * HOUR)).unwrap();
    let kept = s.silence_add(&silence("b", "*", "*", cut, T0 + 2 * HOUR)).unwrap();
    let head = s.admin_changes_head().unwrap();

    assert_eq!(s.prune_alert_events(cut, 2).unwrap(), 2);
    assert_eq!(s.prune_alert_events(cut, 2).unwrap(), 2, "the last old event, then an admin change");
    assert_eq!(s.prune_alert_events(cut, 2).unwrap(), 1);
    assert_eq!(s.prune_alert_events(cut, 2).unwrap(), 0);
    let left: Vec<i64> = s.alert_events(&EventQuery::default()).unwrap().iter().map(|e| e.at_ms).collect();
    assert_eq!(left, vec![cut]);
    assert_eq!(s.admin_changes(0).unwrap(), vec![(head, AdminChange::Silences)]);
    assert_eq!(s.admin_changes_head().unwrap(), head);
    assert_eq!(s.silences(None).unwrap().len(), 3, "silences are not pruned");
    // Ids are never given again: a server's place stays right.
    assert!(s.silence_end(kept, cut).unwrap());
    assert!(s.admin_changes_head().unwrap() > head);
    assert_eq!(s.prune_alert_events(cut, 0).unwrap(), 0);
}

fn silence(client: &str, sensor: &str, kind: &str, starts_ms: i64, ends_ms: i64) -> Silence {
    Silence {
        id: 0,
        cid: client.into(),
        sensor: sensor.into(),
        kind: kind.into(),
        starts_ms,
        ends_ms,
        by: "ann".into(),
        comment: format!("{client} {sensor} {kind}"),
        ended_ms: None,
    }
}

fn lists_silences_by_their_end_and_ends_them_early_once(s: &mut dyn Store) {
    assert_eq!(s.silences(None).unwrap(), vec![]);
    let mut one = silence("a", "t", "high", T0, T0 + HOUR);
    let mut two = silence("*", "*", "*", T0, T0 + 2 * HOUR);
    let mut over = silence("b", "*", "silent", T0 - 2 * HOUR, T0 - HOUR);
    for x in [&mut one, &mut two, &mut over] {
        x.id = s.silence_add(x).unwrap();
    }
    assert!(one.id < two.id && two.id < over.id);
    assert_eq!(s.silences(None).unwrap(), vec![one.clone(), two.clone(), over.clone()]);
    assert_eq!(s.silences(Some(T0 - HOUR - 1)).unwrap(), vec![one.clone(), two.clone(), over.clone()]);
    assert_eq!(s.silences(Some(T0 - HOUR)).unwrap(), vec![one.clone(), two.clone()], "ends are exclusive");
    assert_eq!(s.silences(Some(T0 + HOUR)).unwrap(), vec![two.clone()]);

    assert!(s.silence_end(two.id, T0 + 600_000).unwrap());
    let ended = Silence { ended_ms: Some(T0 + 600_000), ..two.clone() };
    assert!(!s.silence_end(two.id, T0 + 700_000).unwrap(), "ended already");
    assert!(!s.silence_end(over.id, T0).unwrap(), "over already");
    assert!(!s.silence_end(one.id, T0 + HOUR).unwrap(), "over at its end");
    assert!(!s.silence_end(one.id + 1000, T0).unwrap(), "no such silence");
    assert_eq!(s.silences(None).unwrap(), vec![one.clone(), ended.clone(), over.clone()]);
    // Its end is now when it was ended.
    assert_eq!(s.silences(Some(T0 + 600_000 - 1)).unwrap(), vec![one.clone(), ended.clone()]);
    assert_eq!(s.silences(Some(T0 + 600_000)).unwrap(), vec![one.clone()]);
    let changes: Vec<AdminChange> = s.admin_changes(0).unwrap().into_iter().map(|(_, c)| c).collect();
    assert_eq!(changes, vec![AdminChange::Silences; 4], "three made, one ended");
}

fn keeps_alert_events_to_deliver_pending_until_delivered(s: &mut dyn Store) {
    let pending = EventQuery { pending_delivery: true, ..EventQuery::default() };
    let held = s.alert_event_add(&event(T0, "fired", "high", "a", "t", Some(31.5))).unwrap();
    let first = s.alert_event_add_to_deliver(&event(T0 + 1, "fired", "high", "b", "t", Some(32.0))).unwrap();
    let second = s.alert_event_add_to_deliver(&event(T0 + 2, "resolved", "high", "b", "t", None)).unwrap();
    let ids = |s: &mut dyn Store| s.alert_events(&pending).unwrap().iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(s), vec![second, first], "history-only events are not pending; newest first");
    s.alert_event_delivered(first).unwrap();
    assert_eq!(ids(s), vec![second]);
    s.alert_event_delivered(second).unwrap();
    assert!(ids(s).is_empty());
    let all: Vec<i64> = s.alert_events(&EventQuery::default()).unwrap().iter().map(|e| e.id).collect();
    assert_eq!(all, vec![second, first, held], "all stay in the history");
}

fn acknowledgements_silences_and_forgetting_survive_reopening_the_store(t: &mut dyn Reopen) {
    let s = t.store();
    s.commit(&[r("a", "t", c(1.0), T0, Some(1)), r("b", "t", c(1.0), T0, Some(1))]).unwrap();
    s.alert_fire(&alert("high", "a", "t", T0, Some(31.5))).unwrap();
    assert!(s.alert_ack("high", "a", "t", &ack("ann", "on it", T0)).unwrap());
    let id = s.silence_add(&silence("*", "*", "*", T0, T0 + HOUR)).unwrap();
    assert!(s.forget("a", None, false, T0).unwrap().known);
    let e = s.alert_event_add(&event(T0, "fired", "high", "a", "t", Some(31.5))).unwrap();
    let head = s.admin_changes_head().unwrap();
    t.reopen();
    let s = t.store();
    assert_eq!(s.alerts_firing().unwrap()[0].ack, Some(ack("ann", "on it", T0)));
    assert_eq!(s.silences(None).unwrap().iter().map(|x| x.id).collect::<Vec<_>>(), vec![id]);
    assert!(s.is_forgotten("a", None).unwrap());
    assert_eq!(node_ids(s), vec!["b"]);
    assert_eq!(s.alert_events(&EventQuery::default()).unwrap()[0].id, e);
    assert_eq!(s.admin_changes_head().unwrap(), head);
    assert_eq!(s.admin_changes(0).unwrap().len(), 3);
}

fn readings_pruned_are_not_stored_again_and_the_rollups_stay(s: &mut dyn Store) {
    let g: Vec<_> = (0..10).map(|i| r("a", "t", c(i as f64), T0 + i * 60_000, Some(i as u64 + 1))).collect();
    s.commit(&g).unwrap();
    let hour = Duration::from_secs(3600);
    let q = ReadingQuery::default();
    let rollups = s.buckets(&q, hour).unwrap();
    assert!(s.pruned_before().unwrap().is_empty(), "nothing pruned yet");
    // The first six minutes go, in two batches.
    let cut = T0 + 6 * 60_000;
    while s.prune_raw(cut, 4).unwrap() > 0 {}
    assert_eq!(s.info().unwrap().readings, 4);
    let marks = s.pruned_before().unwrap();
    assert_eq!(marks.get(&cid("a")), Some(&(T0 + 5 * 60_000 + 1)), "just after the newest pruned: {marks:?}");
    // The same readings again (an import run twice): the pruned ones are refused, the kept ones
    // are duplicates; nothing is stored and the rollups do not count anything twice.
    assert_eq!(s.commit(&g).unwrap(), vec![false; 10]);
    assert_eq!(s.info().unwrap().readings, 4);
    assert_eq!(s.buckets(&q, hour).unwrap(), rollups, "the rollups unchanged");
    // A reading sampled before the mark with a seq above the high-water mark was never stored
    // (a Pi that was away for long): it is new and taken. A seqless one cannot be told apart.
    assert_eq!(
        s.commit(&[r("a", "t", c(50.0), T0 + 60_000, Some(11)), r("a", "t", c(51.0), T0, None)]).unwrap(),
        vec![true, false]
    );
    assert_eq!(s.buckets(&q, hour).unwrap()[0].count, 11);
    // Another client, never pruned, has no mark: its old readings are taken.
    assert_eq!(s.commit(&[r("b", "t", c(1.0), T0, Some(1))]).unwrap(), vec![true]);
    // The mark never goes back.
    while s.prune_raw(T0 + 60_000, 100).unwrap() > 0 {}
    assert_eq!(s.pruned_before().unwrap().get(&cid("a")), Some(&(T0 + 5 * 60_000 + 1)));
}

/// Makes a test for each backend of every case: `plain` cases take the store, `reopening` ones
/// the test's [`Reopen`] (to close the store and open it again on the same database).
macro_rules! on_both_backends {
    (plain: [$($case:ident),* $(,)?], reopening: [$($reopening:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    let mut t = super::Sqlite::new();
                    super::$case(&mut t.store);
                }
            )*
            $(
                #[test]
                fn $reopening() {
                    let mut t = super::Sqlite::new();
                    super::$reopening(&mut t);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    let Some(mut t) = super::Pg::new() else { return };
                    super::$case(&mut t.store);
                }
            )*
            $(
                #[test]
                fn $reopening() {
                    let Some(mut t) = super::Pg::new() else { return };
                    super::$reopening(&mut t);
                }
            )*
        }
    };
}

fn feeds_readings_in_commit_order_after_a_cursor(s: &mut dyn Store) {
    assert_eq!(s.feed(0, 10).unwrap(), vec![]);
    assert_eq!(s.feed_lag(0).unwrap(), cliser_store::FeedLag::default());
    s.commit(&[r("b", "t", c(1.5), T0 + 5, Some(1)), r("a", "u", err("crc"), T0, Some(1))]).unwrap();
    s.commit(&[r("a", "u", c(-2.25), T0 - 10, Some(2)), r("a", "u", c(9.0), T0, Some(1))]).unwrap();
    let all = s.feed(0, 10).unwrap();
    let got: Vec<(String, String, Option<u64>)> = all
        .iter()
        .map(|f| (f.reading.cid.to_string(), f.reading.sensor.to_string(), f.reading.seq))
        .collect();
    // Within a group the store takes readings by client id (as `export` gives them); groups in turn.
    let want = [("a", "u", 1), ("b", "t", 1), ("a", "u", 2)];
    let want: Vec<(String, String, Option<u64>)> =
        want.iter().map(|(c, s, q)| (c.to_string(), s.to_string(), Some(*q))).collect();
    assert_eq!(got, want);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ascending ids: {all:?}");
    assert_eq!(all[0].reading.value, err("crc"));
    assert_eq!(all[2].reading.value, c(-2.25));
    assert_eq!((all[2].reading.sampled_ms, all[2].reading.received_ms), (T0 - 10, T0 + 90));
    assert_eq!(s.feed(all[0].id, 1).unwrap(), vec![all[1].clone()]);
    assert_eq!(s.feed(all[2].id, 10).unwrap(), vec![]);
    let lag = s.feed_lag(all[0].id).unwrap();
    assert_eq!(
        lag,
        cliser_store::FeedLag { readings: 2, oldest_received_ms: Some(T0 + 105), last_id: all[2].id }
    );
    let lag = s.feed_lag(all[2].id).unwrap();
    assert_eq!((lag.readings, lag.oldest_received_ms, lag.last_id), (0, None, all[2].id));
}

fn keeps_one_cursor_per_exporter(s: &mut dyn Store) {
    assert_eq!(s.cursor("influx").unwrap(), None);
    s.set_cursor("influx", 42).unwrap();
    s.set_cursor("mqtt", 7).unwrap();
    s.set_cursor("influx", 43).unwrap();
    assert_eq!((s.cursor("influx").unwrap(), s.cursor("mqtt").unwrap()), (Some(43), Some(7)));
    // Cursors are not readings.
    assert_eq!(s.info().unwrap().readings, 0);
}

on_both_backends!(
    plain: [
    dedupes_by_client_and_seq,
    never_dedupes_readings_without_seq,
    answers_per_reading_including_repeats_inside_a_group,
    answers_each_row_of_a_large_group_with_repeats_spread_through_it,
    refuses_a_seq_above_the_limit_and_stores_nothing_of_the_group,
    keeps_high_water_marks_per_client,
    rollups_match_the_raw_readings,
    prunes_in_batches_and_keeps_marks_and_rollups,
    readings_pruned_are_not_stored_again_and_the_rollups_stay,
    filters_queries_by_client_sensor_and_time,
    keeps_nodes_and_sensors_with_their_newest_reading,
    exports_in_insertion_order_and_stops_on_the_callers_error,
    keeps_temperatures_to_the_millidegree,
    describes_itself,
    keeps_the_firing_alerts_one_per_kind_client_and_sensor,
    alerts_are_kept_apart_from_the_readings,
    keeps_each_readings_timestamp_quality,
    feeds_readings_in_commit_order_after_a_cursor,
    keeps_one_cursor_per_exporter,
    acknowledgements_survive_refiring_and_go_with_resolving,
    admin_changes_come_in_order_and_move_the_head,
    forgetting_a_node_hides_it_until_it_reports_again,
    forgetting_a_sensor_hides_only_that_sensor,
    forgetting_an_unknown_node_or_sensor_does_nothing,
    forgetting_with_delete_readings_deletes_raw_readings_and_rollups,
    keeps_the_alert_history_newest_first_with_filters,
    keeps_alert_events_to_deliver_pending_until_delivered,
    prunes_the_alert_history_then_admin_changes_in_batches,
    lists_silences_by_their_end_and_ends_them_early_once,
    sums_health_reports_per_hour_once_each,
    ],
    reopening: [
        firing_alerts_survive_reopening_the_store,
        export_cursors_survive_reopening_the_store,
        acknowledgements_silences_and_forgetting_survive_reopening_the_store,
    ],
);
