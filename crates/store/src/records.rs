//! The records a store keeps. Plain data: no behaviour beyond accessors.

use serde::{Deserialize, Serialize};

/// Metadata of one secret. Stored in clear, as in AWS, so it can be queried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRow {
    /// Assigned by the store on create; ignored in a create mutation.
    pub id: i64,
    pub account_id: String,
    pub region: String,
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    /// The KMS key id the caller named (None: the account's default key).
    pub kms_key_id: Option<String>,
    /// The model's `Type` member.
    pub kind: Option<String>,
    pub created_ms: i64,
    pub last_changed_ms: i64,
    /// Day granularity, as AWS reports it.
    pub last_accessed_ms: Option<i64>,
    pub deleted_ms: Option<i64>,
    /// When the sweeper may purge it (DeletionDate).
    pub purge_after_ms: Option<i64>,
    /// None until the secret's tags are first set, so `Tags` is absent rather than
    /// empty on a secret that never had any (as AWS answers).
    pub tags: Option<Vec<(String, String)>>,
    /// Forward-compatible attributes (rotation, policy, replication) as JSON.
    pub attrs: serde_json::Value,
    /// Bumped by every committed mutation; the basis of optimistic concurrency.
    pub revision: i64,
}

/// One version of a secret: labels in clear, the value sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub version_id: String,
    pub created_ms: i64,
    pub last_accessed_ms: Option<i64>,
    pub labels: Vec<String>,
    /// `string` or `binary`; part of the ciphertext's associated data.
    pub value_kind: String,
    /// The KMS key that wrapped the data key.
    pub kms_key_id: String,
    pub wrapped_data_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// A secret with its labelled versions, oldest first. Versions without a label
/// (deprecated) are read one at a time ([`crate::Store::version`]) or all
/// together ([`crate::Store::all_versions`]): a secret written a hundred
/// thousand times costs a read what its labelled versions cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub row: SecretRow,
    pub versions: Vec<VersionRow>,
}

/// The orders secrets can be listed in (ListSecrets' SortBy); the store keeps an
/// index for each, so a page costs what it holds, not what the account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListSort {
    Created,
    LastChanged,
    /// Never-accessed secrets sort as accessed at 0.
    LastAccessed,
    Name,
}

/// A position in a listing: the sort key and the id of the last secret seen.
/// Ids break ties, so the position stays exact while secrets are created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListKey {
    Int(i64),
    Text(String),
}

impl ListSort {
    /// The key `row` has in this order.
    pub fn key_of(self, row: &SecretRow) -> ListKey {
        match self {
            ListSort::Created => ListKey::Int(row.created_ms),
            ListSort::LastChanged => ListKey::Int(row.last_changed_ms),
            ListSort::LastAccessed => ListKey::Int(row.last_accessed_ms.unwrap_or(0)),
            ListSort::Name => ListKey::Text(row.name.clone()),
        }
    }
}

/// What a page of a listing asks for.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub sort: ListSort,
    pub descending: bool,
    /// Start after this (key, id); None: from the start.
    pub after: Option<(ListKey, i64)>,
    /// Secrets wanted on the page.
    pub limit: usize,
    pub include_deleted: bool,
    /// What the store's query can test of the caller's filter.
    pub narrow: Narrowing,
    /// Rows the store reads at most for the page (see
    /// [`crate::words::SCAN_BUDGET`]), None: as many as it takes (no filter:
    /// every row read is kept). A page stopped short says where the next
    /// starts ([`ListPage::resume`]).
    pub budget: Option<usize>,
}

/// What narrows a listing's walk, each part a superset of what the caller's
/// filter keeps (the filter still decides), so the store's query drops rows
/// without sending them over. Default: nothing narrows.
#[derive(Debug, Clone, Default)]
pub struct Narrowing {
    /// Only secrets with a term in one of these fields (see [`crate::words`])
    /// starting with one of these prefixes, found through the word index.
    pub probe: Option<WordProbe>,
    /// Only secrets whose name starts with one of these (case-sensitive, as
    /// the `name` filter matches); empty: any. Exact.
    pub name_prefixes: Vec<String>,
    /// No secret whose name starts with one of these (the `name` filter's
    /// negated values). Exact.
    pub name_excluded: Vec<String>,
    /// For each group, only secrets with a tag key or value starting with one
    /// of its prefixes (case-sensitive); groups ANDed. A superset of what the
    /// tag filters keep (a key found where a value was asked).
    pub tag_prefixes: Vec<Vec<String>>,
    /// Each group's texts hold, for one of its alternatives, every one of its
    /// words (see [`WordGroup`]); groups ANDed.
    pub words: Vec<WordGroup>,
}

