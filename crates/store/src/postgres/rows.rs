//! Mapping between PostgreSQL rows and store records. Column lists are shared
//! with the queries so positions cannot drift apart.

use super::error::pg_err;
use crate::{
    AccountRow, AuditRow, CredentialRow, EventRow, IamRow, KmsKeyRow, Result, Secret, SecretRow,
    ShippedLine, StoreError, VersionRow,
};
use tokio_postgres::Row;

/// A secret's columns, qualified for a join with versions (`s`, `v`).
pub const SECRET_COLS: &str = "s.id, s.account_id, s.region, s.name, s.arn, s.description, \
     s.kms_key_id, s.kind, s.created_ms, s.last_changed_ms, s.last_accessed_ms, s.deleted_ms, \
     s.purge_after_ms, s.tags, s.attrs::text, s.revision";

pub const VERSION_COLS: &str = "v.secret_id, v.version_id, v.created_ms, v.last_accessed_ms, \
     v.labels, v.value_kind, v.kms_key_id, v.wrapped_data_key, v.ciphertext";

pub const CREDENTIAL_COLS: &str =
    "access_key_id, account_id, principal_arn, wrapped_secret, status, created_ms";

pub const KMS_COLS: &str = "account_id, region, key_id, arn, alias, wrapped, created_ms";

pub const IAM_COLS: &str = "account_id, kind, name, body, revision";

fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Backend(format!("corrupt JSON column: {e}")))
}

pub fn secret(r: &Row) -> Result<SecretRow> {
    let tags: Option<String> = r.try_get(13).map_err(pg_err)?;
    let attrs: String = r.try_get(14).map_err(pg_err)?;
    Ok(SecretRow {
        id: r.try_get(0).map_err(pg_err)?,
        account_id: r.try_get(1).map_err(pg_err)?,
        region: r.try_get(2).map_err(pg_err)?,
        name: r.try_get(3).map_err(pg_err)?,
        arn: r.try_get(4).map_err(pg_err)?,
        description: r.try_get(5).map_err(pg_err)?,
        kms_key_id: r.try_get(6).map_err(pg_err)?,
        kind: r.try_get(7).map_err(pg_err)?,
        created_ms: r.try_get(8).map_err(pg_err)?,
        last_changed_ms: r.try_get(9).map_err(pg_err)?,
        last_accessed_ms: r.try_get(10).map_err(pg_err)?,
        deleted_ms: r.try_get(11).map_err(pg_err)?,
        purge_after_ms: r.try_get(12).map_err(pg_err)?,
        tags: tags.as_deref().map(json).transpose()?,
        attrs: json(&attrs)?,
        revision: r.try_get(15).map_err(pg_err)?,
    })
}

/// The version in the columns from `at` on (VERSION_COLS after SECRET_COLS in a
/// join), or None where the join found none.
pub fn version_at(r: &Row, at: usize) -> Result<Option<VersionRow>> {
    let id: Option<String> = r.try_get(at + 1).map_err(pg_err)?;
    let Some(version_id) = id else {
        return Ok(None);
    };
    let labels: String = r.try_get(at + 4).map_err(pg_err)?;
    Ok(Some(VersionRow {
        version_id,
        created_ms: r.try_get(at + 2).map_err(pg_err)?,
        last_accessed_ms: r.try_get(at + 3).map_err(pg_err)?,
        labels: json(&labels)?,
        value_kind: r.try_get(at + 5).map_err(pg_err)?,
        kms_key_id: r.try_get(at + 6).map_err(pg_err)?,
        wrapped_data_key: r.try_get(at + 7).map_err(pg_err)?,
        ciphertext: r.try_get(at + 8).map_err(pg_err)?,
    }))
}

/// Secrets with their versions from a join of secrets and versions ordered by
/// secret, then version: each secret's rows are adjacent.
pub fn secrets_joined(rows: &[Row]) -> Result<Vec<Secret>> {
    let mut out: Vec<Secret> = Vec::new();
    for r in rows {
        let id: i64 = r.try_get(0).map_err(pg_err)?;
        if out.last().is_none_or(|s| s.row.id != id) {
            out.push(Secret {
                row: secret(r)?,
                versions: Vec::new(),
            });
        }
        if let (Some(v), Some(s)) = (version_at(r, SECRET_COL_COUNT)?, out.last_mut()) {
            s.versions.push(v);
        }
    }
    Ok(out)
}

/// How many columns SECRET_COLS names.
pub const SECRET_COL_COUNT: usize = 16;

pub fn credential(r: &Row) -> Result<CredentialRow> {
    Ok(CredentialRow {
        access_key_id: r.try_get(0).map_err(pg_err)?,
        account_id: r.try_get(1).map_err(pg_err)?,
        principal_arn: r.try_get(2).map_err(pg_err)?,
        wrapped_secret: r.try_get(3).map_err(pg_err)?,
        status: r.try_get(4).map_err(pg_err)?,
        created_ms: r.try_get(5).map_err(pg_err)?,
    })
}

pub fn kms(r: &Row) -> Result<KmsKeyRow> {
    Ok(KmsKeyRow {
        account_id: r.try_get(0).map_err(pg_err)?,
        region: r.try_get(1).map_err(pg_err)?,
        key_id: r.try_get(2).map_err(pg_err)?,
        arn: r.try_get(3).map_err(pg_err)?,
        alias: r.try_get(4).map_err(pg_err)?,
        wrapped: r.try_get(5).map_err(pg_err)?,
        created_ms: r.try_get(6).map_err(pg_err)?,
    })
}

pub fn account(r: &Row) -> Result<AccountRow> {
    Ok(AccountRow {
        account_id: r.try_get(0).map_err(pg_err)?,
        name: r.try_get(1).map_err(pg_err)?,
        created_ms: r.try_get(2).map_err(pg_err)?,
    })
}

pub fn iam(r: &Row) -> Result<IamRow> {
    Ok(IamRow {
        account_id: r.try_get(0).map_err(pg_err)?,
        kind: r.try_get(1).map_err(pg_err)?,
        name: r.try_get(2).map_err(pg_err)?,
        body: r.try_get(3).map_err(pg_err)?,
        revision: r.try_get(4).map_err(pg_err)?,
    })
}

pub fn event(r: &Row) -> Result<EventRow> {
    Ok(EventRow {
        seq: r.try_get(0).map_err(pg_err)?,
        at_ms: r.try_get(1).map_err(pg_err)?,
        account_id: r.try_get(2).map_err(pg_err)?,
        region: r.try_get(3).map_err(pg_err)?,
        body: r.try_get(4).map_err(pg_err)?,
    })
}

pub fn audit(r: &Row) -> Result<AuditRow> {
    Ok(AuditRow {
        seq: r.try_get(0).map_err(pg_err)?,
        at_ms: r.try_get(1).map_err(pg_err)?,
        body: r.try_get(2).map_err(pg_err)?,
        prev_hash: r.try_get(3).map_err(pg_err)?,
        hash: r.try_get(4).map_err(pg_err)?,
    })
}

pub fn shipped(r: &Row) -> Result<ShippedLine> {
    Ok(ShippedLine {
        line: r.try_get(0).map_err(pg_err)?,
        prev: r.try_get(1).map_err(pg_err)?,
        hash: r.try_get(2).map_err(pg_err)?,
        body: r.try_get(3).map_err(pg_err)?,
    })
}

pub fn all<T>(rows: &[Row], f: fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}
