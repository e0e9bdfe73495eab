//! The Coffer agent: a localhost caching agent that is a drop-in for the AWS
//! Secrets Manager Agent (same endpoints, headers, SSRF token, bodies and config
//! keys), in front of Coffer or of AWS, with pre-fetching at startup.
//!
//! It talks to its upstream only through the official AWS SDK for Rust, so the
//! standard credential chain and `AWS_ENDPOINT_URL` decide where it points; an
//! `https://` upstream is trusted by the system's roots and the CA bundle of
//! `[coffer] ca_bundle` or `AWS_CA_BUNDLE` (`trust`).

mod cache;
pub mod config;
mod file_credentials;
mod metrics;
mod prefetch;
mod push;
mod request;
mod roles;
mod server;
mod sink;
pub mod token;
pub mod trust;
mod upstream;

pub use config::AgentConfig;
pub use metrics::Metrics;
pub use request::json_text;
pub use token::SsrfToken;
pub use trust::{Trust, TrustError};

use aws_sdk_secretsmanager as sm;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use server::Agent;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The upstream an agent reads from: its SDK client, and the endpoint it was
/// pointed at (Coffer) or None (AWS's regional endpoint).
pub struct Upstream {
    pub client: sm::Client,
    pub endpoint: Option<String>,
    /// What the change-stream subscription signs with (the client's own).
    pub region: Option<String>,
    pub credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    /// What `client` trusts; role clients and the change stream trust the same.
    pub trust: Trust,
}

pub struct AgentHandle {
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    agent: Arc<Agent>,
}

impl AgentHandle {
    /// A receiver that wakes at each change the server pushes (or full
    /// refresh) from now on; keep it across waits so none is missed.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.agent.changed.subscribe()
    }

    /// True once the startup prefetch has finished.
    pub fn is_ready(&self) -> bool {
        self.agent.ready.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// True while the agent is subscribed to the upstream's change stream.
    pub fn is_subscribed(&self) -> bool {
        self.agent
            .subscribed
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops accepting and lets in-flight requests finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// An SDK client from the standard chain (environment, profile, container and
/// instance credentials; `AWS_ENDPOINT_URL`), with the config's region,
/// credentials file and CA bundle (else `AWS_CA_BUNDLE`) applied.
pub async fn sdk_client(cfg: &AgentConfig) -> Result<Upstream, TrustError> {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    upstream_with(cfg, loader, |k| std::env::var(k).ok()).await
}

/// The same from a loader the caller has prepared (an endpoint, credentials), with
/// `env` standing for the process environment where the agent reads it itself
/// (`AWS_CA_BUNDLE`).
pub async fn upstream_with(
    cfg: &AgentConfig,
    mut loader: aws_config::ConfigLoader,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Upstream, TrustError> {
    let trust = Trust::resolve(cfg.ca_bundle.as_deref(), env)?;
    // Credential providers that make HTTP calls (container, SSO) use it too.
    loader = loader.http_client(trust.http_client());
    if let Some(r) = &cfg.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(path) = &cfg.credentials_file_path {
        // Re-read when it changes, as the Workload Credentials Provider does.
        loader = loader.credentials_provider(file_credentials::FileCredentials::new(path.clone()));
    }
    let sdk = loader.load().await;
    Ok(Upstream {
        client: sm::Client::new(&sdk),
        endpoint: sdk.endpoint_url().map(str::to_string),
        region: sdk.region().map(std::string::ToString::to_string),
        credentials: sdk.credentials_provider(),
        trust,
    })
}

/// Binds `http_address`:`port` (0 picks a free port), starts the prefetch, and serves.
pub async fn start(
    cfg: &AgentConfig,
    token: SsrfToken,
    upstream: Upstream,
    port: u16,
) -> std::io::Result<AgentHandle> {
    let Upstream {
        client,
        endpoint,
        region,
        credentials,
        trust,
    } = upstream;
    let metrics = Arc::new(Metrics::default());
    let roles = roles::Roles::new(
        match (&region, &credentials) {
            (Some(region), Some(credentials)) => Some(roles::Base {
                endpoint: endpoint.clone(),
                region: region.clone(),
                credentials: credentials.clone(),
                trust: trust.clone(),
            }),
            _ => None,
        },
        cfg.max_roles,
        cfg.allowed_roles.clone(),
        metrics.clone(),
    );
    // Pushed refresh needs an explicit endpoint (Coffer); in front of AWS, TTL only.
    let push_source = match (endpoint, credentials, region) {
        (Some(endpoint), Some(credentials), Some(region)) => Some(push::Source {
            endpoint,
            region,
            credentials,
            trust,
        }),
        _ => None,
    };
    let agent = Arc::new(Agent {
        token,
        ssrf_headers: cfg
            .ssrf_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        path_prefix: cfg.path_prefix.clone(),
        max_conn: cfg.max_conn,
        cache: cache::Cache::new(
            cfg.ttl,
            cfg.cache_size,
            cfg.max_stale,
            cfg.ignore_transient_errors,
            metrics.clone(),
        ),
        upstream: upstream::Upstream::new(client, metrics.clone()),
        roles,
        metrics: metrics.clone(),
        ready: AtomicBool::new(
            cfg.prefetch.secrets.is_empty() && cfg.prefetch.filter_tags.is_empty(),
        ),
        in_flight: AtomicUsize::new(0),
        subscribed: AtomicBool::new(false),
        changed: tokio::sync::watch::channel(0).0,
    });
    // Loopback only: the agent is for processes on this host.
    if !cfg.http_address.is_loopback() {
        tracing::warn!(address = %cfg.http_address, "the agent listens beyond this host: every caller on that network who has the SSRF token can read what the agent's credentials can");
    }
    let listener = tokio::net::TcpListener::bind((cfg.http_address, port)).await?;
    let addr = listener.local_addr()?;
    let (stop, mut stop_rx) = watch::channel(false);
    if !agent.ready.load(std::sync::atomic::Ordering::SeqCst) {
        let (a, p, size) = (agent.clone(), cfg.prefetch.clone(), cfg.cache_size);
        tokio::spawn(async move { prefetch::run(&a, &p, size).await });
    }
    if !cfg.files.is_empty() {
        let period = if cfg.ttl.is_zero() {
            Duration::from_secs(30)
        } else {
            cfg.ttl
        };
        tokio::spawn(sink::run(
            agent.clone(),
            cfg.files.clone(),
            period,
            stop_rx.clone(),
        ));
    }
    if let Some(source) = push_source {
        tokio::spawn(push::run(agent.clone(), source, stop_rx.clone()));
    }
    let served = agent.clone();
    let task = tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop_rx.changed() => break,
            };
            let _ = stream.set_nodelay(true);
            let a = served.clone();
            let svc = hyper::service::service_fn(move |req| {
                let a = a.clone();
                async move { Ok::<_, std::convert::Infallible>(a.handle(req).await) }
            });
            // Keep-alive connections stay open as long as the client keeps them;
            // only a stalled request head is cut off.
            let conn = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), svc);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
    });
    tracing::info!(%addr, "coffer agent listening");
    Ok(AgentHandle {
        addr,
        metrics,
        stop,
        task,
        agent,
    })
}
