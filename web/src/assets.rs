//! The page's files, compiled into the binary by `build.rs`: nothing is read from disk, so no
//! request can reach a file outside them. Each is served at its plain path and at a content-hashed
//! name, raw or gzip-compressed (compressed once, at build time).

use crate::http::{Request, Response};

/// One file of the page.
#[derive(Debug)]
pub(crate) struct Asset {
    /// `/` and its path under `web/assets/`.
    pub path: &'static str,
    /// `/dir/stem.<hash>.ext`: the name `/` refers to it by, cached for a year (none for
    /// `index.html`, which `/` serves).
    pub hashed: Option<&'static str>,
    /// The first hex digits of the SHA-256 of `raw` (the ETag).
    pub hash: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes (for `index.html`: with its references rewritten to the hashed names).
    pub raw: &'static [u8],
    /// `raw` gzip-compressed, unless that is no smaller (images, fonts).
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The page may load only its own files and talk only to this server.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A hashed name never changes its bytes: a year, and no revalidation.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// How a path names an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    /// Its plain path (or `/` for `index.html`): may change with the next build.
    Plain,
    /// Its content-hashed name: never changes.
    Hashed,
}

/// The asset at exactly `path`, and which of its names that is.
pub(crate) fn find(path: &str) -> Option<(&'static Asset, Name)> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().find_map(|a| {
        if a.path == path {
            Some((a, Name::Plain))
        } else if a.hashed == Some(path) {
            Some((a, Name::Hashed))
        } else {
            None
        }
    })
}

/// The answer to a request for `asset` by `name`: gzip when the request accepts it; a hashed name
/// cached for a year, a plain one (and `/`) revalidated each time (`304` when the ETag still holds).
pub(crate) fn respond(req: &Request, asset: &Asset, name: Name) -> Response {
    let gzip = asset.gzip.filter(|_| accepts_gzip(req.accept_encoding.as_deref()));
    // One tag per encoding: the two are different bytes.
    let etag = match gzip {
        Some(_) => format!("\"{}-gz\"", asset.hash),
        None => format!("\"{}\"", asset.hash),
    };
    let cache = match name {
        Name::Hashed => IMMUTABLE,
        Name::Plain => "no-cache",
    };
    let fresh = req.if_none_match.as_deref().is_some_and(|tags| {
        tags.trim() == "*" || tags.split(',').any(|t| t.trim().trim_start_matches("W/") == etag)
    });
    let mut r = if fresh {
        Response::new(304, asset.content_type, Vec::new())
    } else {
        Response::new(200, asset.content_type, gzip.unwrap_or(asset.raw))
    };
    if gzip.is_some() && !fresh {
        r = r.with("Content-Encoding", "gzip");
    }
    if asset.gzip.is_some() {
        // A cache between must not hand the gzip copy to a client that did not ask for it.
        r = r.with("Vary", "Accept-Encoding");
    }
    r.with("Cache-Control", cache).with("ETag", etag).with("Content-Security-Policy", CSP)
}

/// Whether an `Accept-Encoding` header accepts gzip: `gzip` (or `x-gzip`) listed with a weight
/// above zero, or `*` above zero while gzip is not listed.
pub(crate) fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else { return false };
    let (mut gzip, mut star) = (None, None);
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut weight = 1.0f32;
        for param in parts {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    // A weight that does not parse is not a yes.
                    weight = value.trim().parse().unwrap_or(0.0);
                }
            }
        }
        let accepted = weight > 0.0;
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(gzip.unwrap_or(false) || accepted),
            "*" => star = Some(accepted),
            _ => {}
        }
    }
    gzip.or(star).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_accepted_as_the_header_weighs_it() {
        for (header, yes) in [
            (None, false),
            (Some(""), false),
            (Some("gzip"), true),
            (Some("gzip, deflate, br, zstd"), true),
            (Some("br;q=1.0, GZIP;q=0.5"), true),
            (Some("deflate, gzip;q=0"), false),
            (Some("gzip;q=0.000"), false),
            (Some("gzip; q=0.001"), true),
            (Some("gzip;q=x"), false),
            (Some("x-gzip"), true),
            (Some("*"), true),
            (Some("*;q=0"), false),
            (Some("gzip;q=0, *"), false),
            (Some("identity"), false),
            (Some("br"), false),
        ] {
            assert_eq!(accepts_gzip(header), yes, "{header:?}");
        }
    }

    #[test]
    fn every_asset_has_a_plain_and_a_hashed_name_and_index_refers_to_the_hashed_ones() {
        let (index, name) = find("/").unwrap();
        assert_eq!((index.path, name, index.hashed), ("/index.html", Name::Plain, None));
        let html = std::str::from_utf8(index.raw).unwrap();
        for a in ASSETS.iter().filter(|a| a.path != "/index.html") {
            let hashed = a.hashed.unwrap();
            assert!(hashed.contains(a.hash), "{hashed}");
            assert_eq!(find(a.path).map(|(f, n)| (f.path, n)), Some((a.path, Name::Plain)));
            assert_eq!(find(hashed).map(|(f, n)| (f.path, n)), Some((a.path, Name::Hashed)));
            for quote in ['"', '\''] {
                assert!(!html.contains(&format!("={quote}{}{quote}", a.path)), "{} not rewritten", a.path);
            }
        }
        assert!(html.contains("src=\"/app."), "{html}");
        // Links to other things than assets stay.
        assert!(html.contains("href=\"/api/nodes\""), "{html}");
        assert!(find("/app.js/../index.html").is_none() && find("/nothing").is_none());
    }

    #[test]
    fn each_gzip_copy_is_smaller_than_its_file() {
        for a in ASSETS {
            if let Some(gz) = a.gzip {
                assert!(gz.len() < a.raw.len(), "{}", a.path);
                assert_eq!(&gz[..2], &[0x1f, 0x8b], "{} is gzip", a.path);
            }
        }
        assert!(find("/app.js").unwrap().0.gzip.is_some());
    }
}
