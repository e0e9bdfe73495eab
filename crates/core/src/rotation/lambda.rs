//! Invoking a rotation function behind a Lambda-compatible endpoint, with the
//! Lambda Invoke API's request shape: `POST /2015-03-31/functions/NAME/invocations`,
//! the event as the JSON body, a synchronous (RequestResponse) call. A function
//! error is reported by the `X-Amz-Function-Error` header, as Lambda does.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::Duration;

/// Calls the function once; Ok if it ran without a function error.
pub async fn invoke(
    base: &str,
    name: &str,
    event: &Value,
    timeout: Duration,
) -> Result<(), String> {
    let rest = base
        .strip_prefix("http://")
        .ok_or("the function URL must start with http://")?
        .trim_end_matches('/');
    let (host, prefix) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{p}")),
        None => (rest, String::new()),
    };
    let path = format!("{prefix}/2015-03-31/functions/{name}/invocations");
    let call = async {
        let tcp = tokio::net::TcpStream::connect(host)
            .await
            .map_err(|e| format!("cannot reach {host}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = hyper::Request::post(&path)
            .header("host", host)
            .header("content-type", "application/json")
            .header("x-amz-invocation-type", "RequestResponse")
            .body(Full::new(Bytes::from(event.to_string())))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let function_error = resp
            .headers()
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        // Only the error type is kept: a message could quote a secret value.
        let kind = || {
            serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["errorType"].as_str().map(str::to_string))
                .unwrap_or_else(|| "unknown".into())
        };
        match (status, function_error) {
            (200..=299, None) => Ok(()),
            (200..=299, Some(e)) => Err(format!("the function failed ({e}, {})", kind())),
            (s, _) => Err(format!("the invoke endpoint answered {s}")),
        }
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| "the invocation timed out".to_string())?
}
