//! One request: route, cap the body, authenticate, call the service, answer.

use crate::body::Body;
use crate::front::{error_response, error_response_with, response, with_body, Handler, JSON_11};
use crate::json_service::{JsonService, REPLICATION_PREFIX};
use crate::metrics;
use crate::quota::Family;
use coffer_api::{ApiError, ErrorCode};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use std::net::SocketAddr;
use std::time::Instant;
use tracing::Instrument;

/// The change stream (server-sent events); see `events.rs`.
pub const EVENTS_PATH: &str = "/coffer/v1/events";

impl Handler {
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let request_id = uuid::Uuid::new_v4().to_string();
        if req.method() == Method::GET && req.uri().path() == EVENTS_PATH {
            return match self.events(req, peer, &request_id).await {
                Ok(r) => r,
                Err(e) => error_response(&e, &request_id),
            };
        }
        let path = req.uri().path();
        if path == crate::console::PREFIX || path.starts_with("/console/") {
            return self.console(req, peer, &request_id).await;
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
        let header = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (service, target) = if let Some(t) = header.strip_prefix("AWSEvents.") {
            (JsonService::Events, t.to_string())
        } else if let Some(t) = header.strip_prefix("TrentService.") {
            (JsonService::Kms, t.to_string())
        } else if let Some(t) = header.strip_prefix(coffer_core::trail::TARGET_PREFIX) {
            (JsonService::CloudTrail, t.to_string())
        } else if let Some(t) = header.strip_prefix(REPLICATION_PREFIX) {
            (JsonService::Replication, t.to_string())
        } else {
            (
                JsonService::SecretsManager,
                header
                    .strip_prefix("secretsmanager.")
                    .unwrap_or("")
                    .to_string(),
            )
        };
        // Metrics and logs name only operations of the model, never what a
        // client made up.
        let known = service.known(&target);
        let op = known.unwrap_or("unknown");
        let span = tracing::info_span!("request", request_id = %request_id, operation = %op);
        let started = Instant::now();
        let result = self
            .api(req, peer, service, &target, known, &request_id)
            .instrument(span.clone())
            .await;
        let (resp, code) = match result {
            Ok(body) => (response(200, JSON_11, &request_id, body), "OK"),
            Err(e) => {
                span.in_scope(|| tracing::info!(code = e.code.as_str(), "request refused"));
                let body = if service == JsonService::SecretsManager {
                    e.to_secrets_manager_body()
                } else {
                    e.to_body()
                };
                (error_response_with(&e, &request_id, body), e.code.as_str())
            }
        };
        let elapsed = started.elapsed().as_secs_f64();
        metrics::record(op, resp.status().as_u16(), code, elapsed);
        span.in_scope(|| {
            tracing::debug!(
                status = resp.status().as_u16(),
                elapsed_ms = elapsed * 1e3,
                "request done"
            );
        });
        resp
    }

    async fn api(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        service: JsonService,
        target: &str,
        // The model's name for `target`, if it has one (looked up by the caller).
        known: Option<&'static str>,
        request_id: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let (parts, body) = self.read_body(req).await?;
        let op = known.unwrap_or("");
        let verified = self
            .authenticate(
                &parts,
                &body,
                &[service.signing_name()],
                op,
                peer,
                request_id,
            )
            .await?;
        if parts.method != Method::POST {
            return Err(ApiError::new(ErrorCode::UnknownOperation, ""));
        }
        let caller = Self::caller(verified, &parts, peer, request_id);
        self.dispatch(&caller, service, target, &body).await
    }

    /// Runs an authenticated caller's call, within its quota: the signed
    /// API's path and the console's alike.
    pub(crate) async fn dispatch(
        &self,
        caller: &coffer_core::Caller,
        service: JsonService,
        target: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        let family = if service.is_read_only(target) {
            Family::Read
        } else {
            Family::Write
        };
        self.quotas
            .take(family, &caller.principal_arn, &caller.account_id)?;
        match service {
            JsonService::SecretsManager => self.svc.call(caller, target, body).await,
            JsonService::Events => self.svc.call_events(caller, target, body).await,
            JsonService::CloudTrail => self.svc.call_cloudtrail(caller, target, body).await,
            JsonService::Kms => self.svc.call_kms(caller, target, body).await,
            JsonService::Replication => self.svc.call_replication(caller, target, body).await,
        }
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
            .authenticate(
                &parts,
                b"",
                &["secretsmanager"],
                "SubscribeChanges",
                peer,
                request_id,
            )
            .await?;
        let last_id = parts
            .headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok());
        let after = crate::events::resume_point(parts.uri.query(), last_id);
        tracing::info!(account = %verified.cred.account_id, ?after, "change stream subscribed");
        let caller = Self::caller(verified, &parts, peer, request_id);
        self.svc.authorize_stream(&caller).await?;
        let slot = self.streams.open(
            &caller.access_key_id,
            self.cfg.max_streams,
            self.cfg.max_streams_per_key,
        )?;
        let body = crate::events::subscribe(
            self.svc.clone(),
            caller,
            after,
            self.closing.subscribe(),
            slot,
        );
        let mut r = with_body(200, "text/event-stream", "", body);
        r.headers_mut().insert(
            "cache-control",
            hyper::header::HeaderValue::from_static("no-cache"),
        );
        Ok(r)
    }
}
