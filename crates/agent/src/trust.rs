//! What an `https://` upstream is trusted by: the system's root certificates plus,
//! when one is named, a PEM bundle of further CAs (a private CA such as the one
//! `coffer server --dev-tls` makes). The bundle is `[coffer] ca_bundle` in the
//! agent's config or, as the aws CLI and boto3 read it, the `AWS_CA_BUNDLE`
//! variable; the config key wins. The Rust SDK does not read `AWS_CA_BUNDLE` by
//! itself, hence this module.
//!
//! One `Trust` makes every client of an upstream: the SDK's HTTP client (Secrets
//! Manager, and STS for assumed roles) and the connector for requests made by
//! hand (the change stream, `coffer account create`). Both are the SDK's own
//! rustls (aws-lc) HTTPS stack built from the same `TlsContext`, so no client can
//! trust more or less than another.

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The variable the AWS CLI and SDKs read a CA bundle from.
pub const ENV: &str = "AWS_CA_BUNDLE";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrustError {
    #[error("reading the CA bundle {path} (from {from}): {message}")]
    Read {
        path: String,
        from: &'static str,
        message: String,
    },
    #[error("the CA bundle {path} (from {from}) holds no PEM certificate")]
    Empty { path: String, from: &'static str },
    #[error("the CA bundle {path} (from {from}): certificate {index} is not usable: {message}")]
    Invalid {
        path: String,
        from: &'static str,
        index: usize,
        message: String,
    },
}

/// The trust store for one upstream and the clients made from it. Cheap to clone:
/// clones share the clients' connection pools.
#[derive(Clone, Debug)]
pub struct Trust {
    bundle: Option<PathBuf>,
    http: SharedHttpClient,
    connector: SharedHttpConnector,
}

impl Default for Trust {
    /// The system's roots alone.
    fn default() -> Self {
        Trust::build(None, TrustStore::default())
    }
}

impl Trust {
    /// The bundle named by the config (`configured`), else by `AWS_CA_BUNDLE` as
    /// `env` reads it, added to the system's roots; with neither, the system's roots.
    pub fn resolve(
        configured: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Trust, TrustError> {
        if let Some(path) = configured {
            return Trust::with_bundle(path, "[coffer] ca_bundle");
        }
        match env(ENV).filter(|v| !v.is_empty()) {
            Some(path) => Trust::with_bundle(Path::new(&path), ENV),
            None => Ok(Trust::default()),
        }
    }

    /// The system's roots and every certificate in the PEM file at `path`.
    /// `from` says where the path came from, for the error.
    pub fn with_bundle(path: &Path, from: &'static str) -> Result<Trust, TrustError> {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| TrustError::Read {
            path: shown.clone(),
            from,
            message: e.to_string(),
        })?;
        // The SDK's TLS layer parses the bundle only when it builds a connection,
        // and panics on a bad one; checked here, it is a clear error at start.
        let mut roots = rustls::RootCertStore::empty();
        let mut count = 0;
        for (index, der) in CertificateDer::pem_slice_iter(&pem).enumerate() {
            let checked = der
                .map_err(|e| e.to_string())
                .and_then(|der| roots.add(der).map_err(|e| e.to_string()));
            if let Err(message) = checked {
                return Err(TrustError::Invalid {
                    path: shown,
                    from,
                    index: index + 1,
                    message,
                });
            }
            count += 1;
        }
        if count == 0 {
            return Err(TrustError::Empty { path: shown, from });
        }
        tracing::info!(ca_bundle = %shown, from, certificates = count, "trusting the CA bundle besides the system's roots");
        Ok(Trust::build(
            Some(path.to_path_buf()),
            TrustStore::default().with_pem_certificate(pem),
        ))
    }

    fn build(bundle: Option<PathBuf>, store: TrustStore) -> Trust {
        let context = TlsContext::builder()
            .with_trust_store(store)
            .build()
            .expect("a TLS context with a trust store always builds");
        let provider = || tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc);
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(provider())
            .tls_context(context.clone())
            .build_https();
        // Requests made by hand get a bounded connect (TCP and TLS) and wait for
        // the response head; a body (an event stream) may then last for ever.
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(30))
            .build();
        let connector = aws_smithy_http_client::Connector::builder()
            .connector_settings(settings)
            .tls_provider(provider())
            .tls_context(context)
            .build();
        Trust {
            bundle,
            http,
            connector: SharedHttpConnector::new(connector),
        }
    }

    /// The bundle trusted besides the system's roots, if any.
    pub fn bundle(&self) -> Option<&Path> {
        self.bundle.as_deref()
    }

    /// The HTTP client for SDK clients (`http_client` on a config loader).
    pub fn http_client(&self) -> SharedHttpClient {
        self.http.clone()
    }

    /// Sends a request made by hand to `url` (`http://` or `https://`) and returns
    /// the response with its body still streaming.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<HttpResponse, String> {
        let mut request = HttpRequest::new(body.into());
        request.set_method(method).map_err(|e| e.to_string())?;
        request.set_uri(url).map_err(|e| e.to_string())?;
        for (k, v) in headers {
            request
                .headers_mut()
                .try_insert(k.clone(), v.clone())
                .map_err(|e| e.to_string())?;
        }
        self.connector
            .call(request)
            .await
            .map_err(|e| DisplayErrorContext(&e).to_string())
    }
}

