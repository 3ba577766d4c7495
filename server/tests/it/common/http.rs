//! A small blocking HTTP/1.1 client on std's `TcpStream` for the web tests. Requests are written as
//! raw bytes, so a test can send what no client library would (a path that climbs, a head that never
//! ends, several requests at once); answers are read by their `Content-Length`.

use base64::Engine;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a test waits for an answer that should come at once.
const WAIT: Duration = Duration::from_secs(10);

/// One response.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers as sent (name, value).
    pub headers: Vec<(String, String)>,
    /// The body (empty for a `HEAD`).
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics showing the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {} {}", self.status, self.text()))
    }
}

/// `Authorization: Basic ...` for the admin password (the user name is not checked).
pub fn basic(password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}")))
}

/// A `GET` of `target` (path and query) as a browser would send it, closing after the answer.
pub fn get(addr: SocketAddr, target: &str) -> Reply {
    get_as(addr, target, None)
}

/// [`get`] with the admin password, when given.
pub fn get_as(addr: SocketAddr, target: &str, password: Option<&str>) -> Reply {
    let auth = password.map(|p| format!("Authorization: {}\r\n", basic(p))).unwrap_or_default();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    exchange(addr, request.as_bytes())
}

/// Sends `request` on a new connection and reads one answer.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut c = Conn::open(addr);
    c.send(request);
    c.reply(false).unwrap_or_else(|e| panic!("no answer to {:?}: {e}", String::from_utf8_lossy(request)))
}

/// A connection to `to` from the loopback address `src` (any of 127.0.0.0/8 works on Linux): the
/// server's per-ip brake then sees a peer of its own.
pub fn connect_from(src: [u8; 4], to: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((src, 0)).into()).unwrap();
    sock.connect_timeout(&to.into(), WAIT).unwrap_or_else(|e| panic!("connect {to} from {src:?}: {e}"));
    sock.into()
}

/// One connection, for several requests or a raw conversation.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to `addr`.
    pub fn open(addr: SocketAddr) -> Conn {
        let stream =
            TcpStream::connect_timeout(&addr, WAIT).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(WAIT)).expect("set timeout");
        Conn { reader: BufReader::new(stream) }
    }

    /// A connection the test made itself (e.g. from another loopback address, [`connect_from`]).
    pub fn from_stream(stream: TcpStream) -> Conn {
        stream.set_read_timeout(Some(WAIT)).expect("set timeout");
        Conn { reader: BufReader::new(stream) }
    }

    /// The socket (to read or write it directly).
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Writes `bytes` as they are; a connection the server closed is not an error here.
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.reader.get_mut().write_all(bytes);
    }

    /// Reads the next answer; `head_only` for the answer to a `HEAD` (no body follows its head).
    pub fn reply(&mut self, head_only: bool) -> std::io::Result<Reply> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before an answer"));
        }
        let status = line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP/1.1 status line: {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                break;
            }
            let (name, value) = l.split_once(':').unwrap_or_else(|| panic!("not a header: {l:?}"));
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let mut reply = Reply { status, headers, body: Vec::new() };
        if !head_only {
            let len: usize = reply.header("Content-Length").expect("Content-Length").parse().unwrap();
            reply.body.resize(len, 0);
            self.reader.read_exact(&mut reply.body)?;
        }
        Ok(reply)
    }

    /// Asserts the server closes this connection within `timeout` with nothing more to read.
    pub fn expect_closed(&mut self, timeout: Duration) {
        self.stream().set_read_timeout(Some(timeout)).expect("set timeout");
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => {
                assert!(rest.is_empty(), "more after the last answer: {:?}", String::from_utf8_lossy(&rest))
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection not closed within {timeout:?}: {e}"),
        }
    }
}

/// A live event stream (`/api/events`), read one event at a time.
pub struct Events {
    conn: Conn,
}

impl Events {
    /// Opens the stream (with the admin password, when given) and checks its head.
    pub fn open(addr: SocketAddr, password: Option<&str>) -> Events {
        let mut conn = Conn::open(addr);
        let auth = password.map(|p| format!("Authorization: {}\r\n", basic(p))).unwrap_or_default();
        conn.send(format!("GET /api/events HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n").as_bytes());
        let head = conn.reply(true).expect("the stream's head");
        assert_eq!(head.status, 200, "{head:?}");
        assert_eq!(head.header("Content-Type"), Some("text/event-stream"));
        Events { conn }
    }

    /// The next event, `(name, data)`, skipping comments and `retry:`; panics after `timeout`.
    pub fn next(&mut self, timeout: Duration) -> (String, serde_json::Value) {
        let deadline = Instant::now() + timeout;
        let (mut name, mut data) = (None, None);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no event within {timeout:?}");
            self.conn.stream().set_read_timeout(Some(left)).expect("set timeout");
            let mut line = String::new();
            match self.conn.reader.read_line(&mut line) {
                Ok(0) => panic!("the event stream ended"),
                Ok(_) => {}
                Err(e) => panic!("no event within {timeout:?}: {e}"),
            }
            let line = line.trim_end_matches('\n');
            if let Some(n) = line.strip_prefix("event: ") {
                name = Some(n.to_owned());
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")));
            } else if line.is_empty() {
                if let (Some(n), Some(d)) = (name.take(), data.take()) {
                    return (n, d);
                }
            }
        }
    }

    /// Reads events until `found` picks a value out of one named `name`; panics after `timeout`.
    pub fn until<T>(
        &mut self,
        name: &str,
        timeout: Duration,
        mut found: impl FnMut(&serde_json::Value) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (n, data) = self.next(left);
            if n == name {
                if let Some(v) = found(&data) {
                    return v;
                }
            }
        }
    }
}
