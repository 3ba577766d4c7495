//! The server's line reader (the tcp_reader's framer) fed arbitrary bytes in arbitrary chunks, as a
//! socket would deliver them: never panics, never yields a line over the limit or with a line ending
//! in it, and never holds more than the limit while waiting for a line's end.
#![no_main]
use cliser_protocol::{LineFramer, MAX_LINE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    let chunk = usize::from(cut % 64) + 1;
    let mut framer = LineFramer::new(MAX_LINE);
    for piece in bytes.chunks(chunk) {
        framer.extend(piece);
        loop {
            match framer.next_line() {
                Ok(Some(line)) => {
                    assert!(line.len() <= MAX_LINE);
                    assert!(!line.contains('\n'));
                }
                Ok(None) => {
                    assert!(framer.pending() <= MAX_LINE + 1);
                    break;
                }
                Err(_) => return,
            }
        }
    }
});
