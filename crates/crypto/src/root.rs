//! Root-key providers: a key file created 0600 at first start, an environment
//! variable holding the key in base64 or hex, or a passphrase the key is derived
//! from with Argon2id (so the disk alone opens nothing).

use crate::Key256;
use base64::Engine as _;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum RootKeyError {
    #[error("root key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("root key file {0} is readable by group or others; run chmod 600 on it")]
    Permissive(String),
    #[error("root key in {0} is not 32 bytes of base64 or hex")]
    Malformed(String),
    #[error("the passphrase in {0} is shorter than {MIN_PASSPHRASE} characters")]
    WeakPassphrase(String),
    #[error("root key salt file {0} is malformed")]
    BadSalt(String),
}

/// The shortest passphrase accepted.
pub const MIN_PASSPHRASE: usize = 12;

/// Argon2id's cost: 64 MiB and three passes (OWASP's suggestion is 19 MiB and
/// two; a server derives its key once per start, so it can afford more).
const ARGON_MEMORY_KIB: u32 = 64 * 1024;
const ARGON_PASSES: u32 = 3;

/// Derives the root key from `passphrase` with Argon2id and the salt in
/// `salt_path`: 16 random bytes made at first start (not secret; every server
/// sharing a database needs the same file).
pub fn root_key_from_passphrase(
    var: &str,
    passphrase: &str,
    salt_path: &Path,
) -> Result<Key256, RootKeyError> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(RootKeyError::WeakPassphrase(var.to_string()));
    }
    let shown = salt_path.display().to_string();
    let salt = match fs::read_to_string(salt_path) {
        Ok(text) => hex::decode(text.trim())
            .ok()
            .filter(|s| s.len() == 16)
            .ok_or(RootKeyError::BadSalt(shown))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut salt = vec![0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
            let io = |source| RootKeyError::Io {
                path: shown.clone(),
                source,
            };
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(salt_path)
                .map_err(io)?;
            f.write_all(format!("{}\n", hex::encode(&salt)).as_bytes())
                .map_err(io)?;
            f.sync_all().map_err(io)?;
            salt
        }
        Err(source) => {
            return Err(RootKeyError::Io {
                path: shown,
                source,
            })
        }
    };
    key_from_passphrase(var, passphrase, &salt)
}

/// Argon2id (64 MiB, 3 passes) of `passphrase` with `salt`: the root key's
/// derivation, and an export bundle's. `var` names the passphrase in errors.
pub fn key_from_passphrase(
    var: &str,
    passphrase: &str,
    salt: &[u8],
) -> Result<Key256, RootKeyError> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(RootKeyError::WeakPassphrase(var.to_string()));
    }
    let params = argon2::Params::new(ARGON_MEMORY_KIB, ARGON_PASSES, 1, Some(32))
        .expect("valid Argon2 parameters");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
        .map_err(|_| RootKeyError::Malformed(var.to_string()))?;
    Key256::from_bytes(out.as_ref()).ok_or_else(|| RootKeyError::Malformed(var.to_string()))
}

fn decode(text: &str) -> Option<Key256> {
    let t = text.trim();
    if let Ok(b) = hex::decode(t) {
        return Key256::from_bytes(&b);
    }
    let b = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
    Key256::from_bytes(&b)
}

/// Reads the root key from `path`, creating it (mode 0600, fsynced) if absent.
/// A file readable by group or others is refused rather than trusted.
pub fn load_or_create_key_file(path: &Path) -> Result<Key256, RootKeyError> {
    let shown = path.display().to_string();
    let io = |source| RootKeyError::Io {
        path: shown.clone(),
        source,
    };
    match fs::metadata(path) {
        Ok(meta) => {
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(RootKeyError::Permissive(shown));
            }
            let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(io)?);
            decode(&text).ok_or(RootKeyError::Malformed(shown))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Key256::random();
            let text = zeroize::Zeroizing::new(hex::encode(key.as_bytes()));
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.write_all(b"\n").map_err(io)?;
            f.sync_all().map_err(io)?;
            if let Some(dir) = path.parent() {
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

/// Reads the root key from an environment variable's value.
pub fn root_key_from_env(var: &str, value: &str) -> Result<Key256, RootKeyError> {
    decode(value).ok_or_else(|| RootKeyError::Malformed(var.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_0600_and_stable() {
        let dir = std::env::temp_dir().join(format!("coffer-root-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("root.key");
        let k1 = load_or_create_key_file(&p).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let k2 = load_or_create_key_file(&p).unwrap();
        assert_eq!(k1.as_bytes(), k2.as_bytes());
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load_or_create_key_file(&p),
            Err(RootKeyError::Permissive(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_passphrase_and_its_salt_make_one_key() {
        let dir = std::env::temp_dir().join(format!("coffer-pass-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let salt = dir.join("root.salt");
        let k1 = root_key_from_passphrase("V", "correct horse battery", &salt).unwrap();
        let k2 = root_key_from_passphrase("V", "correct horse battery", &salt).unwrap();
        assert_eq!(k1.as_bytes(), k2.as_bytes());
        let other = root_key_from_passphrase("V", "correct horse battery!", &salt).unwrap();
        assert_ne!(k1.as_bytes(), other.as_bytes());
        assert!(matches!(
            root_key_from_passphrase("V", "short", &salt),
            Err(RootKeyError::WeakPassphrase(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn env_forms() {
        let k = Key256::random();
        let hexed = hex::encode(k.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(k.as_bytes());
        assert_eq!(
            root_key_from_env("V", &hexed).unwrap().as_bytes(),
            k.as_bytes()
        );
        assert_eq!(
            root_key_from_env("V", &b64).unwrap().as_bytes(),
            k.as_bytes()
        );
        assert!(root_key_from_env("V", "short").is_err());
    }
}
