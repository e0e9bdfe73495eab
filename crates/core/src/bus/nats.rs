//! Publishing to NATS, for targets `nats:SUBJECT` on the server's configured
//! NATS (`nats_url`): the client protocol's few verbs, one connection per
//! publish. A subject a JetStream stream captures answers with an
//! acknowledgement, which is awaited (the event is stored); otherwise the
//! server's PONG after the publish says it took the message. `Nats-Msg-Id` is
//! the event's id, so JetStream drops a repeat within its duplicate window.

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::http::TIMEOUT;

/// How long to wait for a JetStream acknowledgement after the PONG before
/// taking the subject as one no stream captures.
const ACK_GRACE: Duration = Duration::from_millis(500);

/// Where a publish ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Published {
    /// Stored by JetStream: the stream and the message's sequence there.
    Stream(String, u64),
    /// Taken by the server for its subscribers (no stream captures the subject).
    Core,
}

/// A subject a target may publish to: tokens of `[A-Za-z0-9_-]` joined by
/// dots, no wildcards.
pub(crate) fn valid_subject(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.split('.').all(|t| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

/// host:port, user, password, token.
type Server = (String, Option<String>, Option<String>, Option<String>);

/// `nats://[user:pass@|token@]host:port` → (host:port, user, pass, token).
fn parse_url(url: &str) -> Result<Server, String> {
    let rest = url
        .strip_prefix("nats://")
        .ok_or("nats_url must start with nats://")?
        .trim_end_matches('/');
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:4222")
    };
    Ok(match auth.map(|a| a.split_once(':')) {
        Some(Some((u, p))) => (host, Some(u.into()), Some(p.into()), None),
        Some(None) => (host, None, None, auth.map(str::to_string)),
        None => (host, None, None, None),
    })
}

/// Checks `nats_url` at start-up.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    parse_url(url).map(|_| ())
}

pub(crate) async fn publish(
    url: &str,
    subject: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Published, String> {
    match tokio::time::timeout(TIMEOUT, exchange(url, subject, headers, body)).await {
        Ok(r) => r,
        Err(_) => Err(format!("NATS: no answer within {} s", TIMEOUT.as_secs())),
    }
}

async fn exchange(
    url: &str,
    subject: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Published, String> {
    let (addr, user, pass, token) = parse_url(url)?;
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("NATS at {addr}: {e}"))?;
    let (r, mut w) = tcp.into_split();
    let mut r = BufReader::new(r);
    let info = line(&mut r).await?;
    if !info.starts_with("INFO ") {
        return Err(format!("NATS at {addr} did not greet with INFO"));
    }
    let connect = serde_json::json!({
        "verbose": false, "pedantic": false, "lang": "rust", "version": "coffer",
        "protocol": 1, "headers": true, "no_responders": true,
        "user": user, "pass": pass, "auth_token": token,
    });
    let inbox = format!("_INBOX.coffer.{}", uuid::Uuid::new_v4().simple());
    let mut hdr = String::from("NATS/1.0\r\n");
    for (k, v) in headers {
        hdr.push_str(&format!("{k}: {v}\r\n"));
    }
    hdr.push_str("\r\n");
    let mut out = format!(
        "CONNECT {connect}\r\nSUB {inbox} 1\r\nHPUB {subject} {inbox} {} {}\r\n{hdr}",
        hdr.len(),
        hdr.len() + body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\nPING\r\n");
    w.write_all(&out).await.map_err(|e| e.to_string())?;
    let mut ponged = false;
    loop {
        let next = if ponged {
            match tokio::time::timeout(ACK_GRACE, line(&mut r)).await {
                Ok(l) => l?,
                Err(_) => return Ok(Published::Core),
            }
        } else {
            line(&mut r).await?
        };
        if next == "PONG" {
            ponged = true;
        } else if next == "PING" {
            w.write_all(b"PONG\r\n").await.map_err(|e| e.to_string())?;
        } else if let Some(e) = next.strip_prefix("-ERR") {
            return Err(format!("NATS refused the publish:{e}"));
        } else if next.starts_with("MSG ") || next.starts_with("HMSG ") {
            return reply(&mut r, &next).await;
        }
    }
}

/// The answer on our inbox: a JetStream acknowledgement, or "no responders".
async fn reply(r: &mut (impl AsyncBufReadExt + Unpin), head: &str) -> Result<Published, String> {
    let f: Vec<&str> = head.split_whitespace().collect();
    let total: usize = f
        .last()
        .and_then(|n| n.parse().ok())
        .ok_or("NATS: a bad MSG line")?;
    let hdr_len: usize = if head.starts_with("HMSG") {
        f.get(f.len() - 2).and_then(|n| n.parse().ok()).unwrap_or(0)
    } else {
        0
    };
    let mut payload = vec![0; total + 2];
    r.read_exact(&mut payload)
        .await
        .map_err(|e| e.to_string())?;
    let headers = String::from_utf8_lossy(&payload[..hdr_len]);
    if headers.starts_with("NATS/1.0 503") {
        // Nobody listens on the subject: the server took it; no stream keeps it.
        return Ok(Published::Core);
    }
    let ack: serde_json::Value =
        serde_json::from_slice(&payload[hdr_len..total]).unwrap_or_default();
    if let Some(e) = ack.get("error") {
        return Err(format!(
            "JetStream refused the message: {}",
            e["description"].as_str().unwrap_or("error")
        ));
    }
    match (ack["stream"].as_str(), ack["seq"].as_u64()) {
        (Some(s), Some(n)) => Ok(Published::Stream(s.to_string(), n)),
        _ => Ok(Published::Core),
    }
}

async fn line(r: &mut (impl AsyncBufReadExt + Unpin)) -> Result<String, String> {
    let mut s = String::new();
    let n = r.read_line(&mut s).await.map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("NATS closed the connection".into());
    }
    Ok(s.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_urls() {
        assert!(valid_subject("coffer.secrets.changed"));
        assert!(valid_subject("a-b_c"));
        for bad in ["", "a..b", "a.*", "a.>", "a b", ".a"] {
            assert!(!valid_subject(bad), "{bad}");
        }
        assert_eq!(
            parse_url("nats://127.0.0.1:4222").unwrap().0,
            "127.0.0.1:4222"
        );
        assert_eq!(parse_url("nats://host").unwrap().0, "host:4222");
        let (_, u, p, t) = parse_url("nats://me:pw@host:4222").unwrap();
        assert_eq!(
            (u.as_deref(), p.as_deref(), t),
            (Some("me"), Some("pw"), None)
        );
        assert_eq!(
            parse_url("nats://tok@host:1").unwrap().3.as_deref(),
            Some("tok")
        );
        assert!(parse_url("http://host").is_err());
    }
}
