//! Property tests: every message formats and parses back to itself, and no input makes a parser panic.

use cliser_protocol::{
    Celsius, ClientLine, ErrorReason, KeepAliveAnswer, LineFramer, Reading, SensorId, ServerMsg, Stamp,
    Value, MAX_LINE,
};
use proptest::prelude::*;

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{1,32}"
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-999_999i32..=999_999).prop_map(|m| Value::Celsius(Celsius::from_millis(m).unwrap())),
        (-999.999_999f64..999.999_999).prop_map(|v| Value::Celsius(Celsius::new(v).unwrap())),
        "[A-Za-z0-9_-]{1,32}".prop_map(|r| Value::Error(ErrorReason::new(&r).unwrap())),
    ]
}

fn stamp() -> impl Strategy<Value = Stamp> {
    prop_oneof![
        (any::<u64>(), any::<bool>()).prop_map(|(unix_ms, synced)| Stamp::At { unix_ms, synced }),
        any::<u64>().prop_map(|ms| Stamp::Age { ms }),
    ]
}

fn reading() -> impl Strategy<Value = Reading> {
    (ident(), value(), proptest::option::of(stamp()), proptest::option::of(any::<u64>()))
        .prop_map(|(s, value, stamp, seq)| Reading { sensor: SensorId::new(&s).unwrap(), value, stamp, seq })
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    let ack = proptest::option::of(any::<u64>());
    prop_oneof![
        Just(ServerMsg::PasswordRequest),
        Just(ServerMsg::WrongPassword),
        Just(ServerMsg::IdRequest),
        Just(ServerMsg::IdInUse),
        Just(ServerMsg::IdInvalid),
        Just(ServerMsg::ShutdownSys),
        Just(ServerMsg::Disconnect),
        ack.clone().prop_map(|ack| ServerMsg::Connected { ack, health: false }),
        ack.prop_map(|ack| ServerMsg::KeepAlive { ack }),
    ]
}

proptest! {
    #[test]
    fn server_messages_round_trip(msg in server_msg()) {
        prop_assert_eq!(ServerMsg::parse(&msg.to_string()), Ok(msg));
    }

    #[test]
    fn readings_round_trip(r in reading()) {
        prop_assert_eq!(Reading::parse(&r.to_string()), Ok(r));
    }

    #[test]
    fn answers_round_trip(readings in proptest::collection::vec(reading(), 0..20), more: bool) {
        let answer = KeepAliveAnswer { readings, health: Vec::new(), facts: Vec::new(), more };
        let parsed = KeepAliveAnswer::parse(&answer.to_string()).unwrap();
        prop_assert!(parsed.rejected.is_empty());
        prop_assert_eq!(&parsed.answer, &answer);
        prop_assert_eq!(ClientLine::parse(&answer.to_string()), Ok(ClientLine::KeepAlive(parsed)));
    }

    #[test]
    fn packed_lines_fit_and_round_trip(readings in proptest::collection::vec(reading(), 0..200)) {
        let (answer, taken) = KeepAliveAnswer::pack(&readings);
        let line = answer.to_string();
        prop_assert!(line.len() <= MAX_LINE);
        prop_assert_eq!(answer.more, taken < readings.len());
        prop_assert_eq!(&answer.readings[..], &readings[..taken]);
        prop_assert_eq!(KeepAliveAnswer::parse(&line).unwrap().answer, answer);
    }

    #[test]
    fn no_line_makes_a_parser_panic(line in ".{0,200}") {
        let _ = ServerMsg::parse(&line);
        let _ = ClientLine::parse(&line);
        let _ = KeepAliveAnswer::parse(&line);
        let _ = Reading::parse(&line);
    }

    #[test]
    fn near_miss_tokens_never_panic(line in "100( [a-z0-9=@#:.+~?-]{0,24}){0,12}( more)?") {
        let parsed = KeepAliveAnswer::parse(&line).unwrap();
        for r in parsed.answer.readings {
            // Whatever was accepted must itself round-trip.
            prop_assert_eq!(Reading::parse(&r.to_string()), Ok(r));
        }
    }

    #[test]
    fn framer_yields_the_lines_sent_in_any_chunking(
        lines in proptest::collection::vec("[^\r\n]{0,40}", 0..10),
        cuts in proptest::collection::vec(1usize..17, 1..50),
    ) {
        let stream: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        let mut f = LineFramer::new(MAX_LINE);
        let (mut got, mut at, mut i) = (Vec::new(), 0, 0);
        while at < stream.len() {
            let n = cuts[i % cuts.len()].min(stream.len() - at);
            f.extend(&stream.as_bytes()[at..at + n]);
            at += n;
            i += 1;
            while let Some(l) = f.next_line().unwrap() {
                got.push(l);
            }
        }
        prop_assert_eq!(got, lines);
    }

    #[test]
    fn framer_never_panics_or_holds_more_than_its_bound(chunks in proptest::collection::vec(any::<Vec<u8>>(), 0..20)) {
        let mut f = LineFramer::new(64);
        for c in chunks {
            f.extend(&c);
            loop {
                match f.next_line() {
                    Ok(Some(l)) => prop_assert!(l.len() <= 64),
                    Ok(None) => { prop_assert!(f.pending() <= 65); break; }
                    Err(_) => return Ok(()),
                }
            }
        }
    }
}
