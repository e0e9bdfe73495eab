//! A read-through cache in front of a store.
//!
//! This process's changes pass through [`Store::commit`] here and invalidate at
//! once; changes committed by other servers sharing the database arrive through
//! the outbox, whose follower calls [`Store::forget_cached`] for each changed
//! secret. Between another server's commit and the follower's next read of the
//! outbox (a fraction of a second), this cache may still answer the old revision.
//!
//! The race that matters: a reader loads revision r from the backend, a writer
//! commits r+1 and invalidates, then the reader caches r. A generation counter,
//! bumped by every commit before it invalidates, and checked by the reader under the
//! same lock it inserts with, makes the reader drop such a stale result.

use crate::{
    async_trait, AccessTouch, AccountRow, Arc, AuditAnchors, AuditRow, Committed, CredentialRow,
    EventRow, IamOp, IamRow, KmsKeyRow, ListFilter, ListPage, ListQuery, Mutation, NewAudit,
    NewEvent, Pruned, Result, Retention, RootSealed, Scope, SealedRow, Secret, SecretRow,
    ShippedLine, Store, VersionRow,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// Entries kept before the cache starts over; a secret is a few KiB at most.
const MAX_ENTRIES: usize = 50_000;

type NameKey = (String, String, String);

#[derive(Default)]
struct Maps {
    by_name: HashMap<NameKey, Arc<Secret>>,
    by_arn: HashMap<String, Arc<Secret>>,
}

pub struct CachedStore<S> {
    inner: S,
    generation: AtomicU64,
    maps: RwLock<Maps>,
}

fn name_key(account: &str, region: &str, name: &str) -> NameKey {
    (account.to_string(), region.to_string(), name.to_string())
}

impl<S: Store> CachedStore<S> {
    pub fn new(inner: S) -> Self {
        CachedStore {
            inner,
            generation: AtomicU64::new(0),
            maps: RwLock::default(),
        }
    }

    fn remember(&self, seen_generation: u64, s: &Arc<Secret>) {
        let Ok(mut maps) = self.maps.write() else {
            return;
        };
        if self.generation.load(Ordering::SeqCst) != seen_generation {
            return;
        }
        if maps.by_arn.len() >= MAX_ENTRIES {
            *maps = Maps::default();
        }
        let r = &s.row;
        maps.by_name
            .insert(name_key(&r.account_id, &r.region, &r.name), s.clone());
        maps.by_arn.insert(r.arn.clone(), s.clone());
    }

    fn forget(&self, row: &SecretRow) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut maps) = self.maps.write() {
            maps.by_name
                .remove(&name_key(&row.account_id, &row.region, &row.name));
            maps.by_arn.remove(&row.arn);
        }
    }

    /// Drops the touched secrets only (touches name secrets by id).
    fn forget_ids(&self, ids: &std::collections::HashSet<i64>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut maps) = self.maps.write() {
            maps.by_name.retain(|_, s| !ids.contains(&s.row.id));
            maps.by_arn.retain(|_, s| !ids.contains(&s.row.id));
        }
    }

    fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut maps) = self.maps.write() {
            *maps = Maps::default();
        }
    }
}

#[async_trait]
impl<S: Store> Store for CachedStore<S> {
    async fn secret_by_name(&self, scope: &Scope, name: &str) -> Result<Option<Arc<Secret>>> {
        let key = name_key(&scope.account_id, &scope.region, name);
        if let Some(s) = self
            .maps
            .read()
            .ok()
            .and_then(|m| m.by_name.get(&key).cloned())
        {
            return Ok(Some(s));
        }
        let seen = self.generation.load(Ordering::SeqCst);
        let found = self.inner.secret_by_name(scope, name).await?;
        if let Some(s) = &found {
            self.remember(seen, s);
        }
        Ok(found)
    }

    async fn secret_by_arn_fresh(&self, arn: &str) -> Result<Option<Arc<Secret>>> {
        self.inner.secret_by_arn(arn).await
    }

    async fn secret_by_arn(&self, arn: &str) -> Result<Option<Arc<Secret>>> {
        if let Some(s) = self
            .maps
            .read()
            .ok()
            .and_then(|m| m.by_arn.get(arn).cloned())
        {
            return Ok(Some(s));
        }
        let seen = self.generation.load(Ordering::SeqCst);
        let found = self.inner.secret_by_arn(arn).await?;
        if let Some(s) = &found {
            self.remember(seen, s);
        }
        Ok(found)
    }

    async fn list_secrets(&self, scope: &Scope) -> Result<Vec<Secret>> {
        self.inner.list_secrets(scope).await
    }

    async fn list_page(&self, scope: &Scope, q: &ListQuery, keep: ListFilter) -> Result<ListPage> {
        self.inner.list_page(scope, q, keep).await
    }

    async fn version(&self, secret_id: i64, version_id: &str) -> Result<Option<VersionRow>> {
        self.inner.version(secret_id, version_id).await
    }

    async fn all_versions(&self, secret_id: i64) -> Result<Vec<VersionRow>> {
        self.inner.all_versions(secret_id).await
    }

    async fn commit(&self, m: Mutation) -> Result<Committed> {
        let row = m.secret.clone();
        let out = self.inner.commit(m).await;
        // Also after a failure: a conflict means the cached copy is stale anyway.
        self.forget(&row);
        out
    }

    async fn touch_accessed(&self, touches: Vec<AccessTouch>) -> Result<()> {
        let ids: std::collections::HashSet<i64> = touches.iter().map(|t| t.secret_id).collect();
        let out = self.inner.touch_accessed(touches).await;
        self.forget_ids(&ids);
        out
    }

