//! Who may do what, decided in one place for every request. Reading needs the admin password when
//! one is set. Changing something (a `POST`: acknowledge, silence, forget) needs more, because a
//! browser sends a page's Basic credentials along with requests that other sites make it send:
//! - the password when one is set, else a peer on this machine (loopback);
//! - no `Origin`, or this server's own (`http(s)://` and the `Host` it was asked as): a page on
//!   another site that makes the browser post here is refused;
//! - `Content-Type: application/json`: a cross-site HTML form cannot send that, and a script on
//!   another site cannot without a preflight (`OPTIONS`), which this server never grants.

use crate::http::{Method, Request};
use crate::login::{basic_password, PasswordCheck};

/// What the guard says of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go on.
    Pass,
    /// No password given where one is needed: `401` with a challenge (a browser asking how to log
    /// in, not a failed login).
    NoPassword,
    /// A wrong password: `401`, and it counts in the failed-login brake.
    WrongPassword,
    /// `403`, for this reason.
    Forbidden(&'static str),
}

/// The verdict on `req`. `password` is the admin password's check, if one is set; `tls` whether
/// this server speaks HTTPS (the scheme of its own origin).
pub(crate) fn check(req: &Request, password: Option<&PasswordCheck>, tls: bool) -> Verdict {
    match password {
        Some(check) => match basic_password(req.authorization.as_deref()) {
            Some(p) if check(&p) => {}
            Some(_) => return Verdict::WrongPassword,
            None => return Verdict::NoPassword,
        },
        None if req.method == Method::Post && !req.peer.ip().to_canonical().is_loopback() => {
            return Verdict::Forbidden(
                "changing state from the page needs the admin password (--admin-password-file); \
                 without one, only from this machine",
            );
        }
        None => {}
    }
    if req.method != Method::Post {
        return Verdict::Pass;
    }
    if let Some(origin) = &req.origin {
        if !same_origin(origin, req.host.as_deref(), tls) {
            return Verdict::Forbidden("a request from another site (its Origin is not this server)");
        }
    }
    if !is_json(req.content_type.as_deref()) {
        return Verdict::Forbidden("the body must be JSON, sent with Content-Type: application/json");
    }
    Verdict::Pass
}

