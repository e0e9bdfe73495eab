//! Where root keys come from: the current one and, while a rotation is under
//! way, the previous one (see `coffer key rotate`).

use anyhow::Context;
use coffer_crypto::Key256;
use std::path::Path;

pub enum RootKeySource {
    /// `DATA_DIR/root.key` (the previous key: `DATA_DIR/root.key.previous`).
    File,
    /// An environment variable holding 32 bytes in hex or base64.
    Env(String),
    /// An environment variable holding a passphrase; the key is derived with
    /// Argon2id and `DATA_DIR/root.salt` (the previous key's: `root.salt.previous`).
    Passphrase(String),
}

/// Which of the two keys is meant.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Current,
    Previous,
}

impl Which {
    fn suffix(self) -> &'static str {
        match self {
            Which::Current => "",
            Which::Previous => ".previous",
        }
    }
}

impl RootKeySource {
    /// A source as the configuration names it (`file`, `env`, `passphrase`),
    /// with the variable for the last two.
    pub fn parse(source: &str, var: &str) -> anyhow::Result<Self> {
        Ok(match source {
            "file" => RootKeySource::File,
            "env" => RootKeySource::Env(var.to_string()),
            "passphrase" => RootKeySource::Passphrase(var.to_string()),
            other => anyhow::bail!("a root key source is file, env or passphrase, not {other:?}"),
        })
    }

    /// The previous key's source as configured: `auto` is the file
    /// `DATA_DIR/root.key.previous` when it exists, else none.
    pub fn previous(source: &str, var: &str, data_dir: &Path) -> anyhow::Result<Option<Self>> {
        match source {
            "" | "none" => Ok(None),
            "auto" => Ok(data_dir
                .join("root.key.previous")
                .exists()
                .then_some(RootKeySource::File)),
            other => Self::parse(other, var).map(Some),
        }
    }

    /// Loads the key. A variable is removed from the environment once read,
    /// so nothing this process starts later (rotation programs) inherits it.
    /// Only the current key's file is created when missing, and not while a
    /// previous key's file is there (a rotation's files half moved).
    pub fn load(&self, data_dir: &Path, which: Which) -> anyhow::Result<Key256> {
        let suffix = which.suffix();
        Ok(match self {
            RootKeySource::File => {
                let path = data_dir.join(format!("root.key{suffix}"));
                let previous = data_dir.join("root.key.previous");
                if !path.exists() && (which == Which::Previous || previous.exists()) {
                    anyhow::bail!(
                        "{} does not exist (a root-key rotation's files are incomplete: run coffer key new again)",
                        path.display()
                    );
                }
                coffer_crypto::load_or_create_key_file(&path)?
            }
            RootKeySource::Env(var) => {
                let value = std::env::var(var)
                    .with_context(|| format!("root key variable {var} is not set"))?;
                std::env::remove_var(var);
                coffer_crypto::root_key_from_env(var, &value)?
            }
            RootKeySource::Passphrase(var) => {
                let value =
                    zeroize::Zeroizing::new(std::env::var(var).with_context(|| {
                        format!("root key passphrase variable {var} is not set")
                    })?);
                std::env::remove_var(var);
                let salt = data_dir.join(format!("root.salt{suffix}"));
                if which == Which::Previous && !salt.exists() {
                    anyhow::bail!("{} does not exist", salt.display());
                }
                coffer_crypto::root_key_from_passphrase(var, &value, &salt)?
            }
        })
    }
}

/// The keys a process holds: the current one, and the previous one if given.
pub fn load_roots(
    current: &RootKeySource,
    previous: Option<&RootKeySource>,
    data_dir: &Path,
) -> anyhow::Result<coffer_core::keyring::Roots> {
    let cur = current.load(data_dir, Which::Current)?;
    let prev = previous
        .map(|p| p.load(data_dir, Which::Previous))
        .transpose()
        .context("loading the previous root key")?;
    if prev
        .as_ref()
        .is_some_and(|p| p.as_bytes() == cur.as_bytes())
    {
        anyhow::bail!("the previous root key is the current one");
    }
    Ok(coffer_core::keyring::Roots::new(cur, prev))
}
