//! One request: route, cap the body, authenticate, call the service, answer.

use crate::auth::{Authenticator, Verified};
use crate::body::Body;
use crate::{metrics, HttpConfig};
use bytes::Bytes;
use coffer_api::{ApiError, ErrorCode, SecretsManagerOperation};
use coffer_core::{Caller, Service};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

const JSON_11: &str = "application/x-amz-json-1.1";
/// The change stream (server-sent events); see `events.rs`.
pub const EVENTS_PATH: &str = "/coffer/v1/events";
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct Handler {
    pub(crate) svc: Arc<Service>,
    cfg: HttpConfig,
    pub(crate) auth: Authenticator,
    /// Turns true when shutdown starts, ending open event streams.
    pub closing: tokio::sync::watch::Sender<bool>,
}

fn response(status: u16, content_type: &str, request_id: &str, body: Vec<u8>) -> Response<Body> {
    with_body(
        status,
        content_type,
        request_id,
        Body::full(Bytes::from(body)),
    )
}

fn with_body(status: u16, content_type: &str, request_id: &str, body: Body) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .header("x-amzn-requestid", request_id)
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::full(Bytes::new())))
}

fn error_response(e: &ApiError, request_id: &str) -> Response<Body> {
    let mut r = response(e.code.status(), JSON_11, request_id, e.to_body());
    if let Ok(v) = hyper::header::HeaderValue::from_str(e.code.as_str()) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Handler {
    pub fn new(svc: Arc<Service>, cfg: HttpConfig) -> Self {
        let (closing, _) = tokio::sync::watch::channel(false);
        Handler {
            auth: Authenticator::new(svc.clone(), cfg.regions.clone()),
            svc,
            cfg,
            closing,
        }
    }

    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let request_id = uuid::Uuid::new_v4().to_string();
        if req.method() == Method::GET && req.uri().path() == EVENTS_PATH {
            return match self.events(req, peer, &request_id).await {
                Ok(r) => r,
                Err(e) => error_response(&e, &request_id),
            };
        }
        if req.method() == Method::GET {
            return match req.uri().path() {
                "/health" | "/ping" => response(
                    200,
                    "application/json",
                    &request_id,
                    br#"{"status":"ok"}"#.to_vec(),
                ),
                "/metrics" => response(
                    200,
                    "text/plain; version=0.0.4",
                    &request_id,
                    metrics::render().into_bytes(),
                ),
                _ => error_response(&ApiError::new(ErrorCode::UnknownOperation, ""), &request_id),
            };
        }
        if req.method() == Method::POST && req.uri().path() == crate::accounts::ACCOUNTS_PATH {
            return match self.create_account(req, peer, &request_id).await {
                Ok(body) => response(200, "application/json", &request_id, body),
                Err(e) => error_response(&e, &request_id),
            };
        }
        if req.method() == Method::POST && !req.headers().contains_key("x-amz-target") {
            return self.query(req, peer, &request_id).await;
        }
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_prefix("secretsmanager."))
            .unwrap_or("")
            .to_string();
        // Metrics and logs name only operations of the model, never what a
        // client made up.
        let op = SecretsManagerOperation::known(&target).unwrap_or("unknown");
        let span = tracing::info_span!("request", request_id = %request_id, operation = %op);
        let started = Instant::now();
        let result = self
            .api(req, peer, &target, &request_id)
            .instrument(span.clone())
            .await;
        let (resp, code) = match result {
            Ok(body) => (response(200, JSON_11, &request_id, body), "OK"),
            Err(e) => {
                span.in_scope(|| tracing::info!(code = e.code.as_str(), "request refused"));
                (error_response(&e, &request_id), e.code.as_str())
            }
        };
        let elapsed = started.elapsed().as_secs_f64();
        metrics::record(op, resp.status().as_u16(), code, elapsed);
        span.in_scope(|| {
            tracing::debug!(
                status = resp.status().as_u16(),
                elapsed_ms = elapsed * 1e3,
                "request done"
            )
        });
        resp
    }

    /// Reads the body within the size and time caps.
    pub(crate) async fn read_body(
        &self,
        req: Request<Incoming>,
    ) -> Result<(hyper::http::request::Parts, Bytes), ApiError> {
        let too_large =
            || ApiError::new(ErrorCode::RequestEntityTooLarge, "Request entity too large");
        let declared = req
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.cfg.max_body_bytes) {
            return Err(too_large());
        }
        let (parts, body) = req.into_parts();
        // A client that sends headers and then trickles its body is cut off.
        let collect = Limited::new(body, self.cfg.max_body_bytes).collect();
        let body = tokio::time::timeout(BODY_TIMEOUT, collect)
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::RequestTimeout,
                    "The request body was not received in time.",
                )
            })?
            .map_err(|_| too_large())?
            .to_bytes();
        Ok((parts, body))
    }

    pub(crate) fn caller(
        verified: Verified,
        parts: &hyper::http::request::Parts,
        peer: SocketAddr,
        request_id: &str,
    ) -> Caller {
        let user_agent = parts
            .headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(256)
            .collect();
        Caller {
            account_id: verified.cred.account_id.clone(),
            principal_arn: verified.cred.principal_arn.clone(),
            access_key_id: verified.cred.access_key_id.clone(),
            region: verified.region,
            source_ip: peer.ip().to_string(),
            user_agent,
            request_id: request_id.to_string(),
            session: verified.cred.session.clone(),
            internal: false,
        }
    }

    async fn api(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        target: &str,
        request_id: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let (parts, body) = self.read_body(req).await?;
        let verified = self
            .auth
            .verify(&parts, &body, now_secs(), &["secretsmanager"])
            .await?;
        if parts.method != Method::POST {
            return Err(ApiError::new(ErrorCode::UnknownOperation, ""));
        }
        let caller = Self::caller(verified, &parts, peer, request_id);
        self.svc.call(&caller, target, &body).await
    }
}

impl Handler {
    /// Authenticates a GET on the change stream and starts the subscription.
    async fn events(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Result<Response<Body>, ApiError> {
        let (parts, _) = req.into_parts();
        let verified = self
            .auth
            .verify(&parts, b"", now_secs(), &["secretsmanager"])
            .await?;
        let last_id = parts
            .headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok());
        let after = crate::events::resume_point(parts.uri.query(), last_id);
        tracing::info!(account = %verified.cred.account_id, ?after, "change stream subscribed");
        let caller = Self::caller(verified, &parts, peer, request_id);
        let body =
            crate::events::subscribe(self.svc.clone(), caller, after, self.closing.subscribe());
        let mut r = with_body(200, "text/event-stream", "", body);
        r.headers_mut().insert(
            "cache-control",
            hyper::header::HeaderValue::from_static("no-cache"),
        );
        Ok(r)
    }
}
