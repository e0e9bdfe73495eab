//! AES-256-GCM with a format byte, a random 96-bit nonce and associated data.
//!
//! Layout: `[format = 1][nonce: 12][ciphertext || tag: 16]`. The format byte lets a
//! later cipher or layout coexist with data already written.

use crate::{Key256, SecretBytes};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("ciphertext is malformed or uses an unknown format")]
    Malformed,
    #[error("ciphertext failed authentication (wrong key or associated data)")]
    Authentication,
    #[error("encryption failed")]
    Encrypt,
}

/// Encrypts `plaintext` under `key`, bound to `aad`.
pub fn seal(key: &Key256, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new_from_slice(key.as_bytes()).map_err(|_| CryptoError::Encrypt)?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypts what [`seal`] produced with the same key and associated data.
pub fn open(key: &Key256, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
    if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != FORMAT_V1 {
        return Err(CryptoError::Malformed);
    }
    let cipher = Aes256Gcm::new_from_slice(key.as_bytes()).map_err(|_| CryptoError::Malformed)?;
    let nonce = Nonce::from_slice(&sealed[1..=NONCE_LEN]);
    cipher
        .decrypt(
            nonce,
            Payload {
                msg: &sealed[1 + NONCE_LEN..],
                aad,
            },
        )
        .map(SecretBytes::new)
        .map_err(|_| CryptoError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIST GCM test vector (gcmEncryptExtIV256, Count 0 with AAD): the underlying
    /// cipher must match the published answer before we trust our framing.
    #[test]
    fn nist_vector() {
        let key = hex::decode("92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b")
            .unwrap();
        let iv = hex::decode("ac93a1a6145299bde902f21a").unwrap();
        let pt = hex::decode("2d71bcfa914e4ac045b2aa60955fad24").unwrap();
        let aad = hex::decode("1e0889016f67601c8ebea4943bc23ad6").unwrap();
        let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
        let out = cipher
            .encrypt(
                Nonce::from_slice(&iv),
                Payload {
                    msg: &pt,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(
            hex::encode(out),
            "8995ae2e6df3dbf96fac7b7137bae67feca5aa77d51d4a0a14d9c51e1da474ab"
        );
    }

    #[test]
    fn round_trip_and_binding() {
        let k = Key256::random();
        let sealed = seal(&k, b"arn|v1", b"hello").unwrap();
        assert_eq!(open(&k, b"arn|v1", &sealed).unwrap().as_slice(), b"hello");
        assert_eq!(
            open(&k, b"arn|v2", &sealed),
            Err(CryptoError::Authentication)
        );
        assert_eq!(
            open(&Key256::random(), b"arn|v1", &sealed),
            Err(CryptoError::Authentication)
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            open(&k, b"arn|v1", &tampered),
            Err(CryptoError::Authentication)
        );
        assert_eq!(
            open(&k, b"arn|v1", &sealed[..10]),
            Err(CryptoError::Malformed)
        );
        let mut other_format = sealed;
        other_format[0] = 9;
        assert_eq!(
            open(&k, b"arn|v1", &other_format),
            Err(CryptoError::Malformed)
        );
    }

    #[test]
    fn nonces_differ() {
        let k = Key256::random();
        assert_ne!(seal(&k, b"", b"x").unwrap(), seal(&k, b"", b"x").unwrap());
    }
}
