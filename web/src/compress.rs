//! gzip for the API's answers: a 200-node `/api/nodes` or an hour of one node's readings is 100 KB
//! of JSON that compresses about tenfold, and the page's first load asks for several. The page's
//! own files are compressed once, at build time (`assets.rs`); these are compressed per answer, at
//! the default level (a few milliseconds for 100 KB of readings, a fifth smaller than the fastest
//! level: the first load's budget is 150 KB), only when the request accepts gzip.

use crate::http::{Request, Response};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

/// Answers smaller than this go as they are: one packet either way.
const MIN_BYTES: usize = 1400;

/// The compressor's state is ~200 KB, which an unoptimised build assembles on the stack before
/// boxing it: more than a request thread's 256 KiB (`http.rs`) holds. It runs on a thread of its
/// own with room to spare (a spawn costs tens of microseconds; compressing 100 KB, a few milliseconds).
const COMPRESS_STACK: usize = 2 << 20;

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let compress = || {
        let mut gz = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
        gz.write_all(body).ok()?;
        gz.finish().ok()
    };
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new().name("web-gzip".into()).stack_size(COMPRESS_STACK);
        match worker.spawn_scoped(s, compress) {
            Ok(handle) => handle.join().ok().flatten(),
            Err(e) => {
                log::warn!("web: cannot start a thread to compress an answer ({e}); sending it as it is");
                None
            }
        }
    })
}

/// `r` gzip-compressed when `req` accepts gzip and it is worth it; as it is otherwise (and always
/// when it already has a `Content-Encoding`).
pub(crate) fn maybe_gzip(req: &Request, mut r: Response) -> Response {
    if r.body.len() < MIN_BYTES
        || r.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("Content-Encoding"))
        || !crate::assets::accepts_gzip(req.accept_encoding.as_deref())
    {
        return r;
    }
    let Some(body) = gzip(&r.body) else { return r };
    r.body = body;
    r.with("Content-Encoding", "gzip").with("Vary", "Accept-Encoding")
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn request(accept: Option<&str>) -> Request {
        let mut req = Request::for_tests("/api/nodes");
        req.accept_encoding = accept.map(str::to_owned);
        req
    }

    #[test]
    fn a_large_answer_is_gzipped_when_accepted_and_decompresses_to_itself() {
        // An hour of one sensor's readings, as /api/readings gives them.
        let points: Vec<_> = (0..360)
            .map(|i| {
                serde_json::json!([1_767_225_600_000i64 + i * 10_000, 21.0 + (i % 7) as f64 / 16.0, null])
            })
            .collect();
        let body = serde_json::json!({ "columns": ["ts", "value", "error"], "points": points }).to_string();
        let r = maybe_gzip(&request(Some("gzip, br")), Response::new(200, "application/json", body.clone()));
        assert!(r.headers.iter().any(|(n, v)| *n == "Content-Encoding" && v == "gzip"), "{:?}", r.headers);
        assert!(r.body.len() < body.len() / 3, "{} of {}", r.body.len(), body.len());
        let mut back = String::new();
        GzDecoder::new(&r.body[..]).read_to_string(&mut back).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn small_answers_and_requests_without_gzip_go_as_they_are() {
        let big = "x".repeat(5000);
        for (accept, body) in [(None, big.clone()), (Some("gzip;q=0"), big), (Some("gzip"), "{}".repeat(10))]
        {
            let r = maybe_gzip(&request(accept), Response::new(200, "application/json", body.clone()));
            assert_eq!(r.body, body.as_bytes(), "{accept:?}");
            assert!(r.headers.is_empty(), "{accept:?}: {:?}", r.headers);
        }
    }

    #[test]
    fn compressing_on_a_request_threads_small_stack_does_not_overflow_it() {
        let body = "{\"ts\": 1767225600000, \"value\": 21.063}, ".repeat(3000);
        let on_request_thread = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                maybe_gzip(&request(Some("gzip")), Response::new(200, "application/json", body)).body.len()
            })
            .unwrap();
        assert!(on_request_thread.join().expect("no stack overflow") < 10_000);
    }
}
