//! TLS for the listener: the PEM certificate chain and private key, a certificate
//! resolver whose pair can be swapped while the server runs (SIGHUP), and the
//! handshake of each accepted connection.
//!
//! A reload replaces the pair that *new* handshakes present; connections already
//! established keep the session they negotiated, so nothing is dropped. A reload
//! that fails leaves the previous pair in place. Errors name files, never their
//! contents: a private key must not end up in a log line.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A client that opens a connection and never finishes its handshake is cut off
/// after this, so it cannot hold a connection slot.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a certificate or key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate file {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("TLS key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("TLS key file {key} does not match the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The server's TLS: where its pair lives, and the acceptor whose resolver
/// presents the pair loaded last. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Tls(Arc<Inner>);

struct Inner {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    resolver: Arc<Resolver>,
    acceptor: TlsAcceptor,
}

/// Holds the current pair; each handshake takes a clone of the `Arc` under a
/// read lock held for no longer than that.
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pair holds the signing key: show nothing of it.
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A poisoned lock still holds a complete pair: the writer only swaps an Arc.
        let guard = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(guard.clone())
    }
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert_file", &self.0.cert_file)
            .field("key_file", &self.0.key_file)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the pair and builds the acceptor: TLS 1.3 and 1.2, HTTP/1.1 by ALPN.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let pair = load_pair(cert_file, key_file, &provider)?;
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(pair)),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        // Only HTTP/1.1 is served; saying so lets a client that offers h2 fall back
        // instead of speaking a protocol the server does not.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls(Arc::new(Inner {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            resolver,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })))
    }

    /// Reads the files again; new handshakes present the new pair. On error the
    /// previous pair stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let pair = load_pair(&self.0.cert_file, &self.0.key_file, &self.0.provider)?;
        let mut guard = self
            .0
            .resolver
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = Arc::new(pair);
        Ok(())
    }

    pub fn cert_file(&self) -> &Path {
        &self.0.cert_file
    }

    pub fn key_file(&self) -> &Path {
        &self.0.key_file
    }

    /// The handshake of one accepted connection, given up after a timeout or
    /// when `closing` turns true (shutdown). None when it did not complete.
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
        mut closing: tokio::sync::watch::Receiver<bool>,
    ) -> Option<TlsStream<TcpStream>> {
        let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.0.acceptor.accept(stream));
        tokio::select! {
            r = handshake => match r {
                Ok(Ok(s)) => Some(s),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    None
                }
            },
            _ = closing.wait_for(|c| *c) => None,
        }
    }
}

/// Reads and checks one pair: a non-empty chain (leaf first), and a private key
/// that matches the leaf.
fn load_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_err = |reason: String| TlsError::Certificate {
        path: cert_file.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| cert_err(pem_reason(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(pem_reason(e)))?;
    if chain.is_empty() {
        return Err(cert_err("no CERTIFICATE section".into()));
    }
    let key_err = |reason: String| TlsError::Key {
        path: key_file.to_path_buf(),
        reason,
    };
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| key_err(pem_reason(e)))?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| key_err("not a usable private key (RSA, ECDSA or Ed25519)".into()))?;
    let pair = CertifiedKey::new(chain, key);
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch {
                cert: cert_file.to_path_buf(),
                key: key_file.to_path_buf(),
            })
        }
        // A key whose public half cannot be computed is checked by the handshake.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(pair),
        Err(e) => Err(cert_err(e.to_string())),
    }
}

/// Why a PEM file could not be read, without quoting any of its contents.
fn pem_reason(e: rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "no matching PEM section".into(),
        _ => "not valid PEM".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed pair for `name`: (certificate PEM, key PEM).
    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn leaf(tls: &Tls) -> CertificateDer<'static> {
        tls.0.resolver.current.read().unwrap().cert[0].clone()
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn reload_swaps_the_pair_and_a_failed_one_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_file, key_file) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let (c1, k1) = pair("one.test");
        std::fs::write(&cert_file, &c1).unwrap();
        std::fs::write(&key_file, &k1).unwrap();
        let tls = Tls::load(&cert_file, &key_file).unwrap();
        assert_eq!(leaf(&tls), der(&c1));

        let (c2, k2) = pair("two.test");
        std::fs::write(&cert_file, &c2).unwrap();
        std::fs::write(&key_file, &k2).unwrap();
        tls.reload().unwrap();
        assert_eq!(leaf(&tls), der(&c2));

        // Half-written (a new certificate, the old key): refused, the pair stays.
        let (c3, _) = pair("three.test");
        std::fs::write(&cert_file, &c3).unwrap();
        let e = tls.reload().unwrap_err();
        assert!(matches!(e, TlsError::Mismatch { .. }), "{e}");
        assert_eq!(leaf(&tls), der(&c2));
        std::fs::remove_file(&key_file).unwrap();
        assert!(tls.reload().is_err());
        assert_eq!(leaf(&tls), der(&c2));
    }

    #[test]
    fn errors_name_the_file_never_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let (c, _) = pair("x.test");
        let cert_file = dir.path().join("c.pem");
        std::fs::write(&cert_file, c).unwrap();
        let key_file = dir.path().join("k.pem");
        let garbled = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGtleSBtYXRlcmlhbA@@\n-----END PRIVATE KEY-----\n";
        std::fs::write(&key_file, garbled).unwrap();
        let e = Tls::load(&cert_file, &key_file).unwrap_err().to_string();
        assert!(e.contains("k.pem") && e.contains("not valid PEM"), "{e}");
        assert!(!e.contains("c2VjcmV0"), "{e}");

        std::fs::write(&cert_file, "no certificate here").unwrap();
        let e = Tls::load(&cert_file, &key_file).unwrap_err().to_string();
        assert!(e.contains("c.pem") && e.contains("no CERTIFICATE"), "{e}");
        let e = Tls::load(&dir.path().join("absent.pem"), &key_file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.pem"), "{e}");
    }
}
