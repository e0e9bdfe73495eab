//! Keys, envelope encryption and root-key providers.
//!
//! The hierarchy (DESIGN.md): a root key wraps each account's KMS keys; a KMS key
//! wraps a fresh data key per secret version; the data key encrypts the value. Every
//! layer is AES-256-GCM whose associated data names the record it belongs to, so a
//! ciphertext copied onto another row fails to open. Key material lives in
//! [`Key256`] and plaintext in [`SecretBytes`]; both zeroize on drop and redact in
//! `Debug`.

mod blob;
mod envelope;
pub mod jws;
mod root;
mod seal;

pub use blob::{blob_header, open_blob, seal_blob, BlobHeader};
pub use envelope::{
    open_value, open_with_data_key, seal_value, seal_with_data_key, unwrap_kms_key, wrap_kms_key,
    SealedValue,
};
pub use root::{
    key_from_passphrase, load_or_create_key_file, root_key_from_env, root_key_from_passphrase,
    RootKeyError, MIN_PASSPHRASE,
};
pub use seal::{open, seal, CryptoError};

use rand::RngCore;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A 256-bit symmetric key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key256([u8; 32]);

impl Key256 {
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Key256(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Key256(arr))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short, non-reversible fingerprint for logs and key ids.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest(self.0)[..6])
    }
}

impl fmt::Debug for Key256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key256(<redacted>)")
    }
}

/// Plaintext secret bytes: zeroized on drop, redacted in `Debug`, constant-time `==`.
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes the bytes out; the caller becomes responsible for zeroizing them.
    pub fn into_vec(mut self) -> Vec<u8> {
        std::mem::take(&mut *self.0)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for SecretBytes {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let k = Key256::random();
        let s = SecretBytes::new(b"hunter2".to_vec());
        assert!(!format!("{k:?}{s:?}").contains("hunter2"));
        assert_eq!(format!("{s:?}"), "SecretBytes(<7 bytes redacted>)");
    }

    #[test]
    fn secret_bytes_compare() {
        assert_eq!(
            SecretBytes::new(b"a".to_vec()),
            SecretBytes::new(b"a".to_vec())
        );
        assert_ne!(
            SecretBytes::new(b"a".to_vec()),
            SecretBytes::new(b"ab".to_vec())
        );
    }
}
