//! The audit file's signed head: the hashes of its first line and of its last
//! line on disk, with an HMAC under the audit chain key, kept in the store
//! (`audit-head/SERVER_ID`) and renewed every second. A chain cannot show
//! that its newest lines were cut off; the head can: `coffer audit verify`
//! refuses a file that no longer holds the line its head names. Whoever would
//! cut both the file and the store back in step needs an older head of their
//! own (a copy made earlier): that is the limit of keeping it on this machine.

use crate::service::Service;
use coffer_store::ChainKey;
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::path::Path;

/// Where a server's head is kept: `audit-head/SERVER_ID`.
pub const HEAD_PREFIX: &str = "audit-head/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The hash of the file's first line (which file this is).
    pub first: String,
    /// The hash of its last line known to be on disk.
    pub last: String,
    pub mac: String,
}

fn mac(key: &ChainKey, server_id: &str, first: &str, last: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(&key.0).expect("any key length");
    m.update(format!("coffer audit head v1|{server_id}|{first}|{last}").as_bytes());
    hex::encode(m.finalize().into_bytes())
}

impl Head {
    pub fn new(key: &ChainKey, server_id: &str, first: String, last: String) -> Head {
        let mac = mac(key, server_id, &first, &last);
        Head { first, last, mac }
    }
}

/// What checking a file against its head found.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadCheck {
    /// The file holds the line the head names.
    Holds,
    /// The file is another one than the head's (moved aside and begun anew):
    /// nothing to compare.
    OtherFile,
}

/// Checks the file at `path` against the head `stored` (its JSON).
pub fn check(
    path: &Path,
    key: &ChainKey,
    server_id: &str,
    stored: &str,
) -> Result<HeadCheck, String> {
    let head: Head = serde_json::from_str(stored)
        .map_err(|_| "the audit head in the store is unreadable".to_string())?;
    let expected = mac(key, server_id, &head.first, &head.last);
    if !coffer_sigv4::signatures_match(&expected, &head.mac) {
        return Err(
            "the audit head in the store is not signed with this root key's chain key".into(),
        );
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut first = None;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let Some(hash) = v["hash"].as_str() else {
            continue;
        };
        if first.is_none() {
            if hash != head.first {
                return Ok(HeadCheck::OtherFile);
            }
            first = Some(());
        }
        if hash == head.last {
            return Ok(HeadCheck::Holds);
        }
    }
    if first.is_none() {
        return Ok(HeadCheck::OtherFile);
    }
    Err(format!(
        "{} was cut: its signed head in the store names a line it no longer holds",
        path.display()
    ))
}

impl Service {
    /// Writes this server's audit head to the store if it moved.
    pub(crate) async fn record_audit_head(&self, last: &mut Option<String>) {
        let (Some(id), Some((first, head))) = (&self.server_id, self.audit.head()) else {
            return;
        };
        if last.as_deref() == Some(head.as_str()) {
            return;
        }
        let h = Head::new(&self.chain_key, id, first, head.clone());
        let body = serde_json::to_string(&h).unwrap_or_default();
        match self
            .store
            .meta_put(&format!("{HEAD_PREFIX}{id}"), Some(&body))
            .await
        {
            Ok(()) => *last = Some(head),
            Err(e) => {
                tracing::warn!(error = %e, "recording the audit file's head failed; will retry");
            }
        }
    }
}

/// The store chain's signed head, kept by each server beside its audit file
/// (`audit.store-head`): the chain's newest record (number and hash) that
/// server saw, renewed every second. Whoever can cut the store's newest
/// audit records (a database administrator, say) cannot reach that file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreHead {
    pub seq: i64,
    pub hash: String,
    pub mac: String,
}

/// The name of the store head's file, in the data directory.
pub const STORE_HEAD_FILE: &str = "audit.store-head";

fn store_mac(key: &ChainKey, seq: i64, hash: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(&key.0).expect("any key length");
    m.update(format!("coffer store head v1|{seq}|{hash}").as_bytes());
    hex::encode(m.finalize().into_bytes())
}

impl StoreHead {
    pub fn new(key: &ChainKey, seq: i64, hash: String) -> StoreHead {
        let mac = store_mac(key, seq, &hash);
        StoreHead { seq, hash, mac }
    }

    /// Reads the head at `path` and checks its signature.
    pub fn read(path: &Path, key: &ChainKey) -> Result<Option<StoreHead>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let head: StoreHead =
            serde_json::from_str(&text).map_err(|_| format!("{} is unreadable", path.display()))?;
        let expected = store_mac(key, head.seq, &head.hash);
        if !coffer_sigv4::signatures_match(&expected, &head.mac) {
            return Err(format!(
                "{} is not signed with this root key's chain key",
                path.display()
            ));
        }
        Ok(Some(head))
    }

    /// Writes the head at `path` (0600), whole or not at all.
    fn write(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = path.with_extension("store-head.tmp");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(serde_json::to_string(self).unwrap_or_default().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}

impl Service {
    /// Writes the store chain's head beside the audit file if it moved.
    pub(crate) async fn record_store_head(&self, last: &mut Option<i64>) {
        let head = match self.store.audit_head().await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "reading the store's audit head failed; will retry");
                return;
            }
        };
        if *last == Some(head.0) {
            return;
        }
        let path = self.audit.path().with_file_name(STORE_HEAD_FILE);
        let h = StoreHead::new(&self.chain_key, head.0, head.1);
        let written = tokio::task::spawn_blocking(move || h.write(&path)).await;
        match written {
            Ok(Ok(())) => *last = Some(head.0),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "writing the store's audit head failed; will retry");
            }
            Err(e) => {
                tracing::warn!(error = %e, "writing the store's audit head failed; will retry");
            }
        }
    }
}
