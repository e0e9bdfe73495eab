//! The ciphertext blob of Coffer's KMS: what Encrypt and GenerateDataKey hand
//! out and Decrypt takes back. Like AWS's, it names the key that made it, so
//! Decrypt needs no KeyId; and it names which of the key's materials sealed it,
//! so rotating a key leaves every older blob readable.
//!
//! Layout: `CK1` | u16 BE length of the key ARN | key ARN | u32 BE material
//! number | sealed bytes. The associated data binds the key ARN, the material
//! number and the encryption context, so a blob cannot be moved to another
//! key or context.

use crate::{open, seal, CryptoError, Key256, SecretBytes};

const MAGIC: &[u8; 3] = b"CK1";

/// What a blob says about itself before it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    pub key_arn: String,
    pub material: u32,
}

fn aad(key_arn: &str, material: u32, context: &str) -> Vec<u8> {
    format!("coffer/kms-blob/v1|{key_arn}|{material}|{context}").into_bytes()
}

/// Seals `plaintext` under one material of a key; `context` is the encryption
/// context in a canonical form (the caller sorts it).
pub fn seal_blob(
    material_key: &Key256,
    key_arn: &str,
    material: u32,
    context: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let arn_len = u16::try_from(key_arn.len()).map_err(|_| CryptoError::Encrypt)?;
    let sealed = seal(material_key, &aad(key_arn, material, context), plaintext)?;
    let mut out = Vec::with_capacity(3 + 2 + key_arn.len() + 4 + sealed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&arn_len.to_be_bytes());
    out.extend_from_slice(key_arn.as_bytes());
    out.extend_from_slice(&material.to_be_bytes());
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Reads a blob's header; the rest is opened by [`open_blob`].
pub fn blob_header(blob: &[u8]) -> Result<(BlobHeader, &[u8]), CryptoError> {
    let rest = blob.strip_prefix(MAGIC).ok_or(CryptoError::Malformed)?;
    let (len, rest) = rest
        .split_first_chunk::<2>()
        .ok_or(CryptoError::Malformed)?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return Err(CryptoError::Malformed);
    }
    let (arn, rest) = rest.split_at(len);
    let (material, sealed) = rest
        .split_first_chunk::<4>()
        .ok_or(CryptoError::Malformed)?;
    let key_arn = std::str::from_utf8(arn)
        .map_err(|_| CryptoError::Malformed)?
        .to_string();
    Ok((
        BlobHeader {
            key_arn,
            material: u32::from_be_bytes(*material),
        },
        sealed,
    ))
}

pub fn open_blob(
    material_key: &Key256,
    header: &BlobHeader,
    context: &str,
    sealed: &[u8],
) -> Result<SecretBytes, CryptoError> {
    open(
        material_key,
        &aad(&header.key_arn, header.material, context),
        sealed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_opens_only_with_its_key_material_and_context() {
        let k = Key256::random();
        let blob = seal_blob(&k, "arn:k", 2, "{\"a\":\"b\"}", b"data").unwrap();
        let (h, sealed) = blob_header(&blob).unwrap();
        assert_eq!(h.key_arn, "arn:k");
        assert_eq!(h.material, 2);
        assert_eq!(
            open_blob(&k, &h, "{\"a\":\"b\"}", sealed)
                .unwrap()
                .as_slice(),
            b"data"
        );
        assert!(open_blob(&k, &h, "{}", sealed).is_err());
        let other = BlobHeader {
            key_arn: "arn:j".into(),
            material: 2,
        };
        assert!(open_blob(&k, &other, "{\"a\":\"b\"}", sealed).is_err());
        assert!(blob_header(b"CK1\x00\xffabc").is_err());
        assert!(blob_header(b"nope").is_err());
    }
}
