//! AWS Signature Version 4: parsing, canonical requests, key derivation, verification.
//!
//! Pure functions: the caller supplies the request parts, the current time and a way
//! to look up a secret key. Signatures are compared in constant time. Nothing here
//! logs, and errors never carry the computed signature.

mod canonical;
mod parse;

pub use canonical::{canonical_request, CanonicalInput};
pub use parse::{format_amz_date, parse_amz_date, parse_authorization, Authorization};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// AWS's clock-skew window: 15 minutes either way.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// Why a request failed verification. The server maps each to an AWS error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No Authorization header at all.
    #[error("Missing Authentication Token")]
    Missing,
    /// The header is present but lacks parts, or they are malformed.
    #[error("{0}")]
    Incomplete(String),
    /// Scope, date or signature do not check out.
    #[error("{0}")]
    Invalid(String),
    /// The access key id is not known.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key for one day, region and service: `kSigning` of the spec.
pub fn signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret);
    let k_date = hmac(&k_secret, date.as_bytes());
    k_secret.fill(0);
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The string to sign for a canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Hex signature of a string to sign.
pub fn sign(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(signing_key, string_to_sign.as_bytes()))
}

/// Constant-time comparison of a provided hex signature with the expected one.
pub fn signatures_match(expected_hex: &str, provided_hex: &str) -> bool {
    expected_hex.len() == provided_hex.len()
        && bool::from(expected_hex.as_bytes().ct_eq(provided_hex.as_bytes()))
}

/// Checks the request time against `now` with AWS's skew window and messages.
pub fn check_skew(amz_date: &str, request_secs: i64, now_secs: i64) -> Result<(), SigV4Error> {
    let fmt = parse::format_amz_date;
    if request_secs < now_secs - MAX_SKEW_SECS {
        return Err(SigV4Error::Invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            fmt(now_secs - MAX_SKEW_SECS),
            fmt(now_secs)
        )));
    }
    if request_secs > now_secs + MAX_SKEW_SECS {
        return Err(SigV4Error::Invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            fmt(now_secs + MAX_SKEW_SECS),
            fmt(now_secs)
        )));
    }
    Ok(())
}

/// The message AWS gives for a signature that does not match.
pub const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

#[cfg(test)]
mod tests;

#[cfg(test)]
mod suite;
