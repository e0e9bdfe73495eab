//! The web console at `/console`: static assets built into the binary, and a
//! small API the page calls.
//!
//! Sign-in takes an access key pair (or temporary credentials), checks the
//! secret in constant time, and starts a console session: a random id in an
//! HttpOnly, Secure, SameSite=Strict cookie, and a CSRF token the page sends
//! back in a header on every call. The session keeps the access key id (and
//! session token), never the secret; each call resolves the credential again,
//! so a deleted key or revoked session ends the console session at once, and
//! runs the operation through the same pipeline as a signed request: the same
//! authorization, as the signed-in principal, and the same audit records.
//! Sessions (8 hours at most, 1 idle) are kept in the store: behind a load
//! balancer, any server of a fleet serves them, and a sign-out through one
//! ends the session on all.

use crate::body::Body;
use crate::console_sessions::{self as sessions, eq_ct, ConsoleSession, LIFETIME};
use crate::front::{response, Handler, JSON_11};
use crate::json_service::JsonService;
use crate::quota::Family;
use bytes::Bytes;
use coffer_api::{ApiError, ErrorCode};
use coffer_core::context::{Caller, Credential};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

pub const PREFIX: &str = "/console";
const COOKIE: &str = "coffer_console";
const INDEX: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const APP_CSS: &str = include_str!("../console/app.css");

/// No inline script or style, nothing from elsewhere, never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A session id or CSRF token: 52 base-32 characters from the OS's RNG (260 bits).
fn random_token() -> String {
    coffer_core::ids::random_id(52)
}

fn denied(msg: &str) -> ApiError {
    ApiError::new(ErrorCode::AccessDenied, msg)
}

// A member the page does not send (a twin such as `AccessKeyId` beside
// `accessKeyId`, or `Service` beside `service`) is refused, never ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Login {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    region: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallRequest {
    service: String,
    target: String,
    #[serde(default)]
    body: serde_json::Value,
}

fn asset(status: u16, content_type: &str, request_id: &str, body: &str) -> Response<Body> {
    let mut r = response(status, content_type, request_id, body.as_bytes().to_vec());
    let h = r.headers_mut();
    h.insert(
        "content-security-policy",
        CSP.parse().expect("static header"),
    );
    h.insert("x-content-type-options", "nosniff".parse().expect("static"));
    h.insert("referrer-policy", "no-referrer".parse().expect("static"));
    h.insert("cache-control", "no-store".parse().expect("static"));
    h.insert("x-frame-options", "DENY".parse().expect("static"));
    r
}

/// The session cookie; none when there are two (a cookie planted for a
/// narrower path would be sent first, and should not decide).
fn cookie_of(parts: &hyper::http::request::Parts) -> Option<String> {
    let mut found = parts
        .headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string());
    let first = found.next();
    if found.next().is_some() {
        return None;
    }
    first
}

