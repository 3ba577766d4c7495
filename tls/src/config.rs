//! The rustls configurations: the server's (its certificate and key) and the client's (the fleet CA,
//! and a pin checked in addition).

use crate::failure::PinMismatch;
use crate::pin::Pin;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::sync::Arc;

/// Why a configuration cannot be built. The texts name what is wrong, not the file: the caller
/// knows which file it read.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The PEM text holds no certificate.
    #[error("no certificate (a -----BEGIN CERTIFICATE----- block) in it")]
    NoCertificate,
    /// The PEM text holds no private key.
    #[error("no private key (a -----BEGIN PRIVATE KEY----- block) in it")]
    NoKey,
    /// The PEM text is damaged.
    #[error("not valid PEM: {0}")]
    Pem(String),
    /// A CA certificate cannot be used as a trust anchor.
    #[error("the CA certificate cannot be used: {0}")]
    BadCa(String),
    /// The certificate and key do not go together, or rustls refused them.
    #[error("the certificate and key cannot be used: {0}")]
    Unusable(String),
    /// The host is neither a DNS name nor an IP address.
    #[error("{0:?} is neither a DNS name nor an IP address")]
    BadName(String),
}

/// TLS 1.3 first, 1.2 allowed (both on ring's cipher suites).
static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(certs)
}

/// The server's configuration: its certificate chain (server certificate first) and its private
/// key (PKCS#8, PKCS#1 or SEC1), both PEM.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey,
        e => TlsError::Pem(e.to_string()),
    })?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| TlsError::Unusable(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Unusable(e.to_string()))?;
    Ok(Arc::new(config))
}

/// The client's configuration: the server's certificate must chain to one of the CA certificates in
/// `ca_pem` (several during a CA rotation) and be for the name connected to; with `pin`, its public
/// key must also have that digest.
pub fn client_config(ca_pem: &[u8], pin: Option<Pin>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for ca in certificates(ca_pem)? {
        roots.add(ca).map_err(|e| TlsError::BadCa(e.to_string()))?;
    }
    let provider = provider();
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::BadCa(e.to_string()))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)
        .map_err(|e| TlsError::Unusable(e.to_string()))?;
    let config = match pin {
        None => builder.with_webpki_verifier(webpki).with_no_client_auth(),
        Some(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { webpki, pin }))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The name the server's certificate must carry: `host` of `host:port`, a DNS name or an IP
/// address (brackets of `[::1]` allowed).
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    ServerName::try_from(bare.to_owned()).map_err(|_| TlsError::BadName(host.to_owned()))
}

/// The CA's verdict first (chain, name, dates), then the pin: a pin never replaces the CA.
#[derive(Debug)]
struct Pinned {
    webpki: Arc<WebPkiServerVerifier>,
    pin: Pin,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified =
            self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        let found = Pin::of_certificate(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        if found != self.pin {
            let mismatch = PinMismatch { expected: self.pin, found };
            return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                rustls::OtherError(Arc::new(mismatch)),
            )));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
