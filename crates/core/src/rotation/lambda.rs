//! Invoking a rotation function behind a Lambda-compatible endpoint, with the
//! Lambda Invoke API's request shape: `POST /2015-03-31/functions/NAME/invocations`,
//! the event as the JSON body, a synchronous (RequestResponse) call, signed with
//! SigV4 for `lambda` when the function has an access key. A function error is
//! reported by the `X-Amz-Function-Error` header, as Lambda does. The endpoint
//! is reached over TLS (verified against the system's roots and the function's
//! CA file); plain HTTP only to loopback, for local development.

use crate::functions::ExternalFunction;
use crate::http::{Signer, Webhooks};
use serde_json::Value;
use std::time::Duration;

/// One invocation.
pub struct Invocation<'a> {
    pub function: &'a ExternalFunction,
    /// The name the function is configured under (the Invoke path's).
    pub name: &'a str,
    /// The secret's region: where the function runs, what the call is signed for.
    pub region: &'a str,
    pub event: &'a Value,
    pub timeout: Duration,
    pub now_secs: i64,
}

/// Calls the function once; Ok if it ran without a function error.
pub async fn invoke(call: &Invocation<'_>) -> Result<(), String> {
    let f = call.function;
    let base = f.url.as_deref().ok_or("the function has no URL")?;
    if !base.starts_with("https://") && !base.starts_with("http://") {
        return Err("the function URL must start with https:// (or http:// to loopback)".into());
    }
    let url = format!(
        "{}/2015-03-31/functions/{}/invocations",
        base.trim_end_matches('/'),
        call.name
    );
    let client = Webhooks::trusting(f.ca_file.as_deref(), "rotation function CA file")?;
    let body = call.event.to_string().into_bytes();
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        (
            "x-amz-invocation-type".to_string(),
            "RequestResponse".to_string(),
        ),
    ];
    if let Some((akid, secret)) = &f.invoke_key {
        let signer = Signer {
            access_key_id: akid,
            secret_access_key: &secret.0,
            region: call.region,
            service: "lambda",
        };
        headers = signer.sign("POST", &url, headers, &body, call.now_secs)?;
    }
    let answer = client
        .send_within(call.timeout, "POST", &url, &headers, body)
        .await?;
    // Only the error type is kept: a message could quote a secret value.
    let kind = || {
        serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| v["errorType"].as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into())
    };
    match (answer.status, answer.function_error.as_deref()) {
        (200..=299, None) => Ok(()),
        (200..=299, Some(e)) => Err(format!("the function failed ({e}, {})", kind())),
        (s, _) => Err(format!("the invoke endpoint answered {s}")),
    }
}
