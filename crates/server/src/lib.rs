//! HTTP for Coffer: the AWS JSON 1.1 protocol, SigV4 authentication, TLS, connection
//! and body caps, metrics, and graceful shutdown.
//!
//! The service layer never sees HTTP, and this crate never touches the store: it
//! verifies the caller, routes `X-Amz-Target` to [`coffer_core::Service::call`],
//! and writes the answer.

mod accounts;
mod auth;
mod body;
mod console;
mod console_sessions;
mod events;
mod front;
mod handler;
mod json_service;
mod metrics;
mod query;
mod quota;
mod streams;
mod tls;

use coffer_core::Service;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use auth::Authenticator;
pub use handler::EVENTS_PATH;
pub use quota::QuotaConfig;
pub use tls::{Tls, TlsError};

/// Limits and policy of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Connections served at once; further ones wait in the accept queue.
    pub max_connections: usize,
    /// The largest request body accepted. A 64 KiB binary secret is ~88 KiB in
    /// base64 JSON, so the default leaves room without inviting abuse.
    pub max_body_bytes: usize,
    /// Regions served; `None` serves any region a client signs for (dev mode).
    pub regions: Option<Vec<String>>,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// Change streams open at once, in all; each holds a connection, so they are
    /// capped apart from (and well below) ordinary requests.
    pub max_streams: usize,
    /// Change streams one access key may hold open at once.
    pub max_streams_per_key: usize,
    /// Request quotas per principal (an account gets four times as much).
    pub quotas: QuotaConfig,
    /// TLS on every connection; None serves plain HTTP.
    pub tls: Option<Tls>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_connections: 1024,
            max_body_bytes: 256 * 1024,
            regions: None,
            drain_timeout: Duration::from_secs(30),
            max_streams: 256,
            max_streams_per_key: 8,
            quotas: QuotaConfig::UNLIMITED,
            tls: None,
        }
    }
}

/// Serves until `shutdown` resolves, then stops accepting and waits (up to the
/// drain timeout) for in-flight requests to finish.
pub async fn serve(
    listener: TcpListener,
    svc: Arc<Service>,
    cfg: HttpConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // Install the recorder before the first request, or early counts are lost.
    metrics::handle();
    let handler = Arc::new(front::Handler::new(svc, cfg.clone()));
    let permits = Arc::new(Semaphore::new(cfg.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off, don't spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let h = handler.clone();
        // Taken before the handshake, so a shutdown that starts during it still
        // reaches the connection that follows.
        let watcher = graceful.watcher();
        let tls = cfg.tls.clone();
        tokio::spawn(async move {
            match tls {
                None => connection(stream, h, peer, false, watcher).await,
                Some(tls) => {
                    if let Some(s) = tls.accept(stream, h.closing.subscribe()).await {
                        connection(s, h, peer, true, watcher).await;
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    // Event streams never end on their own: close them so the drain can finish.
    let _ = handler.closing.send(true);
    tracing::info!("shutting down: waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(cfg.drain_timeout) => tracing::warn!("drain timeout reached; closing remaining connections"),
    }
    Ok(())
}

/// Serves HTTP/1.1 on one connection, plain or TLS, until it ends or shutdown
/// closes it.
async fn connection<I>(
    io: I,
    handler: Arc<front::Handler>,
    peer: SocketAddr,
    secure: bool,
    watcher: Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc_fn = hyper::service::service_fn(move |mut req| {
        if secure {
            req.extensions_mut().insert(front::SecureTransport);
        }
        let h = handler.clone();
        async move { Ok::<_, std::convert::Infallible>(h.handle(req, peer).await) }
    });
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(io), svc_fn);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Binds `addr`, returning the listener and the address actually bound (port 0
/// picks a free port).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}
