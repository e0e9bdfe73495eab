//! What every route shares: the handler's state, reading a body within its caps,
//! the authenticated caller, and building answers.

use crate::auth::{Authenticator, Verified};
use crate::body::Body;
use crate::HttpConfig;
use bytes::Bytes;
use coffer_api::{ApiError, ErrorCode};
use coffer_core::{Caller, Service};
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
    let mut r = response(e.code.status(), JSON_11, request_id, e.to_body());
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
        Handler {
            auth: Authenticator::new(svc.clone(), cfg.regions.clone()),
            svc,
            cfg,
            closing,
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
        Caller::signed(
            &verified.cred,
            verified.region,
            peer.ip().to_string(),
            user_agent,
            request_id.to_string(),
            parts.extensions.get::<SecureTransport>().is_some(),
        )
    }
}
