//! TLS end to end: the official SDK over HTTPS, trusting only a CA made here;
//! `aws:SecureTransport` taken from the transport the request came by; and a
//! certificate reloaded in place (what SIGHUP calls; e2e sends the real signal).

use crate::access::user;
use crate::common::*;
use aws_sdk_secretsmanager as sm;
use aws_smithy_http_client::tls;
use coffer_server::Tls;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_rustls::client::TlsStream;

/// A certificate authority made for one test.
pub(crate) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
}

pub(crate) fn new_ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let pem = params.self_signed(&key).unwrap().pem();
    Ca {
        issuer: Issuer::new(params, key),
        pem,
    }
}

/// A server certificate for 127.0.0.1 and localhost named `cn`: (chain PEM, key PEM).
pub(crate) fn leaf(ca: &Ca, cn: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Writes the pair where the server reads it: (cert file, key file).
pub(crate) fn write_pair(dir: &Path, (cert, key): &(String, String)) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// The SDK's own HTTPS client (rustls, aws-lc) trusting `ca_pem` and nothing else.
pub(crate) fn https_client(endpoint: &str, ca_pem: &str, akid: &str, secret: &str) -> sm::Client {
    let trust = tls::TrustStore::empty().with_pem_certificate(ca_pem.as_bytes());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_https();
    let creds = aws_credential_types::Credentials::new(akid, secret, None, None, "test");
    let conf = sm::Config::builder()
        .behavior_version(sm::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(sm::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .http_client(http)
        .build();
    sm::Client::from_conf(conf)
}

/// A TLS connection of our own, to see which certificate the server presents and
/// to hold a connection open across a reload.
async fn connect(addr: SocketAddr, ca_pems: &[&str]) -> TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for pem in ca_pems {
        roots.add(der(pem)).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

fn presented(s: &TlsStream<tokio::net::TcpStream>) -> CertificateDer<'static> {
    s.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// One keep-alive GET on an open connection: (status, body).
async fn get(s: &mut TlsStream<tokio::net::TcpStream>, path: &str) -> (u16, String) {
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut length = 0;
    loop {
        line.clear();
        r.read_line(&mut line).await.unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).await.unwrap();
    (status, String::from_utf8(body).unwrap())
}

async fn tls_server(cert: &Path, key: &Path) -> TestServer {
    let tls = Tls::load(cert, key).unwrap();
    TestServer::start_with(|o| o.http.tls = Some(tls)).await
}

#[tokio::test]
async fn the_sdk_works_over_https_and_plain_http_does_not_reach_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("test CA");
    let (cert, key) = write_pair(dir.path(), &leaf(&ca, "coffer"));
    let srv = tls_server(&cert, &key).await;
    let endpoint = srv.endpoint();
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");

    let c = https_client(&endpoint, &ca.pem, AKID, SECRET);
    c.create_secret()
        .name("tls/db")
        .secret_string("over-tls")
        .send()
        .await
        .unwrap();
    let got = c
        .get_secret_value()
        .secret_id("tls/db")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("over-tls"));

    // Plain HTTP to the TLS port gets no answer from the service.
    let plain = endpoint.replace("https://", "http://");
    let e = client_for(&plain, "us-east-1", AKID, SECRET)
        .get_secret_value()
        .secret_id("tls/db")
        .send()
        .await
        .unwrap_err();
    assert!(
        !matches!(e, sm::error::SdkError::ServiceError(_)),
        "plain HTTP was answered: {e:?}"
    );
    // A client that does not trust the CA refuses the server.
    let stranger = https_client(&endpoint, &new_ca("another CA").pem, AKID, SECRET);
    let e = stranger.list_secrets().send().await.unwrap_err();
    assert!(
        matches!(e, sm::error::SdkError::DispatchFailure(_)),
        "{e:?}"
    );

    // Health and metrics on the same port, over TLS.
    let mut s = connect(srv.running().addr, &[&ca.pem]).await;
    assert_eq!(get(&mut s, "/health").await.0, 200);
    let (status, metrics) = get(&mut s, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"coffer_requests_total{operation="GetSecretValue""#),
        "{metrics}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn secure_transport_is_true_over_tls_and_false_over_plain_http() {
    // Two servers on one database: one plain, one TLS; the same user calls both.
    let plain = TestServer::start().await;
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*",
         "Condition":{"Bool":{"aws:SecureTransport":"true"}}},
        {"Effect":"Allow","Action":"secretsmanager:DescribeSecret","Resource":"*"},
        {"Effect":"Deny","Action":"secretsmanager:*","Resource":"*",
         "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    let (akid, key) = user(plain.running().addr, "tls-only", &[], policy).await;
    plain
        .client()
        .create_secret()
        .name("guarded")
        .secret_string("v")
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("test CA");
    let (cert, cert_key) = write_pair(dir.path(), &leaf(&ca, "coffer"));
    let tls_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        plain.dir.path().join("root.key"),
        tls_dir.path().join("root.key"),
    )
    .unwrap();
    let mut opts = options(tls_dir.path().to_path_buf(), plain.clock.clone());
    opts.database = Some(plain.dir.path().join("coffer.db"));
    opts.http.tls = Some(Tls::load(&cert, &cert_key).unwrap());
    let secure = coffer::start(opts).await.unwrap();

    let over_tls = https_client(&secure.endpoint(), &ca.pem, &akid, &key);
    let got = over_tls
        .get_secret_value()
        .secret_id("guarded")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("v"));
    over_tls
        .describe_secret()
        .secret_id("guarded")
        .send()
        .await
        .unwrap();

    let over_http = client_for(&plain.endpoint(), "us-east-1", &akid, &key);
    let (code, _) = err(over_http
        .get_secret_value()
        .secret_id("guarded")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "AccessDeniedException");
    // Allowed without condition, yet denied by the statement on "false".
    let (code, msg) = err(over_http
        .describe_secret()
        .secret_id("guarded")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "AccessDeniedException");
    assert!(msg.contains("explicit deny"), "{msg}");
    secure.stop().await.unwrap();
    plain.stop().await;
}

#[tokio::test]
async fn reload_serves_new_handshakes_the_new_certificate_and_keeps_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("test CA");
    let first = leaf(&ca, "coffer-first");
    let (cert, key) = write_pair(dir.path(), &first);
    let srv = tls_server(&cert, &key).await;
    let addr = srv.running().addr;
    let reloader = srv.running().tls.clone().unwrap();

    let mut open = connect(addr, &[&ca.pem]).await;
    assert_eq!(presented(&open), der(&first.0));
    assert_eq!(get(&mut open, "/health").await.0, 200);

    let second = leaf(&ca, "coffer-second");
    write_pair(dir.path(), &second);
    reloader.reload().unwrap();
    let fresh = connect(addr, &[&ca.pem]).await;
    assert_eq!(presented(&fresh), der(&second.0));
    // The connection made before the reload goes on, on its own session.
    assert_eq!(get(&mut open, "/health").await.0, 200);
    assert_eq!(presented(&open), der(&first.0));
    // And the SDK, on new connections, is served as before.
    let c = https_client(&srv.endpoint(), &ca.pem, AKID, SECRET);
    c.list_secrets().send().await.unwrap();

    // A pair that fails to load is not taken: the second one stays.
    std::fs::write(&key, "not a key").unwrap();
    let e = reloader.reload().unwrap_err().to_string();
    assert!(e.contains("server.key"), "{e}");
    assert_eq!(presented(&connect(addr, &[&ca.pem]).await), der(&second.0));
    c.list_secrets().send().await.unwrap();
    srv.stop().await;
}
