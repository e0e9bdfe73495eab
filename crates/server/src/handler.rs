//! One request: route, cap the body, authenticate, call the service, answer.

use crate::auth::Authenticator;
use crate::{metrics, HttpConfig};
use bytes::Bytes;
use coffer_api::{ApiError, ErrorCode};
use coffer_core::{Caller, Service};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

const JSON_11: &str = "application/x-amz-json-1.1";
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Operations of the Secrets Manager model that later work will add; callers get a
/// clear answer instead of an unexplained UnknownOperationException.
const NOT_YET: &[&str] = &[
    "RotateSecret",
    "CancelRotateSecret",
    "PutResourcePolicy",
    "GetResourcePolicy",
    "DeleteResourcePolicy",
    "ValidateResourcePolicy",
    "ReplicateSecretToRegions",
    "RemoveRegionsFromReplication",
    "StopReplicationToReplica",
    "ListResourcePolicies",
    "AssociateCrossAccountReplica",
    "DisassociateCrossAccountReplica",
];

pub struct Handler {
    svc: Arc<Service>,
    cfg: HttpConfig,
    auth: Authenticator,
}

fn response(
    status: u16,
    content_type: &str,
    request_id: &str,
    body: Vec<u8>,
) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .header("x-amzn-requestid", request_id)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn error_response(e: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    let mut r = response(e.code.status(), JSON_11, request_id, e.to_body());
    if let Ok(v) = hyper::header::HeaderValue::from_str(e.code.as_str()) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Handler {
    pub fn new(svc: Arc<Service>, cfg: HttpConfig) -> Self {
        Handler {
            auth: Authenticator::new(svc.clone(), cfg.regions.clone()),
            svc,
            cfg,
        }
    }

    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let request_id = uuid::Uuid::new_v4().to_string();
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
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_prefix("secretsmanager."))
            .unwrap_or("")
            .to_string();
        let op = if Service::knows(&target) {
            target.as_str()
        } else {
            "unknown"
        };
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

    async fn api(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        target: &str,
        request_id: &str,
    ) -> Result<Vec<u8>, ApiError> {
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
        let verified = self.auth.verify(&parts, &body, now_secs()).await?;
        if NOT_YET.contains(&target) {
            return Err(ApiError::new(
                ErrorCode::UnknownOperation,
                format!("{target} is not implemented by this Coffer server yet."),
            ));
        }
        if req_method_is_not_post(&parts.method) || !Service::knows(target) {
            return Err(ApiError::new(ErrorCode::UnknownOperation, ""));
        }
        let user_agent = parts
            .headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(256)
            .collect();
        let caller = Caller {
            account_id: verified.cred.account_id.clone(),
            principal_arn: verified.cred.principal_arn.clone(),
            access_key_id: verified.cred.access_key_id.clone(),
            region: verified.region,
            source_ip: peer.ip().to_string(),
            user_agent,
            request_id: request_id.to_string(),
        };
        self.svc.call(&caller, target, &body).await
    }
}

fn req_method_is_not_post(m: &Method) -> bool {
    m != Method::POST
}
