//! Hostile and broken HTTP against the real server's web page: connections that say nothing or
//! trickle, paths that climb out, heads too big, methods that write, too many connections. Meanwhile
//! a Pi keeps its polls on time and the page keeps answering.

use crate::common;
use cliser_testkit::wait_until;
use cliser_web::http::{HEAD_DEADLINE, HEAD_LIMIT, IDLE, LINE_LIMIT, MAX_CONNECTIONS};
use common::http::{exchange, get, Conn};
use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The Pi's keep-alive interval, and the longest it may wait for a poll during the attack.
const KEEPALIVE: &str = "1s";
const WORST_GAP: Duration = Duration::from_millis(1500);
/// How late past its limit the server may close a connection (2 cores shared with other tests).
const SLACK: Duration = Duration::from_secs(5);

fn web(s: &ServerHandle) -> SocketAddr {
    s.http.expect("the test server serves the web page")
}

/// A thread with a small stack: the test runs hundreds of them.
fn small_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    std::thread::Builder::new().stack_size(64 * 1024).spawn(f).unwrap()
}

/// Reads until the server closes `c`; returns what it sent and when it closed (from `t0`).
fn read_until_closed(mut c: TcpStream, t0: Instant, limit: Duration) -> (Vec<u8>, Duration) {
    c.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return (got, t0.elapsed()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (got, t0.elapsed()),
            Err(e) => panic!("still open after {:?}: {e}", t0.elapsed()),
        }
    }
}

/// A slow loris: a request head that gets one more byte every second and never ends. Returns what
/// the server answered and when it closed.
fn slow_loris(addr: SocketAddr) -> JoinHandle<(Vec<u8>, Duration)> {
    let mut c = TcpStream::connect(addr).unwrap();
    let t0 = Instant::now();
    small_thread(move || {
        let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: loris\r\nX-Slow: ");
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            assert!(t0.elapsed() < HEAD_DEADLINE + SLACK, "a slow loris still open after {:?}", t0.elapsed());
            match c.read(&mut buf) {
                Ok(0) => return (got, t0.elapsed()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    // The server may have closed meanwhile: the next read says so.
                    let _ = c.write_all(b"a");
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return (got, t0.elapsed()),
                Err(e) => panic!("slow loris: {e}"),
            }
        }
    })
}

#[test]
fn silent_and_slow_connections_are_closed_at_their_limits_while_pis_and_the_page_carry_on() {
    let (d, s) = server(&["--keepalive", KEEPALIVE]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    let good = GoodClient::start(&s, "good");

    let silent: Vec<_> = (0..200)
        .map(|_| {
            let c = TcpStream::connect(http).unwrap();
            let t0 = Instant::now();
            small_thread(move || read_until_closed(c, t0, IDLE + SLACK))
        })
        .collect();
    let lorises: Vec<_> = (0..50).map(|_| slow_loris(http)).collect();

    // The page answers all through the attack.
    let mut answered = 0;
    while !(silent.iter().all(JoinHandle::is_finished) && lorises.iter().all(JoinHandle::is_finished)) {
        let r = get(http, "/");
        assert_eq!(r.status, 200, "GET / during the attack: {}", r.text());
        answered += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(answered >= 20, "the page answered only {answered} times during the attack");

    for t in silent {
        let (got, closed) = t.join().expect("a silent connection");
        assert!(got.is_empty(), "a silent connection got {:?}", String::from_utf8_lossy(&got));
        assert!(
            closed >= IDLE - Duration::from_millis(500),
            "a silent connection closed after only {closed:?}"
        );
        assert!(closed < IDLE + SLACK, "a silent connection closed after {closed:?}");
    }
    for t in lorises {
        let (got, closed) = t.join().expect("a slow loris");
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "a slow loris got {text:?}");
        assert!(text.contains("\r\nConnection: close\r\n"), "{text:?}");
        assert!(
            closed >= HEAD_DEADLINE - Duration::from_millis(500),
            "a slow loris cut off after {closed:?}"
        );
        assert!(closed < HEAD_DEADLINE + SLACK, "a slow loris closed after {closed:?}");
    }

    let (gap, n) = good.finish();
    eprintln!(
        "page answered {answered} times during the attack; the Pi answered {n} polls, longest gap {gap:?}"
    );
    assert!(gap <= WORST_GAP, "the Pi waited {gap:?} for a poll during the attack");
    assert_logged_once(&s, "good", n);
}

#[test]
fn a_kept_alive_connection_may_idle_and_then_send_a_request_in_pieces_until_the_idle_limit() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let mut c = Conn::open(web(&s));
    c.send(b"GET /api/nodes HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.reply(false).unwrap().status, 200);
    // Quiet past the head deadline (but not the idle limit): the next head's deadline starts with
    // its first byte, not with the last answer.
    std::thread::sleep(HEAD_DEADLINE + Duration::from_secs(1));
    c.send(b"GET /api/nodes HTTP/1.1\r\n");
    std::thread::sleep(Duration::from_millis(300));
    c.send(b"Host: x\r\n\r\n");
    let r = c.reply(false).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let answered = Instant::now();
    c.expect_closed(IDLE + SLACK);
    let idle = answered.elapsed();
    assert!(idle >= IDLE - Duration::from_millis(500), "closed after {idle:?} idle");
}

#[test]
fn paths_that_climb_out_are_404_and_never_a_file() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    let paths = [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc/passwd",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "//etc/passwd",
        "/app.js/../../etc/passwd",
        "/assets/../Cargo.toml",
        "/assets/app.js",
        "/../Cargo.toml",
        "/..\\..\\Cargo.toml",
        "/index.html/",
        "/./app.js",
        "/app.js%00.html",
        "../../etc/passwd",
        "http://localhost/../../etc/passwd",
    ];
    for path in paths {
        for method in ["GET", "HEAD"] {
            let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut c = Conn::open(http);
            c.send(request.as_bytes());
            let r = c.reply(method == "HEAD").unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            assert_eq!(r.status, 404, "{method} {path}: {}", r.text());
            let text = r.text();
            assert!(!text.contains("root:") && !text.contains("[package]") && !text.contains("[workspace]"));
            if method == "GET" {
                assert_eq!(r.json()["error"], "not found", "{path}");
            }
        }
    }
    // What is served is served at exactly its path.
    for (path, kind) in [("/", "text/html"), ("/app.js", "text/javascript"), ("/app.css", "text/css")] {
        let r = get(http, path);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("Content-Type").unwrap().starts_with(kind), "{path}: {r:?}");
    }
}

