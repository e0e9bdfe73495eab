//! The single writer thread and its group commit.
//!
//! All writes go through one connection on one thread, so SQLite never sees two
//! writers. The thread takes every job waiting in its queue, applies each inside its
//! own SAVEPOINT (a failed job rolls back alone), and commits the batch with one
//! fsync. Each caller is answered only after that commit: an acknowledged write is on
//! disk.

use super::rows::{labels_json, tags_json};
use crate::{
    next_hash, AccessTouch, AccountRow, ChainKey, Committed, CredentialRow, IamOp, KmsKeyRow,
    Mutation, MutationOp, NewAudit, NewEvent, Result, StoreError, GENESIS_HASH,
};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use tokio::sync::{mpsc, oneshot};

/// Enough to amortise the fsync without holding early callers for long.
const MAX_BATCH: usize = 512;

pub enum Job {
    Commit(Box<Mutation>, oneshot::Sender<Result<Committed>>),
    Touch(Vec<AccessTouch>, oneshot::Sender<Result<()>>),
    InsertKms(KmsKeyRow, oneshot::Sender<Result<()>>),
    InsertCredential(CredentialRow, oneshot::Sender<Result<()>>),
    InsertAccount(AccountRow, oneshot::Sender<Result<()>>),
    Iam(Vec<IamOp>, NewEvent, NewAudit, oneshot::Sender<Result<()>>),
    RootKeyCheck(String, oneshot::Sender<Result<bool>>),
    Small(super::sealed::SmallWrite, oneshot::Sender<Result<bool>>),
    Prune(crate::Retention, oneshot::Sender<Result<crate::Pruned>>),
    Delivery(
        super::delivery::DeliveryWrite,
        oneshot::Sender<Result<usize>>,
    ),
}

enum Reply {
    Committed(oneshot::Sender<Result<Committed>>, Result<Committed>),
    Unit(oneshot::Sender<Result<()>>, Result<()>),
    Bool(oneshot::Sender<Result<bool>>, Result<bool>),
    Pruned(
        oneshot::Sender<Result<crate::Pruned>>,
        Result<crate::Pruned>,
    ),
    Count(oneshot::Sender<Result<usize>>, Result<usize>),
}

impl Reply {
    fn fail(self, e: &StoreError) -> Reply {
        let err = || StoreError::Backend(e.to_string());
        match self {
            Reply::Committed(tx, _) => Reply::Committed(tx, Err(err())),
            Reply::Unit(tx, _) => Reply::Unit(tx, Err(err())),
            Reply::Bool(tx, _) => Reply::Bool(tx, Err(err())),
            Reply::Pruned(tx, _) => Reply::Pruned(tx, Err(err())),
            Reply::Count(tx, _) => Reply::Count(tx, Err(err())),
        }
    }

    fn send(self) {
        // A caller that gave up waiting is not an error for the writer.
        match self {
            Reply::Committed(tx, r) => drop(tx.send(r)),
            Reply::Unit(tx, r) => drop(tx.send(r)),
            Reply::Bool(tx, r) => drop(tx.send(r)),
            Reply::Pruned(tx, r) => drop(tx.send(r)),
            Reply::Count(tx, r) => drop(tx.send(r)),
        }
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Runs until every sender is dropped, then closes the connection cleanly.
/// `key` keys the audit chain's links (unkeyed without one).
pub fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>, key: Option<ChainKey>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let replies = apply_batch(&mut conn, batch, key.as_ref());
        replies.into_iter().for_each(Reply::send);
    }
    // A checkpoint folds the WAL back so the next start opens a tidy database.
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the store failed");
    }
}

fn apply_batch(conn: &mut Connection, batch: Vec<Job>, key: Option<&ChainKey>) -> Vec<Reply> {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let e = backend(e);
            return batch.into_iter().map(|j| unapplied(j).fail(&e)).collect();
        }
    };
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        replies.push(apply_in_savepoint(&tx, job, key));
    }
    match tx.commit() {
        Ok(()) => replies,
        Err(e) => {
            let e = backend(e);
            tracing::error!(error = %e, "store commit failed");
            replies.into_iter().map(|r| r.fail(&e)).collect()
        }
    }
}

