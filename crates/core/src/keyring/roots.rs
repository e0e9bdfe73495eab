//! The root keys a server holds: one, or during a root-key rotation two (the
//! new key and the previous one).
//!
//! A value sealed under the root is opened with whichever key opens it. New
//! values are sealed under the key the store records as its root (the
//! fingerprint in `root_key_check`): a fleet restarted with both keys keeps
//! sealing under the old one, so servers not yet restarted can still read
//! everything, until `coffer key rotate` switches the record; every server
//! follows the switch at its next look (see `Service::watch_root`).

use super::root_fingerprint;
use coffer_crypto::{CryptoError, Key256};
use coffer_store::{ChainKey, Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the store records its root's fingerprint.
pub const ROOT_CHECK: &str = "root_key_check";
/// Where the audit chain key is kept, sealed, once a rotation has happened
/// (before that it is derived from the only root the store ever had).
pub const CHAIN_KEY: &str = "audit_chain_key";
const CHAIN_KEY_AAD: &[u8] = b"coffer/audit-chain-key/v1";

pub struct Roots {
    current: Key256,
    previous: Option<Key256>,
    /// The store still records the previous key: seal under it.
    seal_previous: AtomicBool,
    /// The store records a root this server does not hold (switched by a
    /// rotation it missed): it must seal nothing more, or what it seals would
    /// be lost with the old key.
    lost: AtomicBool,
}

/// Why a server cannot use a store with the keys it was given.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    #[error(
        "this database was written with a different root key; every server sharing a database \
         needs the root key it was created with (root_key = \"env\" and the same COFFER_ROOT_KEY \
         everywhere). If its root key was rotated (coffer key rotate), start with the new key"
    )]
    WrongKey,
    #[error("the audit chain key kept in the database does not open with the root key")]
    ChainKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Roots {
    pub fn new(current: Key256, previous: Option<Key256>) -> Self {
        Roots {
            current,
            previous,
            seal_previous: AtomicBool::new(false),
            lost: AtomicBool::new(false),
        }
    }

    pub fn current(&self) -> &Key256 {
        &self.current
    }

    pub fn previous(&self) -> Option<&Key256> {
        self.previous.as_ref()
    }

    /// The key new values are sealed under.
    pub fn sealing(&self) -> &Key256 {
        match &self.previous {
            Some(p) if self.seal_previous.load(Ordering::Relaxed) => p,
            _ => &self.current,
        }
    }

    /// The fingerprints of the keys held, the current one first.
    pub fn fingerprints(&self) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(root_fingerprint)
            .collect()
    }

    /// Seals under the store's recorded root; refuses when that is a key
    /// this server does not hold.
    pub fn seal(
        &self,
        f: impl FnOnce(&Key256) -> Result<Vec<u8>, CryptoError>,
    ) -> Result<Vec<u8>, CryptoError> {
        if self.lost.load(Ordering::Relaxed) {
            return Err(CryptoError::Encrypt);
        }
        f(self.sealing())
    }

    /// Opens with the sealing key, else with the other one held.
    pub fn open<T>(&self, f: impl Fn(&Key256) -> Result<T, CryptoError>) -> Result<T, CryptoError> {
        let first = self.sealing();
        match f(first) {
            Ok(v) => Ok(v),
            Err(e) => std::iter::once(&self.current)
                .chain(&self.previous)
                .filter(|k| !std::ptr::eq(*k, first))
                .find_map(|k| f(k).ok())
                .ok_or(e),
        }
    }

    /// Follows the fingerprint the store records: says whether it is one of
    /// the keys held (if not, this server must not write).
    pub fn follow(&self, recorded: &str) -> bool {
        let held = if root_fingerprint(&self.current) == recorded {
            self.seal_previous.store(false, Ordering::Relaxed);
            true
        } else if self
            .previous
            .as_ref()
            .is_some_and(|p| root_fingerprint(p) == recorded)
        {
            self.seal_previous.store(true, Ordering::Relaxed);
            true
        } else {
            false
        };
        self.lost.store(!held, Ordering::Relaxed);
        held
    }

    /// Opens a store with these keys: records the root on first use, checks
    /// it is one of the keys held, follows it, and returns the audit chain key
    /// (kept sealed in the store once a rotation has happened; before that,
    /// derived from the store's only root).
    pub async fn unlock(&self, store: &dyn Store) -> Result<ChainKey, UnlockError> {
        self.unlock_with(store, true).await
    }

    /// The same for a tool that only reads: a store with no root recorded
    /// yet is left so.
    pub async fn unlock_read(&self, store: &dyn Store) -> Result<ChainKey, UnlockError> {
        self.unlock_with(store, false).await
    }

    async fn unlock_with(&self, store: &dyn Store, record: bool) -> Result<ChainKey, UnlockError> {
        let recorded = if let Some(fp) = store.meta_get(ROOT_CHECK).await? {
            fp
        } else if !record {
            root_fingerprint(&self.current)
        } else {
            // A new store: this server's key becomes its root (of servers
            // starting at once, the first to record wins).
            let fp = root_fingerprint(&self.current);
            if !store.check_root_key(&fp).await? {
                return Err(UnlockError::WrongKey);
            }
            fp
        };
        if !self.follow(&recorded) {
            return Err(UnlockError::WrongKey);
        }
        match store.meta_get(CHAIN_KEY).await? {
            Some(stored) => std::iter::once(self.sealing())
                .chain(&self.previous)
                .chain(std::iter::once(&self.current))
                .find_map(|k| open_chain_key(k, &stored))
                .ok_or(UnlockError::ChainKey),
            None => Ok(crate::audit::chain_key(self.sealing())),
        }
    }
}

