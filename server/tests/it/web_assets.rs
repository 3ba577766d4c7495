//! The page's files as the real server sends them: `/` refers to content-hashed names; each is sent
//! gzip-compressed to a browser that accepts it, cached for a year, and the same bytes as its plain
//! name once decompressed; raw to a client that does not accept gzip; `/` itself is revalidated.
//! And the whole first load, compressed, within the budget of 150 KB.

use crate::common;
use common::http::{exchange, Reply};
use common::*;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

/// The budget for a first load (every byte the page needs, compressed).
const FIRST_LOAD_BUDGET: usize = 150 * 1000;
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn web(s: &ServerHandle) -> SocketAddr {
    s.http.expect("the test server serves the web page")
}

/// A request of `target` with `headers` (whole lines, `\r\n` each).
fn request(http: SocketAddr, method: &str, target: &str, headers: &str) -> Reply {
    let text = format!("{method} {target} HTTP/1.1\r\nHost: {http}\r\n{headers}Connection: close\r\n\r\n");
    exchange(http, text.as_bytes())
}

/// As a browser asks: gzip, deflate, br, zstd.
fn browser_get(http: SocketAddr, target: &str) -> Reply {
    request(http, "GET", target, "Accept-Encoding: gzip, deflate, br, zstd\r\n")
}

/// The bytes a reply took on the wire: status line, headers and body.
fn wire_size(r: &Reply) -> usize {
    let head: usize = r.headers.iter().map(|(n, v)| n.len() + 2 + v.len() + 2).sum();
    "HTTP/1.1 200 OK\r\n".len() + head + 2 + r.body.len()
}

/// `bytes` decompressed by the system's gzip (a decoder the server did not write).
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run gzip -dc");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "gzip -dc failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The `src="/..."` and `href="/..."` targets of `html`.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in [" src=\"", " href=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            let target = &rest[..rest.find('"').unwrap()];
            if target.starts_with('/') {
                out.push(target.to_owned());
            }
        }
    }
    out
}

/// `/dir/stem.<10 hex>.ext` -> `/dir/stem.ext`; `None` when the name has no hash.
fn plain_name(hashed: &str) -> Option<String> {
    let (dir, file) = hashed.rsplit_once('/')?;
    let parts: Vec<&str> = file.split('.').collect();
    let at = parts.iter().rposition(|p| p.len() == 10 && p.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let mut plain = parts.clone();
    plain.remove(at);
    Some(format!("{dir}/{}", plain.join(".")))
}

#[test]
fn the_page_refers_to_hashed_names_sent_gzipped_and_cached_for_a_year() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);

    let index = browser_get(http, "/");
    assert_eq!(index.status, 200);
    assert_eq!(index.header("Content-Encoding"), Some("gzip"));
    assert_eq!(index.header("Cache-Control"), Some("no-cache"), "the page is asked again each time");
    assert_eq!(index.header("Vary"), Some("Accept-Encoding"));
    assert!(index.header("Content-Security-Policy").unwrap().contains("script-src 'self'"));
    let html = String::from_utf8(gunzip(&index.body)).unwrap();
    let raw_index = request(http, "GET", "/", "");
    assert_eq!(raw_index.header("Content-Encoding"), None);
    assert_eq!(raw_index.text(), html, "the same page raw and gzipped");

    let assets: Vec<String> =
        references(&html).into_iter().filter(|t| !t.starts_with("/api/") && t != "/metrics").collect();
    assert!(assets.iter().any(|a| a.starts_with("/app.") && a.ends_with(".js")), "{assets:?}");
    let mut first_load = wire_size(&index);
    for hashed in &assets {
        let plain =
            plain_name(hashed).unwrap_or_else(|| panic!("{hashed}: not a content-hashed name in\n{html}"));
        let gz = browser_get(http, hashed);
        assert_eq!(gz.status, 200, "{hashed}");
        assert_eq!(gz.header("Cache-Control"), Some(IMMUTABLE), "{hashed}");
        assert!(gz.header("Content-Security-Policy").is_some(), "{hashed}");
        let raw = request(http, "GET", &plain, "");
        assert_eq!(raw.status, 200, "{plain}");
        assert_eq!(raw.header("Content-Encoding"), None, "{plain} without Accept-Encoding");
        assert_eq!(raw.header("Cache-Control"), Some("no-cache"), "{plain}");
        assert_eq!(raw.header("Content-Type"), gz.header("Content-Type"), "{plain}");
        match gz.header("Content-Encoding") {
            Some("gzip") => {
                assert_eq!(gz.header("Vary"), Some("Accept-Encoding"), "{hashed}");
                assert!(gz.body.len() < raw.body.len(), "{hashed}: compressed is smaller");
                assert_eq!(gunzip(&gz.body), raw.body, "{hashed} decompressed is {plain}");
            }
            // Only what does not get smaller (an image) goes as it is.
            None => assert_eq!(gz.body, raw.body, "{hashed}"),
            Some(other) => panic!("{hashed}: Content-Encoding {other}"),
        }
        // HEAD gives the same head without the body.
        let mut c = common::http::Conn::open(http);
        c.send(format!("HEAD {hashed} HTTP/1.1\r\nHost: {http}\r\nAccept-Encoding: gzip\r\n\r\n").as_bytes());
        let head_reply = c.reply(true).unwrap();
        assert_eq!(head_reply.header("Content-Encoding"), gz.header("Content-Encoding"), "{hashed}");
        assert_eq!(head_reply.header("Content-Length"), Some(&gz.body.len().to_string()[..]), "{hashed}");
        first_load += wire_size(&gz);
    }
    println!("first load, gzip: {first_load} bytes (index and {} files: {assets:?})", assets.len());
    assert!(first_load <= FIRST_LOAD_BUDGET, "first load {first_load} bytes > {FIRST_LOAD_BUDGET}");
}

#[test]
fn gzip_is_sent_only_when_accepted_and_the_page_revalidates_with_its_etag() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    for (accept, gzip) in [
        ("", false),
        ("Accept-Encoding: identity\r\n", false),
        ("Accept-Encoding: br\r\n", false),
        ("Accept-Encoding: gzip;q=0, br\r\n", false),
        ("Accept-Encoding: gzip;q=0.5\r\n", true),
        ("Accept-Encoding: *\r\n", true),
    ] {
        let r = request(http, "GET", "/app.js", accept);
        assert_eq!(r.status, 200, "{accept:?}");
        assert_eq!(r.header("Content-Encoding") == Some("gzip"), gzip, "{accept:?}");
    }
    let page = browser_get(http, "/");
    let etag = page.header("ETag").expect("an ETag on /").to_owned();
    let mut c = common::http::Conn::open(http);
    let again = format!(
        "GET / HTTP/1.1\r\nHost: {http}\r\nAccept-Encoding: gzip\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    );
    c.send(again.as_bytes());
    let r = c.reply(true).unwrap();
    assert_eq!(r.status, 304, "an unchanged page is not sent again");
    assert_eq!(r.header("Content-Length"), None);
    c.expect_closed(T);
    // The raw copy has a tag of its own.
    let raw = request(http, "GET", "/", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(raw.status, 200);
    assert!(plain_name("/app.0123456789.js").is_some() && plain_name("/app.js").is_none());
}
