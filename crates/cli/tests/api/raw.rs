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
    let (status, _, text) = request(addr, "POST", "/", headers, body).await;
    RawResponse {
        status,
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    }
}

/// One HTTP/1.1 exchange: (status, lower-cased response headers, body text).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("host: {addr}\r\n"));
    }
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
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, rest.to_string())
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

/// A Query-protocol call (IAM or STS, or Coffer's account endpoint with `path`),
/// signed by the official signer. Returns (status, body text).
pub async fn query(
    addr: SocketAddr,
    service: &str,
    params: &[(&str, &str)],
    creds: (&str, &str, Option<&str>),
) -> (u16, String) {
    let body: String = params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let headers = signed_for(
        addr,
        service,
        "/",
        "application/x-www-form-urlencoded",
        body.as_bytes(),
        creds,
    );
    let (status, _, text) = request(addr, "POST", "/", &headers, body.as_bytes()).await;
    (status, text)
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Headers for a POST of `body` to `path`, signed for `service` in us-east-1.
pub fn signed_for(
    addr: SocketAddr,
    service: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    creds: (&str, &str, Option<&str>),
) -> Vec<(String, String)> {
    signed_method(addr, "POST", service, path, content_type, body, creds)
}

/// Headers for a `method` request to `path`, signed for `service` in us-east-1.
pub fn signed_method(
    addr: SocketAddr,
    method: &str,
    service: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    (akid, secret, token): (&str, &str, Option<&str>),
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let identity = aws_credential_types::Credentials::new(
        akid,
        secret,
        token.map(str::to_string),
        None,
        "raw",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut headers = vec![
        ("host".to_string(), addr.to_string()),
        ("content-type".to_string(), content_type.to_string()),
    ];
    let url = format!("http://{addr}{path}");
    let signable = SignableRequest::new(
        method,
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

/// The text of the first `<tag>` element in an XML answer.
pub fn xml(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].to_string())
}
