//! TLS for the servers: the certificate and key from PEM files, optionally a CA that client
//! certificates are verified against, all reloaded when the files change (cert-manager rewrites
//! a Secret's files in place).
//!
//! With a client CA, a client certificate is *asked for but optional* at the TLS layer: the
//! kubelet's probes and Prometheus connect without one. A certificate that is presented must
//! verify against the CA or the handshake fails; whether a route needs one is the route's call
//! (see [`crate::Peer::client_certificate`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tracing::{info, warn};

/// The files TLS is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificates that client certificates must chain to (`--client-ca-file`).
    pub client_ca: Option<PathBuf>,
}

/// Why TLS could not be set up from the files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A file holds no PEM block of the kind needed.
    #[error("{path}: no {what} in PEM form")]
    Missing {
        /// The file.
        path: PathBuf,
        /// What was looked for.
        what: &'static str,
    },
    /// The certificate, key or CA was refused.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A server's TLS configuration, swapped whole when the files change.
#[derive(Debug)]
pub struct Tls {
    files: TlsFiles,
    reload_every: Duration,
    current: RwLock<Arc<ServerConfig>>,
    seen: RwLock<Option<Vec<SystemTime>>>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid { path: path.to_owned(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Missing { path: path.to_owned(), what });
    }
    Ok(certs)
}

fn config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let chain = certificates(&files.cert, "certificate")?;
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?)
        .map_err(|_| TlsError::Missing { path: files.key.clone(), what: "private key" })?;
    let builder = ServerConfig::builder();
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca, "CA certificate")? {
                roots.add(cert).map_err(|e| TlsError::Invalid { path: ca.clone(), reason: e.to_string() })?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Invalid { path: ca.clone(), reason: e.to_string() })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Invalid { path: files.cert.clone(), reason: e.to_string() })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn modified(files: &TlsFiles) -> Option<Vec<SystemTime>> {
    let paths = [Some(&files.cert), Some(&files.key), files.client_ca.as_ref()];
    paths.into_iter().flatten().map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).collect()
}

impl Tls {
    /// Loads the files (install a rustls `CryptoProvider` first); [`crate::serve`] checks them
    /// for changes every `reload_every`.
    pub fn load(files: TlsFiles, reload_every: Duration) -> Result<Self, TlsError> {
        let seen = modified(&files);
        let current = Arc::new(config(&files)?);
        Ok(Self { files, reload_every, current: RwLock::new(current), seen: RwLock::new(seen) })
    }

    /// The files served.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The configuration new connections get.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reloads if a file changed since the last load; a reload that fails (a half-written file)
    /// keeps the previous configuration and is tried again at the next call.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = modified(&self.files);
        let seen = self.seen.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if now.is_none() || now == seen {
            return Ok(false);
        }
        let config = Arc::new(config(&self.files)?);
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        *self.seen.write().unwrap_or_else(std::sync::PoisonError::into_inner) = now;
        Ok(true)
    }

    /// Checks the files every `reload_every`, forever (spawn it; abort it to stop).
    pub async fn watch(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.reload_every.max(Duration::from_millis(10)));
        loop {
            tick.tick().await;
            match self.reload_if_changed() {
                Ok(true) => info!(cert = %self.files.cert.display(), "TLS certificate reloaded"),
                Ok(false) => {}
                Err(e) => warn!(error = %e, "TLS files not reloaded; keeping the previous ones"),
            }
        }
    }
}
