//! TLS trust as users expect it: the operating system's trust store (where companies install
//! the CA of their TLS inspection), `SSL_CERT_FILE` and `SSL_CERT_DIR` honoured, and Mozilla's
//! roots (webpki-roots) only where the system has none. The same trust serves the Flex API
//! client and PostgreSQL connections with `sslrootcert=system`; PostgreSQL's other modes get
//! the verifiers libpq's `sslmode` asks for.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Where the trusted roots came from, for `-v` and for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    /// The operating system's store, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set.
    System {
        /// How many roots it held.
        roots: usize,
    },
    /// Mozilla's roots built into flexform: the system store was empty or unreadable.
    BuiltIn,
}

/// The roots flexform trusts, and where they came from.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The roots.
    pub roots: Arc<RootCertStore>,
    /// Where they came from.
    pub source: TrustSource,
}

/// A certificate or key file that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot use {}: {reason}", path.display())]
pub struct TlsFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// The system's trust (read once per process: reading it can mean parsing a 300 KB bundle).
pub fn system_trust() -> &'static Trust {
    static TRUST: OnceLock<Trust> = OnceLock::new();
    TRUST.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!("reading the system's CA certificates: {error}");
        }
        let mut roots = RootCertStore::empty();
        let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
        if added > 0 {
            return Trust {
                roots: Arc::new(roots),
                source: TrustSource::System { roots: added },
            };
        }
        tracing::debug!("no CA certificates on this system: using the roots built into flexform");
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Trust {
            roots: Arc::new(roots),
            source: TrustSource::BuiltIn,
        }
    })
}

/// The certificates of a PEM file (a CA bundle, `sslrootcert`).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    use rustls::pki_types::pem::PemObject;
    let error = |reason: String| TlsFileError {
        path: path.to_owned(),
        reason,
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certs.is_empty() {
        return Err(error("no PEM certificate in it".to_owned()));
    }
    Ok(certs)
}

/// A private key in a PEM file (`sslkey`, the simulator's `--tls-key`).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsFileError {
        path: path.to_owned(),
        reason: format!("no usable PEM private key in it ({e})"),
    })
}

/// A root store holding the certificates of `path`.
pub fn roots_from_file(path: &Path) -> Result<Arc<RootCertStore>, TlsFileError> {
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(read_certificates(path)?);
    if added == 0 {
        return Err(TlsFileError {
            path: path.to_owned(),
            reason: "none of its certificates can serve as a root".to_owned(),
        });
    }
    Ok(Arc::new(roots))
}

/// The crypto provider flexform uses everywhere.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How a TLS client checks the server.
#[derive(Debug, Clone)]
pub enum Verify {
    /// The chain and the name (HTTPS; PostgreSQL `verify-full`).
    Full(Arc<RootCertStore>),
    /// The chain only, not the name (PostgreSQL `verify-ca`, `require` with `sslrootcert`).
    ChainOnly(Arc<RootCertStore>),
    /// Nothing: encrypt without verifying (PostgreSQL `prefer` and `require`, as libpq does).
    Nothing,
}

/// A client configuration that checks the server as `verify` says, presenting `client_auth`
/// (certificate chain and key) when given.
pub fn client_config(
    verify: Verify,
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match verify {
        Verify::Full(roots) => builder.with_root_certificates(roots),
        Verify::ChainOnly(roots) => {
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
        }
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider))),
    };
    match client_auth {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// What to tell a user whose TLS handshake failed with `message`, if it is about trust.
pub fn untrusted_hint(message: &str) -> Option<&'static str> {
    let untrusted = [
        "UnknownIssuer",
        "invalid peer certificate",
        "certificate verify failed",
    ];
    untrusted.iter().any(|m| message.contains(m)).then_some(
        "the server's certificate is not signed by a CA this machine trusts. If your company inspects TLS, add its CA to the system trust store (e.g. /usr/local/share/ca-certificates and update-ca-certificates), or set SSL_CERT_FILE to a PEM file that holds it (SSL_CERT_DIR for a folder of them)",
    )
}

/// Checks the chain against the roots but not the server's name (libpq's `verify-ca`).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                ..
            })) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Accepts any certificate (the handshake's signatures are still checked): encryption without
/// authentication, which is what libpq's `prefer` and `require` give.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_failures_get_a_hint_and_others_none() {
        for message in [
            "invalid peer certificate: UnknownIssuer",
            "UnknownIssuer",
            "certificate verify failed",
        ] {
            let hint = untrusted_hint(message).unwrap_or_else(|| panic!("{message}"));
            assert!(
                hint.contains("SSL_CERT_FILE") && hint.contains("update-ca-certificates"),
                "{hint}"
            );
        }
        assert!(untrusted_hint("connection refused").is_none());
    }

    #[test]
    fn a_file_without_certificates_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = read_certificates(&path).unwrap_err();
        assert!(err.to_string().contains("empty.pem"), "{err}");
        let err = read_certificates(&dir.path().join("missing.pem")).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
    }
}