    async fn due_for_purge(&self, now_ms: i64) -> Result<Vec<(i64, i64, String)>> {
        self.inner.due_for_purge(now_ms).await
    }
    async fn kms_key(&self, scope: &Scope, alias: &str) -> Result<Option<KmsKeyRow>> {
        self.inner.kms_key(scope, alias).await
    }
    async fn insert_kms_key(&self, key: KmsKeyRow) -> Result<()> {
        self.inner.insert_kms_key(key).await
    }
    async fn credential(&self, access_key_id: &str) -> Result<Option<CredentialRow>> {
        self.inner.credential(access_key_id).await
    }
    async fn insert_credential(&self, cred: CredentialRow) -> Result<()> {
        self.inner.insert_credential(cred).await
    }
    async fn account(&self, account_id: &str) -> Result<Option<AccountRow>> {
        self.inner.account(account_id).await
    }
    async fn insert_account(&self, account: AccountRow) -> Result<()> {
        self.inner.insert_account(account).await
    }
    async fn accounts(&self) -> Result<Vec<AccountRow>> {
        self.inner.accounts().await
    }
    async fn credentials_of(&self, principal_arn: &str) -> Result<Vec<CredentialRow>> {
        self.inner.credentials_of(principal_arn).await
    }
    async fn iam_get(&self, account_id: &str, kind: &str, name: &str) -> Result<Option<IamRow>> {
        self.inner.iam_get(account_id, kind, name).await
    }
    async fn iam_list(&self, account_id: &str, kind: &str) -> Result<Vec<IamRow>> {
        self.inner.iam_list(account_id, kind).await
    }
    async fn rotation_due(&self, now_ms: i64, interrupted: bool) -> Result<Vec<String>> {
        self.inner.rotation_due(now_ms, interrupted).await
    }
    async fn iam_write(&self, ops: Vec<IamOp>, event: NewEvent, audit: NewAudit) -> Result<()> {
        self.inner.iam_write(ops, event, audit).await
    }
    async fn latest_event_seq(&self) -> Result<i64> {
        self.inner.latest_event_seq().await
    }
    async fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<EventRow>> {
        self.inner.events_after(after_seq, limit).await
    }
    async fn audit_records(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditRow>> {
        self.inner.audit_records(after_seq, limit).await
    }
    async fn prune_history(&self, r: &Retention) -> Result<Pruned> {
        self.inner.prune_history(r).await
    }
    async fn event_horizon(&self) -> Result<i64> {
        self.inner.event_horizon().await
    }
    async fn audit_anchors(&self) -> Result<AuditAnchors> {
        self.inner.audit_anchors().await
    }
    async fn delivery_cursor(&self, target: &str) -> Result<Option<i64>> {
        self.inner.delivery_cursor(target).await
    }
    async fn advance_delivery(
        &self,
        target: &str,
        after: i64,
        dead: Option<crate::NewDeadLetter>,
    ) -> Result<()> {
        self.inner.advance_delivery(target, after, dead).await
    }
    async fn dead_letters(&self, q: &crate::DeadLetterQuery) -> Result<Vec<crate::DeadLetter>> {
        self.inner.dead_letters(q).await
    }
    async fn redrive_dead_letters(&self, account_id: &str, ids: &[i64]) -> Result<usize> {
        self.inner.redrive_dead_letters(account_id, ids).await
    }
    async fn settle_dead_letter(&self, id: i64, failure: Option<String>) -> Result<()> {
        self.inner.settle_dead_letter(id, failure).await
    }
    async fn ship_audit(&self, server_id: &str, lines: Vec<ShippedLine>) -> Result<()> {
        self.inner.ship_audit(server_id, lines).await
    }
    async fn shipped_upto(&self, server_id: &str) -> Result<i64> {
        self.inner.shipped_upto(server_id).await
    }
    async fn shipped_lines(
        &self,
        server_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<ShippedLine>> {
        self.inner.shipped_lines(server_id, after, limit).await
    }
    async fn shipped_servers(&self) -> Result<Vec<String>> {
        self.inner.shipped_servers().await
    }
    async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        self.inner.audit_head().await
    }
    async fn check_root_key(&self, fingerprint: &str) -> Result<bool> {
        self.inner.check_root_key(fingerprint).await
    }
    async fn meta_get(&self, key: &str) -> Result<Option<String>> {
        self.inner.meta_get(key).await
    }
    async fn meta_list(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        self.inner.meta_list(prefix).await
    }
    async fn meta_put(&self, key: &str, value: Option<&str>) -> Result<()> {
        self.inner.meta_put(key, value).await
    }
    async fn meta_swap(&self, key: &str, from: &str, to: &str) -> Result<bool> {
        self.inner.meta_swap(key, from, to).await
    }
    async fn root_sealed(
        &self,
        what: RootSealed,
        after: &str,
        limit: usize,
    ) -> Result<Vec<SealedRow>> {
        self.inner.root_sealed(what, after, limit).await
    }
    async fn reseal(&self, what: RootSealed, id: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        self.inner.reseal(what, id, old, new).await
    }
    fn change_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.inner.change_signal()
    }
    async fn lead(&self) -> Result<bool> {
        self.inner.lead().await
    }
    fn forget_all_cached(&self) {
        self.forget_all();
    }

    fn forget_cached(&self, arn: &str) {
        let row = self
            .maps
            .read()
            .ok()
            .and_then(|m| m.by_arn.get(arn).map(|s| s.row.clone()));
        match row {
            Some(r) => self.forget(&r),
            // Not cached: a read racing this change must still not cache it.
            None => {
                self.generation.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    async fn close(&self) -> Result<()> {
        self.forget_all();
        self.inner.close().await
    }
}