/// What the `description` and `all` filters need of a secret's texts, as the
/// store's query can test it: for one of the alternatives (a filter's
/// values), each of its words (ASCII, lowercased) is found somewhere in one
/// of the fields' texts, lowercased. A word that starts a word of a text is
/// found in it, so this keeps a superset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordGroup {
    pub fields: Vec<&'static str>,
    pub alternatives: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordProbe {
    pub fields: Vec<&'static str>,
    /// Lowercased and cut as [`crate::words::probe_term`] and
    /// [`crate::words::probe_text`] do.
    pub prefixes: Vec<String>,
}

/// Decides whether a secret belongs on the page (the caller's filters); sees
/// the secret's metadata only, not its versions.
pub type ListFilter = std::sync::Arc<dyn Fn(&SecretRow) -> bool + Send + Sync>;

/// One page: the secrets, with their versions, and whether any follow.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub secrets: Vec<Secret>,
    pub more: bool,
    /// Where the next page starts when the walk stopped at its budget before
    /// the page was full (the last row read, kept or not); None: after the
    /// page's last secret.
    pub resume: Option<(ListKey, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MutationOp {
    /// Insert `secret` (fails with NameTaken if the name exists in its scope).
    Create,
    /// Replace the secret row if its revision is still `expected_revision`.
    Update { expected_revision: i64 },
    /// Remove the secret and its versions if its revision is still `expected_revision`.
    Purge { expected_revision: i64 },
}

/// One atomic change to one secret, with its audit record and change event.
#[derive(Debug, Clone)]
pub struct Mutation {
    pub op: MutationOp,
    pub secret: SecretRow,
    pub insert_versions: Vec<VersionRow>,
    /// (version id, full new label set) for versions that already exist.
    pub relabel: Vec<(String, Vec<String>)>,
    pub delete_versions: Vec<String>,
    /// Existing versions sealed anew (a new KMS key): their key id, wrapped data
    /// key and ciphertext are replaced; nothing else of them changes.
    pub reseal: Vec<VersionRow>,
    /// Prunes as AWS does: versions without a label created before this
    /// time, beyond the newest [`crate::KEEP_VERSIONS`], are deleted.
    pub prune_before_ms: Option<i64>,
    pub audit: NewAudit,
    pub event: Option<NewEvent>,
    /// Further events the same change causes (RotateSecret also starts a
    /// rotation: AWS reports both), in order after `event`, each with its own
    /// audit record (CloudTrail records the service's events too), chained
    /// after `audit`.
    pub also: Vec<(NewEvent, NewAudit)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub secret_id: i64,
    pub revision: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTouch {
    pub secret_id: i64,
    pub version_id: Option<String>,
    pub day_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyRow {
    pub account_id: String,
    pub region: String,
    pub key_id: String,
    pub arn: String,
    pub alias: String,
    /// The key material wrapped under the root key.
    pub wrapped: Vec<u8>,
    pub created_ms: i64,
}

/// Where the store keeps values sealed directly under the root key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSealed {
    /// `aws/secretsmanager` keys: id the key's ARN, bytes the wrapped key.
    KmsKeys,
    /// Access keys: id the access key id, bytes the wrapped secret key.
    Credentials,
    /// Documents of one IAM kind that hold sealed values inside (customer
    /// managed keys' materials): id `ACCOUNT/NAME`, bytes the document.
    IamDocs(&'static str),
}

/// One root-sealed value, as [`RootSealed`] describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRow {
    pub id: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRow {
    pub access_key_id: String,
    pub account_id: String,
    pub principal_arn: String,
    /// The secret access key sealed under the root key.
    pub wrapped_secret: Vec<u8>,
    pub status: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub account_id: String,
    pub name: String,
    pub created_ms: i64,
}

/// An audit record to append; the store chains it to the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    pub at_ms: i64,
    /// CloudTrail-shaped JSON, never containing a secret value.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub at_ms: i64,
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

/// One line of a server's audit file (a read record, a refused call), kept in a
/// shared store so the record outlives the server's disk. The link is the
/// file's own, so the copy is checked against the same keyed chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedLine {
    /// The line's number in its file, from 1.
    pub line: i64,
    pub prev: String,
    pub hash: String,
    pub body: String,
}

/// A change event to append to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub at_ms: i64,
    pub account_id: String,
    pub region: String,
    /// EventBridge-shaped JSON, never containing a secret value.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub seq: i64,
    pub at_ms: i64,
    pub account_id: String,
    pub region: String,
    pub body: String,
}

/// The hash that chains audit records: SHA-256 over the previous hash and the body.
pub fn chain_hash(prev_hash: &str, body: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// The key of the audit hash chains, derived from the root key. A keyed link
/// cannot be forged by whoever can write the audit file or the database but
/// does not hold the root key.
#[derive(Clone, Copy)]
pub struct ChainKey(pub [u8; 32]);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

/// How keyed links are marked, so unkeyed ones (written before keys) stay readable.
const KEYED: &str = "k1:";

/// The keyed hash of a record chained after `prev_hash`: HMAC-SHA256.
pub fn keyed_chain_hash(key: &ChainKey, prev_hash: &str, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(&key.0).expect("any key length");
    m.update(prev_hash.as_bytes());
    m.update(b"\n");
    m.update(body.as_bytes());
    format!("{KEYED}{}", hex::encode(m.finalize().into_bytes()))
}

/// The next link's hash: keyed when a key is given.
pub fn next_hash(key: Option<&ChainKey>, prev_hash: &str, body: &str) -> String {
    match key {
        Some(k) => keyed_chain_hash(k, prev_hash, body),
        None => chain_hash(prev_hash, body),
    }
}

/// How much of a chain checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChainReport {
    pub records: usize,
    /// Links written without a key (before keyed chains): they prove order, not
    /// origin. Only a chain's head may be unkeyed.
    pub unkeyed: usize,
}

/// Walks a hash chain link by link (the audit file and the store's records).
pub struct ChainCheck {
    key: ChainKey,
    allow_unkeyed: bool,
    prev: String,
    pub report: ChainReport,
}

impl ChainCheck {
    /// `allow_unkeyed` accepts a head of unkeyed links (a chain begun before keys).
    pub fn new(key: ChainKey, allow_unkeyed: bool) -> Self {
        ChainCheck {
            key,
            allow_unkeyed,
            prev: GENESIS_HASH.into(),
            report: ChainReport::default(),
        }
    }

    /// A chain whose head was pruned: its first record follows `prev`.
    pub fn resume(key: ChainKey, allow_unkeyed: bool, prev: &str) -> Self {
        ChainCheck {
            prev: prev.into(),
            ..Self::new(key, allow_unkeyed)
        }
    }

    /// Takes the next link; false if it does not follow from the one before.
    /// An unkeyed link after a keyed one is refused: otherwise anyone could
    /// rewrite a keyed chain's tail unkeyed.
    pub fn next(&mut self, prev: &str, body: &str, hash: &str) -> bool {
        use subtle::ConstantTimeEq;
        if prev != self.prev {
            return false;
        }
        let keyed = if hash.starts_with(KEYED) {
            let want = keyed_chain_hash(&self.key, prev, body);
            if !bool::from(hash.as_bytes().ct_eq(want.as_bytes())) {
                return false;
            }
            true
        } else {
            let head = self.report.records == self.report.unkeyed;
            if !(self.allow_unkeyed && head && hash == chain_hash(prev, body)) {
                return false;
            }
            false
        };
        self.report.unkeyed += usize::from(!keyed);
        self.report.records += 1;
        hash.clone_into(&mut self.prev);
        true
    }
}

/// The hash before the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One IAM entity (user, role, managed policy) of an account. The body is the
/// entity as JSON, owned by the core; the store only keys and versions it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamRow {
    pub account_id: String,
    /// `user`, `role` or `policy`.
    pub kind: String,
    pub name: String,
    pub body: String,
    /// Bumped by every write; the basis of optimistic concurrency.
    pub revision: i64,
}

