//! Where an OIDC issuer's signing keys come from: a JWKS file named for the
//! issuer in the configuration (clusters whose issuer is not reachable, or not
//! public), re-read on each use so a rotated key is picked up; otherwise the
//! issuer's discovery document (`/.well-known/openid-configuration`) and its
//! `jwks_uri`, fetched over HTTPS and kept for a while.

use super::web_token::{self, Jwk};
use crate::http::Webhooks;
use coffer_api::ApiError;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long fetched keys are used before they are fetched again.
const KEEP: Duration = Duration::from_mins(10);
/// A token naming a key not among those fetched fetches them again, at most
/// this often per issuer (a flood of made-up key ids fetches nothing more).
const REFETCH_AFTER: Duration = Duration::from_secs(10);

/// Configuration of web identity federation.
#[derive(Debug, Clone, Default)]
pub struct WebIdentityOptions {
    /// JWKS files by issuer URL (`https://…`, as the tokens' `iss` writes it).
    pub jwks_files: BTreeMap<String, PathBuf>,
    /// PEM roots the issuers' HTTPS endpoints are trusted by, besides the
    /// system's.
    pub ca_file: Option<PathBuf>,
}

pub(crate) struct OidcKeys {
    files: BTreeMap<String, PathBuf>,
    http: Option<Webhooks>,
    fetched: Mutex<HashMap<String, Fetched>>,
    gates: Mutex<HashMap<String, Gate>>,
}

/// Held while an issuer's keys are fetched.
type Gate = Arc<tokio::sync::Mutex<()>>;

/// When an issuer's keys were fetched, and the keys (None: the fetch failed).
type Fetched = (Instant, Option<Arc<Vec<Jwk>>>);

/// AWS's answer when an issuer's keys cannot be had.
fn unreachable_keys() -> ApiError {
    web_token::invalid("Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements")
}

impl OidcKeys {
    pub(crate) fn new(opts: &WebIdentityOptions) -> Result<Self, String> {
        let http = Webhooks::trusting(opts.ca_file.as_deref(), "OIDC CA bundle")?;
        Ok(Self::with(opts, Some(http)))
    }

    /// The configured files, no fetching (when the CA bundle cannot load).
    pub(crate) fn files_only(opts: &WebIdentityOptions) -> Self {
        Self::with(opts, None)
    }

    fn with(opts: &WebIdentityOptions, http: Option<Webhooks>) -> Self {
        OidcKeys {
            files: opts.jwks_files.clone(),
            http,
            fetched: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// The issuer's keys; `stale` asks for keys fetched again, if the last
    /// fetch is old enough. `thumbprints` are the provider's, trusted for an
    /// issuer whose certificate no trusted CA signed.
    pub(crate) async fn keys(
        &self,
        issuer: &str,
        thumbprints: &[String],
        stale: bool,
    ) -> Result<Arc<Vec<Jwk>>, ApiError> {
        if let Some(path) = self.files.get(issuer) {
            let text = tokio::fs::read(path).await.map_err(|e| {
                tracing::warn!(issuer, path = %path.display(), error = %e, "cannot read the issuer's JWKS file");
                unreachable_keys()
            })?;
            let doc = serde_json::from_slice(&text).map_err(|_| unreachable_keys())?;
            return Ok(Arc::new(web_token::jwks(&doc)));
        }
        if let Some(known) = self.cached(issuer, stale) {
            return known;
        }
        // One fetch per issuer at a time: callers arriving meanwhile wait
        // and take its result.
        let gate = self.gates.lock().map_or_else(
            |_| Arc::new(tokio::sync::Mutex::new(())),
            |mut g| {
                if g.len() >= super::CACHE_MAX {
                    g.clear();
                }
                g.entry(issuer.to_string()).or_default().clone()
            },
        );
        let _fetching = gate.lock().await;
        if let Some(known) = self.cached(issuer, stale) {
            return known;
        }
        let fetched = self.fetch(issuer, thumbprints).await.map(Arc::new);
        if let Ok(mut m) = self.fetched.lock() {
            // Only registered providers' issuers reach here; still bounded.
            if m.len() >= super::CACHE_MAX {
                m.clear();
            }
            m.insert(
                issuer.to_string(),
                (Instant::now(), fetched.as_ref().ok().cloned()),
            );
        }
        fetched
    }

    /// The answer the cache gives, if it gives one.
    fn cached(&self, issuer: &str, stale: bool) -> Option<Result<Arc<Vec<Jwk>>, ApiError>> {
        let (at, keys) = self.fetched.lock().ok()?.get(issuer).cloned()?;
        let age = at.elapsed();
        match keys {
            // A failed fetch is remembered too, so an issuer that is down is
            // not asked again on every request.
            None => (age < REFETCH_AFTER).then(|| Err(unreachable_keys())),
            Some(keys) => (age < KEEP && !(stale && age >= REFETCH_AFTER)).then_some(Ok(keys)),
        }
    }

    async fn fetch(&self, issuer: &str, thumbprints: &[String]) -> Result<Vec<Jwk>, ApiError> {
        let http = self.http.as_ref().ok_or_else(unreachable_keys)?;
        let http = &http.or_thumbprints(thumbprints).map_err(|e| {
            tracing::warn!(issuer, error = %e, "the provider's thumbprints cannot be used");
            unreachable_keys()
        })?;
        let get = |url: String| async move {
            let a = http.send("GET", &url, &[], vec![]).await.map_err(|e| {
                tracing::warn!(url, error = %e, "cannot reach the OIDC issuer");
                unreachable_keys()
            })?;
            if a.status != 200 {
                tracing::warn!(url, status = a.status, "the OIDC issuer refused");
                return Err(unreachable_keys());
            }
            serde_json::from_slice::<serde_json::Value>(&a.body).map_err(|_| unreachable_keys())
        };
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let config = get(discovery).await?;
        let Some(uri) = config["jwks_uri"].as_str() else {
            return Err(unreachable_keys());
        };
        if !uri.starts_with("https://") {
            tracing::warn!(issuer, uri, "the issuer's jwks_uri is not https");
            return Err(unreachable_keys());
        }
        Ok(web_token::jwks(&get(uri.to_string()).await?))
    }
}
