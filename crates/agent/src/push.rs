//! Pushed refresh: in front of Coffer, the agent subscribes to the server's change
//! stream (`GET /coffer/v1/events`, server-sent events, SigV4-signed) and refreshes
//! every cached answer for a secret as soon as the secret changes. It resumes from
//! the last event id after a disconnect, with jittered exponential backoff. An
//! upstream without the stream (AWS) leaves the agent on TTLs alone. The stream
//! goes over `http://` or `https://`, through the SDK's HTTPS stack with the
//! trust store of the agent's own client (`trust`).

use crate::server::Agent;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use rand::Rng;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

const PATH: &str = "/coffer/v1/events";

/// Where and how to subscribe.
pub struct Source {
    /// `http://host:port` or `https://host:port` of the upstream.
    pub endpoint: String,
    pub region: String,
    pub credentials: SharedCredentialsProvider,
    pub trust: crate::Trust,
}

enum Ended {
    /// The upstream has no change stream: stop trying.
    Unsupported,
    Retry(String),
}

pub async fn run(agent: Arc<Agent>, source: Source, mut stop: watch::Receiver<bool>) {
    let Some((scheme, host)) = crate::trust::origin(&source.endpoint) else {
        tracing::info!("upstream is neither http:// nor https://; pushed refresh off, TTL only");
        return;
    };
    let mut last_id: Option<i64> = None;
    let mut backoff = Duration::from_millis(200);
    loop {
        let ended = tokio::select! {
            r = stream(&agent, &source, scheme, host, &mut last_id, &mut backoff) => r,
            _ = stop.changed() => return,
        };
        match ended {
            Ended::Unsupported => {
                tracing::info!("upstream offers no change stream; pushed refresh off, TTL only");
                return;
            }
            Ended::Retry(why) => {
                let wait = backoff.mul_f64(rand::thread_rng().gen_range(0.5..1.5));
                tracing::warn!(reason = %why, retry_in_ms = wait.as_millis() as u64, "change stream interrupted");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn stream(
    agent: &Agent,
    source: &Source,
    scheme: &str,
    host: &str,
    last_id: &mut Option<i64>,
    backoff: &mut Duration,
) -> Ended {
    let path = match last_id {
        Some(id) => format!("{PATH}?after={id}"),
        None => PATH.to_string(),
    };
    let url = format!("{scheme}://{host}{path}");
    let headers = match signed_headers(source, host, &url).await {
        Ok(h) => h,
        Err(e) => return Ended::Retry(e),
    };
    let resp = match source.trust.send("GET", &url, &headers, Vec::new()).await {
        Ok(r) => r,
        Err(e) => return Ended::Retry(e),
    };
    match resp.status().as_u16() {
        200 => {}
        400 | 404 => return Ended::Unsupported,
        s => return Ended::Retry(format!("status {s}")),
    }
    *backoff = Duration::from_millis(200);
    agent.subscribed.store(true, Relaxed);
    tracing::info!("subscribed to the upstream's change stream");
    let mut body = resp.into_body();
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            agent.subscribed.store(false, Relaxed);
            return Ended::Retry("stream broke".into());
        };
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
        while let Some(end) = find(&buf, b"\n\n") {
            let block = buf.split_to(end + 2);
            on_event(agent, &block[..end], last_id).await;
        }
    }
    buf.advance(buf.len());
    agent.subscribed.store(false, Relaxed);
    Ended::Retry("stream ended".into())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn on_event(agent: &Agent, block: &[u8], last_id: &mut Option<i64>) {
    let text = String::from_utf8_lossy(block);
    let mut data = String::new();
    let mut kind = "";
    for line in text.lines() {
        if let Some(id) = line.strip_prefix("id: ") {
            *last_id = id.trim().parse().ok().or(*last_id);
        } else if let Some(d) = line.strip_prefix("data: ") {
            data.push_str(d);
        } else if let Some(k) = line.strip_prefix("event: ") {
            kind = k.trim();
        }
    }
    if kind == "reset" {
        // The server no longer holds the changes since our last event: any
        // cached answer may be stale, so every one is read afresh.
        tracing::warn!("the change stream lost its place; refreshing every cached secret");
        agent.metrics.pushes.fetch_add(1, Relaxed);
        agent.refresh_all().await;
        return;
    }
    if data.is_empty() {
        return; // comments and keep-alives
    }
    let Ok(event) = serde_json::from_str::<serde_json::Value>(&data) else {
        return;
    };
    let detail = &event["detail"];
    let ids: Vec<&str> = [detail["name"].as_str(), detail["secretId"].as_str()]
        .into_iter()
        .flatten()
        .collect();
    agent.metrics.pushes.fetch_add(1, Relaxed);
    agent.refresh(&ids).await;
}

async fn signed_headers(
    source: &Source,
    host: &str,
    url: &str,
) -> Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let creds = source
        .credentials
        .provide_credentials()
        .await
        .map_err(|e| e.to_string())?;
    let identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&source.region)
        .name("secretsmanager")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let mut headers = vec![
        ("host".to_string(), host.to_string()),
        ("accept".to_string(), "text/event-stream".to_string()),
    ];
    let signable = SignableRequest::new(
        "GET",
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(b""),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    for (k, v) in instructions.headers() {
        headers.push((k.to_string(), v.to_string()));
    }
    Ok(headers)
}
