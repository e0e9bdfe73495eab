//! The storage seam: the [`Store`] trait, its records, and its backends.
//!
//! The store never sees plaintext: versions arrive sealed. Concurrency control is
//! optimistic: every mutation names the revision of the secret it was computed from,
//! and the store refuses it with [`StoreError::Conflict`] if another writer got there
//! first, so the core can re-read and retry. Each mutation, its audit record and its
//! change event commit in one transaction. [`conformance`] is the suite every backend
//! must pass.

mod cached;
/// Compiled for this crate's tests, and for other crates' tests through the
/// `conformance` feature; never into a release build.
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod delivery;
pub mod postgres;
mod records;
pub mod retention;
pub mod sqlite;
pub mod words;

pub use cached::CachedStore;
pub use delivery::{DeadLetter, DeadLetterQuery, NewDeadLetter};
pub use records::*;
pub use retention::{Anchor, AuditAnchors, Pruned, Retention};

use async_trait::async_trait;
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The secret changed since it was read (or vanished): re-read and retry.
    #[error("the secret was modified concurrently")]
    Conflict,
    /// A create found the name taken in this account and region.
    #[error("a secret with this name already exists")]
    NameTaken,
    /// A row inserted under a unique key (access key id, KMS key alias) exists.
    #[error("the record already exists")]
    Duplicate,
    /// The backend failed; the detail is for the log, not the client.
    #[error("storage backend error: {0}")]
    Backend(String),
    /// The database cannot be reached right now (down, restarting, out of
    /// connections); nothing was written. Clients may retry.
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
    /// The database was written by a newer Coffer.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Versions a secret keeps before pruning (AWS: "more than 100").
pub const KEEP_VERSIONS: i64 = 100;

fn not_shared() -> StoreError {
    StoreError::Backend("this store is not shared by servers and keeps no audit files".into())
}

