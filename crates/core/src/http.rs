//! The server's outbound HTTP client (API destinations, remote regions): one
//! request per exchange over HTTP/1.1, TLS verified against the system's roots
//! and a configured CA bundle, plain only to loopback, 5 seconds per attempt.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long one attempt may take, connection and answer included.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

/// How much of an answer is read.
const ANSWER_MAX: usize = 64 * 1024;

/// Link-local addresses (169.254.0.0/16, fe80::/10), where cloud metadata
/// services answer.
pub(crate) fn link_local(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v) => v.is_link_local(),
        std::net::IpAddr::V6(v) => {
            (v.segments()[0] & 0xffc0) == 0xfe80
                || v.to_ipv4_mapped().is_some_and(|m| m.is_link_local())
        }
    }
}

#[derive(Clone)]
pub(crate) struct Webhooks {
    tls: Arc<rustls::ClientConfig>,
    roots: Arc<rustls::RootCertStore>,
}

/// What an endpoint answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<Duration>,
    /// `X-Amz-Function-Error` (a Lambda-compatible endpoint's function error).
    pub function_error: Option<String>,
    /// The answer's first 64 KiB (an OAuth token endpoint's JSON).
    pub body: Vec<u8>,
}

impl Webhooks {
    /// The TLS trust of API destinations, which NATS shares.
    pub(crate) fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    pub(crate) fn new(ca_file: Option<&Path>) -> Result<Self, String> {
        Self::trusting(ca_file, "events CA bundle")
    }

    /// A client trusting the system's roots and `ca_file` (`what` names it in errors).
    pub(crate) fn trusting(ca_file: Option<&Path>, what: &str) -> Result<Self, String> {
        let tls = coffer_store::postgres::tls::Rustls::trusting(ca_file, what)?;
        Ok(Webhooks {
            tls: tls.client_config(),
            roots: tls.roots(),
        })
    }

    /// The same trust and, for a server no trusted CA vouches for, a chain
    /// holding a certificate with one of these SHA-1 thumbprints (IAM's OIDC
    /// providers').
    pub(crate) fn or_thumbprints(&self, thumbprints: &[String]) -> Result<Self, String> {
        if thumbprints.is_empty() {
            return Ok(self.clone());
        }
        Ok(Webhooks {
            tls: Arc::new(crate::tls_pin::config(self.roots.clone(), thumbprints)?),
            roots: self.roots.clone(),
        })
    }

    /// Sends one request; an error is a failure to get any answer (refused,
    /// TLS, timeout).
    pub(crate) async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        self.send_within(TIMEOUT, method, url, headers, body).await
    }

    /// [`Self::send`] with a time limit of its own (a rotation step's).
    pub(crate) async fn send_within(
        &self,
        limit: Duration,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        match tokio::time::timeout(limit, self.exchange(method, url, headers, body)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} s", limit.as_secs())),
        }
    }

    async fn exchange(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        let uri: hyper::Uri = url.parse().map_err(|_| "not a URL".to_string())?;
        let host = uri.host().ok_or("no host")?.to_string();
        let tls = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tcp = tokio::net::TcpStream::connect((bare.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        // The name was checked when the destination was made; what it resolves
        // to is checked now, so a name pointing at a link-local address (a cloud
        // metadata service) or plain HTTP leaving the machine is refused.
        let peer = tcp.peer_addr().map_err(|e| e.to_string())?.ip();
        if link_local(peer) {
            return Err(format!("{host} resolves to a link-local address; refused"));
        }
        if !tls && !peer.is_loopback() {
            return Err(format!(
                "plain http:// to {host} leaves this machine; refused"
            ));
        }
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let mut req = hyper::Request::builder().method(method).uri(path).header(
            "host",
            uri.authority().map_or(host.as_str(), |a| a.as_str()),
        );
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        if tls {
            let name = rustls::pki_types::ServerName::try_from(bare)
                .map_err(|e| format!("{host}: {e}"))?;
            let stream = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?;
            Self::roundtrip(TokioIo::new(stream), req).await
        } else {
            Self::roundtrip(TokioIo::new(tcp), req).await
        }
    }

    async fn roundtrip<I>(io: I, req: hyper::Request<Full<Bytes>>) -> Result<Answer, String>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let function_error = resp
            .headers()
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // The answer's first 64 KiB; the rest is not read (nor held), so an
        // endpoint cannot make this server buffer what it streams.
        let mut body = Vec::new();
        let mut stream = resp.into_body();
        while body.len() < ANSWER_MAX {
            match stream.frame().await {
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        body.extend_from_slice(&data);
                    }
                }
                _ => break,
            }
        }
        body.truncate(ANSWER_MAX);
        Ok(Answer {
            status,
            retry_after,
            function_error,
            body,
        })
    }
}

/// Signs outbound calls with AWS Signature Version 4, as the AWS SDKs do.
pub(crate) struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl Signer<'_> {
    /// `headers` (lower-case names) with `x-amz-date` and `authorization`
    /// added, for `method` on `url` with `body`. The `host` header is signed
    /// and left out: [`Webhooks::send`] sets it from the URL.
    pub(crate) fn sign(
        &self,
        method: &str,
        url: &str,
        mut headers: Vec<(String, String)>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<Vec<(String, String)>, String> {
        use coffer_sigv4::{
            canonical_request, format_amz_date, sha256_hex, sign, signing_key, string_to_sign,
            CanonicalInput,
        };
        let uri: hyper::Uri = url.parse().map_err(|_| "not a URL".to_string())?;
        let host = uri.authority().ok_or("the URL has no host")?.to_string();
        let amz_date = format_amz_date(now_secs);
        let date = &amz_date[..8];
        headers.push(("host".into(), host));
        headers.push(("x-amz-date".into(), amz_date.clone()));
        headers.sort();
        let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let canonical = canonical_request(&CanonicalInput {
            method,
            path: uri.path(),
            query: uri.query().unwrap_or(""),
            headers: &pairs,
            signed_headers: &signed,
            payload_sha256_hex: &sha256_hex(body),
        });
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let key = signing_key(
            self.secret_access_key.as_bytes(),
            date,
            self.region,
            self.service,
        );
        let signature = sign(&key, &string_to_sign(&amz_date, &scope, &canonical));
        let mut out: Vec<(String, String)> =
            headers.into_iter().filter(|(k, _)| k != "host").collect();
        out.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
                self.access_key_id,
                signed.join(";")
            ),
        ));
        Ok(out)
    }
}
