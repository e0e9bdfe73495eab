//! Writes, each in one transaction at READ COMMITTED.
//!
//! Why READ COMMITTED is enough, and REPEATABLE READ would be wrong here:
//! - Every change to an existing secret or IAM entity is an UPDATE or DELETE
//!   guarded by `revision = expected`. PostgreSQL re-checks that guard against
//!   the newest committed row after waiting for a concurrent writer, so the
//!   loser updates nothing and answers Conflict: optimistic concurrency without
//!   serializable snapshots. Creates rely on unique keys.
//! - The audit chain and the outbox are appended under one transaction-scoped
//!   advisory lock, taken last. Each statement after it reads a fresh snapshot,
//!   so the chain's head is the previous holder's record. Under REPEATABLE READ
//!   the snapshot would predate the lock and fork the chain.
//! - The same lock makes event sequence numbers follow commit order (the lock is
//!   released only once the commit is visible), so a follower reading "events
//!   after n" never skips one committed late under a lower number.

use super::error::{is_unique_violation, pg_err};
use super::prepared::{Statements, Writer};
use crate::{
    next_hash, AccessTouch, AccountRow, ChainKey, Committed, CredentialRow, IamOp, KmsKeyRow,
    Mutation, MutationOp, NewAudit, NewEvent, Result, StoreError, GENESIS_HASH,
};
use tokio_postgres::Transaction;

/// The advisory lock that orders the audit chain and the outbox.
pub(super) const APPEND_LOCK: i64 = 0x636f_6666_6572_0002;
/// Where committed changes are announced (LISTEN/NOTIFY).
pub const CHANNEL: &str = "coffer_changes";

fn tags_json(tags: Option<&Vec<(String, String)>>) -> Option<String> {
    tags.map(|t| serde_json::to_string(t).unwrap_or_else(|_| "[]".into()))
}

fn labels_json(labels: &[String]) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "[]".into())
}

fn map_unique(e: tokio_postgres::Error, on_unique: StoreError) -> StoreError {
    if is_unique_violation(&e) {
        on_unique
    } else {
        pg_err(e)
    }
}

pub async fn mutation(
    tx: &Writer<'_, '_>,
    m: &Mutation,
    key: Option<&ChainKey>,
) -> Result<Committed> {
    let done = change(tx, m).await?;
    let (audits, events) = records(m);
    append(tx, &audits, &events, key).await?;
    Ok(done)
}

/// A mutation's audit records and change events, in their order.
pub fn records(m: &Mutation) -> (Vec<&NewAudit>, Vec<&NewEvent>) {
    let events = m
        .event
        .iter()
        .chain(m.also.iter().map(|(e, _)| e))
        .collect();
    let audits = std::iter::once(&m.audit)
        .chain(m.also.iter().map(|(_, a)| a))
        .collect();
    (audits, events)
}

