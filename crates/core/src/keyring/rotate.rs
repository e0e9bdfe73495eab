//! Re-sealing what the store keeps under the root key, from the previous root
//! to the new one: `aws/secretsmanager` keys, customer-managed keys' materials
//! and access keys' secrets. Secret values need nothing: their data keys are
//! wrapped by those KMS keys, whose material does not change.
//!
//! Each value is re-sealed compare-and-set, and one already under the new key
//! is left alone, so a pass can be stopped anywhere and run again.

use super::credential_aad;
use super::customer::{self, material_aad, KeyDoc};
use base64::Engine;
use coffer_crypto::{CryptoError, Key256};
use coffer_store::{RootSealed, SealedRow, Store, StoreError};

/// Every place the store keeps root-sealed values.
pub const PLACES: [RootSealed; 3] = [
    RootSealed::KmsKeys,
    RootSealed::Credentials,
    RootSealed::IamDocs(customer::KEY),
];

const PAGE: usize = 200;

/// What one value needs.
#[derive(Debug, PartialEq, Eq)]
pub enum Reseal {
    /// Already under the new key.
    Done,
    /// Its new bytes, under the new key.
    Now(Vec<u8>),
    /// Neither key opens it (damaged, or sealed under a third key).
    Unreadable,
}

/// What a pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub seen: u64,
    pub resealed: u64,
    /// Changed by someone else between read and write: the next pass sees it.
    pub raced: u64,
    /// Ids neither key opens.
    pub unreadable: Vec<String>,
}

/// How many root-sealed values the store holds (for a progress bar).
pub async fn count(store: &dyn Store) -> Result<u64, StoreError> {
    let mut n = 0;
    for place in PLACES {
        let mut after = String::new();
        loop {
            let page = store.root_sealed(place, &after, PAGE).await?;
            n += page.len() as u64;
            match page.last() {
                Some(last) if page.len() == PAGE => after.clone_from(&last.id),
                _ => break,
            }
        }
    }
    Ok(n)
}

/// One pass over every root-sealed value: re-seals under `new` what `old`
/// opens. `each` is told after every value (true: it was re-sealed now).
pub async fn pass(
    store: &dyn Store,
    old: &Key256,
    new: &Key256,
    each: &mut (dyn FnMut(bool) + Send),
) -> Result<PassReport, StoreError> {
    let mut report = PassReport::default();
    for place in PLACES {
        let mut after = String::new();
        loop {
            let page = store.root_sealed(place, &after, PAGE).await?;
            for row in &page {
                report.seen += 1;
                let now = match reseal(place, row, old, new) {
                    Reseal::Done => false,
                    Reseal::Unreadable => {
                        report.unreadable.push(row.id.clone());
                        false
                    }
                    Reseal::Now(bytes) => {
                        if store.reseal(place, &row.id, &row.bytes, &bytes).await? {
                            report.resealed += 1;
                            true
                        } else {
                            report.raced += 1;
                            false
                        }
                    }
                };
                each(now);
            }
            match page.last() {
                Some(last) if page.len() == PAGE => after.clone_from(&last.id),
                _ => break,
            }
        }
    }
    Ok(report)
}

/// Whether a value opens with `key`: with `all`, every part of it (a key
/// document's every material); else any part (the check that the old key
/// opens nothing).
pub fn opens_with(place: RootSealed, row: &SealedRow, key: &Key256, all: bool) -> bool {
    match place {
        RootSealed::IamDocs(_) => serde_json::from_slice::<KeyDoc>(&row.bytes)
            .ok()
            .is_some_and(|doc| {
                let mut parts = 0..doc.materials.len();
                let opens = |n| material_under(&doc, n, key).is_ok();
                if all {
                    parts.all(opens)
                } else {
                    parts.any(opens)
                }
            }),
        _ => open_row(place, row, key).is_ok(),
    }
}

fn open_row(place: RootSealed, row: &SealedRow, key: &Key256) -> Result<(), CryptoError> {
    match place {
        RootSealed::KmsKeys => coffer_crypto::unwrap_kms_key(key, &row.id, &row.bytes).map(drop),
        RootSealed::Credentials => {
            coffer_crypto::open(key, credential_aad(&row.id).as_bytes(), &row.bytes).map(drop)
        }
        RootSealed::IamDocs(_) => Err(CryptoError::Malformed),
    }
}

fn reseal_row(place: RootSealed, row: &SealedRow, key: &Key256, new: &Key256) -> Reseal {
    let out = match place {
        RootSealed::KmsKeys => coffer_crypto::unwrap_kms_key(key, &row.id, &row.bytes)
            .and_then(|k| coffer_crypto::wrap_kms_key(new, &row.id, &k)),
        RootSealed::Credentials => {
            let aad = credential_aad(&row.id);
            coffer_crypto::open(key, aad.as_bytes(), &row.bytes)
                .and_then(|s| coffer_crypto::seal(new, aad.as_bytes(), s.as_slice()))
        }
        RootSealed::IamDocs(_) => Err(CryptoError::Malformed),
    };
    out.map_or(Reseal::Unreadable, Reseal::Now)
}

/// What one value needs to be under `new`.
pub fn reseal(place: RootSealed, row: &SealedRow, old: &Key256, new: &Key256) -> Reseal {
    if let RootSealed::IamDocs(_) = place {
        return reseal_doc(row, old, new);
    }
    if open_row(place, row, new).is_ok() {
        return Reseal::Done;
    }
    reseal_row(place, row, old, new)
}

fn material_under(doc: &KeyDoc, n: usize, key: &Key256) -> Result<Key256, CryptoError> {
    let m = doc.materials.get(n).ok_or(CryptoError::Malformed)?;
    let wrapped = base64::engine::general_purpose::STANDARD
        .decode(&m.wrapped)
        .map_err(|_| CryptoError::Malformed)?;
    let n = u32::try_from(n).map_err(|_| CryptoError::Malformed)?;
    coffer_crypto::unwrap_kms_key(key, &material_aad(&doc.arn, n), &wrapped)
}

/// A customer-managed key's document: each of its materials re-sealed.
fn reseal_doc(row: &SealedRow, old: &Key256, new: &Key256) -> Reseal {
    let Ok(mut doc) = serde_json::from_slice::<KeyDoc>(&row.bytes) else {
        return Reseal::Unreadable;
    };
    let mut changed = false;
    for n in 0..doc.materials.len() {
        if material_under(&doc, n, new).is_ok() {
            continue;
        }
        let Ok(key) = material_under(&doc, n, old) else {
            return Reseal::Unreadable;
        };
        let name = material_aad(&doc.arn, u32::try_from(n).unwrap_or(u32::MAX));
        let Ok(wrapped) = coffer_crypto::wrap_kms_key(new, &name, &key) else {
            return Reseal::Unreadable;
        };
        doc.materials[n].wrapped = base64::engine::general_purpose::STANDARD.encode(wrapped);
        changed = true;
    }
    if !changed {
        return Reseal::Done;
    }
    serde_json::to_vec(&doc).map_or(Reseal::Unreadable, Reseal::Now)
}
