//! The server's parser of client answers: never panics, and every accepted answer round-trips.
#![no_main]
use cliser_protocol::{ClientLine, KeepAliveAnswer, Reading};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    if let Ok(ClientLine::KeepAlive(parsed)) = ClientLine::parse(line) {
        for r in &parsed.answer.readings {
            assert_eq!(Reading::parse(&r.to_string()).as_ref(), Ok(r));
        }
        let again = KeepAliveAnswer::parse(&parsed.answer.to_string()).expect("own format parses");
        assert!(again.rejected.is_empty());
        assert_eq!(again.answer, parsed.answer);
    }
});
