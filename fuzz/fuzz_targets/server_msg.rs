//! The client's parser of server commands: never panics, and whatever it accepts formats to a line
//! that parses back to the same message.
#![no_main]
use cliser_protocol::ServerMsg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    if let Ok(msg) = ServerMsg::parse(line) {
        assert_eq!(ServerMsg::parse(&msg.to_string()), Ok(msg));
    }
});
