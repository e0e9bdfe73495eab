//! Publishing to NATS, for targets `nats:SUBJECT` on the server's configured
//! NATS (`nats_url`): the client protocol's few verbs, one connection per
//! publish. A subject a JetStream stream captures answers with an
//! acknowledgement, which is awaited (the event is stored); otherwise the
//! server's PONG after the publish says it took the message. `Nats-Msg-Id` is
//! the event's id, so JetStream drops a repeat within its duplicate window.
//!
//! TLS: `tls://host:port`, or a server whose INFO says `tls_required`, gets a
//! TLS session right after INFO (the protocol's upgrade), verified against the
//! system's roots and `events_ca_file`, the same trust as API destinations.

use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::http::TIMEOUT;

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

/// Where and how to reach a NATS server.
#[derive(Debug, PartialEq, Eq)]
struct Server {
    /// host:port
    addr: String,
    user: Option<String>,
    pass: Option<String>,
    token: Option<String>,
    /// `tls://`: TLS whatever the server's INFO says.
    tls: bool,
}

/// `nats://` or `tls://`, then `[user:pass@|token@]host[:port]`.
fn parse_url(url: &str) -> Result<Server, String> {
    let (rest, tls) = match (url.strip_prefix("nats://"), url.strip_prefix("tls://")) {
        (Some(r), _) => (r, false),
        (_, Some(r)) => (r, true),
        _ => return Err("nats_url must start with nats:// or tls://".into()),
    };
    let rest = rest.trim_end_matches('/');
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:4222")
    };
    let (user, pass, token) = match auth.map(|a| a.split_once(':')) {
        Some(Some((u, p))) => (Some(u.into()), Some(p.into()), None),
        Some(None) => (None, None, auth.map(str::to_string)),
        None => (None, None, None),
    };
    Ok(Server {
        addr: host,
        user,
        pass,
        token,
        tls,
    })
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects, reads INFO, and upgrades to TLS when the URL or the server asks.
async fn connect(server: &Server, tls: &Arc<rustls::ClientConfig>) -> Result<Box<dyn Io>, String> {
    let addr = &server.addr;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("NATS at {addr}: {e}"))?;
    // The server says nothing more until the client speaks: nothing past INFO
    // is buffered when the stream is taken back for TLS.
    let mut plain = BufReader::new(tcp);
    let info = line(&mut plain).await?;
    let Some(json) = info.strip_prefix("INFO ") else {
        return Err(format!("NATS at {addr} did not greet with INFO"));
    };
    let info: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    if !(server.tls || info["tls_required"] == true) {
        return Ok(Box::new(plain));
    }
    let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
    let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .map_err(|e| format!("NATS at {addr}: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, plain.into_inner())
        .await
        .map_err(|e| format!("NATS at {addr}: TLS: {e}"))?;
    Ok(Box::new(stream))
}

/// Checks `nats_url` at start-up.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    parse_url(url).map(|_| ())
}

pub(crate) async fn publish(
    url: &str,
    tls: &Arc<rustls::ClientConfig>,
    subject: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Published, String> {
    match tokio::time::timeout(TIMEOUT, exchange(url, tls, subject, headers, body)).await {
        Ok(r) => r,
        Err(_) => Err(format!("NATS: no answer within {} s", TIMEOUT.as_secs())),
    }
}

async fn exchange(
    url: &str,
    tls: &Arc<rustls::ClientConfig>,
    subject: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Published, String> {
    let server = parse_url(url)?;
    let (r, mut w) = tokio::io::split(connect(&server, tls).await?);
    let mut r = BufReader::new(r);
    let connect = serde_json::json!({
        "verbose": false, "pedantic": false, "lang": "rust", "version": "coffer",
        "protocol": 1, "headers": true, "no_responders": true, "tls_required": server.tls,
        "user": server.user, "pass": server.pass, "auth_token": server.token,
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
            parse_url("nats://127.0.0.1:4222").unwrap().addr,
            "127.0.0.1:4222"
        );
        assert_eq!(parse_url("nats://host").unwrap().addr, "host:4222");
        let s = parse_url("nats://me:pw@host:4222").unwrap();
        assert_eq!(
            (s.user.as_deref(), s.pass.as_deref(), s.token, s.tls),
            (Some("me"), Some("pw"), None, false)
        );
        assert_eq!(
            parse_url("nats://tok@host:1").unwrap().token.as_deref(),
            Some("tok")
        );
        assert!(parse_url("tls://host:4443").unwrap().tls);
        assert!(parse_url("http://host").is_err());
    }
}
