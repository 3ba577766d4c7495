//! A fleet CA and server certificates, so that users never need openssl: `cliser-server gen-tls`.
//!
//! The CA's certificate goes to every Pi (`--tls-ca`); its key signs server certificates and stays
//! with the operator. Keys are ECDSA P-256: small, and fast to sign with on every handshake.

use crate::pin::Pin;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// How long the CA is valid: the fleet keeps it for years, and replacing it means a visit (or a
/// deploy) to every Pi.
const CA_DAYS: i64 = 10 * 365;
/// How long a server certificate is valid; renewing it with the same CA touches the server only.
const SERVER_DAYS: i64 = 5 * 365;
/// Certificates start a day early: a clock a little behind must not find them not yet valid.
const BACKDATE_DAYS: i64 = 1;

/// The files `gen-tls` writes in its directory.
pub const CA_CERT: &str = "ca.pem";
/// The CA's private key (0600).
pub const CA_KEY: &str = "ca-key.pem";
/// The server's certificate.
pub const SERVER_CERT: &str = "server.pem";
/// The server's private key (0600).
pub const SERVER_KEY: &str = "server-key.pem";

/// Why certificates could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// No name was given.
    #[error("no name given: the server certificate needs at least one DNS name or IP address")]
    NoNames,
    /// A name is neither a DNS name nor an IP address.
    #[error("{0:?} is neither a DNS name nor an IP address")]
    BadName(String),
    /// rcgen refused.
    #[error("cannot make the certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// An existing CA in the directory cannot be read.
    #[error("cannot use the existing CA {}: {why}", path.display())]
    ExistingCa {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A CA that can sign server certificates.
pub struct Ca {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

/// A server certificate and its key, PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (secret).
    pub key_pem: String,
    /// The pin of its public key, for `--tls-pin`.
    pub pin: Pin,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").field("cert_pem", &self.cert_pem).field("pin", &self.pin).finish()
    }
}

fn random_serial() -> Result<SerialNumber, GenError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| GenError::Rcgen(rcgen::Error::RingUnspecified))?;
    // Positive, as DER INTEGER serials must be.
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(BACKDATE_DAYS);
    params.not_after = now + Duration::days(days);
}

impl Ca {
    /// A new CA named `cliser fleet CA <date> <random>` (distinct names let two CAs sit side by side
    /// in a Pi's CA file while the fleet moves from one to the other).
    pub fn new() -> Result<Ca, GenError> {
        let key = KeyPair::generate()?;
        let serial = random_serial()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        let tag: String = serial.to_bytes().iter().take(4).map(|b| format!("{b:02x}")).collect();
        let date = OffsetDateTime::now_utc().date();
        dn.push(DnType::OrganizationName, "cliser");
        dn.push(DnType::CommonName, format!("cliser fleet CA {date} {tag}"));
        params.distinguished_name = dn;
        params.serial_number = Some(serial);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        validity(&mut params, CA_DAYS);
        let cert = params.self_signed(&key)?;
        Ok(Ca { cert_pem: cert.pem(), key_pem: key.serialize_pem(), issuer: Issuer::new(params, key) })
    }

    /// A CA from its certificate and key, PEM (to sign a new server certificate with the CA the Pis
    /// already trust).
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Ca, rcgen::Error> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Ca { cert_pem: cert_pem.to_owned(), key_pem: key_pem.to_owned(), issuer })
    }

    /// The CA's certificate, PEM: what the Pis are given.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key, PEM (secret).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A server certificate for `names` (DNS names or IP addresses; the first is its common name),
    /// with a new key.
    pub fn issue_server(&self, names: &[String]) -> Result<Issued, GenError> {
        let first = names.first().ok_or(GenError::NoNames)?;
        let mut sans = Vec::with_capacity(names.len());
        for name in names {
            sans.push(match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => {
                    // The client checks names by rustls's rules: refuse here what it would never match.
                    crate::server_name(name).map_err(|_| GenError::BadName(name.clone()))?;
                    SanType::DnsName(name.as_str().try_into().map_err(|_| GenError::BadName(name.clone()))?)
                }
            });
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "cliser");
        dn.push(DnType::CommonName, first.as_str());
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.serial_number = Some(random_serial()?);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, SERVER_DAYS);
        let cert = params.signed_by(&key, &self.issuer)?;
        let pin = Pin::of_certificate(cert.der()).expect("a certificate made just now parses");
        Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), pin })
    }
}