/// Whether `origin` is `scheme://host[:port]` of this server as `host` names it (host names
/// compare without case; a default port may be written or left out on either side).
fn same_origin(origin: &str, host: Option<&str>, tls: bool) -> bool {
    let (scheme, default_port) = if tls { ("https://", ":443") } else { ("http://", ":80") };
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else { return false };
    let origin = origin.trim();
    let Some(origin_host) = origin
        .get(..scheme.len())
        .filter(|s| s.eq_ignore_ascii_case(scheme))
        .and_then(|_| origin.get(scheme.len()..))
    else {
        return false;
    };
    let plain = |h: &str| h.strip_suffix(default_port).unwrap_or(h).to_ascii_lowercase();
    plain(origin_host) == plain(host)
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    const JSON: Option<&str> = Some("application/json");

    fn request(method: Method, peer: &str, origin: Option<&str>, content_type: Option<&str>) -> Request {
        Request {
            method,
            head_only: method == Method::Head,
            origin: origin.map(Into::into),
            host: Some("pi.lan:8080".into()),
            content_type: content_type.map(Into::into),
            peer: peer.parse::<SocketAddr>().unwrap(),
            ..Request::for_tests("/api/forget")
        }
    }

    fn post(peer: &str, origin: Option<&str>, content_type: Option<&str>) -> Request {
        request(Method::Post, peer, origin, content_type)
    }

    fn with_password(mut r: Request, password: &str) -> Request {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"));
        r.authorization = Some(format!("Basic {encoded}"));
        r
    }

    fn forbidden(v: Verdict) -> bool {
        matches!(v, Verdict::Forbidden(_))
    }

    #[test]
    fn without_a_password_only_loopback_may_change_state_and_anyone_may_read() {
        assert_eq!(check(&post("127.0.0.1:5000", None, JSON), None, false), Verdict::Pass);
        assert_eq!(check(&post("127.0.0.9:5000", None, JSON), None, false), Verdict::Pass);
        assert_eq!(check(&post("[::1]:5000", None, JSON), None, false), Verdict::Pass);
        assert_eq!(check(&post("[::ffff:127.0.0.1]:5000", None, JSON), None, false), Verdict::Pass);
        assert!(forbidden(check(&post("10.0.0.5:5000", None, JSON), None, false)));
        assert!(forbidden(check(&post("[::ffff:10.0.0.5]:5000", None, JSON), None, false)));
        for method in [Method::Get, Method::Head] {
            assert_eq!(check(&request(method, "10.0.0.5:5000", None, None), None, false), Verdict::Pass);
        }
    }

    #[test]
    fn with_a_password_every_request_needs_it_from_anywhere() {
        let check_pw = |p: &str| p == "s3cret";
        let pw: Option<&PasswordCheck> = Some(&check_pw);
        for peer in ["127.0.0.1:5000", "10.0.0.5:5000"] {
            assert_eq!(check(&post(peer, None, JSON), pw, false), Verdict::NoPassword);
            assert_eq!(
                check(&with_password(post(peer, None, JSON), "guess"), pw, false),
                Verdict::WrongPassword
            );
            assert_eq!(check(&with_password(post(peer, None, JSON), "s3cret"), pw, false), Verdict::Pass);
            let get = request(Method::Get, peer, None, None);
            assert_eq!(check(&get, pw, false), Verdict::NoPassword);
            assert_eq!(check(&with_password(get, "s3cret"), pw, false), Verdict::Pass);
        }
        // The password first: a wrong one counts even when the rest would be refused too.
        let foreign = with_password(post("10.0.0.5:5000", Some("https://evil.example"), None), "guess");
        assert_eq!(check(&foreign, pw, false), Verdict::WrongPassword);
    }

    #[test]
    fn a_post_from_another_origin_is_refused() {
        let lo = "127.0.0.1:5000";
        for (origin, tls, ok) in [
            ("http://pi.lan:8080", false, true),
            ("HTTP://PI.LAN:8080", false, true),
            ("https://pi.lan:8080", true, true),
            ("https://pi.lan:8080", false, false),
            ("http://pi.lan:8080", true, false),
            ("http://pi.lan", false, false),
            ("http://pi.lan:8081", false, false),
            ("http://evil.example", false, false),
            ("http://pi.lan:8080.evil.example", false, false),
            ("null", false, false),
            ("", false, false),
        ] {
            let v = check(&post(lo, Some(origin), JSON), None, tls);
            assert_eq!(v == Verdict::Pass, ok, "{origin} (tls {tls}): {v:?}");
        }
        // Default ports may be left out on either side.
        let mut r = post(lo, Some("http://pi.lan"), JSON);
        r.host = Some("pi.lan:80".into());
        assert_eq!(check(&r, None, false), Verdict::Pass);
        r.origin = Some("https://pi.lan:443".into());
        r.host = Some("pi.lan".into());
        assert_eq!(check(&r, None, true), Verdict::Pass);
        // An Origin with no Host to compare it with is not this server's.
        r.host = None;
        assert!(forbidden(check(&r, None, true)));
        // No Origin at all: not a browser (curl, a script), which the password or loopback covers.
        assert_eq!(check(&post(lo, None, JSON), None, false), Verdict::Pass);
    }

    #[test]
    fn a_post_must_say_it_carries_json() {
        let lo = "127.0.0.1:5000";
        for (content_type, ok) in [
            (Some("application/json"), true),
            (Some("application/json; charset=utf-8"), true),
            (Some("Application/JSON;charset=UTF-8"), true),
            (Some("text/plain"), false),
            (Some("text/plain; charset=application/json"), false),
            (Some("application/x-www-form-urlencoded"), false),
            (Some("multipart/form-data; boundary=x"), false),
            (Some("application/jsonp"), false),
            (None, false),
        ] {
            let v = check(&post(lo, Some("http://pi.lan:8080"), content_type), None, false);
            assert_eq!(v == Verdict::Pass, ok, "{content_type:?}: {v:?}");
        }
    }
}