/// Where a secret lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account_id: String,
    pub region: String,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A secret and all its versions, by exact name.
    async fn secret_by_name(&self, scope: &Scope, name: &str) -> Result<Option<Arc<Secret>>>;
    /// A secret and all its versions, by full ARN.
    async fn secret_by_arn(&self, arn: &str) -> Result<Option<Arc<Secret>>>;
    /// The same, read from the database itself, neither answered from nor
    /// kept in a cache: background work (the replicator) that acts on another
    /// server's commit must see it even before this server's cache hears of it.
    async fn secret_by_arn_fresh(&self, arn: &str) -> Result<Option<Arc<Secret>>> {
        self.secret_by_arn(arn).await
    }
    /// Every secret of a scope with its versions, in name order.
    async fn list_secrets(&self, scope: &Scope) -> Result<Vec<Secret>>;
    /// One page of a scope's secrets in the order `q` names, starting after
    /// `q.after`, holding only secrets `keep` accepts: the store walks its index
    /// for that order and loads versions for the page's secrets only.
    async fn list_page(&self, scope: &Scope, q: &ListQuery, keep: ListFilter) -> Result<ListPage>;
    /// One version of a secret, labelled or not.
    async fn version(&self, secret_id: i64, version_id: &str) -> Result<Option<VersionRow>>;
    /// Every version of a secret, labelled or not, oldest first.
    async fn all_versions(&self, secret_id: i64) -> Result<Vec<VersionRow>>;
    /// Applies a mutation atomically; see [`Mutation`].
    async fn commit(&self, m: Mutation) -> Result<Committed>;
    /// Records last-accessed days; best effort, no revision change, no audit row
    /// (reads are audited by the audit log file).
    async fn touch_accessed(&self, touches: Vec<AccessTouch>) -> Result<()>;
    /// ARNs of secrets whose rotation is due (attribute `Rotation.DueMs` at or
    /// before `now_ms`), and with `interrupted` also those with a rotation
    /// started and not finished (`Rotation.Pending` set).
    async fn rotation_due(&self, now_ms: i64, interrupted: bool) -> Result<Vec<String>>;
    /// Secrets whose recovery window ended at or before `now_ms`.
    async fn due_for_purge(&self, now_ms: i64) -> Result<Vec<(i64, i64, String)>>;

    async fn kms_key(&self, scope: &Scope, alias: &str) -> Result<Option<KmsKeyRow>>;
    /// Inserts a KMS key; [`StoreError::Duplicate`] if the alias exists.
    async fn insert_kms_key(&self, key: KmsKeyRow) -> Result<()>;

    async fn credential(&self, access_key_id: &str) -> Result<Option<CredentialRow>>;
    async fn insert_credential(&self, cred: CredentialRow) -> Result<()>;
    async fn account(&self, account_id: &str) -> Result<Option<AccountRow>>;
    async fn insert_account(&self, account: AccountRow) -> Result<()>;
    /// Every account, oldest first.
    async fn accounts(&self) -> Result<Vec<AccountRow>>;
    /// The access keys of one principal, oldest first.
    async fn credentials_of(&self, principal_arn: &str) -> Result<Vec<CredentialRow>>;

    async fn iam_get(&self, account_id: &str, kind: &str, name: &str) -> Result<Option<IamRow>>;
    /// Every entity of a kind in an account, in name order.
    async fn iam_list(&self, account_id: &str, kind: &str) -> Result<Vec<IamRow>>;
    /// Applies the steps atomically, all or none, with `event` appended to the
    /// outbox (other servers' caches hear of the change from it) and `audit` to
    /// the audit chain, in the same transaction.
    async fn iam_write(&self, ops: Vec<IamOp>, event: NewEvent, audit: NewAudit) -> Result<()>;

    /// The sequence number of the newest change event (0 if none).
    async fn latest_event_seq(&self) -> Result<i64>;
    /// The change events after `after_seq`, oldest first (the outbox).
    async fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<EventRow>>;
    /// The mutation audit records, oldest first.
    async fn audit_records(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditRow>>;
    /// The newest record of the store's audit chain: its sequence number and
    /// hash (None: the chain is empty).
    async fn audit_head(&self) -> Result<Option<(i64, String)>>;

    /// Drops history older than `r` allows: change events, and audit records
    /// (with servers' audit lines, in a shared store), at most a batch of each
    /// kind per call. See [`retention`] for what always stays and how pruning
    /// is told apart from tampering.
    async fn prune_history(&self, r: &Retention) -> Result<Pruned>;
    /// The newest change event pruned (0: none): a change stream resuming
    /// before it has missed changes.
    async fn event_horizon(&self) -> Result<i64>;
    /// Where each audit chain starts after pruning.
    async fn audit_anchors(&self) -> Result<AuditAnchors>;

    /// The last outbox event target `target` handled (None: it never started).
    async fn delivery_cursor(&self, target: &str) -> Result<Option<i64>>;
    /// Moves `target`'s cursor to `after`, keeping `dead` (an event it gave up
    /// on) in the same transaction.
    async fn advance_delivery(
        &self,
        target: &str,
        after: i64,
        dead: Option<NewDeadLetter>,
    ) -> Result<()>;
    /// Dead letters, oldest first.
    async fn dead_letters(&self, q: &DeadLetterQuery) -> Result<Vec<DeadLetter>>;
    /// Marks dead letters of `account_id` for delivery again (`ids` empty: all
    /// of them); returns how many.
    async fn redrive_dead_letters(&self, account_id: &str, ids: &[i64]) -> Result<usize>;
    /// A redriven letter delivered (`failure` None: it goes) or refused again.
    async fn settle_dead_letter(&self, id: i64, failure: Option<String>) -> Result<()>;

    /// Drops any cached copy of the secret `arn`: a change committed by another
    /// server, heard of through the outbox. Backends without a cache do nothing.
    fn forget_cached(&self, _arn: &str) {}

    /// Drops every cached secret (the outbox follower starts, and cannot know
    /// what changed before).
    fn forget_all_cached(&self) {}

    /// Keeps lines of `server_id`'s audit file; lines it holds already are
    /// skipped, so a line shipped twice (after a crash) is kept once. Backends
    /// that only one server can open do not keep them (the file is beside the
    /// database) and refuse.
    async fn ship_audit(&self, _server_id: &str, _lines: Vec<ShippedLine>) -> Result<()> {
        Err(not_shared())
    }

    /// The number of the last line of `server_id`'s file kept (0: none).
    async fn shipped_upto(&self, _server_id: &str) -> Result<i64> {
        Err(not_shared())
    }

    /// The lines of `server_id`'s file after line `after`, in order.
    async fn shipped_lines(
        &self,
        _server_id: &str,
        _after: i64,
        _limit: usize,
    ) -> Result<Vec<ShippedLine>> {
        Err(not_shared())
    }

    /// The servers whose audit files the store keeps.
    async fn shipped_servers(&self) -> Result<Vec<String>> {
        Err(not_shared())
    }

    /// Records `fingerprint` (a one-way digest of the root key) on first use and
    /// says whether it matches the one recorded: a server started with another
    /// root key than the one the database was written with must not write to it.
    async fn check_root_key(&self, fingerprint: &str) -> Result<bool>;

    /// A value of the store's own settings (`root_key_check`, the sealed audit
    /// chain key, servers' root-key heartbeats).
    async fn meta_get(&self, key: &str) -> Result<Option<String>>;

    /// The settings whose key starts with `prefix`, in key order.
    async fn meta_list(&self, prefix: &str) -> Result<Vec<(String, String)>>;

    /// Sets `key` to `value` (None: removes it), whatever it was.
    async fn meta_put(&self, key: &str, value: Option<&str>) -> Result<()>;

    /// Sets `key` to `to` only if it is `from` now; says whether it did.
    async fn meta_swap(&self, key: &str, from: &str, to: &str) -> Result<bool>;

    /// A page of the values sealed directly under the root key, in id order
    /// after `after` ("" for the first page): what a root-key rotation re-seals.
    async fn root_sealed(
        &self,
        what: RootSealed,
        after: &str,
        limit: usize,
    ) -> Result<Vec<SealedRow>>;

    /// Replaces one root-sealed value if it still is `old` (compare-and-set,
    /// so a value changed meanwhile is left to the next pass); says whether it
    /// did. A document's revision moves on, so a writer holding the old one
    /// conflicts instead of writing the old sealing back.
    async fn reseal(&self, what: RootSealed, id: &str, old: &[u8], new: &[u8]) -> Result<bool>;

    /// Wakes when a change may have been committed by another server sharing
    /// the database (None: this backend has no such signal, and followers poll).
    fn change_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Whether this server should run the fleet's background work (due
    /// rotations, the deletion sweeper) now. One server of those sharing a
    /// database leads at a time; a backend only one server can open always leads.
    async fn lead(&self) -> Result<bool> {
        Ok(true)
    }

    /// Flushes and closes; later calls fail.
    async fn close(&self) -> Result<()>;
}
