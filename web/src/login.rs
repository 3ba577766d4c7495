//! HTTP Basic auth with the admin password, and the brake it shares with the server's other logins.

use crate::http::Response;
use base64::Engine;
use std::net::IpAddr;

/// The server's per-ip brake on failed logins, shared with its client and console logins.
pub trait LoginBrake: Send + Sync {
    /// Whether `ip` is refused now.
    fn is_blocked(&self, ip: IpAddr) -> bool;
    /// Records a failed login from `ip`.
    fn failed(&self, ip: IpAddr);
}

/// Checks a password in time that does not depend on how much of it matches.
pub type PasswordCheck = dyn Fn(&str) -> bool + Send + Sync;

/// The password of an `Authorization: Basic ...` header (any user name is taken).
pub fn basic_password(header: Option<&str>) -> Option<String> {
    let encoded = header?.trim().strip_prefix("Basic ").or_else(|| header?.trim().strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_user, password) = text.split_once(':')?;
    Some(password.to_owned())
}

/// `401` asking for the admin password.
pub fn challenge() -> Response {
    Response::error(401, "the admin password is required (HTTP Basic auth, any user name)", None)
        .with("WWW-Authenticate", "Basic realm=\"cliser\", charset=\"UTF-8\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_after_the_colon() {
        // "admin:s3:cret"
        assert_eq!(basic_password(Some("Basic YWRtaW46czM6Y3JldA==")).as_deref(), Some("s3:cret"));
        assert_eq!(basic_password(Some("Bearer x")), None);
        assert_eq!(basic_password(Some("Basic !!!")), None);
        assert_eq!(basic_password(None), None);
    }
}
