//! TLS for the server (`serve --tls-cert --tls-key [--tls-ca]`): rustls on
//! the server's own event loop, one `ServerConnection` per client, fed
//! from and flushed to the non-blocking socket by the connection's reads
//! and writes. With a CA, clients must present a certificate it signed.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the server's certificate and key are, and optionally the CA whose
/// client certificates it requires.
///
/// # Examples
///
/// ```no_run
/// use ringmaster::ingress::{ServerConfig, TlsConfig};
/// let mut config = ServerConfig::new("0.0.0.0:7878".parse()?);
/// config.tls = Some(TlsConfig::new("/etc/shop/cert.pem", "/etc/shop/key.pem").load()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TlsConfig {
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
}

/// A TLS setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {what} from {path}: {reason}")]
    Pem {
        /// Which file (certificate, key, CA).
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the certificate, key or CA.
    #[error("TLS configuration refused: {0}")]
    Rustls(String),
}

/// A loaded TLS configuration, shared by every connection.
#[derive(Debug, Clone)]
pub struct TlsAcceptor(pub(crate) Arc<rustls::ServerConfig>);

impl TlsConfig {
    /// The certificate chain and private key (PEM files).
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            ca: None,
        }
    }

    /// Require client certificates signed by the CA(s) in this PEM file.
    #[must_use]
    pub fn client_ca(mut self, ca: impl Into<PathBuf>) -> Self {
        self.ca = Some(ca.into());
        self
    }

    /// Read the files and build the configuration.
    ///
    /// # Errors
    ///
    /// [`TlsError::Pem`] for a file that cannot be read or holds no
    /// certificate (key), [`TlsError::Rustls`] for a key that does not fit
    /// the certificate or a CA rustls refuses.
    pub fn load(&self) -> Result<TlsAcceptor, TlsError> {
        let certs = certificates(&self.cert, "the certificate chain")?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| TlsError::Pem {
            what: "the private key",
            path: self.key.clone(),
            reason: e.to_string(),
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let builder = match &self.ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates(ca, "the client CA")? {
                    roots
                        .add(cert)
                        .map_err(|e| TlsError::Rustls(e.to_string()))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        Ok(TlsAcceptor(Arc::new(config)))
    }
}

fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |reason: String| TlsError::Pem {
        what,
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem("no certificate in the file".to_owned()));
    }
    Ok(certs)
}

impl TlsAcceptor {
    /// A server side for a new connection.
    pub(crate) fn accept(&self) -> Result<rustls::ServerConnection, rustls::Error> {
        let mut tls = rustls::ServerConnection::new(Arc::clone(&self.0))?;
        // Plaintext rustls holds for sending: past it, replies stay in the
        // connection's output (counted and bounded like any other).
        tls.set_buffer_limit(Some(TLS_BUFFER));
        Ok(tls)
    }
}

/// Bytes of plaintext (and of received records) rustls buffers per
/// connection.
pub(crate) const TLS_BUFFER: usize = 64 * 1024;

/// What a TLS connection's rustls state holds besides its buffers (an
/// estimate, for the server's memory limit).
pub(crate) const TLS_STATE_BYTES: usize = 16 * 1024;
