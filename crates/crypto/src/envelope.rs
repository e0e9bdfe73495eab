//! The envelope: KMS keys under the root key, data keys under KMS keys, values under
//! data keys. Associated data names the owner at every layer.

use crate::{open, seal, CryptoError, Key256, SecretBytes};

/// What is stored for one secret version: the wrapped data key and the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub wrapped_data_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

fn kms_aad(kms_key_arn: &str) -> Vec<u8> {
    format!("coffer/kms-key/v1|{kms_key_arn}").into_bytes()
}

fn data_key_aad(secret_arn: &str, version_id: &str) -> Vec<u8> {
    format!("coffer/data-key/v1|{secret_arn}|{version_id}").into_bytes()
}

fn value_aad(secret_arn: &str, version_id: &str, kind: &str) -> Vec<u8> {
    format!("coffer/value/v1|{secret_arn}|{version_id}|{kind}").into_bytes()
}

/// Wraps a KMS key under the root key, bound to the KMS key's ARN.
pub fn wrap_kms_key(
    root: &Key256,
    kms_key_arn: &str,
    key: &Key256,
) -> Result<Vec<u8>, CryptoError> {
    seal(root, &kms_aad(kms_key_arn), key.as_bytes())
}

pub fn unwrap_kms_key(
    root: &Key256,
    kms_key_arn: &str,
    wrapped: &[u8],
) -> Result<Key256, CryptoError> {
    let raw = open(root, &kms_aad(kms_key_arn), wrapped)?;
    Key256::from_bytes(raw.as_slice()).ok_or(CryptoError::Malformed)
}

/// Encrypts one version's value under a fresh data key wrapped by `kms_key`.
/// `kind` distinguishes string from binary values so one cannot pass for the other.
pub fn seal_value(
    kms_key: &Key256,
    secret_arn: &str,
    version_id: &str,
    kind: &str,
    plaintext: &[u8],
) -> Result<SealedValue, CryptoError> {
    let data_key = Key256::random();
    Ok(SealedValue {
        wrapped_data_key: seal(
            kms_key,
            &data_key_aad(secret_arn, version_id),
            data_key.as_bytes(),
        )?,
        ciphertext: seal(
            &data_key,
            &value_aad(secret_arn, version_id, kind),
            plaintext,
        )?,
    })
}

pub fn open_value(
    kms_key: &Key256,
    secret_arn: &str,
    version_id: &str,
    kind: &str,
    sealed: &SealedValue,
) -> Result<SecretBytes, CryptoError> {
    let raw = open(
        kms_key,
        &data_key_aad(secret_arn, version_id),
        &sealed.wrapped_data_key,
    )?;
    let data_key = Key256::from_bytes(raw.as_slice()).ok_or(CryptoError::Malformed)?;
    open(
        &data_key,
        &value_aad(secret_arn, version_id, kind),
        &sealed.ciphertext,
    )
}

/// Seals a value under a data key its caller made and wraps itself (a
/// customer-managed key's data key is wrapped as a KMS blob).
pub fn seal_with_data_key(
    data_key: &Key256,
    secret_arn: &str,
    version_id: &str,
    kind: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    seal(
        data_key,
        &value_aad(secret_arn, version_id, kind),
        plaintext,
    )
}

pub fn open_with_data_key(
    data_key: &Key256,
    secret_arn: &str,
    version_id: &str,
    kind: &str,
    ciphertext: &[u8],
) -> Result<SecretBytes, CryptoError> {
    open(
        data_key,
        &value_aad(secret_arn, version_id, kind),
        ciphertext,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_moved_to_another_row_fails() {
        let kms = Key256::random();
        let sealed = seal_value(&kms, "arn:a", "v1", "string", b"pw").unwrap();
        assert_eq!(
            open_value(&kms, "arn:a", "v1", "string", &sealed)
                .unwrap()
                .as_slice(),
            b"pw"
        );
        assert!(open_value(&kms, "arn:b", "v1", "string", &sealed).is_err());
        assert!(open_value(&kms, "arn:a", "v2", "string", &sealed).is_err());
        assert!(open_value(&kms, "arn:a", "v1", "binary", &sealed).is_err());
    }

    #[test]
    fn kms_keys_are_bound_to_their_arn() {
        let root = Key256::random();
        let k = Key256::random();
        let w = wrap_kms_key(&root, "arn:k1", &k).unwrap();
        assert_eq!(
            unwrap_kms_key(&root, "arn:k1", &w).unwrap().as_bytes(),
            k.as_bytes()
        );
        assert!(unwrap_kms_key(&root, "arn:k2", &w).is_err());
    }
}
