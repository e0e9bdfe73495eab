//! A deliberately small HTTP/1.1 client and the official SigV4 signer, for requests
//! the SDK would never send.

use std::net::SocketAddr;
use std::time::SystemTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct RawResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

impl RawResponse {
    pub fn error_type(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }
}

/// Sends `headers` and `body` as a POST to `/` and reads the whole answer.
pub async fn post(addr: SocketAddr, headers: &[(String, String)], body: &[u8]) -> RawResponse {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "POST / HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    // The server may answer (413) before reading the whole body; ignore a reset.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    RawResponse {
        status,
        body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    }
}

/// Headers for a JSON 1.1 call signed by the official `aws-sigv4` crate.
pub fn signed(
    addr: SocketAddr,
    target: &str,
    body: &[u8],
    akid: &str,
    secret: &str,
    region: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let identity = aws_credential_types::Credentials::new(akid, secret, None, None, "raw").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("secretsmanager")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut headers = vec![
        ("host".to_string(), addr.to_string()),
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        (
            "x-amz-target".to_string(),
            format!("secretsmanager.{target}"),
        ),
    ];
    let url = format!("http://{addr}/");
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    for (k, v) in instructions.headers() {
        headers.push((k.to_string(), v.to_string()));
    }
    headers
}
