//! Web identity tokens (OIDC ID tokens, Kubernetes service account tokens):
//! a compact JWS parsed, its signature checked against the issuer's JSON Web
//! Key Set, its time claims checked. Which issuer and audience are trusted is
//! the caller's business (the IAM OIDC provider and the role's trust policy).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use coffer_api::{ApiError, ErrorCode};
use coffer_crypto::jws::{self, PublicJwk};
use serde_json::Value;

/// How far a token's `exp` and `nbf` may be off this server's clock, as AWS
/// allows for clock skew.
pub(crate) const SKEW_SECS: i64 = 300;

/// A token's claims that authorization reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claims {
    pub iss: String,
    pub sub: String,
    /// `aud`, a string or a list.
    pub aud: Vec<String>,
    pub exp: i64,
    pub nbf: Option<i64>,
    /// `amr`, when present (a string or a list).
    pub amr: Vec<String>,
    /// Session tags the issuer set (`https://aws.amazon.com/tags`'s
    /// `principal_tags`, one value each).
    pub tags: Vec<(String, String)>,
}

/// A parsed token, not yet verified.
pub(crate) struct Token {
    pub alg: String,
    pub kid: Option<String>,
    pub claims: Claims,
    /// `header.payload`, the bytes the signature covers.
    signed: Vec<u8>,
    sig: Vec<u8>,
}

/// One key of a JWKS: its id, its declared algorithm, the key.
#[derive(Debug, Clone)]
pub(crate) struct Jwk {
    pub kid: Option<String>,
    pub alg: Option<String>,
    pub key: PublicJwk,
}

pub(crate) fn invalid(msg: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidIdentityToken, msg)
}

/// AWS's answer for a token that is not a well-formed, signed JWT.
fn unreadable() -> ApiError {
    invalid("The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.")
}

fn part(s: &str) -> Result<Value, ApiError> {
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| unreadable())?;
    serde_json::from_slice(&bytes).map_err(|_| unreadable())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

/// Parses `header.payload.signature`; the claims AWS requires (`iss`, `sub`,
/// `aud`, `exp`) must be there with their types.
pub(crate) fn parse(token: &str) -> Result<Token, ApiError> {
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(unreadable());
    };
    let header = part(h)?;
    let payload = part(p)?;
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| unreadable())?;
    let alg = header["alg"].as_str().unwrap_or("").to_string();
    if !jws::ALGORITHMS.contains(&alg.as_str()) {
        return Err(invalid(&format!(
            "The web identity token's signing algorithm ({alg}) is not supported; use one of {}.",
            jws::ALGORITHMS.join(", ")
        )));
    }
    let text = |k: &str| payload[k].as_str().map(str::to_string);
    let (Some(iss), Some(sub), Some(exp)) = (text("iss"), text("sub"), payload["exp"].as_i64())
    else {
        return Err(invalid(
            "The web identity token must carry the iss, sub, aud and exp claims.",
        ));
    };
    let aud = strings(payload.get("aud"));
    if aud.is_empty() {
        return Err(invalid(
            "The web identity token must carry the iss, sub, aud and exp claims.",
        ));
    }
    Ok(Token {
        alg,
        kid: header["kid"].as_str().map(str::to_string),
        claims: Claims {
            iss,
            sub,
            aud,
            exp,
            nbf: payload["nbf"].as_i64(),
            amr: strings(payload.get("amr")),
            tags: session_tags(&payload),
        },
        signed: format!("{h}.{p}").into_bytes(),
        sig,
    })
}

