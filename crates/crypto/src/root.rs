//! Root-key providers: a key file created 0600 at first start, or an environment
//! variable holding the key in base64 or hex.

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