impl Handler {
    /// Serves `/console` and below.
    pub(crate) async fn console(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Response<Body> {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        match (method, path.as_str()) {
            (Method::GET, "/console" | "/console/") => {
                asset(200, "text/html; charset=utf-8", request_id, INDEX)
            }
            (Method::GET, "/console/app.js") => {
                asset(200, "text/javascript; charset=utf-8", request_id, APP_JS)
            }
            (Method::GET, "/console/app.css") => {
                asset(200, "text/css; charset=utf-8", request_id, APP_CSS)
            }
            (Method::POST, "/console/api/login") => self.console_login(req, peer, request_id).await,
            (Method::POST, "/console/api/logout") => self.console_logout(req, request_id).await,
            (Method::POST, "/console/api/call") => self.console_call(req, peer, request_id).await,
            _ => asset(404, "text/plain", request_id, "not found"),
        }
    }

    fn console_json(status: u16, request_id: &str, v: &serde_json::Value) -> Response<Body> {
        let mut r = response(
            status,
            "application/json",
            request_id,
            v.to_string().into_bytes(),
        );
        r.headers_mut()
            .insert("cache-control", "no-store".parse().expect("static"));
        r
    }

    fn console_error(e: &ApiError, request_id: &str) -> Response<Body> {
        // The page tells a refusal by 403, as the Query APIs answer it.
        let status = match e.code {
            ErrorCode::AccessDenied => 403,
            code => code.status(),
        };
        Self::console_json(
            status,
            request_id,
            &json!({"code": e.code.as_str(), "message": e.message}),
        )
    }

    /// The body, if the request came from this origin's page (a JSON body,
    /// and an `Origin`, when sent, naming this host).
    async fn console_body(
        &self,
        req: Request<Incoming>,
    ) -> Result<(hyper::http::request::Parts, Bytes), ApiError> {
        let (parts, body) = self.read_body(req).await?;
        let json = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let host = parts.headers.get("host").and_then(|v| v.to_str().ok());
        let origin_ok = match parts.headers.get("origin").and_then(|v| v.to_str().ok()) {
            None => true,
            Some(o) => host.is_some_and(|h| o.split_once("://").is_some_and(|(_, rest)| rest == h)),
        };
        if !json || !origin_ok {
            return Err(denied("The console accepts calls from its own page only."));
        }
        Ok((parts, body))
    }

    async fn console_login(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Response<Body> {
        let ua = crate::front::user_agent_of(req.headers());
        match self.try_login(req, peer, request_id).await {
            Ok((id, csrf, out)) => {
                let mut r =
                    Self::console_json(200, request_id, &json!({"csrf": csrf, "identity": out}));
                let cookie = format!(
                    "{COOKIE}={id}; Path={PREFIX}; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
                    LIFETIME.as_secs()
                );
                r.headers_mut()
                    .insert("set-cookie", cookie.parse().expect("hex id"));
                r
            }
            Err((e, key)) => {
                // Refused sign-ins are in the trail, as refused signatures are.
                let record = coffer_core::RejectedCall {
                    event_name: "ConsoleLogin",
                    event_source: "signin.amazonaws.com",
                    access_key_id: &key,
                    region: "",
                    source_ip: &peer.ip().to_string(),
                    user_agent: &ua,
                    request_id,
                };
                self.svc.audit_rejected(&record, &e).await;
                Self::console_error(&e, request_id)
            }
        }
    }

    async fn try_login(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Result<(String, String, serde_json::Value), (ApiError, String)> {
        let no_key = |e: ApiError| (e, String::new());
        let (parts, body) = self.console_body(req).await.map_err(no_key)?;
        self.quotas
            .take(
                Family::Iam,
                &format!("console-login:{}", crate::quota::network_of(peer.ip())),
                "console-login",
            )
            .map_err(no_key)?;
        // The secret key crosses the wire here (SigV4 never sends it): only
        // over TLS, or from this host (a TLS proxy in front on loopback).
        let secure = Self::caller_parts(&parts, peer).2;
        if !secure && !peer.ip().is_loopback() {
            return Err(no_key(denied(
                "Sign in to the console over HTTPS: the secret key would cross the network in clear.",
            )));
        }
        let login: Login = serde_json::from_slice(&body).map_err(|_| {
            no_key(ApiError::new(
                ErrorCode::SerializationException,
                "Expected accessKeyId and secretAccessKey.",
            ))
        })?;
        let key = login.access_key_id.chars().take(128).collect::<String>();
        self.sign_in(login, &parts, peer, request_id)
            .await
            .map_err(|e| (e, key))
    }

    async fn sign_in(
        &self,
        login: Login,
        parts: &hyper::http::request::Parts,
        peer: SocketAddr,
        request_id: &str,
    ) -> Result<(String, String, serde_json::Value), ApiError> {
        let refused = || denied("The access key or secret key is not valid.");
        let token = login.session_token.as_deref().filter(|t| !t.is_empty());
        let cred = self
            .credential_now(&login.access_key_id, token)
            .await?
            .ok_or_else(refused)?;
        if !eq_ct(cred.secret.as_slice(), login.secret_access_key.as_bytes()) {
            return Err(refused());
        }
        let region = login
            .region
            .filter(|r| !r.is_empty())
            .or_else(|| self.cfg.regions.as_ref().and_then(|r| r.first().cloned()))
            .unwrap_or_else(|| "us-east-1".into());
        if !crate::auth::valid_region(&region) {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "The region is not a region name.",
            ));
        }
        if let Some(served) = &self.cfg.regions {
            if !served.contains(&region) {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("This server does not serve the region {region}."),
                ));
            }
        }
        let (id, csrf) = (random_token(), random_token());
        let caller = Self::console_caller(&cred, &region, parts, peer, request_id);
        let out =
            json!({"arn": caller.principal_arn, "account": caller.account_id, "region": region});
        self.svc.audit_console_login(&caller).await?;
        let now = self.svc.now_ms();
        let session = ConsoleSession::new(
            login.access_key_id,
            login.session_token.filter(|t| !t.is_empty()),
            region,
            &csrf,
            now,
        );
        sessions::start(self.svc.store().as_ref(), &id, &session, now).await?;
        Ok((id, csrf, out))
    }

    /// The credential an access key id (and session token) stands for now;
    /// None when the key is unknown or inactive, or the session is not
    /// genuine or has expired.
    async fn credential_now(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Result<Option<Arc<Credential>>, ApiError> {
        match session_token {
            Some(t) => Ok(self.svc.session_credential(access_key_id, t).await.ok()),
            None => self.svc.credential(access_key_id).await,
        }
    }

    fn console_caller(
        cred: &Credential,
        region: &str,
        parts: &hyper::http::request::Parts,
        peer: SocketAddr,
        request_id: &str,
    ) -> Caller {
        let (ip, ua, secure) = Self::caller_parts(parts, peer);
        Caller::signed(
            cred,
            region.to_string(),
            ip,
            ua,
            request_id.to_string(),
            secure,
        )
    }

    async fn console_logout(&self, req: Request<Incoming>, request_id: &str) -> Response<Body> {
        let (parts, _) = match self.console_body(req).await {
            Ok(x) => x,
            Err(e) => return Self::console_error(&e, request_id),
        };
        if let Some(id) = cookie_of(&parts) {
            if let Err(e) = sessions::end(self.svc.store().as_ref(), &id).await {
                return Self::console_error(&e, request_id);
            }
        }
        let mut r = Self::console_json(200, request_id, &json!({}));
        let gone =
            format!("{COOKIE}=; Path={PREFIX}; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
        r.headers_mut()
            .insert("set-cookie", gone.parse().expect("static"));
        r
    }

    /// The session a call belongs to: its cookie, and the CSRF token it was
    /// given, in the `X-Coffer-Csrf` header.
    async fn console_session(
        &self,
        parts: &hyper::http::request::Parts,
    ) -> Result<ConsoleSession, ApiError> {
        let expired = || denied("The console session has ended; sign in again.");
        let id = cookie_of(parts).ok_or_else(expired)?;
        let (store, now) = (self.svc.store().as_ref(), self.svc.now_ms());
        let (s, stored) = sessions::find(store, &id, now).await?.ok_or_else(expired)?;
        let csrf = parts
            .headers
            .get("x-coffer-csrf")
            .map(hyper::header::HeaderValue::as_bytes)
            .unwrap_or_default();
        if !s.csrf_matches(csrf) {
            return Err(denied("The request's CSRF token is missing or wrong."));
        }
        sessions::touch(store, &id, (&s, &stored), now).await?;
        Ok(s)
    }

    async fn console_call(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Response<Body> {
        match self.try_call(req, peer, request_id).await {
            Ok(body) => {
                let mut r = response(200, JSON_11, request_id, body);
                r.headers_mut()
                    .insert("cache-control", "no-store".parse().expect("static"));
                r
            }
            Err(e) => Self::console_error(&e, request_id),
        }
    }

    async fn try_call(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let (parts, body) = self.console_body(req).await?;
        let s = self.console_session(&parts).await?;
        // The credential as it stands now: a deleted key, or a revoked or
        // expired session, ends the console session too.
        let ended =
            || denied("The console session's credentials are no longer valid; sign in again.");
        let cred = self
            .credential_now(&s.access_key_id, s.session_token.as_deref())
            .await?
            .ok_or_else(ended)?;
        let call: CallRequest = serde_json::from_slice(&body).map_err(|_| {
            ApiError::new(
                ErrorCode::SerializationException,
                "Expected service, target and body.",
            )
        })?;
        let caller = Self::console_caller(&cred, &s.region, &parts, peer, request_id);
        let payload = if call.body.is_null() {
            b"{}".to_vec()
        } else {
            call.body.to_string().into_bytes()
        };
        let service = match call.service.as_str() {
            "secretsmanager" => JsonService::SecretsManager,
            "cloudtrail" => JsonService::CloudTrail,
            _ => {
                return Err(ApiError::new(
                    ErrorCode::UnknownOperation,
                    "The console calls secretsmanager and cloudtrail only.",
                ))
            }
        };
        // Counted in the metrics as the API's calls are, by the model's name.
        let started = std::time::Instant::now();
        let result = self
            .dispatch(&caller, service, &call.target, &payload)
            .await;
        let (status, code) = match &result {
            Ok(_) => (200, "OK"),
            Err(e) => (e.code.status(), e.code.as_str()),
        };
        let op = service.known(&call.target).unwrap_or("unknown");
        crate::metrics::record(op, status, code, started.elapsed().as_secs_f64());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_and_strangers_are_refused() {
        let login = |s: &str| serde_json::from_str::<Login>(s).is_ok();
        assert!(login(r#"{"accessKeyId":"A","secretAccessKey":"s"}"#));
        assert!(!login(
            r#"{"accessKeyId":"A","AccessKeyId":"B","secretAccessKey":"s"}"#
        ));
        let call = |s: &str| serde_json::from_str::<CallRequest>(s).is_ok();
        assert!(call(
            r#"{"service":"secretsmanager","target":"ListSecrets"}"#
        ));
        assert!(!call(
            r#"{"service":"secretsmanager","Service":"iam","target":"ListSecrets"}"#
        ));
    }
}