/// The audit chain key sealed under `root`, as the store keeps it.
pub fn seal_chain_key(root: &Key256, key: &ChainKey) -> Result<String, CryptoError> {
    use base64::Engine;
    let sealed = coffer_crypto::seal(root, CHAIN_KEY_AAD, &key.0)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

/// The audit chain key the store keeps, if `root` opens it.
pub fn open_chain_key(root: &Key256, stored: &str) -> Option<ChainKey> {
    use base64::Engine;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .ok()?;
    let raw = coffer_crypto::open(root, CHAIN_KEY_AAD, &sealed).ok()?;
    Some(ChainKey(raw.as_slice().try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_under_the_recorded_root_and_opens_with_either() {
        let (old, new) = (Key256::random(), Key256::random());
        let under_old = coffer_crypto::seal(&old, b"a", b"x").unwrap();
        let roots = Roots::new(new.clone(), Some(old.clone()));
        assert!(roots.follow(&root_fingerprint(&old)));
        let sealed = roots.seal(|k| coffer_crypto::seal(k, b"a", b"y")).unwrap();
        assert!(
            coffer_crypto::open(&old, b"a", &sealed).is_ok(),
            "the store still records the old root"
        );
        assert!(roots.follow(&root_fingerprint(&new)));
        let sealed = roots.seal(|k| coffer_crypto::seal(k, b"a", b"z")).unwrap();
        assert!(coffer_crypto::open(&new, b"a", &sealed).is_ok());
        let opened = roots
            .open(|k| coffer_crypto::open(k, b"a", &under_old))
            .unwrap();
        assert_eq!(opened.as_slice(), b"x");
        assert!(!roots.follow(&root_fingerprint(&Key256::random())));
        assert!(
            roots.seal(|k| coffer_crypto::seal(k, b"a", b"w")).is_err(),
            "the store names a root this server lacks: it seals nothing"
        );
        assert!(roots.follow(&root_fingerprint(&new)));
        assert!(roots.seal(|k| coffer_crypto::seal(k, b"a", b"w")).is_ok());
        let alone = Roots::new(new, None);
        assert!(alone
            .open(|k| coffer_crypto::open(k, b"a", &under_old))
            .is_err());
    }
}
