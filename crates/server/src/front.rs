//! What every route shares: the handler's state, reading a body within its caps,
//! the authenticated caller, and building answers.

use crate::auth::{Authenticator, Verified};
use crate::body::Body;
use crate::HttpConfig;
use bytes::Bytes;
use coffer_api::{ApiError, ErrorCode};
use coffer_core::{Caller, RejectedCall, Service};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) const JSON_11: &str = "application/x-amz-json-1.1";
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Marks a request that arrived over TLS (a request extension, set per
/// connection); its absence means plain HTTP, so a request is never taken for
/// secure by mistake.
#[derive(Clone, Copy)]
pub(crate) struct SecureTransport;

pub struct Handler {
    pub(crate) svc: Arc<Service>,
    pub(crate) cfg: HttpConfig,
    pub(crate) auth: Authenticator,
    /// Turns true when shutdown starts, ending open event streams.
    pub closing: tokio::sync::watch::Sender<bool>,
    /// The change streams open now.
    pub(crate) streams: Arc<crate::streams::Streams>,
    pub(crate) quotas: crate::quota::Quotas,
}

pub(crate) fn response(
    status: u16,
    content_type: &str,
    request_id: &str,
    body: Vec<u8>,
) -> Response<Body> {
    with_body(
        status,
        content_type,
        request_id,
        Body::full(Bytes::from(body)),
    )
}

pub(crate) fn with_body(
    status: u16,
    content_type: &str,
    request_id: &str,
    body: Body,
) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .header("x-amzn-requestid", request_id)
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::full(Bytes::new())))
}

pub(crate) fn error_response(e: &ApiError, request_id: &str) -> Response<Body> {
    error_response_with(e, request_id, e.to_body())
}

pub(crate) fn error_response_with(e: &ApiError, request_id: &str, body: Vec<u8>) -> Response<Body> {
    let mut r = response(e.code.status(), JSON_11, request_id, body);
    if let Ok(v) = hyper::header::HeaderValue::from_str(e.code.as_str()) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Handler {
    pub fn new(svc: Arc<Service>, cfg: HttpConfig) -> Self {
        let (closing, _) = tokio::sync::watch::channel(false);
        let quotas = crate::quota::Quotas::new(cfg.quotas);
        Handler {
            auth: Authenticator::new(svc.clone(), cfg.regions.clone()),
            svc,
            cfg,
            closing,
            streams: Arc::default(),
            quotas,
        }
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

    /// Verifies a request's signature for one of `services`; a refusal is
    /// audited (with the key id it claimed and where it came from) before it is
    /// answered. `operation` names what the request asked for, if known.
    pub(crate) async fn authenticate(
        &self,
        parts: &hyper::http::request::Parts,
        body: &[u8],
        services: &[&str],
        operation: &str,
        peer: SocketAddr,
        request_id: &str,
    ) -> Result<Verified, ApiError> {
        let e = match self.auth.verify(parts, body, now_secs(), services).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
        let claimed =
            header("authorization").and_then(|h| coffer_sigv4::parse_authorization(h).ok());
        let (key, region) = claimed
            .as_ref()
            .map_or(("", ""), |a| (a.access_key_id.as_str(), a.region.as_str()));
        let service = claimed.as_ref().map_or(services[0], |a| a.service.as_str());
        let source = match service {
            "iam" => "iam.amazonaws.com",
            "sts" => "sts.amazonaws.com",
            "events" => "events.amazonaws.com",
            "cloudtrail" => "cloudtrail.amazonaws.com",
            "kms" => "kms.amazonaws.com",
            _ => "secretsmanager.amazonaws.com",
        };
        let record = RejectedCall {
            event_name: if operation.is_empty() {
                "Authenticate"
            } else {
                operation
            },
            event_source: source,
            access_key_id: key,
            region,
            source_ip: &peer.ip().to_string(),
            user_agent: &user_agent(parts),
            request_id,
        };
        self.svc.audit_rejected(&record, &e).await;
        Err(e)
    }

    /// The caller's address, user agent and whether it came over TLS.
    pub(crate) fn caller_parts(
        parts: &hyper::http::request::Parts,
        peer: SocketAddr,
    ) -> (String, String, bool) {
        (
            peer.ip().to_string(),
            user_agent(parts),
            parts.extensions.get::<SecureTransport>().is_some(),
        )
    }

    pub(crate) fn caller(
        verified: Verified,
        parts: &hyper::http::request::Parts,
        peer: SocketAddr,
        request_id: &str,
    ) -> Caller {
        Caller::signed(
            &verified.cred,
            verified.region,
            peer.ip().to_string(),
            user_agent(parts),
            request_id.to_string(),
            parts.extensions.get::<SecureTransport>().is_some(),
        )
    }
}

fn user_agent(parts: &hyper::http::request::Parts) -> String {
    user_agent_of(&parts.headers)
}

/// The client's `User-Agent`, cut to a length fit for a log line.
pub(crate) fn user_agent_of(headers: &hyper::HeaderMap) -> String {
    headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(256)
        .collect()
}
