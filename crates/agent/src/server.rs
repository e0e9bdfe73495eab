//! The agent's HTTP front: the AWS agent's checks in its order (connection limit,
//! SSRF token and forwarding, method), its routes, and Coffer's additions
//! (`/ready`, `/metrics`). Listens on loopback only.

use crate::cache::{Answer, Cache};
use crate::metrics::Metrics;
use crate::request::{self, Refusal};
use crate::token::SsrfToken;
use crate::upstream::Upstream;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

pub struct Agent {
    pub token: SsrfToken,
    pub ssrf_headers: Vec<String>,
    pub path_prefix: String,
    pub max_conn: usize,
    pub cache: Cache,
    pub upstream: Upstream,
    pub roles: crate::roles::Roles,
    pub metrics: Arc<Metrics>,
    pub ready: AtomicBool,
    /// Counts pushed changes applied (or full refreshes): each waiter holds
    /// its own receiver, so the file sinks and `agent exec` all hear each.
    pub changed: tokio::sync::watch::Sender<u64>,
    /// True while the agent holds a live change-stream subscription.
    pub subscribed: AtomicBool,
    pub in_flight: AtomicUsize,
}

fn text(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(body.into()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Counts a request in flight for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Agent {
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Full<Bytes>> {
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = InFlight(&self.in_flight);
        match self.answer(&req, n).await {
            Ok(r) => r,
            Err((status, msg)) => {
                self.metrics.refused.fetch_add(1, Ordering::Relaxed);
                text(status, msg)
            }
        }
    }

    async fn answer<B>(
        &self,
        req: &Request<B>,
        in_flight: usize,
    ) -> Result<Response<Full<Bytes>>, Refusal> {
        let path = req.uri().path();
        let open = matches!(path, "/ping" | "/ready" | "/metrics");
        // Health checks get a little headroom over the limit, as in the AWS agent.
        let limit = if open {
            self.max_conn + 2
        } else {
            self.max_conn
        };
        if in_flight > limit {
            return Err((429, "Connection limit exceeded".into()));
        }
        if !open {
            self.check_token(req)?;
        }
        if req.method() != Method::GET {
            return Err((405, "Not allowed".into()));
        }
        let query = req.uri().query().unwrap_or("");
        match path {
            "/ping" => Ok(text(200, "healthy")),
            "/ready" if self.ready.load(Ordering::SeqCst) => Ok(text(200, "ready")),
            "/ready" => Ok(text(503, "prefetching")),
            "/metrics" => Ok(text(200, self.metrics.render())),
            "/secretsmanager/get" => self.fetch(request::from_query(query)?).await,
            p if p.starts_with(self.path_prefix.as_str()) => {
                self.fetch(request::from_path(p, query, &self.path_prefix)?)
                    .await
            }
            _ => Err((404, "Not found".into())),
        }
    }

    fn check_token<B>(&self, req: &Request<B>) -> Result<(), Refusal> {
        let headers = req.headers();
        if headers.contains_key("x-forwarded-for") {
            tracing::warn!("rejecting a request with X-Forwarded-For");
            return Err((400, "Forwarded".into()));
        }
        let ok = self
            .ssrf_headers
            .iter()
            .filter_map(|h| headers.get(h.as_str()))
            .any(|v| self.token.matches(v.as_bytes()));
        if ok {
            Ok(())
        } else {
            tracing::warn!("rejecting a request with a missing or wrong SSRF token");
            Err((403, "Bad Token".into()))
        }
    }

    /// Re-reads every cached answer for a secret that changed (names and ARNs in
    /// `ids`). A definite error (deleted, gone) drops the entry so the next caller
    /// gets it from the upstream; a transient one keeps the old value.
    pub async fn refresh(&self, ids: &[&str]) {
        self.refresh_keys(self.cache.keys_for(ids)).await;
    }

    /// Re-reads every cached answer (the change stream lost its place).
    pub async fn refresh_all(&self) {
        self.refresh_keys(self.cache.keys()).await;
    }

    async fn refresh_keys(&self, keys: Vec<crate::cache::Key>) {
        for key in keys {
            let role_upstream;
            let upstream = match &key.3 {
                None => &self.upstream,
                Some(role) => {
                    if let Some(u) = self.roles.existing(role).await {
                        role_upstream = u;
                        &*role_upstream
                    } else {
                        self.cache.remove(&key);
                        continue;
                    }
                }
            };
            match upstream
                .get(&key.0, key.1.as_deref(), key.2.as_deref())
                .await
            {
                Ok(body) => self.cache.insert(key, body),
                Err(e) if !e.transient => self.cache.remove(&key),
                Err(_) => {}
            }
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The upstream to read through: the agent's own, or an assumed role's.
    pub async fn upstream_for(
        &self,
        role_arn: Option<&str>,
    ) -> Result<Option<Arc<Upstream>>, crate::upstream::UpstreamError> {
        let Some(role) = role_arn else {
            return Ok(None);
        };
        let (up, evicted) = self.roles.upstream(role).await?;
        for r in evicted {
            self.cache.remove_role(&r);
        }
        Ok(Some(up))
    }

    async fn fetch(&self, q: request::Query) -> Result<Response<Full<Bytes>>, Refusal> {
        let role = match self.upstream_for(q.role_arn.as_deref()).await {
            Ok(r) => r,
            Err(e) => return Ok(text(e.status, e.body)),
        };
        let upstream = role.as_deref().unwrap_or(&self.upstream);
        let key = (
            q.secret_id.clone(),
            q.version_id.clone(),
            q.version_stage.clone(),
            q.role_arn.clone(),
        );
        let answer = self
            .cache
            .get(key, q.refresh_now, || {
                upstream.get(
                    &q.secret_id,
                    q.version_id.as_deref(),
                    q.version_stage.as_deref(),
                )
            })
            .await;
        let one_key = |body: Bytes| match &q.json_key {
            None => Ok(body),
            Some(k) => request::json_key(&body, k).map(Bytes::from),
        };
        Ok(match answer {
            Ok(Answer::Fresh(body)) => match one_key(body) {
                Ok(b) => text(200, b),
                Err((status, msg)) => text(status, msg),
            },
            Ok(Answer::Stale(body, age)) => {
                let body = match one_key(body) {
                    Ok(b) => b,
                    Err((status, msg)) => return Ok(text(status, msg)),
                };
                let mut r = text(200, body);
                if let Ok(v) = hyper::header::HeaderValue::from_str(&age.as_secs().to_string()) {
                    r.headers_mut().insert("x-coffer-stale-seconds", v);
                }
                r
            }
            Err(e) => text(e.status, e.body),
        })
    }
}
