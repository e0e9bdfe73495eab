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
