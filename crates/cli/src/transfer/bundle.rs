//! Export files. An encrypted bundle is JSON naming its format, the Argon2id
//! salt (64 MiB, 3 passes, as the root key's passphrase) and the AES-256-GCM
//! sealed list of secrets (the format's name is its associated data); a
//! plaintext export is the list itself, and is written only when asked for.

use super::SecretRecord;
use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::path::Path;

const SEALED: &str = "coffer-bundle-v1";
const PLAIN: &str = "coffer-export-v1";

#[derive(Serialize, Deserialize)]
struct Bundle {
    format: String,
    kdf: String,
    salt: String,
    sealed: String,
}

#[derive(Serialize, Deserialize)]
struct Plain {
    format: String,
    secrets: Vec<SecretRecord>,
}

/// The passphrase in `var`, refused when missing or shorter than 12 characters.
pub fn passphrase(var: &str) -> anyhow::Result<String> {
    let p = std::env::var(var)
        .with_context(|| format!("set {var} to the bundle's passphrase (12 characters or more)"))?;
    anyhow::ensure!(
        p.chars().count() >= coffer_crypto::MIN_PASSPHRASE,
        "{var} must hold 12 characters or more"
    );
    Ok(p)
}

/// The bytes of an export: sealed under the passphrase in `var`, or (with
/// `plaintext`) the records as JSON.
pub fn encode(records: &[SecretRecord], plaintext: bool, var: &str) -> anyhow::Result<Vec<u8>> {
    let plain = Plain {
        format: PLAIN.into(),
        secrets: records.to_vec(),
    };
    let json = zeroize::Zeroizing::new(serde_json::to_vec(&plain)?);
    if plaintext {
        return Ok(json.to_vec());
    }
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    let key = coffer_crypto::key_from_passphrase(var, &passphrase(var)?, &salt)?;
    let sealed = coffer_crypto::seal(&key, SEALED.as_bytes(), &json)?;
    Ok(serde_json::to_vec_pretty(&Bundle {
        format: SEALED.into(),
        kdf: "argon2id-m65536-t3-p1".into(),
        salt: B64.encode(salt),
        sealed: B64.encode(sealed),
    })?)
}

/// The records of an export file, either kind.
pub fn decode(bytes: &[u8], var: &str) -> anyhow::Result<Vec<SecretRecord>> {
    let doc: serde_json::Value = serde_json::from_slice(bytes).context("not a Coffer export")?;
    let plain: Plain = match doc["format"].as_str() {
        Some(PLAIN) => serde_json::from_value(doc)?,
        Some(SEALED) => {
            let s: Bundle = serde_json::from_value(doc)?;
            let salt = B64.decode(&s.salt).context("bad salt")?;
            let key = coffer_crypto::key_from_passphrase(var, &passphrase(var)?, &salt)?;
            let sealed = B64.decode(&s.sealed).context("bad sealed data")?;
            let json = coffer_crypto::open(&key, SEALED.as_bytes(), &sealed).map_err(|_| {
                anyhow::anyhow!("the passphrase does not open this bundle (or it was altered)")
            })?;
            serde_json::from_slice(json.as_slice())?
        }
        _ => anyhow::bail!("not a Coffer export (no known \"format\")"),
    };
    Ok(plain.secrets)
}

/// Writes `bytes` to a new file, mode 0600 (refusing to replace one).
pub fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::devtls::write_new(path, bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::VersionRecord;

    #[test]
    fn a_bundle_opens_with_its_passphrase_only() {
        let records = vec![SecretRecord {
            name: "a".into(),
            description: Some("d".into()),
            tags: vec![("k".into(), "v".into())],
            policy: None,
            versions: vec![VersionRecord {
                id: Some("v1".into()),
                labels: vec!["AWSCURRENT".into()],
                string: Some("hunter2-hunter2".into()),
                binary: None,
            }],
        }];
        std::env::set_var("COFFER_TEST_BUNDLE_PASS", "correct horse battery");
        let bytes = encode(&records, false, "COFFER_TEST_BUNDLE_PASS").unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("hunter2"));
        assert!(decode(&bytes, "COFFER_TEST_BUNDLE_PASS").unwrap() == records);
        std::env::set_var("COFFER_TEST_BUNDLE_WRONG", "incorrect horse battery");
        let e = decode(&bytes, "COFFER_TEST_BUNDLE_WRONG").err().unwrap();
        assert!(e.to_string().contains("does not open"), "{e}");
        let plain = encode(&records, true, "unused").unwrap();
        assert!(decode(&plain, "unused").unwrap() == records);
    }
}
