//! SigV4 verification of incoming requests against Coffer's credentials.
//!
//! The order of checks follows AWS so clients get the same error for the same
//! mistake: header syntax, date, scope, key id, clock skew, then the signature
//! itself (compared in constant time). Nothing here logs a signature or a key.

use coffer_api::{ApiError, ErrorCode};
use coffer_core::{Credential, Service};
use coffer_sigv4 as sigv4;
use hyper::http::request::Parts;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

/// Signing keys are derived once per key id, day, region and service.
const KEY_CACHE_MAX: usize = 4096;

type KeyCacheKey = (String, String, String);

pub struct Authenticator {
    svc: Arc<Service>,
    regions: Option<Vec<String>>,
    keys: RwLock<HashMap<KeyCacheKey, Zeroizing<[u8; 32]>>>,
}

/// A verified caller: the credential and the region it signed for.
pub struct Verified {
    pub cred: Arc<Credential>,
    pub region: String,
    /// The service the request was signed for (`secretsmanager`, `iam`, `sts`).
    pub service: String,
}

fn incomplete(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::IncompleteSignature, msg)
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidSignature, msg)
}

fn unrecognized() -> ApiError {
    ApiError::new(
        ErrorCode::UnrecognizedClient,
        "The security token included in the request is invalid.",
    )
}

/// Region names as AWS spells them: `us-east-1`, `eu-central-2`, `us-gov-west-1`.
pub fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
        && r.len() <= 128
}

impl Authenticator {
    pub fn new(svc: Arc<Service>, regions: Option<Vec<String>>) -> Self {
        Authenticator {
            svc,
            regions,
            keys: RwLock::default(),
        }
    }

    pub async fn verify(
        &self,
        parts: &Parts,
        body: &[u8],
        now_secs: i64,
        services: &[&str],
    ) -> Result<Verified, ApiError> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let Some(authz) = header("authorization") else {
            return Err(ApiError::new(
                ErrorCode::MissingAuthenticationToken,
                "Missing Authentication Token",
            ));
        };
        let auth = sigv4::parse_authorization(authz).map_err(|e| match e {
            sigv4::SigV4Error::Invalid(m) => invalid(m),
            other => incomplete(other.to_string()),
        })?;
        let amz_date = header("x-amz-date").ok_or_else(|| {
            incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        })?;
        let request_secs = sigv4::parse_amz_date(amz_date).ok_or_else(|| {
            incomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        })?;
        if amz_date.get(..8) != Some(auth.date.as_str()) {
            return Err(invalid(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
                auth.date,
                &amz_date[..8]
            )));
        }
        if !services.contains(&auth.service.as_str()) {
            return Err(invalid(format!(
                "Credential should be scoped to correct service: '{}'. ",
                services[0]
            )));
        }
        // IAM is global: clients sign it for us-east-1 whatever regions we serve.
        let region_ok = valid_region(&auth.region)
            && (auth.service == "iam"
                || self
                    .regions
                    .as_ref()
                    .is_none_or(|rs| rs.iter().any(|r| r == &auth.region)));
        if !region_ok {
            return Err(invalid(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                auth.region
            )));
        }
        if !auth.signed_headers.iter().any(|h| h == "host") {
            return Err(invalid(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            ));
        }
        let cred = match header("x-amz-security-token") {
            Some(token) => {
                self.svc
                    .session_credential(&auth.access_key_id, token)
                    .await?
            }
            None => self
                .svc
                .credential(&auth.access_key_id)
                .await?
                .ok_or_else(unrecognized)?,
        };
        sigv4::check_skew(amz_date, request_secs, now_secs).map_err(|e| invalid(e.to_string()))?;

        let payload_hash = sigv4::sha256_hex(body);
        if let Some(claimed) = header("x-amz-content-sha256") {
            if !claimed.eq_ignore_ascii_case(&payload_hash) {
                return Err(invalid(sigv4::MISMATCH));
            }
        }
        let headers: Vec<(&str, &str)> = parts
            .headers
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
            .collect();
        let creq = sigv4::canonical_request(&sigv4::CanonicalInput {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &headers,
            signed_headers: &auth.signed_headers,
            payload_sha256_hex: &payload_hash,
        });
        let sts = sigv4::string_to_sign(amz_date, &auth.scope(), &creq);
        let key = self.signing_key(&cred, &auth.date, &auth.region, &auth.service);
        if !sigv4::signatures_match(&sigv4::sign(&key, &sts), &auth.signature) {
            return Err(invalid(sigv4::MISMATCH));
        }
        Ok(Verified {
            cred,
            region: auth.region,
            service: auth.service,
        })
    }

    fn signing_key(
        &self,
        cred: &Credential,
        date: &str,
        region: &str,
        service: &str,
    ) -> Zeroizing<[u8; 32]> {
        let k = (
            cred.access_key_id.clone(),
            date.to_string(),
            format!("{region}/{service}"),
        );
        if let Some(key) = self.keys.read().ok().and_then(|m| m.get(&k).cloned()) {
            return key;
        }
        let key = Zeroizing::new(sigv4::signing_key(
            cred.secret.as_slice(),
            date,
            region,
            service,
        ));
        if let Ok(mut m) = self.keys.write() {
            if m.len() >= KEY_CACHE_MAX {
                m.clear();
            }
            m.insert(k, key.clone());
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use super::valid_region;

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-10",
        ] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "US-EAST-1",
            "us-east-x",
            "us--1",
            "us-east-1/x",
        ] {
            assert!(!valid_region(bad), "{bad}");
        }
    }
}