/// A mutation's change to its secret, versions and words, without its
/// records (see [`append`]).
pub async fn change(tx: &Writer<'_, '_>, m: &Mutation) -> Result<Committed> {
    let s = &m.secret;
    let tags = tags_json(s.tags.as_ref());
    let attrs = s.attrs.to_string();
    // Whether the texts the word index holds changed (a new value alone leaves
    // them: rewriting their entries on every write only made dead rows).
    let mut texts_changed = true;
    let (secret_id, revision) = match m.op {
        MutationOp::Create => {
            let row = tx
                .query_one(
                    "INSERT INTO secrets (account_id, region, name, arn, description, kms_key_id, kind,
                        created_ms, last_changed_ms, last_accessed_ms, deleted_ms, purge_after_ms, tags, attrs, revision)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::text::jsonb, 1)
                     RETURNING id",
                    &[&s.account_id, &s.region, &s.name, &s.arn, &s.description, &s.kms_key_id, &s.kind,
                      &s.created_ms, &s.last_changed_ms, &s.last_accessed_ms, &s.deleted_ms, &s.purge_after_ms,
                      &tags, &attrs],
                )
                .await
                .map_err(|e| map_unique(e, StoreError::NameTaken))?;
            (row.get::<_, i64>(0), 1)
        }
        MutationOp::Update { expected_revision } => {
            // `old` is the row as this statement found it: RETURNING compares.
            let row = tx
                .query_opt(
                    "UPDATE secrets s SET description = $1, kms_key_id = $2, kind = $3, last_changed_ms = $4,
                        last_accessed_ms = $5, deleted_ms = $6, purge_after_ms = $7, tags = $8,
                        attrs = $9::text::jsonb, revision = s.revision + 1
                     FROM secrets old
                     WHERE s.id = $10 AND s.revision = $11 AND old.id = s.id
                     RETURNING old.description IS DISTINCT FROM s.description
                            OR old.tags IS DISTINCT FROM s.tags",
                    &[&s.description, &s.kms_key_id, &s.kind, &s.last_changed_ms, &s.last_accessed_ms,
                      &s.deleted_ms, &s.purge_after_ms, &tags, &attrs, &s.id, &expected_revision],
                )
                .await
                .map_err(pg_err)?;
            let Some(row) = row else {
                return Err(StoreError::Conflict);
            };
            texts_changed = row.try_get(0).map_err(pg_err)?;
            (s.id, expected_revision + 1)
        }
        MutationOp::Purge { expected_revision } => {
            // FOR UPDATE waits for a concurrent writer and reads its result.
            let live = tx
                .query_opt(
                    "SELECT revision FROM secrets WHERE id = $1 FOR UPDATE",
                    &[&s.id],
                )
                .await
                .map_err(pg_err)?
                .map(|r| r.get::<_, i64>(0));
            if live != Some(expected_revision) {
                return Err(StoreError::Conflict);
            }
            tx.execute("DELETE FROM versions WHERE secret_id = $1", &[&s.id])
                .await
                .map_err(pg_err)?;
            tx.execute("DELETE FROM secrets WHERE id = $1", &[&s.id])
                .await
                .map_err(pg_err)?;
            (s.id, expected_revision + 1)
        }
    };
    match m.op {
        MutationOp::Purge { .. } => delete_words(tx, secret_id).await?,
        _ if texts_changed => words(tx, secret_id, s).await?,
        _ => {}
    }
    versions(tx, secret_id, m).await?;
    Ok(Committed {
        secret_id,
        revision,
    })
}

async fn versions(tx: &Writer<'_, '_>, secret_id: i64, m: &Mutation) -> Result<()> {
    for v in &m.insert_versions {
        tx.execute(
            "INSERT INTO versions (secret_id, version_id, seq, created_ms, last_accessed_ms, labels, value_kind,
                kms_key_id, wrapped_data_key, ciphertext)
             VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE secret_id = $1),
                $3, $4, $5, $6, $7, $8, $9)",
            &[&secret_id, &v.version_id, &v.created_ms, &v.last_accessed_ms, &labels_json(&v.labels),
              &v.value_kind, &v.kms_key_id, &v.wrapped_data_key, &v.ciphertext],
        )
        .await
        .map_err(|e| map_unique(e, StoreError::Conflict))?;
    }
    for v in &m.reseal {
        tx.execute(
            "UPDATE versions SET kms_key_id = $1, wrapped_data_key = $2, ciphertext = $3
             WHERE secret_id = $4 AND version_id = $5",
            &[
                &v.kms_key_id,
                &v.wrapped_data_key,
                &v.ciphertext,
                &secret_id,
                &v.version_id,
            ],
        )
        .await
        .map_err(pg_err)?;
    }
    for (vid, labels) in &m.relabel {
        tx.execute(
            "UPDATE versions SET labels = $1 WHERE secret_id = $2 AND version_id = $3",
            &[&labels_json(labels), &secret_id, vid],
        )
        .await
        .map_err(pg_err)?;
    }
    for vid in &m.delete_versions {
        tx.execute(
            "DELETE FROM versions WHERE secret_id = $1 AND version_id = $2",
            &[&secret_id, vid],
        )
        .await
        .map_err(pg_err)?;
    }
    if let Some(before) = m.prune_before_ms {
        // As in SQLite: unlabelled, older than `before`, not among the newest;
        // `seq + 0` keeps the walk on the age index.
        tx.execute(
            "DELETE FROM versions WHERE secret_id = $1 AND created_ms < $2 AND labels = '[]'
               AND seq + 0 < (SELECT seq FROM versions WHERE secret_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $3)",
            &[&secret_id, &before, &(crate::KEEP_VERSIONS - 1)],
        )
        .await
        .map_err(pg_err)?;
    }
    Ok(())
}