/// What [`write_fleet`] did.
#[derive(Debug)]
pub struct Written {
    /// The CA certificate, for the Pis.
    pub ca_cert: PathBuf,
    /// The CA key.
    pub ca_key: PathBuf,
    /// The server certificate.
    pub server_cert: PathBuf,
    /// The server key.
    pub server_key: PathBuf,
    /// The CA was already there and signed the new server certificate.
    pub reused_ca: bool,
    /// The pin of the new server key.
    pub pin: Pin,
}

/// Writes a CA (unless `dir` already holds one, which then signs) and a server certificate for
/// `names` into `dir` (created 0700 if missing): `ca.pem`, `ca-key.pem` (0600), `server.pem`,
/// `server-key.pem` (0600). Each file is written whole under a temporary name and renamed.
pub fn write_fleet(dir: &Path, names: &[String]) -> Result<Written, GenError> {
    if names.is_empty() {
        return Err(GenError::NoNames);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GenError::Io { path, source }
    };
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io(dir))?;
    }
    let (ca_cert, ca_key) = (dir.join(CA_CERT), dir.join(CA_KEY));
    let reused_ca = ca_cert.exists() && ca_key.exists();
    let ca = if reused_ca {
        let cert = std::fs::read_to_string(&ca_cert).map_err(io(&ca_cert))?;
        let key = std::fs::read_to_string(&ca_key).map_err(io(&ca_key))?;
        Ca::load(&cert, &key)
            .map_err(|e| GenError::ExistingCa { path: ca_cert.clone(), why: e.to_string() })?
    } else {
        Ca::new()?
    };
    let issued = ca.issue_server(names)?;
    let (server_cert, server_key) = (dir.join(SERVER_CERT), dir.join(SERVER_KEY));
    if !reused_ca {
        write_file(&ca_key, ca.key_pem(), 0o600)?;
        write_file(&ca_cert, ca.cert_pem(), 0o644)?;
    }
    write_file(&server_key, &issued.key_pem, 0o600)?;
    write_file(&server_cert, &issued.cert_pem, 0o644)?;
    Ok(Written { ca_cert, ca_key, server_cert, server_key, reused_ca, pin: issued.pin })
}

/// `text` into `path` with `mode`, through `path.tmp` created with that mode (a secret is never
/// readable by others, not even for a moment) and a rename.
fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), GenError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let err = |source| GenError::Io { path: path.to_path_buf(), source };
    let _ = std::fs::remove_file(&tmp);
    let mut f =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(err)?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn writes_the_four_files_with_secrets_0600_and_a_second_run_keeps_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let w = write_fleet(&tls, &names(&["cliser.example", "127.0.0.1"])).unwrap();
        assert!(!w.reused_ca);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&w.ca_key), mode(&w.server_key)), (0o600, 0o600));
        assert_eq!((mode(&w.ca_cert), mode(&w.server_cert)), (0o644, 0o644));
        assert_eq!(mode(&tls), 0o700);
        let ca_before = std::fs::read(&w.ca_cert).unwrap();
        let again = write_fleet(&tls, &names(&["cliser.example"])).unwrap();
        assert!(again.reused_ca);
        assert_eq!(std::fs::read(&again.ca_cert).unwrap(), ca_before);
        assert_ne!(again.pin, w.pin, "a new server key");
        assert!(std::fs::read_dir(&tls).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")));
    }

    #[test]
    fn refuses_no_names_and_names_a_client_could_never_match() {
        let ca = Ca::new().unwrap();
        assert!(matches!(ca.issue_server(&[]), Err(GenError::NoNames)));
        assert!(matches!(ca.issue_server(&names(&["my server"])), Err(GenError::BadName(_))));
        assert!(ca.issue_server(&names(&["::1", "pi-gw.local"])).is_ok());
    }
}
