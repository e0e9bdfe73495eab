//! Signature checks of JSON Web Signatures (RFC 7515) under a JSON Web Key's
//! public half: what a web identity token (a Kubernetes service account's,
//! an OIDC provider's) is verified with. Only asymmetric algorithms: an HMAC
//! "public" key would let anyone who can read the JWKS mint tokens.

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

/// A public key as a JWK gives it, its numbers decoded from base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicJwk {
    /// `kty: RSA`: modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// `kty: EC`: the curve's name (`P-256`, `P-384`) and the point.
    Ec { crv: String, x: Vec<u8>, y: Vec<u8> },
}

/// The algorithms accepted, by their JWS names.
pub const ALGORITHMS: &[&str] = &["RS256", "RS384", "RS512", "ES256", "ES384"];

/// Whether `sig` signs `signed` (the token's `header.payload`) under `key`
/// with `alg`. An algorithm that does not fit the key's type is a failure,
/// so a token cannot choose how its key is read.
pub fn verify(alg: &str, key: &PublicJwk, signed: &[u8], sig: &[u8]) -> bool {
    match key {
        PublicJwk::Rsa { n, e } => {
            let params = match alg {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                _ => return false,
            };
            RsaPublicKeyComponents { n, e }
                .verify(params, signed, sig)
                .is_ok()
        }
        PublicJwk::Ec { crv, x, y } => {
            let (params, len) = match (alg, crv.as_str()) {
                ("ES256", "P-256") => (&signature::ECDSA_P256_SHA256_FIXED, 32),
                ("ES384", "P-384") => (&signature::ECDSA_P384_SHA384_FIXED, 48),
                _ => return false,
            };
            if x.len() != len || y.len() != len {
                return false;
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(x);
            point.extend_from_slice(y);
            UnparsedPublicKey::new(params, point)
                .verify(signed, sig)
                .is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    #[test]
    fn es256_signatures_verify_and_others_do_not() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        let key = PublicJwk::Ec {
            crv: "P-256".into(),
            x: point[1..33].to_vec(),
            y: point[33..65].to_vec(),
        };
        let sig = pair.sign(&rng, b"head.body").unwrap();
        assert!(verify("ES256", &key, b"head.body", sig.as_ref()));
        assert!(!verify("ES256", &key, b"head.bodz", sig.as_ref()));
        assert!(!verify("RS256", &key, b"head.body", sig.as_ref()));
        assert!(!verify("HS256", &key, b"head.body", sig.as_ref()));
        let other = PublicJwk::Ec {
            crv: "P-384".into(),
            x: point[1..33].to_vec(),
            y: point[33..65].to_vec(),
        };
        assert!(!verify("ES256", &other, b"head.body", sig.as_ref()));
    }
}