fn unapplied(job: Job) -> Reply {
    let never = || StoreError::Backend("not applied".into());
    match job {
        Job::Commit(_, tx) => Reply::Committed(tx, Err(never())),
        Job::Touch(_, tx)
        | Job::InsertKms(_, tx)
        | Job::InsertCredential(_, tx)
        | Job::InsertAccount(_, tx)
        | Job::Iam(_, _, _, tx) => Reply::Unit(tx, Err(never())),
        Job::RootKeyCheck(_, tx) | Job::Small(_, tx) => Reply::Bool(tx, Err(never())),
        Job::Prune(_, tx) => Reply::Pruned(tx, Err(never())),
        Job::Delivery(_, tx) => Reply::Count(tx, Err(never())),
    }
}

fn apply_in_savepoint(tx: &Transaction<'_>, job: Job, key: Option<&ChainKey>) -> Reply {
    if let Err(e) = tx.execute_batch("SAVEPOINT job") {
        return unapplied(job).fail(&backend(e));
    }
    let (reply, ok) = match job {
        Job::Commit(m, reply) => {
            let r = apply_mutation(tx, &m, key);
            let ok = r.is_ok();
            (Reply::Committed(reply, r), ok)
        }
        Job::Touch(t, reply) => unit(reply, apply_touches(tx, &t)),
        Job::InsertKms(k, reply) => unit(reply, insert_kms(tx, &k)),
        Job::InsertCredential(c, reply) => unit(reply, insert_credential(tx, &c)),
        Job::InsertAccount(a, reply) => unit(reply, insert_account(tx, &a)),
        Job::RootKeyCheck(fp, reply) => {
            let r = root_key_check(tx, &fp);
            let ok = r.is_ok();
            (Reply::Bool(reply, r), ok)
        }
        Job::Small(w, reply) => {
            let r = super::sealed::write(tx, &w);
            let ok = r.is_ok();
            (Reply::Bool(reply, r), ok)
        }
        Job::Delivery(w, reply) => {
            let out = super::delivery::write(tx, &w);
            let ok = out.is_ok();
            (Reply::Count(reply, out), ok)
        }
        Job::Prune(r, reply) => {
            let out = super::prune::prune(tx, &r, key);
            let ok = out.is_ok();
            (Reply::Pruned(reply, out), ok)
        }
        Job::Iam(ops, event, audit, reply) => {
            let r = ops.iter().try_for_each(|op| apply_iam(tx, op));
            let r = r.and_then(|()| append_audit(tx, &audit, key));
            unit(reply, r.and_then(|()| insert_event(tx, &event)))
        }
    };
    let end = if ok {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    match tx.execute_batch(end) {
        Ok(()) => reply,
        Err(e) => reply.fail(&backend(e)),
    }
}

fn unit(reply: oneshot::Sender<Result<()>>, r: Result<()>) -> (Reply, bool) {
    let ok = r.is_ok();
    (Reply::Unit(reply, r), ok)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn apply_mutation(tx: &Transaction<'_>, m: &Mutation, key: Option<&ChainKey>) -> Result<Committed> {
    let s = &m.secret;
    // Whether the texts the word index holds changed (a new value alone leaves
    // them: their entries are not rewritten on every write).
    let mut texts_changed = true;
    let (secret_id, revision) = match m.op {
        MutationOp::Create => {
            let r = tx.execute(
                "INSERT INTO secrets (account_id, region, name, arn, description, kms_key_id, kind,
                    created_ms, last_changed_ms, last_accessed_ms, deleted_ms, purge_after_ms, tags, attrs, revision)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 1)",
                params![s.account_id, s.region, s.name, s.arn, s.description, s.kms_key_id, s.kind,
                    s.created_ms, s.last_changed_ms, s.last_accessed_ms, s.deleted_ms, s.purge_after_ms,
                    tags_json(s.tags.as_ref()), s.attrs.to_string()],
            );
            match r {
                Ok(_) => (tx.last_insert_rowid(), 1),
                Err(e) if is_unique_violation(&e) => return Err(StoreError::NameTaken),
                Err(e) => return Err(backend(e)),
            }
        }
        MutationOp::Update { expected_revision } => {
            let old: Option<(Option<String>, Option<String>)> = tx
                .prepare_cached("SELECT description, tags FROM secrets WHERE id = ?1")
                .and_then(|mut st| {
                    st.query_row([s.id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(backend)?;
            texts_changed =
                old.is_none_or(|(d, t)| d != s.description || t != tags_json(s.tags.as_ref()));
            let n = tx
                .execute(
                    "UPDATE secrets SET description = ?1, kms_key_id = ?2, kind = ?3, last_changed_ms = ?4,
                        last_accessed_ms = ?5, deleted_ms = ?6, purge_after_ms = ?7, tags = ?8, attrs = ?9,
                        revision = revision + 1
                     WHERE id = ?10 AND revision = ?11",
                    params![s.description, s.kms_key_id, s.kind, s.last_changed_ms, s.last_accessed_ms,
                        s.deleted_ms, s.purge_after_ms, tags_json(s.tags.as_ref()), s.attrs.to_string(), s.id,
                        expected_revision],
                )
                .map_err(backend)?;
            if n != 1 {
                return Err(StoreError::Conflict);
            }
            (s.id, expected_revision + 1)
        }
        MutationOp::Purge { expected_revision } => {
            let live: Option<i64> = tx
                .query_row("SELECT revision FROM secrets WHERE id = ?1", [s.id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend)?;
            if live != Some(expected_revision) {
                return Err(StoreError::Conflict);
            }
            tx.execute("DELETE FROM versions WHERE secret_id = ?1", [s.id])
                .map_err(backend)?;
            tx.execute("DELETE FROM secrets WHERE id = ?1", [s.id])
                .map_err(backend)?;
            (s.id, expected_revision + 1)
        }
    };
    match m.op {
        MutationOp::Purge { .. } => delete_words(tx, secret_id)?,
        _ if texts_changed => write_words(tx, secret_id, s)?,
        _ => {}
    }
    write_versions(tx, secret_id, m)?;
    append_audit(tx, &m.audit, key)?;
    for (_, a) in &m.also {
        append_audit(tx, a, key)?;
    }
    for ev in m.event.iter().chain(m.also.iter().map(|(e, _)| e)) {
        insert_event(tx, ev)?;
    }
    Ok(Committed {
        secret_id,
        revision,
    })
}

/// Appends a change event to the outbox, in the change's own transaction.
fn insert_event(tx: &Transaction<'_>, ev: &NewEvent) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO events (at_ms, account_id, region, body) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut st| st.execute(params![ev.at_ms, ev.account_id, ev.region, ev.body]))
    .map_err(backend)?;
    Ok(())
}

fn write_versions(tx: &Transaction<'_>, secret_id: i64, m: &Mutation) -> Result<()> {
    for v in &m.insert_versions {
        tx.prepare_cached(
            "INSERT INTO versions (secret_id, version_id, seq, created_ms, last_accessed_ms, labels, value_kind,
                kms_key_id, wrapped_data_key, ciphertext)
             VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE secret_id = ?1),
                ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .and_then(|mut st| {
            st.execute(params![
                secret_id,
                v.version_id,
                v.created_ms,
                v.last_accessed_ms,
                labels_json(&v.labels),
                v.value_kind,
                v.kms_key_id,
                v.wrapped_data_key,
                v.ciphertext
            ])
        })
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict
            } else {
                backend(e)
            }
        })?;
    }
    for (vid, labels) in &m.relabel {
        tx.prepare_cached(
            "UPDATE versions SET labels = ?1 WHERE secret_id = ?2 AND version_id = ?3",
        )
        .and_then(|mut st| st.execute(params![labels_json(labels), secret_id, vid]))
        .map_err(backend)?;
    }
    for v in &m.reseal {
        tx.prepare_cached(
            "UPDATE versions SET kms_key_id = ?1, wrapped_data_key = ?2, ciphertext = ?3
             WHERE secret_id = ?4 AND version_id = ?5",
        )
        .and_then(|mut st| {
            st.execute(params![
                v.kms_key_id,
                v.wrapped_data_key,
                v.ciphertext,
                secret_id,
                v.version_id
            ])
        })
        .map_err(backend)?;
    }
    for vid in &m.delete_versions {
        tx.prepare_cached("DELETE FROM versions WHERE secret_id = ?1 AND version_id = ?2")
            .and_then(|mut st| st.execute(params![secret_id, vid]))
            .map_err(backend)?;
    }
    if let Some(before) = m.prune_before_ms {
        prune(tx, secret_id, before)?;
    }
    Ok(())
}

/// Deletes versions without a label created before `before_ms`, except the
/// newest `KEEP_VERSIONS`. The age index bounds the walk to old versions: a
/// secret written constantly does not rescan its young ones on every write.
fn prune(tx: &Transaction<'_>, secret_id: i64, before_ms: i64) -> Result<()> {
    tx.prepare_cached(
        // `+seq`: not an index term, so the walk is over the age index (old
        // versions only), not over every version below the newest 100.
        "DELETE FROM versions WHERE secret_id = ?1 AND created_ms < ?2 AND labels = '[]'
           AND +seq < (SELECT seq FROM versions WHERE secret_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
    )
    .and_then(|mut st| st.execute(params![secret_id, before_ms, crate::KEEP_VERSIONS - 1]))
    .map_err(backend)?;
    Ok(())
}

pub(super) fn append_audit(
    tx: &Transaction<'_>,
    a: &NewAudit,
    key: Option<&ChainKey>,
) -> Result<()> {
    let prev: String = tx
        .query_row(
            "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?
        .unwrap_or_else(|| GENESIS_HASH.to_string());
    let hash = next_hash(key, &prev, &a.body);
    tx.prepare_cached("INSERT INTO audit (at_ms, body, prev_hash, hash) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut st| st.execute(params![a.at_ms, a.body, prev, hash]))
        .map_err(backend)?;
    Ok(())
}

fn apply_touches(tx: &Transaction<'_>, touches: &[AccessTouch]) -> Result<()> {
    for t in touches {
        tx.prepare_cached(
            "UPDATE secrets SET last_accessed_ms = ?1 WHERE id = ?2
               AND (last_accessed_ms IS NULL OR last_accessed_ms < ?1)",
        )
        .and_then(|mut st| st.execute(params![t.day_ms, t.secret_id]))
        .map_err(backend)?;
        if let Some(v) = &t.version_id {
            tx.prepare_cached(
                "UPDATE versions SET last_accessed_ms = ?1 WHERE secret_id = ?2 AND version_id = ?3
                   AND (last_accessed_ms IS NULL OR last_accessed_ms < ?1)",
            )
            .and_then(|mut st| st.execute(params![t.day_ms, t.secret_id, v]))
            .map_err(backend)?;
        }
    }
    Ok(())
}

fn dup_or_backend(e: rusqlite::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Duplicate
    } else {
        backend(e)
    }
}

fn insert_kms(tx: &Transaction<'_>, k: &KmsKeyRow) -> Result<()> {
    tx.execute(
        "INSERT INTO kms_keys (account_id, region, key_id, arn, alias, wrapped, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            k.account_id,
            k.region,
            k.key_id,
            k.arn,
            k.alias,
            k.wrapped,
            k.created_ms
        ],
    )
    .map_err(dup_or_backend)?;
    Ok(())
}

fn insert_credential(tx: &Transaction<'_>, c: &CredentialRow) -> Result<()> {
    tx.execute(
        "INSERT INTO credentials (access_key_id, account_id, principal_arn, wrapped_secret, status, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![c.access_key_id, c.account_id, c.principal_arn, c.wrapped_secret, c.status, c.created_ms],
    )
    .map_err(dup_or_backend)?;
    Ok(())
}

fn insert_account(tx: &Transaction<'_>, a: &AccountRow) -> Result<()> {
    tx.execute(
        "INSERT INTO accounts (account_id, name, created_ms) VALUES (?1, ?2, ?3)",
        params![a.account_id, a.name, a.created_ms],
    )
    .map_err(dup_or_backend)?;
    Ok(())
}

fn apply_iam(tx: &Transaction<'_>, op: &IamOp) -> Result<()> {
    let changed = match op {
        IamOp::InsertCredential(c) => return insert_credential(tx, c),
        IamOp::InsertAccount(a) => return insert_account(tx, a),
        IamOp::Put {
            row,
            expected_revision: None,
        } => tx
            .execute(
                "INSERT INTO iam (account_id, kind, name, body, revision) VALUES (?1, ?2, ?3, ?4, 1)",
                params![row.account_id, row.kind, row.name, row.body],
            )
            .map_err(dup_or_backend)?,
        IamOp::Put {
            row,
            expected_revision: Some(rev),
        } => tx
            .execute(
                "UPDATE iam SET body = ?4, revision = revision + 1
                 WHERE account_id = ?1 AND kind = ?2 AND name = ?3 AND revision = ?5",
                params![row.account_id, row.kind, row.name, row.body, rev],
            )
            .map_err(backend)?,
        IamOp::Delete {
            account_id,
            kind,
            name,
            expected_revision,
        } => tx
            .execute(
                "DELETE FROM iam WHERE account_id = ?1 AND kind = ?2 AND name = ?3 AND revision = ?4",
                params![account_id, kind, name, expected_revision],
            )
            .map_err(backend)?,
        IamOp::SetCredentialStatus {
            access_key_id,
            status,
        } => tx
            .execute(
                "UPDATE credentials SET status = ?2 WHERE access_key_id = ?1",
                params![access_key_id, status],
            )
            .map_err(backend)?,
        IamOp::DeleteCredential { access_key_id } => tx
            .execute(
                "DELETE FROM credentials WHERE access_key_id = ?1",
                [access_key_id],
            )
            .map_err(backend)?,
    };
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

/// Records the fingerprint if none is, and compares it with the recorded one.
fn root_key_check(tx: &Transaction<'_>, fingerprint: &str) -> Result<bool> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('root_key_check', ?1) ON CONFLICT (key) DO NOTHING",
        [fingerprint],
    )
    .map_err(backend)?;
    let recorded: String = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'root_key_check'",
            [],
            |r| r.get(0),
        )
        .map_err(backend)?;
    Ok(recorded == fingerprint)
}

fn delete_words(tx: &Transaction<'_>, secret_id: i64) -> Result<()> {
    tx.prepare_cached("DELETE FROM secret_words WHERE secret_id = ?1")
        .and_then(|mut st| st.execute([secret_id]))
        .map_err(backend)?;
    Ok(())
}

/// Replaces the secret's entries in the word index (see `words`).
pub(super) fn write_words(
    tx: &Transaction<'_>,
    secret_id: i64,
    s: &crate::SecretRow,
) -> Result<()> {
    delete_words(tx, secret_id)?;
    let mut st = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO secret_words (account_id, region, field, word, secret_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(backend)?;
    for (field, word) in crate::words::terms(s) {
        st.execute(params![s.account_id, s.region, field, word, secret_id])
            .map_err(backend)?;
    }
    Ok(())
}
