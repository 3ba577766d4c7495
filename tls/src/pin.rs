//! `sha256:<hex>` of a certificate's SubjectPublicKeyInfo: the same as `openssl x509 -pubkey |
//! openssl pkey -pubin -outform der | sha256sum`, and it stays the same when a certificate is
//! renewed with the same key.

use rustls::pki_types::CertificateDer;
use rustls::server::ParsedCertificate;
use std::fmt;
use std::str::FromStr;

/// The SHA-256 of a server certificate's public key (its SubjectPublicKeyInfo, DER).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pin([u8; 32]);

/// Why a `--tls-pin` value is not a pin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// It does not start with `sha256:`.
    #[error("expected sha256:<64 hex digits>")]
    NoPrefix,
    /// The digest is not 64 hex digits.
    #[error("expected 64 hex digits after sha256:, found {0:?}")]
    BadDigest(String),
    /// The certificate cannot be parsed, so it has no public key to pin.
    #[error("not a certificate: {0}")]
    BadCertificate(String),
}

impl Pin {
    /// The pin of the certificate `der`.
    pub fn of_certificate(der: &[u8]) -> Result<Pin, PinError> {
        let der = CertificateDer::from(der);
        let parsed =
            ParsedCertificate::try_from(&der).map_err(|e| PinError::BadCertificate(e.to_string()))?;
        Ok(Pin::of_spki(parsed.subject_public_key_info().as_ref()))
    }

    /// The pin of a SubjectPublicKeyInfo in DER.
    pub fn of_spki(spki: &[u8]) -> Pin {
        let digest = ring::digest::digest(&ring::digest::SHA256, spki);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Pin(out)
    }
}

impl FromStr for Pin {
    type Err = PinError;

    fn from_str(s: &str) -> Result<Pin, PinError> {
        let hex = s.trim().strip_prefix("sha256:").ok_or(PinError::NoPrefix)?;
        // openssl prints fingerprints as AB:CD:...; accept that form too.
        let digits: String = hex.chars().filter(|&c| c != ':').collect();
        let bad = || PinError::BadDigest(hex.to_owned());
        if digits.len() != 64 || !digits.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Pin(out))
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_same_text() {
        let text = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let pin: Pin = text.parse().unwrap();
        assert_eq!(pin.to_string(), text);
        let colons = (0..32).map(|i| format!("{:02X}", pin.0[i])).collect::<Vec<_>>().join(":");
        assert_eq!(format!("sha256:{colons}").parse::<Pin>().unwrap(), pin);
    }

    #[test]
    fn refuses_what_is_not_a_pin() {
        assert_eq!("0123".parse::<Pin>(), Err(PinError::NoPrefix));
        assert!(matches!("sha256:0123".parse::<Pin>(), Err(PinError::BadDigest(_))));
        let not_hex = format!("sha256:{}", "zz".repeat(32));
        assert!(matches!(not_hex.parse::<Pin>(), Err(PinError::BadDigest(_))));
        assert!(matches!(Pin::of_certificate(b"junk"), Err(PinError::BadCertificate(_))));
    }

    #[test]
    fn the_pin_of_a_key_is_its_spki_digest() {
        // SHA-256 of the empty string, as every sha256sum prints it.
        assert_eq!(
            Pin::of_spki(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