/// `https://aws.amazon.com/tags`: `{"principal_tags": {"team": ["web"]}}`
/// (AWS takes one value per key).
fn session_tags(payload: &Value) -> Vec<(String, String)> {
    payload["https://aws.amazon.com/tags"]["principal_tags"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let v = match v {
                        Value::Array(a) => a.first()?.as_str()?,
                        Value::String(s) => s,
                        _ => return None,
                    };
                    Some((k.clone(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The keys of a JWKS document (`{"keys": [...]}`) this server can check
/// signatures with; others (symmetric, unknown curves, encryption-only keys)
/// are left out.
pub(crate) fn jwks(doc: &Value) -> Vec<Jwk> {
    let num = |k: &Value| {
        k.as_str()
            .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
    };
    doc["keys"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
        .filter_map(|k| {
            let key = match k["kty"].as_str()? {
                "RSA" => PublicJwk::Rsa {
                    n: num(&k["n"])?,
                    e: num(&k["e"])?,
                },
                "EC" => PublicJwk::Ec {
                    crv: k["crv"].as_str()?.to_string(),
                    x: num(&k["x"])?,
                    y: num(&k["y"])?,
                },
                _ => return None,
            };
            Some(Jwk {
                kid: k["kid"].as_str().map(str::to_string),
                alg: k["alg"].as_str().map(str::to_string),
                key,
            })
        })
        .collect()
}

impl Token {
    /// Whether one of `keys` signed the token: the key its `kid` names (any
    /// key when it names none), whose declared algorithm, if any, is the
    /// token's.
    pub(crate) fn signed_by(&self, keys: &[Jwk]) -> bool {
        keys.iter()
            .filter(|k| self.kid.is_none() || k.kid == self.kid)
            .filter(|k| k.alg.as_deref().is_none_or(|a| a == self.alg))
            .any(|k| jws::verify(&self.alg, &k.key, &self.signed, &self.sig))
    }

    /// Whether a key with the token's `kid` is among `keys` (else the issuer
    /// may have rotated its keys since they were fetched).
    pub(crate) fn kid_known(&self, keys: &[Jwk]) -> bool {
        self.kid.is_none() || keys.iter().any(|k| k.kid == self.kid)
    }

    /// Checks `exp` and `nbf` against `now` (seconds), with [`SKEW_SECS`].
    pub(crate) fn check_times(&self, now: i64) -> Result<(), ApiError> {
        let c = &self.claims;
        if now >= c.exp.saturating_add(SKEW_SECS) {
            return Err(ApiError::new(
                ErrorCode::ExpiredIdentityToken,
                format!(
                    "Token expired: current date/time {now} must be before the expiration date/time {}",
                    c.exp
                ),
            ));
        }
        if c.nbf.is_some_and(|nbf| now.saturating_add(SKEW_SECS) < nbf) {
            return Err(invalid("The web identity token is not valid yet (nbf)."));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn claims_are_read_and_shapes_refused() {
        let h = b64(&json!({"alg": "RS256", "kid": "k1"}));
        let p = b64(
            &json!({"iss": "https://i", "sub": "s", "aud": ["a", "b"], "exp": 100, "amr": "pwd"}),
        );
        let t = parse(&format!("{h}.{p}.AAAA")).unwrap();
        assert_eq!(t.claims.aud, ["a", "b"]);
        assert_eq!(t.claims.amr, ["pwd"]);
        assert!(t.claims.tags.is_empty());
        let tagged = b64(
            &json!({"iss": "https://i", "sub": "s", "aud": "a", "exp": 1,
            "https://aws.amazon.com/tags": {"principal_tags": {"team": ["web", "x"], "bad": [1]}}}),
        );
        let t2 = parse(&format!("{h}.{tagged}.AAAA")).unwrap();
        assert_eq!(t2.claims.tags, [("team".to_string(), "web".to_string())]);
        assert_eq!(t.kid.as_deref(), Some("k1"));
        assert!(t.check_times(100 + SKEW_SECS - 1).is_ok());
        let e = t.check_times(100 + SKEW_SECS).unwrap_err();
        assert_eq!(e.code, ErrorCode::ExpiredIdentityToken);
        assert!(!t.signed_by(&[]));

        for bad in [
            "a.b".to_string(),
            format!("{h}.{p}"),
            format!("{h}.{p}.x.y"),
            format!("{h}.!!.AAAA"),
        ] {
            assert_eq!(
                parse(&bad).err().unwrap().code,
                ErrorCode::InvalidIdentityToken
            );
        }
        let none = b64(&json!({"alg": "none"}));
        assert!(parse(&format!("{none}.{p}.")).is_err(), "alg none");
        let hs = b64(&json!({"alg": "HS256"}));
        assert!(parse(&format!("{hs}.{p}.AAAA")).is_err(), "symmetric");
        let no_aud = b64(&json!({"iss": "https://i", "sub": "s", "exp": 1}));
        assert!(parse(&format!("{h}.{no_aud}.AAAA")).is_err());
    }

    #[test]
    fn only_signing_keys_of_known_types_are_kept() {
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "oct", "kid": "h", "k": "AAAA"},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        ]});
        let kids: Vec<_> = jwks(&doc).into_iter().filter_map(|k| k.kid).collect();
        assert_eq!(kids, ["r", "e"]);
    }
}
