//! HTTP/1.1 on threads: an acceptor and one small thread per connection, at most
//! [`MAX_CONNECTIONS`] at once. The request head is parsed by `httparse`; this module sets the
//! limits around it: the head must arrive whole within [`HEAD_DEADLINE`] of its first byte
//! (slow-loris), a connection idle for [`IDLE`] before a request is closed, the request line is at
//! most [`LINE_LIMIT`] bytes (414) and the head at most [`HEAD_LIMIT`] (431). `GET` and `HEAD`
//! everywhere; `POST` only where the routes take it ([`Allow`], else 405 before any body is read),
//! with a `Content-Length` (411 without) of at most [`BODY_LIMIT`] (413) that arrives whole within
//! [`BODY_DEADLINE`] (408).

use cliser_tls::rustls::ServerConfig;
use cliser_tls::ServerStream;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections served at once; the one past this gets `503` and is closed.
pub const MAX_CONNECTIONS: usize = 512;
/// The whole request head must arrive within this of its first byte.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// A kept-alive connection with no new request for this long is closed.
pub const IDLE: Duration = Duration::from_secs(15);
/// The longest request line (method, target, version).
pub const LINE_LIMIT: usize = 8 * 1024;
/// The longest request head (request line and headers).
pub const HEAD_LIMIT: usize = 16 * 1024;
/// The longest body of a `POST` (the page's admin actions are a few hundred bytes).
pub const BODY_LIMIT: usize = 16 * 1024;
/// A `POST`'s body must arrive whole within this of the end of its head.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// Most headers in a request.
const MAX_HEADERS: usize = 64;
/// Requests on one connection before it is closed (a browser opens another).
const MAX_REQUESTS: usize = 1000;
/// A response that cannot be written within this is given up (a viewer that stopped reading).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const THREAD_STACK: usize = 256 * 1024;

/// The methods this server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Read.
    Get,
    /// Read the head only.
    Head,
    /// Change something (the admin actions).
    Post,
}

