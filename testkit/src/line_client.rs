use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A test's end of a line-based TCP conversation (a hand-driven Pi client or admin console).
#[derive(Debug)]
pub struct LineClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl LineClient {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> LineClient {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        let writer = stream.try_clone().expect("clone stream");
        LineClient { reader: BufReader::new(stream), writer }
    }

    /// Sends `line` followed by `\n`.
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    /// Sends bytes as they are. A write to a connection the server has closed is not an error here:
    /// the test asserts what it reads back.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.writer.write_all(bytes);
    }

    /// The next line without its ending; `None` when the server closed the connection. Panics if
    /// nothing arrives within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Option<String> {
        self.reader.get_ref().set_read_timeout(Some(timeout)).expect("set timeout");
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                panic!("no line within {timeout:?}")
            }
            Err(_) => None,
        }
    }

    /// Reads until `n` bytes or the prompt-like `suffix` arrive with no line ending (e.g. `#> `).
    pub fn recv_until(&mut self, suffix: &str, timeout: Duration) -> String {
        self.reader.get_ref().set_read_timeout(Some(timeout)).expect("set timeout");
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(suffix.as_bytes()) {
            match std::io::Read::read(&mut self.reader, &mut byte) {
                Ok(1) => got.push(byte[0]),
                Ok(_) => {
                    panic!("connection closed before {suffix:?}; got {:?}", String::from_utf8_lossy(&got))
                }
                Err(e) => panic!("waiting for {suffix:?}: {e}; got {:?}", String::from_utf8_lossy(&got)),
            }
        }
        String::from_utf8_lossy(&got[..got.len() - suffix.len()]).into_owned()
    }

    /// The next line, which must start with `prefix`.
    pub fn expect(&mut self, prefix: &str, timeout: Duration) -> String {
        match self.recv(timeout) {
            Some(l) if l.starts_with(prefix) => l,
            other => panic!("expected a line starting {prefix:?}, got {other:?}"),
        }
    }

    /// Asserts the server closes the connection (skipping any lines still queued) within `timeout`.
    pub fn expect_closed(&mut self, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(!left.is_zero(), "connection still open after {timeout:?}");
            if self.recv(left).is_none() {
                return;
            }
        }
    }

    /// Answers 110 and 120; returns the 140 line.
    pub fn login(&mut self, password: &str, id: &str) -> String {
        let t = Duration::from_secs(10);
        self.expect("110", t);
        self.send(password);
        self.expect("120", t);
        self.send(id);
        self.expect("140", t)
    }
}

impl LineClient {
    /// Wraps a connection the test made itself (e.g. bound to another source address).
    pub fn from_stream(stream: TcpStream) -> LineClient {
        let writer = stream.try_clone().expect("clone stream");
        LineClient { reader: BufReader::new(stream), writer }
    }
}
