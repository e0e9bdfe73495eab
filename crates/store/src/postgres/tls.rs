//! TLS to PostgreSQL with rustls (the aws-lc provider the rest of Coffer uses).
//!
//! Used when the URL says `sslmode=require`, and then strictly: the server's
//! certificate must chain to the system's roots or to the CA file given
//! (`database_ca_file`) and name the host connected to, as libpq's
//! `verify-full`. Without it connections are plain (`sslmode=prefer` would
//! otherwise take any certificate, which protects against nothing).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

/// Makes verified TLS connections for tokio-postgres.
#[derive(Clone)]
pub struct Rustls {
    config: Arc<rustls::ClientConfig>,
    roots: Arc<rustls::RootCertStore>,
}

impl Rustls {
    /// Trusts the system's roots and, when given, every certificate in `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<Rustls, String> {
        Self::trusting(ca_file, "database CA file")
    }

    /// The same, with `what` naming the CA file in errors (other clients
    /// that verify servers the same way: the event bus's webhooks).
    pub fn trusting(ca_file: Option<&Path>, what: &str) -> Result<Rustls, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A system certificate rustls cannot use is skipped, as browsers do.
            let _ = roots.add(cert);
        }
        if let Some(path) = ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("reading the {what} {}: {e}", path.display()))?;
            let mut count = 0;
            for der in CertificateDer::pem_slice_iter(&pem) {
                let der = der.map_err(|e| format!("the {what} {}: {e}", path.display()))?;
                roots
                    .add(der)
                    .map_err(|e| format!("the {what} {}: {e}", path.display()))?;
                count += 1;
            }
            if count == 0 {
                return Err(format!(
                    "the {what} {} holds no PEM certificate",
                    path.display()
                ));
            }
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        Ok(Rustls {
            config: Arc::new(config),
            roots,
        })
    }

    /// The certificates trusted (for a verifier that trusts more besides).
    pub fn roots(&self) -> Arc<rustls::RootCertStore> {
        self.roots.clone()
    }

    /// The rustls client configuration, for connections made by hand.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }
}

impl<S> MakeTlsConnect<S> for Rustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Connect> {
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Connect {
            config: self.config.clone(),
            name,
        })
    }
}

pub struct Connect {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            Ok(TlsStream(tls))
        })
    }
}

pub struct TlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