/// A parsed request: what the routes need of it.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `HEAD` or `POST`.
    pub method: Method,
    /// `HEAD`: answer without the body.
    pub head_only: bool,
    /// The path, not decoded (routes compare it as sent).
    pub path: String,
    /// The query string after `?`, not decoded.
    pub query: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Accept-Encoding` header (whether gzip may be sent).
    pub accept_encoding: Option<String>,
    /// The `If-None-Match` header (a cached copy's ETag).
    pub if_none_match: Option<String>,
    /// The `Origin` header (a browser sends it with a `POST`).
    pub origin: Option<String>,
    /// The `Host` header.
    pub host: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// A `POST`'s body (empty for the others).
    pub body: Vec<u8>,
    /// The peer.
    pub peer: SocketAddr,
    /// The client asked to close after this request (or spoke HTTP/1.0 without keep-alive).
    pub close: bool,
}

#[cfg(test)]
impl Request {
    /// A `GET` of `path` from loopback with no headers, for unit tests to adjust.
    pub(crate) fn for_tests(path: &str) -> Request {
        Request {
            method: Method::Get,
            head_only: false,
            path: path.into(),
            query: String::new(),
            authorization: None,
            accept_encoding: None,
            if_none_match: None,
            origin: None,
            host: None,
            content_type: None,
            body: Vec::new(),
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
            close: false,
        }
    }
}

/// A response: status, content type, extra headers and body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// More headers (name, value).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    /// A response with this status and body.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response { status, content_type, headers: Vec::new(), body: body.into(), close: false }
    }

    /// `{"error": message, "parameter": name}` with this status.
    pub fn error(status: u16, message: &str, parameter: Option<&str>) -> Self {
        let mut j = serde_json::json!({ "error": message });
        if let Some(p) = parameter {
            j["parameter"] = serde_json::Value::from(p);
        }
        Response::new(status, "application/json", j.to_string())
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn write_to(&self, out: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nX-Content-Type-Options: nosniff\r\n",
            self.status,
            reason(self.status),
            self.content_type,
        );
        // A 304 has no body, and a length would be read as that of the cached copy.
        let head_only = head_only || self.status == 304;
        if self.status != 304 {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if self.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        if !head_only {
            out.write_all(&self.body)?;
        }
        out.flush()
    }
}

/// The reason phrase of the statuses this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// What a route does with a request.
pub enum Outcome {
    /// Write this response.
    Respond(Response),
    /// The route takes the connection over (a live event stream) and writes to it itself.
    Stream(Box<dyn FnOnce(ServerStream) + Send>),
}

/// Handles a request: the routes, behind the login check.
pub type Handler = dyn Fn(&Request) -> Outcome + Send + Sync;

/// The methods a path takes, as the `Allow` header lists them (`"GET, HEAD"`, `"GET, HEAD, POST"`
/// or `"POST"`). Asked before a body is read: a method the path does not take is refused at once.
pub type Allow = dyn Fn(&str) -> &'static str + Send + Sync;

/// Accepts connections until `closed` is set and the listener is stopped
/// ([`cliser_common::listener::stop_accepting`]) or a connection wakes it; with `tls`, serves HTTPS.
pub fn serve(
    listener: &TcpListener,
    handler: Arc<Handler>,
    allow: Arc<Allow>,
    closed: Arc<AtomicBool>,
    tls: Option<Arc<ServerConfig>>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if closed.load(Ordering::SeqCst) {
            return;
        }
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log::warn!("web: accept failed: {e}");
                // Out of file descriptors, typically: let connections close instead of spinning.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            if tls.is_some() {
                // A 503 needs a handshake first, which is not the acceptor's to do: just close.
                continue;
            }
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let mut busy = Response::error(503, "too many connections", None);
            busy.close = true;
            let _ = busy.write_to(&mut stream, false);
            continue;
        }
        open.fetch_add(1, Ordering::SeqCst);
        let (handler, allow, count, tls) = (handler.clone(), allow.clone(), open.clone(), tls.clone());
        let spawned =
            std::thread::Builder::new().name("web".into()).stack_size(THREAD_STACK).spawn(move || {
                // Counted out however the thread ends, a panicking route included.
                let _open = OpenGuard(count);
                match ServerStream::new(stream, tls) {
                    Ok(conn) => connection(conn, &*handler, &*allow),
                    Err(e) => log::warn!("web: cannot start TLS: {e}"),
                }
            });
        if let Err(e) = spawned {
            open.fetch_sub(1, Ordering::SeqCst);
            log::error!("web: cannot start a connection thread: {e}");
        }
    }
}

/// One open connection, counted until dropped.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// After an error answer, the peer may still be sending the request we refused: closing with
/// unread bytes makes the kernel send a reset, which can destroy the answer before the peer reads
/// it. So stop writing, and read (and drop) what is left for a moment before closing.
fn close_gently(stream: &mut ServerStream) {
    stream.shutdown_write();
    let _ = stream.tcp().set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    let mut left = 256 * 1024usize;
    while left > 0 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Writes an error answer and closes the connection (gently: what the peer still sends is dropped,
/// never read as a request).
fn refuse(stream: &mut ServerStream, status: u16, why: &str, allow: Option<&'static str>) {
    let mut r = Response::error(status, why, None);
    if let Some(methods) = allow {
        // Required with a 405 (RFC 9110, 15.5.6).
        r = r.with("Allow", methods);
    }
    r.close = true;
    if r.write_to(stream, false).is_ok() {
        close_gently(stream);
    }
}

/// Serves the requests of one connection until it closes, idles out, errs or is taken over.
fn connection(stream: ServerStream, handler: &Handler, allow: &Allow) {
    let Ok(peer) = stream.tcp().peer_addr() else { return };
    let _ = stream.tcp().set_nodelay(true);
    if stream.tcp().set_write_timeout(Some(WRITE_TIMEOUT)).is_err() {
        return;
    }
    let mut reader = HeadReader { stream, buf: Vec::new(), scan: HeadScan::default() };
    for _ in 0..MAX_REQUESTS {
        let head = match reader.next_head() {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(HeadError::Respond(status, why)) => return refuse(&mut reader.stream, status, why, None),
        };
        let (mut request, body_length) = match parse(&head, peer, allow) {
            Ok(parsed) => parsed,
            Err(Refused { status, why, allow }) => return refuse(&mut reader.stream, status, why, allow),
        };
        if let Some(length) = body_length {
            match reader.body(length) {
                Ok(Some(body)) => request.body = body,
                Ok(None) => return,
                Err(HeadError::Respond(status, why)) => return refuse(&mut reader.stream, status, why, None),
            }
        }
        match handler(&request) {
            Outcome::Respond(mut response) => {
                response.close |= request.close;
                if response.write_to(&mut reader.stream, request.head_only).is_err() || response.close {
                    return;
                }
            }
            Outcome::Stream(take_over) => {
                take_over(reader.stream);
                return;
            }
        }
    }
}

enum HeadError {
    /// Answer with this status and close.
    Respond(u16, &'static str),
}

struct HeadReader {
    stream: ServerStream,
    /// Bytes read past the last head (a pipelined request's start).
    buf: Vec<u8>,
    /// How far the search for the head's end has come in `buf`.
    scan: HeadScan,
}

impl HeadReader {
    /// The next request head (up to and including the blank line), `None` when the peer closed or
    /// went idle between requests.
    fn next_head(&mut self) -> Result<Option<Vec<u8>>, HeadError> {
        let waiting = Instant::now();
        // The head's deadline runs from its first byte: a kept-alive connection may idle longer
        // than that before its next request, which must not find its time already spent.
        let mut head_started = (!self.buf.is_empty()).then_some(waiting);
        let mut chunk = [0u8; 4096];
        // `buf` now starts a new head (a body, or the last head, was taken off its front).
        self.scan = HeadScan::default();
        loop {
            let end = self.scan.advance(&self.buf);
            // Checked on a complete head too: one that arrives whole is no smaller.
            let head = &self.buf[..end.unwrap_or(self.buf.len())];
            if self.scan.request_line_len(head) > LINE_LIMIT {
                return Err(HeadError::Respond(414, "request line too long"));
            }
            if head.len() > HEAD_LIMIT {
                return Err(HeadError::Respond(431, "request head too large"));
            }
            if let Some(end) = end {
                let rest = self.buf.split_off(end);
                return Ok(Some(std::mem::replace(&mut self.buf, rest)));
            }
            // Idle between requests, or a head that trickles in: both end at their deadline.
            let (since, limit) = match head_started {
                Some(t) => (t, HEAD_DEADLINE),
                None => (waiting, IDLE),
            };
            let left = limit.saturating_sub(since.elapsed());
            if left.is_zero() {
                return match head_started {
                    None => Ok(None),
                    Some(_) => Err(HeadError::Respond(408, "request too slow")),
                };
            }
            if self.stream.tcp().set_read_timeout(Some(left)).is_err() {
                return Ok(None);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    head_started.get_or_insert_with(Instant::now);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(_) => return Ok(None),
            }
        }
    }
}

impl HeadReader {
    /// The `length` bytes of a body that follow the head; `None` when the peer closed first.
    fn body(&mut self, length: usize) -> Result<Option<Vec<u8>>, HeadError> {
        let started = Instant::now();
        let mut chunk = [0u8; 4096];
        while self.buf.len() < length {
            let left = BODY_DEADLINE.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(HeadError::Respond(408, "the request body too slow"));
            }
            if self.stream.tcp().set_read_timeout(Some(left)).is_err() {
                return Ok(None);
            }
            let want = (length - self.buf.len()).min(chunk.len());
            match self.stream.read(&mut chunk[..want]) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(_) => return Ok(None),
            }
        }
        // What follows the body is the next request's start.
        let rest = self.buf.split_off(length);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }
}

/// The search for the end of a request head in a buffer that only grows between calls. It resumes
/// where the last call stopped: a head sent a byte at a time arrives in as many reads, and
/// searching it again from its start on each would cost its length squared.
#[derive(Debug, Default)]
struct HeadScan {
    /// Bytes of the buffer already looked at.
    scanned: usize,
    /// Where the request line's `\n` is, once seen.
    line_end: Option<usize>,
    /// Bytes examined in all (the test that a head sent a byte at a time costs linear time).
    examined: usize,
}

impl HeadScan {
    /// The index just past the first `\r\n\r\n` (or `\n\n`, which some clients send) in `buf`,
    /// looking only at what arrived since the last call.
    fn advance(&mut self, buf: &[u8]) -> Option<usize> {
        while self.scanned < buf.len() {
            let i = self.scanned;
            self.scanned += 1;
            self.examined += 1;
            if buf[i] != b'\n' {
                continue;
            }
            self.line_end.get_or_insert(i);
            let blank = (i >= 1 && buf[i - 1] == b'\n') || (i >= 3 && &buf[i - 3..i] == b"\r\n\r");
            if blank {
                return Some(i + 1);
            }
        }
        None
    }

    /// The length of the head's first line without its line ending (all of it while no line
    /// ending has arrived), for the `head` [`advance`](Self::advance) last looked at.
    fn request_line_len(&self, head: &[u8]) -> usize {
        match self.line_end {
            Some(i) => i - usize::from(i > 0 && head[i - 1] == b'\r'),
            None => head.len(),
        }
    }
}

impl Method {
    /// As in a request line and an `Allow` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
        }
    }
}

/// A request refused on its head: the status, why, and for a `405` the methods the path takes.
#[derive(Debug, PartialEq)]
struct Refused {
    status: u16,
    why: &'static str,
    allow: Option<&'static str>,
}

impl From<(u16, &'static str)> for Refused {
    fn from((status, why): (u16, &'static str)) -> Self {
        Refused { status, why, allow: None }
    }
}

/// The request of `head`, and the length of the body that follows it (a `POST`'s). A method the
/// path does not take is refused before anything about a body is looked at.
fn parse(head: &[u8], peer: SocketAddr, allow: &Allow) -> Result<(Request, Option<usize>), Refused> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err((400, "incomplete request").into()),
        Err(httparse::Error::TooManyHeaders) => return Err((431, "too many headers").into()),
        Err(_) => return Err((400, "malformed request").into()),
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::to_owned)
    };
    let methods = allow(path);
    let method = [Method::Get, Method::Head, Method::Post]
        .into_iter()
        .find(|m| Some(m.as_str()) == req.method && methods.split(", ").any(|a| a == m.as_str()));
    let Some(method) = method else {
        return Err(Refused {
            status: 405,
            why: "this path does not take that method",
            allow: Some(methods),
        });
    };
    let lengths: Vec<&[u8]> = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| h.value)
        .collect();
    let chunked = header("transfer-encoding").is_some();
    let body_length = match method {
        Method::Get | Method::Head => {
            if lengths.iter().any(|v| v.trim_ascii() != b"0") || chunked {
                return Err((400, "a GET request has no body").into());
            }
            None
        }
        Method::Post => {
            if chunked {
                // With a Content-Length too it is a request smuggler's; alone, not worth a decoder.
                return Err((411, "send the body with a Content-Length, without Transfer-Encoding").into());
            }
            let length = match lengths.as_slice() {
                [] => return Err((411, "a POST needs a Content-Length").into()),
                [one] => std::str::from_utf8(one.trim_ascii())
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .ok_or((400, "Content-Length is not a number"))?,
                _ => return Err((400, "more than one Content-Length").into()),
            };
            if length > BODY_LIMIT {
                return Err((413, "the body is larger than 16 KiB").into());
            }
            Some(length)
        }
    };
    let connection = header("connection").unwrap_or_default().to_ascii_lowercase();
    let close = match req.version {
        Some(0) => !connection.contains("keep-alive"),
        _ => connection.contains("close"),
    };
    let request = Request {
        method,
        head_only: method == Method::Head,
        path: path.to_owned(),
        query: query.to_owned(),
        authorization: header("authorization"),
        accept_encoding: header("accept-encoding"),
        if_none_match: header("if-none-match"),
        origin: header("origin"),
        host: header("host"),
        content_type: header("content-type"),
        body: Vec::new(),
        peer,
        close,
    };
    Ok((request, body_length))
}

/// Decodes `%XX` and `+` of a query string's part. `None` when it is not valid UTF-8 or has a
/// broken escape.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A query string's pair that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?}: not valid percent-encoded UTF-8")]
pub struct NotPercentEncoded {
    /// The pair's name: as sent when the name itself is broken, decoded when its value is.
    pub name: String,
}

/// The query string's `name=value` pairs, decoded; `Err` names the first pair that does not.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, NotPercentEncoded> {
    let mut out = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = percent_decode(k).ok_or_else(|| NotPercentEncoded { name: k.to_owned() })?;
        let v = percent_decode(v).ok_or_else(|| NotPercentEncoded { name: k.clone() })?;
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%2e%2E%2f").as_deref(), Some("../"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn query_pairs_decode_names_and_values() {
        let p = query_pairs("cid=pi%2D1&since=24h&every=").unwrap();
        assert_eq!(
            p,
            vec![("cid".into(), "pi-1".into()), ("since".into(), "24h".into()), ("every".into(), "".into())]
        );
        assert_eq!(query_pairs("cid=%zz"), Err(NotPercentEncoded { name: "cid".into() }));
        assert_eq!(query_pairs("cid=pi&%zz=1"), Err(NotPercentEncoded { name: "%zz".into() }));
    }

    /// Scans `buf` as the reader does, the bytes arriving in pieces of `step`: the head's end
    /// and the request line's length at the end, and the bytes examined in all.
    fn scan_in_steps(buf: &[u8], step: usize) -> (Option<usize>, usize, usize) {
        let mut scan = HeadScan::default();
        let mut seen = 0;
        loop {
            seen = (seen + step).min(buf.len());
            let end = scan.advance(&buf[..seen]);
            let line = scan.request_line_len(&buf[..end.unwrap_or(seen)]);
            if end.is_some() || seen == buf.len() {
                return (end, line, scan.examined);
            }
        }
    }

    #[test]
    fn the_request_line_is_measured_without_its_line_ending() {
        for step in [1, 3, 100] {
            assert_eq!(scan_in_steps(b"GET / HTTP/1.1\r\nHost: x\r\n", step).1, 14);
            assert_eq!(scan_in_steps(b"GET / HTTP/1.1\nHost: x\n", step).1, 14);
            assert_eq!(scan_in_steps(b"GET /still-coming", step).1, 17);
            assert_eq!(scan_in_steps(b"\nGET", step).1, 0);
        }
    }

    #[test]
    fn a_head_ends_at_the_blank_line() {
        for step in [1, 2, 3, 5, 100] {
            let at = |buf: &[u8]| scan_in_steps(buf, step).0;
            assert_eq!(at(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET"), Some(27), "step {step}");
            assert_eq!(at(b"GET / HTTP/1.1\nHost: x\n\nGET"), Some(24));
            assert_eq!(
                at(b"GET / HTTP/1.1\r\nHost: x\n\r\nX: y\r\n\r\n"),
                Some(34),
                "\\n\\r\\n is no blank line"
            );
            assert_eq!(at(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        }
    }

    /// A head sent a byte at a time (a slow-loris, or just a slow link) is read in as many reads as
    /// it has bytes: scanning it again from its start at each would cost its length squared.
    #[test]
    fn a_head_fed_a_byte_at_a_time_is_scanned_in_linear_time() {
        let mut head = b"GET /".to_vec();
        head.resize(LINE_LIMIT - 20, b'a');
        head.extend_from_slice(b" HTTP/1.1\r\n");
        while head.len() < HEAD_LIMIT - 100 {
            head.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let (end, line, examined) = scan_in_steps(&head, 1);
        assert_eq!((end, line), (Some(head.len()), LINE_LIMIT - 20 + " HTTP/1.1".len()));
        assert!(examined <= 4 * head.len(), "{examined} bytes examined for a head of {}", head.len());
    }

    /// A route that panics (a bug) must still give its connection's slot back: else after
    /// [`MAX_CONNECTIONS`] of them the page would answer `503` for good.
    #[test]
    fn a_route_that_panics_gives_its_connection_slot_back() {
        const PANIC: &str = "a route panicking on purpose (test)";
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Hundreds of these would bury the test output; anyone else's panic is said as usual.
            if info.payload().downcast_ref::<&str>() != Some(&PANIC) {
                previous(info)
            }
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handler: Arc<Handler> = Arc::new(|req: &Request| {
            if req.path == "/panic" {
                std::panic::panic_any(PANIC);
            }
            Outcome::Respond(Response::new(200, "text/plain", "ok"))
        });
        let allow: Arc<Allow> = Arc::new(|_: &str| "GET, HEAD");
        let closed = Arc::new(AtomicBool::new(false));
        let acc_closed = closed.clone();
        let acceptor = std::thread::spawn(move || serve(&listener, handler, allow, acc_closed, None));
        let get = |path: &str| -> String {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            // A busy server answers 503 and closes before reading: the write may fail, the read not.
            let _ = write!(s, "GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            answer
        };
        for i in 0..MAX_CONNECTIONS + 20 {
            let answer = get("/panic");
            assert!(answer.is_empty(), "request {i}: a panicking route closes without an answer: {answer:?}");
        }
        // The last panicking thread may still be unwinding: its slot comes back within a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        let answer = loop {
            let answer = get("/");
            if answer.starts_with("HTTP/1.1 200") || Instant::now() > deadline {
                break answer;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "after {} panicking requests the page still answers: {answer:?}",
            MAX_CONNECTIONS + 20
        );
        closed.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(addr);
        acceptor.join().unwrap();
    }

    /// `/api/forget` takes only POST, `/api/silences` GET and POST, the rest GET.
    fn allow(path: &str) -> &'static str {
        match path {
            "/api/forget" => "POST",
            "/api/silences" => "GET, HEAD, POST",
            _ => "GET, HEAD",
        }
    }

    fn parse(head: &[u8], peer: SocketAddr) -> Result<(Request, Option<usize>), (u16, &'static str)> {
        super::parse(head, peer, &allow).map_err(|r| (r.status, r.why))
    }

    #[test]
    fn a_method_the_path_does_not_take_is_refused_with_the_ones_it_does() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let refused = |head: &[u8]| super::parse(head, peer, &allow).map(|_| ()).unwrap_err();
        let r = refused(b"POST / HTTP/1.1\r\nContent-Length: 30\r\n\r\n");
        assert_eq!((r.status, r.allow), (405, Some("GET, HEAD")));
        let r = refused(b"GET /api/forget HTTP/1.1\r\n\r\n");
        assert_eq!((r.status, r.allow), (405, Some("POST")));
        let r = refused(b"DELETE /api/silences HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!((r.status, r.allow), (405, Some("GET, HEAD, POST")));
        let r = refused(b"get / HTTP/1.1\r\n\r\n");
        assert_eq!(r.status, 405, "methods are case-sensitive");
        assert!(super::parse(b"HEAD /api/silences HTTP/1.1\r\n\r\n", peer, &allow).is_ok());
    }

    #[test]
    fn requests_parse_and_refuse_what_is_not_a_read_or_a_post() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let (r, body) =
            parse(b"GET /api/nodes?x=1 HTTP/1.1\r\nAuthorization: Basic eA==\r\n\r\n", peer).unwrap();
        assert_eq!((r.path.as_str(), r.query.as_str(), r.close, body), ("/api/nodes", "x=1", false, None));
        assert_eq!(r.authorization.as_deref(), Some("Basic eA=="));
        assert!(parse(b"GET / HTTP/1.0\r\n\r\n", peer).unwrap().0.close);
        assert_eq!(parse(b"PUT / HTTP/1.1\r\n\r\n", peer).unwrap_err().0, 405);
        assert_eq!(parse(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", peer).unwrap_err().0, 400);
        assert_eq!(parse(b"\x01\x02 HTTP/1.1\r\n\r\n", peer).unwrap_err().0, 400);
    }

    #[test]
    fn a_post_needs_one_plain_content_length_within_the_limit() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let post =
            |headers: &str| parse(format!("POST /api/forget HTTP/1.1\r\n{headers}\r\n").as_bytes(), peer);
        let (r, body) = post(
            "Host: pi:8080\r\nOrigin: http://pi:8080\r\nContent-Type: application/json\r\nContent-Length: 12\r\n",
        )
        .unwrap();
        assert_eq!((r.method, r.head_only, body), (Method::Post, false, Some(12)));
        assert_eq!((r.host.as_deref(), r.origin.as_deref()), (Some("pi:8080"), Some("http://pi:8080")));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(post(&format!("Content-Length: {BODY_LIMIT}\r\n")).unwrap().1, Some(BODY_LIMIT));
        assert_eq!(post("Content-Length: 0\r\n").unwrap().1, Some(0));
        for (headers, status) in [
            ("", 411),
            ("Transfer-Encoding: chunked\r\n", 411),
            ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 411),
            (&format!("Content-Length: {}\r\n", BODY_LIMIT + 1), 413),
            ("Content-Length: 99999999999999999999999\r\n", 400),
            ("Content-Length: -1\r\n", 400),
            ("Content-Length: +5\r\n", 400),
            ("Content-Length: 5\r\nContent-Length: 5\r\n", 400),
            ("Content-Length: \r\n", 400),
        ] {
            assert_eq!(post(headers).map(|_| ()).unwrap_err().0, status, "{headers:?}");
        }
    }
}