/// Sends `request` and asserts the answer is `status` and the server then closes the connection.
fn assert_refused_and_closed(http: SocketAddr, request: &[u8], status: u16) -> common::http::Reply {
    let mut c = Conn::open(http);
    c.send(request);
    let shown = String::from_utf8_lossy(&request[..request.len().min(60)]).into_owned();
    let r = c.reply(false).unwrap_or_else(|e| panic!("{shown}...: no answer: {e}"));
    assert_eq!(r.status, status, "{shown}...: {}", r.text());
    assert_eq!(r.header("Connection"), Some("close"), "{shown}...");
    c.expect_closed(Duration::from_secs(10));
    r
}

#[test]
fn oversized_heads_and_lines_and_methods_that_write_are_refused() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    let long_target = format!("/{}", "a".repeat(LINE_LIMIT + 10));
    let long_line = format!("GET {long_target} HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_refused_and_closed(http, long_line.as_bytes(), 414);
    // Headers of 4 KiB each, the head past its limit.
    let big_header = format!("X-Big: {}\r\n", "b".repeat(4096));
    let big_head = format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", big_header.repeat(HEAD_LIMIT / 4096 + 1));
    assert_refused_and_closed(http, big_head.as_bytes(), 431);
    let many = (0..100).map(|i| format!("X-H{i}: {i}\r\n")).collect::<String>();
    assert_refused_and_closed(http, format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(), 431);
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"] {
        let request = format!("{method} / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        let r = assert_refused_and_closed(http, request.as_bytes(), 405);
        assert_eq!(r.header("Allow"), Some("GET, HEAD"), "{method}");
    }
    // A body that comes with a POST is never read as the next request.
    let smuggled =
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n....";
    assert_refused_and_closed(http, smuggled.as_bytes(), 405);
    assert_refused_and_closed(http, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 400);
    assert_refused_and_closed(http, b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    assert_refused_and_closed(http, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400);
    // Just under the limits is fine.
    let target = format!("/?{}", "a".repeat(LINE_LIMIT - 40));
    let r =
        exchange(http, format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(r.status, 200);
    let r = exchange(
        http,
        format!("GET / HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n", big_header.repeat(3)).as_bytes(),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn head_gives_headers_only_and_pipelined_requests_are_all_answered_in_order() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    let page = get(http, "/");
    let mut c = Conn::open(http);
    // All at once, in one write.
    c.send(
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n\
          GET / HTTP/1.1\r\nHost: x\r\n\r\n\
          HEAD /api/nodes HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /api/nodes HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /app.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let head = c.reply(true).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some(&page.body.len().to_string()[..]));
    assert_eq!(head.header("Content-Type"), page.header("Content-Type"));
    // Had the HEAD carried a body, this would not start with a status line.
    let again = c.reply(false).unwrap();
    assert_eq!((again.status, &again.body), (200, &page.body));
    let nodes_head = c.reply(true).unwrap();
    let nodes = c.reply(false).unwrap();
    assert_eq!((nodes_head.status, nodes.status), (200, 200));
    assert_eq!(nodes_head.header("Content-Length"), Some(&nodes.body.len().to_string()[..]));
    assert!(nodes.json()["nodes"].is_array());
    let metrics = c.reply(false).unwrap();
    assert!(metrics.text().contains("cliser_sessions"), "{}", metrics.text());
    assert_eq!(c.reply(false).unwrap().status, 404);
    let css = c.reply(false).unwrap();
    assert_eq!((css.status, css.header("Connection")), (200, Some("close")));
    c.expect_closed(Duration::from_secs(10));

    // HTTP/1.0 closes after one answer unless it asks to keep the connection.
    let mut old = Conn::open(http);
    old.send(b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    assert_eq!(old.reply(false).unwrap().status, 200);
    old.expect_closed(Duration::from_secs(10));
}

#[test]
fn past_the_connection_limit_the_next_gets_503_and_the_page_answers_again_once_they_close() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    let held: Vec<TcpStream> = (0..MAX_CONNECTIONS).map(|_| TcpStream::connect(http).unwrap()).collect();
    // Accepted after the others (the listen queue is first come, first served).
    let r = exchange(http, b"");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("Connection"), Some("close"));
    drop(held);
    wait_until(T, "the page answering again", || {
        let r = get(http, "/");
        (r.status == 200).then_some(())
    });
}
