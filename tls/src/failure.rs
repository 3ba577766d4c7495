//! Why a TLS handshake failed, in words a person can act on, and whether retrying can help.

use crate::pin::Pin;
use rustls::CertificateError;
use std::fmt;

/// The server's key does not have the pinned digest (carried inside rustls's error).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PinMismatch {
    pub(crate) expected: Pin,
    pub(crate) found: Pin,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the server's public key is {}, not the pinned {}", self.found, self.expected)
    }
}

impl std::error::Error for PinMismatch {}

/// Why a TLS handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server's certificate does not chain to a trusted CA (another fleet's CA, or self-signed).
    UnknownCa,
    /// The certificate is not for the name connected to.
    WrongName {
        /// The name connected to.
        expected: String,
        /// The names the certificate carries.
        presented: Vec<String>,
    },
    /// The server's public key is not the pinned one.
    PinMismatch {
        /// The pin configured.
        expected: Pin,
        /// The digest of the key the server showed.
        found: Pin,
    },
    /// The certificate is expired or not yet valid: the certificate or this machine's clock is wrong.
    Clock(String),
    /// Any other fault of the certificate (encoding, purpose, signature).
    BadCertificate(String),
    /// The handshake failed for another reason: the peer does not speak TLS, or sent an alert.
    Handshake(String),
}

impl Failure {
    /// Sorts rustls's error.
    pub fn from_rustls(e: &rustls::Error) -> Failure {
        let rustls::Error::InvalidCertificate(cert) = e else {
            if let rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) = e {
                // What a TLS client sees from the plain port: the server's `110` in clear.
                return Failure::Handshake(format!(
                    "{e} (the server does not speak TLS there: its plain port?)"
                ));
            }
            return Failure::Handshake(e.to_string());
        };
        match cert {
            CertificateError::UnknownIssuer => Failure::UnknownCa,
            CertificateError::NotValidForNameContext { expected, presented } => Failure::WrongName {
                expected: name_text(expected),
                presented: presented.iter().map(|p| bare_name(p)).collect(),
            },
            CertificateError::NotValidForName => {
                Failure::WrongName { expected: "the name connected to".into(), presented: Vec::new() }
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => Failure::Clock(e.to_string()),
            CertificateError::Other(other) => match other.0.downcast_ref::<PinMismatch>() {
                Some(m) => Failure::PinMismatch { expected: m.expected, found: m.found },
                None => Failure::BadCertificate(e.to_string()),
            },
            _ => Failure::BadCertificate(e.to_string()),
        }
    }

    /// The failure inside an I/O error that carries rustls's (as `rustls::Stream` and the
    /// connections' `complete_io` return it); `None` for a plain I/O error.
    pub fn from_io(e: &std::io::Error) -> Option<Failure> {
        e.get_ref()?.downcast_ref::<rustls::Error>().map(Failure::from_rustls)
    }

    /// Whether only a change of settings can fix it (a wrong CA, name or pin, a bad certificate):
    /// retrying the same server with the same settings would fail the same way. The clock and the
    /// handshake itself are not: a certificate gets renewed, a clock gets set by NTP.
    pub fn needs_new_settings(&self) -> bool {
        matches!(
            self,
            Failure::UnknownCa
                | Failure::WrongName { .. }
                | Failure::PinMismatch { .. }
                | Failure::BadCertificate(_)
        )
    }
}

/// `cliser.example` for rustls's `DnsName("cliser.example")`, `10.1.2.3` for `IpAddress(10.1.2.3)`.
fn bare_name(presented: &str) -> String {
    let inner = ["DnsName(", "IpAddress("]
        .iter()
        .find_map(|p| presented.strip_prefix(p)?.strip_suffix(')'))
        .unwrap_or(presented);
    inner.trim_matches('"').to_owned()
}

fn name_text(name: &rustls::pki_types::ServerName<'_>) -> String {
    match name {
        rustls::pki_types::ServerName::DnsName(d) => d.as_ref().to_owned(),
        rustls::pki_types::ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::UnknownCa => f.write_str(
                "the server's certificate is not signed by a trusted CA (unknown issuer): \
                 it belongs to another CA than the fleet CA this client was given",
            ),
            Failure::WrongName { expected, presented } if presented.is_empty() => {
                write!(f, "the server's certificate is not for the name {expected}")
            }
            Failure::WrongName { expected, presented } => write!(
                f,
                "the server's certificate is for another name: {expected} is not among its names ({})",
                presented.join(", ")
            ),
            Failure::PinMismatch { expected, found } => write!(
                f,
                "pin mismatch: the server's public key is {found}, not the pinned {expected}"
            ),
            Failure::Clock(why) => write!(
                f,
                "{why}: the server's certificate is out of its validity period, or this machine's clock is wrong"
            ),
            Failure::BadCertificate(why) => write!(f, "the server's certificate cannot be used: {why}"),
            Failure::Handshake(why) => write!(f, "TLS handshake failed: {why}"),
        }
    }
}
