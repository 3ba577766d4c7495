//! The one line reader: the protocol's [`LineFramer`] plus the loop that feeds it from any `Read`.
//! The server's tcp_reader and admin console, the Pi client and the load tool all read lines through
//! it, so the limits (4096 bytes, UTF-8) and the end-of-stream rules are the same everywhere.

use cliser_protocol::{FrameError, LineFramer, MAX_LINE};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read};

/// Why no more lines can be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The source failed (for a non-blocking source, `WouldBlock` means: no complete line yet).
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not lines of the protocol (too long, not UTF-8). Ends the stream.
    #[error("{0}")]
    Frame(#[from] FrameError),
}

impl LineError {
    /// True for a non-blocking source that has nothing more for now.
    pub fn is_would_block(&self) -> bool {
        matches!(self, LineError::Io(e) if e.kind() == ErrorKind::WouldBlock)
    }
}

/// Lines of at most `max` bytes out of `src`.
#[derive(Debug)]
pub struct LineReader<R> {
    src: R,
    framer: LineFramer,
}

/// Bytes asked of the source per read: a few lines' worth. On the stack of the reading thread, not
/// in the reader: the server keeps one reader per connection, and a buffer each would be 2 KiB of
/// heap per client for nothing between reads.
const CHUNK: usize = 2048;

impl<R: Read> LineReader<R> {
    /// A reader of protocol lines ([`MAX_LINE`] bytes at most).
    pub fn new(src: R) -> Self {
        Self::with_max(src, MAX_LINE)
    }

    /// A reader of lines of at most `max` bytes.
    pub fn with_max(src: R, max: usize) -> Self {
        LineReader { src, framer: LineFramer::new(max) }
    }

    /// The next line, reading as needed: `Ok(None)` at the end of the stream. Bytes after the last
    /// line ending are dropped at the end (a line is only a line once it ends).
    pub fn next_line(&mut self) -> Result<Option<String>, LineError> {
        loop {
            if let Some(line) = self.buffered_line()? {
                return Ok(Some(line));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// A complete line already received, without reading.
    pub fn buffered_line(&mut self) -> Result<Option<String>, FrameError> {
        self.framer.next_line()
    }

    /// Reads once from the source into the buffer (retrying on `EINTR`); false at the end of the
    /// stream. For a source that is polled for readability before each read.
    pub fn fill(&mut self) -> std::io::Result<bool> {
        let mut buf = [0u8; CHUNK];
        loop {
            match self.src.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.framer.extend(&buf[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Bytes received that are not yet part of a complete line (an unframed peer shows here).
    pub fn pending(&self) -> usize {
        self.framer.pending()
    }

    /// The source.
    pub fn get_ref(&self) -> &R {
        &self.src
    }

    /// The source, mutably (to write on a socket read here, or push bytes into a [`Pushed`]).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.src
    }
}

/// A source for bytes that someone else read (an event loop that owns the sockets): they are pushed
/// in, and reading past them is `WouldBlock`, as on a non-blocking socket.
#[derive(Debug, Default)]
pub struct Pushed(VecDeque<u8>);

impl Pushed {
    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.0.extend(data);
    }
}

impl Read for Pushed {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        self.0.read(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that hands out one byte per read, with an EINTR between bytes.
    struct Trickle<'a>(&'a [u8], bool);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            self.1 = !self.1;
            if self.1 {
                return Err(ErrorKind::Interrupted.into());
            }
            let Some((&b, rest)) = self.0.split_first() else { return Ok(0) };
            out[0] = b;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn lines_arrive_whole_whatever_the_chunking_and_a_tail_without_ending_is_dropped() {
        let mut r = LineReader::new(Trickle(b"110: a\r\nb\nunfinished", false));
        assert_eq!(r.next_line().unwrap().as_deref(), Some("110: a"));
        assert_eq!(r.next_line().unwrap().as_deref(), Some("b"));
        assert_eq!(r.next_line().unwrap(), None);
        assert_eq!(r.pending(), "unfinished".len());
    }

    #[test]
    fn too_long_and_invalid_utf8_end_the_stream() {
        let long = [b'x'; 20];
        let mut r = LineReader::with_max(&long[..], 10);
        assert!(matches!(r.next_line(), Err(LineError::Frame(FrameError::TooLong { max: 10 }))));
        let mut r = LineReader::new(&b"ok\n\xff\xfe\n"[..]);
        assert_eq!(r.next_line().unwrap().as_deref(), Some("ok"));
        assert!(matches!(r.next_line(), Err(LineError::Frame(FrameError::InvalidUtf8 { at: 0 }))));
    }

    #[test]
    fn pushed_bytes_read_like_a_non_blocking_socket() {
        let mut r = LineReader::new(Pushed::default());
        assert!(r.next_line().unwrap_err().is_would_block());
        r.get_mut().push(b"100 ack=");
        assert!(r.next_line().unwrap_err().is_would_block());
        r.get_mut().push(b"3\n140: x\n");
        assert_eq!(r.next_line().unwrap().as_deref(), Some("100 ack=3"));
        assert_eq!(r.next_line().unwrap().as_deref(), Some("140: x"));
        assert!(r.next_line().unwrap_err().is_would_block());
    }
}
