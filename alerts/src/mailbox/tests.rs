use super::*;
use crate::engine::Engine;
use crate::{Kind, State};
use cliser_common::sensors::Settings;
use cliser_protocol::{Celsius, ClientId, ErrorReason, SensorId};

fn reading(cid: &str, sensor: &str, value: Value, sampled_ms: i64) -> NewReading {
    NewReading {
        cid: ClientId::new(cid).unwrap(),
        sensor: SensorId::new(sensor).unwrap(),
        value,
        sampled_ms,
        received_ms: sampled_ms,
        seq: Some(sampled_ms as u64),
        ts_quality: Default::default(),
    }
}

fn t(v: f64) -> Value {
    Value::Celsius(Celsius::new(v).unwrap())
}

fn err(r: &str) -> Value {
    Value::Error(ErrorReason::new(r).unwrap())
}

/// Everything waiting, in the order taken out.
fn drain(inbox: &Inbox) -> Vec<Next> {
    std::iter::from_fn(|| inbox.recv_timeout(Duration::ZERO).ok()).collect()
}

#[test]
fn readings_of_one_sensor_while_the_thread_is_blocked_take_one_slot_and_no_other_input_is_dropped() {
    let (mailbox, inbox) = mailbox();
    // Nobody takes anything out meanwhile: the alerts thread is stuck on a store write.
    for i in 1..=10_000 {
        mailbox.send(Input::Stored(vec![reading("pi-1", "28-a", t(20.0 + (i % 10) as f64), i)])).unwrap();
        if i % 1000 == 0 {
            mailbox.send(Input::NodeUp(format!("pi-{i}"))).unwrap();
            mailbox.send(Input::Gaps(vec!["pi-1".into()])).unwrap();
        }
    }
    let depth = inbox.depth();
    let folded = 10_000 - PER_SENSOR as u64;
    assert_eq!((depth.sensors, depth.others, depth.superseded, depth.dropped), (1, 10, folded, 0), "{depth}");

    let next = drain(&inbox);
    let ups: Vec<&str> = next
        .iter()
        .filter_map(|n| match n {
            Next::Input(Input::NodeUp(cid)) => Some(cid.as_str()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (1..=10).map(|k| format!("pi-{}", k * 1000)).collect();
    assert_eq!(ups, expected, "every other input, in order");
    let batches: Vec<_> = next
        .iter()
        .filter_map(|n| match n {
            Next::Readings(slots, gaps) => Some((slots, gaps)),
            _ => None,
        })
        .collect();
    assert_eq!(batches.len(), 1, "one wake-up for all the readings");
    let (slots, gaps) = batches[0];
    assert_eq!(slots.len(), 1);
    let slot = &slots[0];
    let kept: Vec<i64> = slot.judge.iter().map(|r| r.sampled_ms).collect();
    let newest: Vec<i64> = (10_000 - PER_SENSOR as i64 + 1..=10_000).collect();
    assert_eq!(kept, newest, "the newest are judged, in order");
    assert_eq!(slot.folded.readings, folded, "the rest are counted for N");
    assert_eq!(gaps.get("pi-1"), Some(&10));
    assert_eq!(inbox.depth().sensors, 0);
    assert_eq!(inbox.depth().sensors_max, 1);
    assert_eq!(inbox.depth().others_max, 10);

    drop(mailbox);
    assert!(matches!(inbox.recv_timeout(Duration::ZERO), Err(RecvTimeoutError::Disconnected)));
}

#[test]
fn a_thread_that_keeps_up_judges_every_reading_of_each_sensor_in_order() {
    let (mailbox, inbox) = mailbox();
    mailbox
        .send(Input::Stored(vec![reading("pi-1", "a", t(1.0), 50), reading("pi-1", "b", t(2.0), 10)]))
        .unwrap();
    mailbox
        .send(Input::Stored(vec![reading("pi-1", "a", t(3.0), 40), reading("pi-2", "a", t(4.0), 5)]))
        .unwrap();
    assert_eq!(inbox.depth().sensors, 3);
    let Some(Next::Readings(slots, _)) = drain(&inbox).pop() else { panic!("no readings") };
    let mut judged: Vec<(String, String, i64)> = slots
        .iter()
        .flat_map(|s| &s.judge)
        .map(|r| (r.cid.to_string(), r.sensor.to_string(), r.sampled_ms))
        .collect();
    judged.sort_by_key(|(c, s, _)| (c.clone(), s.clone()));
    let want = [("pi-1", "a", 50), ("pi-1", "a", 40), ("pi-1", "b", 10), ("pi-2", "a", 5)];
    assert_eq!(judged, want.map(|(c, s, ms)| (c.to_owned(), s.to_owned(), ms)).to_vec());
    assert!(slots.iter().all(|s| s.folded.readings == 0 && s.errors_before.is_none()));
}

#[test]
fn a_run_of_errors_folded_while_waiting_still_counts_toward_error_after() {
    let (mailbox, inbox) = mailbox();
    let mut run = vec![reading("pi", "s", t(20.0), 0)];
    run.extend((1..=40).map(|i| reading("pi", "s", err("crc"), i)));
    mailbox.send(Input::Stored(run)).unwrap();
    let Some(Next::Readings(slots, _)) = drain(&inbox).pop() else { panic!("no readings") };
    let slot = &slots[0];
    assert_eq!(slot.judge.len(), PER_SENSOR);
    assert_eq!(slot.errors_before, Some((8, 1)), "the good reading and 8 errors folded out");
    let errors: Vec<(&str, u64)> = slot.folded.errors.iter().map(|(r, n)| (r.as_str(), *n)).collect();
    assert_eq!((slot.folded.readings, errors), (9, vec![("crc", 8)]));

    // Fed as the alerts thread feeds a slot, forty errors in a row fire `error_after = 40`.
    let settings = Settings::from_toml(&"[sensors.s]\nerror_after = 40\n".parse().unwrap()).unwrap();
    let mut e = Engine::new(std::sync::Arc::new(settings), vec![]);
    let (n, first) = slot.errors_before.unwrap();
    e.more_errors("pi", "s", n, first);
    let mut out = Vec::new();
    for r in &slot.judge {
        out.extend(e.reading("pi", "s", &r.value, r.sampled_ms, 10));
    }
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(
        (out[0].alert.key.kind, out[0].state, out[0].alert.since_ms),
        (Kind::SensorError, State::Firing, 1)
    );
    assert_eq!(out[0].alert.message, "pi/s: 40 error readings in a row (last: err:crc)");
}

#[test]
fn a_good_reading_folded_out_ends_the_run_of_errors_before_it() {
    let (mailbox, inbox) = mailbox();
    let mut rs = vec![
        reading("pi", "s", err("crc"), 1),
        reading("pi", "s", err("reset"), 2),
        reading("pi", "s", t(21.0), 3),
    ];
    rs.extend((4..4 + PER_SENSOR as i64).map(|i| reading("pi", "s", t(21.0), i)));
    mailbox.send(Input::Stored(rs)).unwrap();
    let Some(Next::Readings(slots, _)) = drain(&inbox).pop() else { panic!("no readings") };
    let slot = &slots[0];
    assert_eq!(slot.judge.len(), PER_SENSOR);
    assert_eq!(slot.errors_before, None);
    let errors: Vec<(&str, u64)> = slot.folded.errors.iter().map(|(r, n)| (r.as_str(), *n)).collect();
    assert_eq!((slot.folded.readings, errors), (3, vec![("crc", 1), ("reset", 1)]));
}