/// One step of an atomic IAM write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamOp {
    /// Inserts (`expected_revision` None; Duplicate if it exists) or replaces the
    /// row if its revision is still the expected one (Conflict otherwise).
    Put {
        row: IamRow,
        expected_revision: Option<i64>,
    },
    /// Deletes the row if its revision is still the expected one.
    Delete {
        account_id: String,
        kind: String,
        name: String,
        expected_revision: i64,
    },
    /// Sets an access key's status (`Active` / `Inactive`).
    SetCredentialStatus {
        access_key_id: String,
        status: String,
    },
    DeleteCredential {
        access_key_id: String,
    },
    /// Registers an access key (Duplicate if the id exists).
    InsertCredential(CredentialRow),
    /// Creates an account (Duplicate if the id exists).
    InsertAccount(AccountRow),
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    const KEY: ChainKey = ChainKey([3; 32]);

    #[test]
    fn an_unkeyed_head_is_taken_only_when_allowed_and_never_after_a_keyed_link() {
        let h1 = chain_hash(GENESIS_HASH, "a");
        let h2 = keyed_chain_hash(&KEY, &h1, "b");
        let h3 = chain_hash(&h2, "c");
        let mut strict = ChainCheck::new(KEY, false);
        assert!(!strict.next(GENESIS_HASH, "a", &h1), "unkeyed refused");

        let mut legacy = ChainCheck::new(KEY, true);
        assert!(legacy.next(GENESIS_HASH, "a", &h1));
        assert!(legacy.next(&h1, "b", &h2));
        assert!(
            !legacy.next(&h2, "c", &h3),
            "no unkeyed link after a keyed one"
        );
        assert_eq!(
            legacy.report,
            ChainReport {
                records: 2,
                unkeyed: 1
            }
        );

        let mut other = ChainCheck::new(ChainKey([4; 32]), true);
        assert!(other.next(GENESIS_HASH, "a", &h1));
        assert!(!other.next(&h1, "b", &h2), "another key did not write it");
        assert!(
            !ChainCheck::new(KEY, true).next("x", "a", &h1),
            "the first link follows the genesis hash"
        );
    }
}