/// The scheme and authority of an endpoint (`("https", "host:port")`), for a
/// request made by hand and the `host` it signs; None unless `http://` or
/// `https://`. A path on the endpoint is not Coffer's and is dropped.
pub fn origin(endpoint: &str) -> Option<(&'static str, &str)> {
    let (scheme, rest) = match endpoint.strip_prefix("https://") {
        Some(rest) => ("https", rest),
        None => ("http", endpoint.strip_prefix("http://")?),
    };
    let host = rest.split('/').next().unwrap_or_default();
    (!host.is_empty()).then_some((scheme, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://127.0.0.1:8750"),
            Some(("https", "127.0.0.1:8750"))
        );
        assert_eq!(
            origin("http://localhost:1/x/"),
            Some(("http", "localhost:1"))
        );
        assert_eq!(origin("https://[::1]:2/"), Some(("https", "[::1]:2")));
        assert_eq!(origin("ftp://h"), None);
        assert_eq!(origin("https://"), None);
    }

    #[test]
    fn without_a_bundle_the_system_roots_alone() {
        let t = Trust::resolve(None, |_| None).unwrap();
        assert!(t.bundle().is_none());
        let t = Trust::resolve(None, |_| Some(String::new())).unwrap();
        assert!(t.bundle().is_none(), "an empty AWS_CA_BUNDLE names nothing");
    }

    #[test]
    fn a_bad_bundle_is_a_clear_error_naming_its_source() {
        let missing = Path::new("/nonexistent/ca.pem");
        match Trust::resolve(Some(missing), |_| None) {
            Err(TrustError::Read { from, path, .. }) => {
                assert_eq!(
                    (from, path.as_str()),
                    ("[coffer] ca_bundle", "/nonexistent/ca.pem")
                );
            }
            other => panic!("{other:?}"),
        }
        let env = |k: &str| (k == ENV).then(|| "/nonexistent/env.pem".to_string());
        match Trust::resolve(None, env) {
            Err(TrustError::Read { from, .. }) => assert_eq!(from, ENV),
            other => panic!("{other:?}"),
        }
        // The config key wins: the variable is not even read.
        match Trust::resolve(Some(missing), env) {
            Err(TrustError::Read { from, .. }) => assert_eq!(from, "[coffer] ca_bundle"),
            other => panic!("{other:?}"),
        }

        let no_pem = file("not a certificate\n");
        assert!(matches!(
            Trust::with_bundle(no_pem.path(), ENV),
            Err(TrustError::Empty { .. })
        ));
        let junk = file("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        match Trust::with_bundle(junk.path(), ENV) {
            Err(TrustError::Invalid { index, .. }) => assert_eq!(index, 1),
            other => panic!("{other:?}"),
        }
    }
}
