//! Calls to Secrets Manager through the official SDK, and the answer bodies the
//! AWS agent sends: its success shape (with `CreatedDate` as a string of epoch
//! seconds) and `{"__type", "message"}` errors with the upstream's status.

use crate::metrics::Metrics;
use aws_sdk_secretsmanager as sm;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

/// A failed fetch, as the agent will answer it.
#[derive(Debug, Clone)]
pub struct UpstreamError {
    pub status: u16,
    pub body: Bytes,
    /// Worth serving a cached value over (timeouts, connection errors, 5xx,
    /// throttling), as opposed to a definite answer such as "not found".
    pub transient: bool,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "__type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

pub fn error(status: u16, code: &str, message: &str, transient: bool) -> UpstreamError {
    let body = if code == "InternalFailure" || message.is_empty() {
        ErrorBody {
            kind: "InternalFailure",
            message: None,
        }
    } else {
        ErrorBody {
            kind: code,
            message: Some(message),
        }
    };
    UpstreamError {
        status,
        body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        transient,
    }
}

/// The success body, field for field as the AWS agent writes it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Body<'a> {
    #[serde(rename = "ARN")]
    arn: Option<&'a str>,
    name: Option<&'a str>,
    version_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_string: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_binary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_stages: Option<&'a [String]>,
    created_date: Option<String>,
}

fn epoch_string(d: &sm::primitives::DateTime) -> String {
    let secs = d.secs() as f64 + f64::from(d.subsec_nanos()) / 1e9;
    // Millisecond precision, as Secrets Manager reports it.
    let rounded = (secs * 1000.0).round() / 1000.0;
    rounded.to_string()
}

#[allow(clippy::too_many_arguments)]
pub fn body(
    arn: Option<&str>,
    name: Option<&str>,
    version_id: Option<&str>,
    secret_string: Option<&str>,
    secret_binary: Option<&[u8]>,
    version_stages: Option<&[String]>,
    created: Option<&sm::primitives::DateTime>,
) -> Bytes {
    let b = Body {
        arn,
        name,
        version_id,
        secret_string,
        secret_binary: secret_binary.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
        version_stages,
        created_date: created.map(epoch_string),
    };
    Bytes::from(serde_json::to_vec(&b).unwrap_or_default())
}

pub struct Upstream {
    pub client: sm::Client,
    metrics: Arc<Metrics>,
}

impl Upstream {
    pub fn new(client: sm::Client, metrics: Arc<Metrics>) -> Self {
        Upstream { client, metrics }
    }

    pub async fn get(
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Bytes, UpstreamError> {
        let started = Instant::now();
        self.metrics.upstream_calls.fetch_add(1, Relaxed);
        let out = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .set_version_id(version_id.map(str::to_string))
            .set_version_stage(stage.map(str::to_string))
            .send()
            .await;
        self.metrics
            .upstream_micros
            .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        match out {
            Ok(o) => Ok(body(
                o.arn(),
                o.name(),
                o.version_id(),
                o.secret_string(),
                o.secret_binary().map(std::convert::AsRef::as_ref),
                o.version_stages.as_deref(),
                o.created_date(),
            )),
            Err(e) => {
                self.metrics.upstream_errors.fetch_add(1, Relaxed);
                Err(map_sdk_error(&e))
            }
        }
    }
}

/// Translates an SDK failure as the AWS agent does: service errors keep their
/// code, message and status; timeouts are 504, connection failures 502.
pub fn map_sdk_error<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> UpstreamError {
    match e {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("InternalFailure");
            let message = se.err().message().unwrap_or("");
            let transient = status >= 500 || code.contains("Throttl");
            error(status, code, message, transient)
        }
        SdkError::TimeoutError(_) => error(504, "TimeoutError", "Timeout", true),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            error(504, "TimeoutError", "Timeout", true)
        }
        SdkError::DispatchFailure(_) => error(502, "ConnectionError", "Read Error", true),
        SdkError::ResponseError(_) => error(502, "ConnectionError", "Response Error", true),
        _ => error(500, "InternalFailure", "", true),
    }
}