/// Appends the audit records (chained in order) and the change events, in
/// commit order (see above), and announces the events to listening servers
/// when the transaction commits.
pub(super) async fn append(
    tx: &Writer<'_, '_>,
    audits: &[&NewAudit],
    events: &[&NewEvent],
    key: Option<&ChainKey>,
) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
        .await
        .map_err(pg_err)?;
    let mut prev: String = tx
        .query_opt("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
        .await
        .map_err(pg_err)?
        .map_or_else(|| GENESIS_HASH.to_string(), |r| r.get(0));
    // One statement for all the records and one for all the events, as the
    // lock is held from here to the commit: a group commit's 32 writes cost
    // two round trips under it, not 64. Rows are numbered in array order.
    let (mut at, mut body, mut prevs, mut hashes) = (vec![], vec![], vec![], vec![]);
    for audit in audits {
        let hash = next_hash(key, &prev, &audit.body);
        at.push(audit.at_ms);
        body.push(audit.body.as_str());
        prevs.push(std::mem::replace(&mut prev, hash.clone()));
        hashes.push(hash);
    }
    if !at.is_empty() {
        tx.execute(
            "INSERT INTO audit (at_ms, body, prev_hash, hash)
             SELECT a, b, p, h FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[])
               WITH ORDINALITY AS u(a, b, p, h, n) ORDER BY n",
            &[&at, &body, &prevs, &hashes],
        )
        .await
        .map_err(pg_err)?;
    }
    if events.is_empty() {
        return Ok(());
    }
    let at: Vec<i64> = events.iter().map(|e| e.at_ms).collect();
    let accounts: Vec<&str> = events.iter().map(|e| e.account_id.as_str()).collect();
    let regions: Vec<&str> = events.iter().map(|e| e.region.as_str()).collect();
    let bodies: Vec<&str> = events.iter().map(|e| e.body.as_str()).collect();
    tx.execute(
        "WITH e AS (INSERT INTO events (at_ms, account_id, region, body)
             SELECT a, c, r, b FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[])
               WITH ORDINALITY AS u(a, c, r, b, n) ORDER BY n
             RETURNING seq)
         SELECT pg_notify($5, seq::text) FROM e",
        &[&at, &accounts, &regions, &bodies, &CHANNEL],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

pub async fn iam(
    tx: &Transaction<'_>,
    ops: &[IamOp],
    event: &NewEvent,
    audit: &NewAudit,
    key: Option<&ChainKey>,
) -> Result<()> {
    for op in ops {
        iam_op(tx, op).await?;
    }
    let once = Statements::default();
    append(&Writer::new(tx, &once), &[audit], &[event], key).await
}

