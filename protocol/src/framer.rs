use std::fmt;

/// Why the byte stream could not be split into lines. Either one ends the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// More than the maximum bytes arrived without a line ending.
    TooLong {
        /// The limit that was passed.
        max: usize,
    },
    /// A complete line is not valid UTF-8.
    InvalidUtf8 {
        /// Byte offset of the first invalid byte within the line.
        at: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { max } => write!(f, "line longer than {max} bytes"),
            FrameError::InvalidUtf8 { at } => write!(f, "line is not valid UTF-8 (byte {at})"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Splits a byte stream into lines ending in `\n` (a `\r` before it is dropped), each at most `max`
/// bytes and valid UTF-8.
///
/// Memory stays bounded by `max` plus what one [`extend`](Self::extend) brings, and a line that
/// arrives a byte at a time is scanned once, not once per byte.
#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// Bytes of `buf` already known to hold no `\n`.
    scanned: usize,
    max: usize,
}

impl LineFramer {
    /// A framer for lines of at most `max` bytes (not counting the line ending).
    pub fn new(max: usize) -> Self {
        LineFramer { buf: Vec::new(), scanned: 0, max }
    }

    /// Appends bytes received.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received that are not yet part of a complete line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete line, `Ok(None)` when more bytes are needed, or the error that must end the
    /// stream. After an error the framer should not be used again.
    pub fn next_line(&mut self) -> Result<Option<String>, FrameError> {
        let newline = self.buf[self.scanned..].iter().position(|&b| b == b'\n');
        let Some(pos) = newline.map(|p| p + self.scanned) else {
            self.scanned = self.buf.len();
            // One byte of slack: a `\r` may still be followed by its `\n`.
            let limit = self.max + usize::from(self.buf.last() == Some(&b'\r'));
            if self.buf.len() > limit {
                return Err(FrameError::TooLong { max: self.max });
            }
            return Ok(None);
        };
        let end = if pos > 0 && self.buf[pos - 1] == b'\r' { pos - 1 } else { pos };
        if end > self.max {
            return Err(FrameError::TooLong { max: self.max });
        }
        let line = match std::str::from_utf8(&self.buf[..end]) {
            Ok(s) => s.to_owned(),
            Err(e) => return Err(FrameError::InvalidUtf8 { at: e.valid_up_to() }),
        };
        self.buf.drain(..=pos);
        self.scanned = 0;
        if self.buf.is_empty() && self.buf.capacity() > 1024 {
            // An idle connection should not keep the memory of its longest line.
            self.buf = Vec::new();
        }
        Ok(Some(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(f: &mut LineFramer) -> Result<Vec<String>, FrameError> {
        let mut out = Vec::new();
        while let Some(l) = f.next_line()? {
            out.push(l);
        }
        Ok(out)
    }

    #[test]
    fn splits_on_lf_and_crlf_across_chunks() {
        let mut f = LineFramer::new(32);
        f.extend(b"110: qual");
        assert_eq!(lines(&mut f).unwrap(), Vec::<String>::new());
        f.extend(b" a senha\r\nsecret\n\npartial");
        assert_eq!(lines(&mut f).unwrap(), ["110: qual a senha", "secret", ""]);
        assert_eq!(f.pending(), "partial".len());
    }

    #[test]
    fn exactly_max_is_accepted_and_one_more_is_not() {
        let mut f = LineFramer::new(8);
        f.extend(b"12345678\r\n12345678\n");
        assert_eq!(lines(&mut f).unwrap(), ["12345678", "12345678"]);
        f.extend(b"123456789\n");
        assert_eq!(f.next_line(), Err(FrameError::TooLong { max: 8 }));
    }

    #[test]
    fn an_endless_line_fails_without_waiting_for_its_end() {
        let mut f = LineFramer::new(8);
        f.extend(b"12345678");
        assert_eq!(f.next_line(), Ok(None));
        f.extend(b"\r");
        assert_eq!(f.next_line(), Ok(None));
        f.extend(b"x");
        assert_eq!(f.next_line(), Err(FrameError::TooLong { max: 8 }));
    }

    #[test]
    fn byte_at_a_time_works() {
        let mut f = LineFramer::new(4096);
        let mut got = Vec::new();
        for &b in b"100 t=1\n100 t=2\n" {
            f.extend(&[b]);
            got.extend(lines(&mut f).unwrap());
        }
        assert_eq!(got, ["100 t=1", "100 t=2"]);
    }

    #[test]
    fn invalid_utf8_names_the_offset() {
        let mut f = LineFramer::new(64);
        f.extend(b"ok\nab\xff\xfe\n");
        assert_eq!(f.next_line(), Ok(Some("ok".into())));
        assert_eq!(f.next_line(), Err(FrameError::InvalidUtf8 { at: 2 }));
    }
}
