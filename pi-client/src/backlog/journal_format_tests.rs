//! The journal format: records as documented, old journals, versions, and damage.

use super::*;
use cliser_protocol::{Celsius, SensorId, Value};
use proptest::prelude::*;

fn entry(seq: u64) -> Entry {
    Entry {
        sensor: SensorId::new("28-0316a2795aff").unwrap(),
        value: Value::Celsius(Celsius::from_millis(23_125).unwrap()),
        seq,
        boot: Some("5e1d6c3a-0d9b-4f43-9d53-3c0c4c1b2a10".into()),
        at: Moment { boottime_ms: 81_234, wall_ms: 1_763_800_000_123, synced: seq.is_multiple_of(2) },
    }
}

fn ok(text: &[u8]) -> Replay {
    replay(text).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn records_are_written_as_documented_and_read_back() {
    let mut text = String::new();
    push_header(&mut text, 43, 40);
    push_reading(&mut text, &entry(41));
    push_ack(&mut text, 41);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0], format!("cliser-backlog v1 *{:08x}", crc32fast::hash(b"cliser-backlog v1")));
    let body = "r 41 5e1d6c3a-0d9b-4f43-9d53-3c0c4c1b2a10 81234 1763800000123 u 28-0316a2795aff=23.125";
    assert_eq!(lines[4], format!("{body} *{:08x}", crc32fast::hash(body.as_bytes())));
    assert!(
        lines[1].starts_with("n 43 *") && lines[3].starts_with("a 40 *") && lines[5].starts_with("a 41 *")
    );
    let r = ok(text.as_bytes());
    assert_eq!((r.next_seq, r.acked, r.lines, r.damaged, r.legacy), (43, 41, 2, false, false));
    assert_eq!(r.readings, [entry(41)]);
}

#[test]
fn numbers_must_be_plain_digits() {
    for bad in ["a ", "a x", "a -1", "a +1", "a 1 ", "n", "a 123456789012345678901", "a\t1"] {
        let mut text = bad.to_owned();
        push_checked(&mut text, 0);
        assert_eq!(parse_v1(text.trim_end().as_bytes()), None, "{bad:?}");
    }
    let mut text = String::new();
    push_ack(&mut text, u64::MAX);
    assert_eq!(parse_v1(text.trim_end().as_bytes()), Some(Line::Ack(u64::MAX)));
}

#[test]
fn a_journal_of_the_old_format_is_read_as_such() {
    let r = ok(b"next 9\nack 5\n28-0316a2795aff=1@1700000000000#6\nack 6\n28-a=err:io@5#7\n");
    assert_eq!((r.next_seq, r.acked, r.lines, r.damaged, r.legacy), (9, 6, 3, false, true));
    let first = &r.readings[0];
    assert_eq!(
        (first.seq, first.boot.clone(), first.at.wall_ms, first.at.synced),
        (6, None, 1_700_000_000_000, true)
    );
    assert_eq!(r.readings[0].to_wire("any", 10).to_string(), "28-0316a2795aff=1@1700000000000#6");
    // Old and damaged: a line that is neither is reported, the rest kept.
    let r = ok(b"a=1@5#1\nnot a reading\nb=2@6#1\nc=3@7#3\nack 2");
    assert_eq!(r.readings.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 3]);
    assert_eq!((r.acked, r.next_seq, r.damaged, r.legacy), (0, 1, true, true));
}

#[test]
fn an_unknown_version_is_refused_and_a_damaged_header_is_not_taken_for_one() {
    let mut text = "cliser-backlog v2".to_owned();
    push_checked(&mut text, 0);
    match replay(text.as_bytes()) {
        Err(ReplayError::Version(v)) => assert_eq!(v, "v2"),
        other => panic!("{other:?}"),
    }
    let mut text = String::new();
    push_header(&mut text, 5, 0);
    push_reading(&mut text, &entry(5));
    let mut bytes = text.into_bytes();
    bytes[16] = b'2'; // "v1" -> "v2" without fixing the check: damage, not a version
    let r = ok(&bytes);
    assert!(r.damaged && !r.legacy);
    assert_eq!(r.readings, [entry(5)]);
}

/// A journal of `n` readings with an ack after every `ack_every`-th one; returns its bytes, the
/// byte span (end exclusive, newline included) and seq of each reading line, and the last ack.
fn journal(n: u64, ack_every: u64, lag: u64) -> (Vec<u8>, Vec<(usize, usize, u64)>, u64) {
    let mut text = String::new();
    push_header(&mut text, 1, 0);
    let (mut spans, mut acked) = (Vec::new(), 0);
    for seq in 1..=n {
        let start = text.len();
        push_reading(&mut text, &entry(seq));
        spans.push((start, text.len(), seq));
        if seq.is_multiple_of(ack_every) && seq > lag {
            acked = seq - lag;
            push_ack(&mut text, acked);
        }
    }
    (text.into_bytes(), spans, acked)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// Flipped bytes and cut tails: replay never panics, reports the damage, never takes an ack above
    /// the real one, and keeps every intact reading the real ack does not cover.
    #[test]
    fn damage_costs_a_resend_never_a_loss(
        n in 1u64..40,
        ack_every in 1u64..6,
        lag in 0u64..4,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let (mut bytes, spans, acked) = journal(n, ack_every, lag);
        let original = bytes.clone();
        let flipped: Vec<usize> = flips.iter().map(|(at, mask)| {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
            i
        }).collect();
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len() + 1));
        }
        let changed = bytes != original[..bytes.len()];
        let torn = !bytes.is_empty() && bytes.len() < original.len() && bytes.last() != Some(&b'\n');
        let r = replay(&bytes[..]);
        let r = match r { Ok(r) => r, Err(e) => panic!("refused: {e:?}") };
        prop_assert!(r.acked <= acked, "ack {} above the real {}", r.acked, acked);
        if changed || torn {
            prop_assert!(r.damaged, "damage not reported");
        }
        let kept: std::collections::BTreeSet<u64> = r.readings.iter().map(|e| e.seq).collect();
        for &(start, end, seq) in &spans {
            // The newline before a line is part of it: damaged, it glues the line to the one before.
            let intact = end <= bytes.len()
                && !flipped.iter().any(|&i| (start - 1..end).contains(&i) && bytes[i] != original[i]);
            if intact && seq > acked {
                prop_assert!(kept.contains(&seq), "intact unacked reading {} lost", seq);
            }
        }
        for e in &r.readings {
            prop_assert_eq!(e, &entry(e.seq));
        }
    }
}