async fn iam_op(tx: &Transaction<'_>, op: &IamOp) -> Result<()> {
    let changed = match op {
        IamOp::InsertCredential(c) => return credential(tx, c).await,
        IamOp::InsertAccount(a) => return account(tx, a).await,
        IamOp::Put {
            row,
            expected_revision: None,
        } => tx
            .execute(
                "INSERT INTO iam (account_id, kind, name, body, revision) VALUES ($1, $2, $3, $4, 1)",
                &[&row.account_id, &row.kind, &row.name, &row.body],
            )
            .await
            .map_err(|e| map_unique(e, StoreError::Duplicate))?,
        IamOp::Put {
            row,
            expected_revision: Some(rev),
        } => tx
            .execute(
                "UPDATE iam SET body = $4, revision = revision + 1
                 WHERE account_id = $1 AND kind = $2 AND name = $3 AND revision = $5",
                &[&row.account_id, &row.kind, &row.name, &row.body, rev],
            )
            .await
            .map_err(pg_err)?,
        IamOp::Delete {
            account_id,
            kind,
            name,
            expected_revision,
        } => tx
            .execute(
                "DELETE FROM iam WHERE account_id = $1 AND kind = $2 AND name = $3 AND revision = $4",
                &[account_id, kind, name, expected_revision],
            )
            .await
            .map_err(pg_err)?,
        IamOp::SetCredentialStatus {
            access_key_id,
            status,
        } => tx
            .execute(
                "UPDATE credentials SET status = $2 WHERE access_key_id = $1",
                &[access_key_id, status],
            )
            .await
            .map_err(pg_err)?,
        IamOp::DeleteCredential { access_key_id } => tx
            .execute("DELETE FROM credentials WHERE access_key_id = $1", &[access_key_id])
            .await
            .map_err(pg_err)?,
    };
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

/// Touches in secret order, so two servers' batches cannot deadlock.
pub async fn touches(tx: &Transaction<'_>, touches: &[AccessTouch]) -> Result<()> {
    let mut sorted: Vec<&AccessTouch> = touches.iter().collect();
    sorted.sort_by(|a, b| (a.secret_id, &a.version_id).cmp(&(b.secret_id, &b.version_id)));
    for t in sorted {
        tx.execute(
            "UPDATE secrets SET last_accessed_ms = $1 WHERE id = $2
               AND (last_accessed_ms IS NULL OR last_accessed_ms < $1)",
            &[&t.day_ms, &t.secret_id],
        )
        .await
        .map_err(pg_err)?;
        if let Some(v) = &t.version_id {
            tx.execute(
                "UPDATE versions SET last_accessed_ms = $1 WHERE secret_id = $2 AND version_id = $3
                   AND (last_accessed_ms IS NULL OR last_accessed_ms < $1)",
                &[&t.day_ms, &t.secret_id, v],
            )
            .await
            .map_err(pg_err)?;
        }
    }
    Ok(())
}

pub async fn kms(tx: &Transaction<'_>, k: &KmsKeyRow) -> Result<()> {
    tx.execute(
        "INSERT INTO kms_keys (account_id, region, key_id, arn, alias, wrapped, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &k.account_id,
            &k.region,
            &k.key_id,
            &k.arn,
            &k.alias,
            &k.wrapped,
            &k.created_ms,
        ],
    )
    .await
    .map_err(|e| map_unique(e, StoreError::Duplicate))?;
    Ok(())
}

pub async fn credential(tx: &Transaction<'_>, c: &CredentialRow) -> Result<()> {
    tx.execute(
        "INSERT INTO credentials (access_key_id, account_id, principal_arn, wrapped_secret, status, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&c.access_key_id, &c.account_id, &c.principal_arn, &c.wrapped_secret, &c.status, &c.created_ms],
    )
    .await
    .map_err(|e| map_unique(e, StoreError::Duplicate))?;
    Ok(())
}

pub async fn account(tx: &Transaction<'_>, a: &AccountRow) -> Result<()> {
    tx.execute(
        "INSERT INTO accounts (account_id, name, created_ms) VALUES ($1, $2, $3)",
        &[&a.account_id, &a.name, &a.created_ms],
    )
    .await
    .map_err(|e| map_unique(e, StoreError::Duplicate))?;
    Ok(())
}

async fn delete_words(tx: &Writer<'_, '_>, secret_id: i64) -> Result<()> {
    tx.execute(
        "DELETE FROM secret_words WHERE secret_id = $1",
        &[&secret_id],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

/// Replaces the secret's entries in the word index (see `words`): two
/// statements whatever the number of terms.
pub async fn words(tx: &Writer<'_, '_>, secret_id: i64, s: &crate::SecretRow) -> Result<()> {
    delete_words(tx, secret_id).await?;
    let (fields, terms): (Vec<&str>, Vec<String>) = crate::words::terms(s).into_iter().unzip();
    tx.execute(
        "INSERT INTO secret_words (account_id, region, field, word, secret_id)
         SELECT $1, $2, f, w, $3 FROM unnest($4::text[], $5::text[]) AS t (f, w)
         ON CONFLICT DO NOTHING",
        &[&s.account_id, &s.region, &secret_id, &fields, &terms],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}
