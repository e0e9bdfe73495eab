//! The store's settings (`coffer_meta`) and the values sealed directly under
//! the root key, as a root-key rotation reads and re-seals them.

use super::error::pg_err;
use super::PgStore;
use crate::{Result, RootSealed, SealedRow};

impl PgStore {
    pub(super) async fn meta_value(&self, key: &str) -> Result<Option<String>> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_opt("SELECT value FROM coffer_meta WHERE key = $1", &[&key])
            .await
            .map_err(pg_err)?;
        row.map(|r| r.try_get(0).map_err(pg_err)).transpose()
    }

    pub(super) async fn meta_prefixed(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let conn = self.pool.get().await?;
        // starts_with, not LIKE: `_` and `%` in a prefix mean themselves.
        let rows = conn
            .query(
                "SELECT key, value FROM coffer_meta WHERE starts_with(key, $1) ORDER BY key",
                &[&prefix],
            )
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(pg_err)?, r.try_get(1).map_err(pg_err)?)))
            .collect()
    }

    pub(super) async fn meta_write(&self, key: &str, value: Option<&str>) -> Result<()> {
        let conn = self.pool.get().await?;
        let done = match value {
            Some(v) => {
                conn.execute(
                    "INSERT INTO coffer_meta (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&key, &v],
                )
                .await
            }
            None => {
                conn.execute("DELETE FROM coffer_meta WHERE key = $1", &[&key])
                    .await
            }
        };
        done.map_err(pg_err)?;
        Ok(())
    }

    pub(super) async fn meta_cas(&self, key: &str, from: &str, to: &str) -> Result<bool> {
        let conn = self.pool.get().await?;
        let n = conn
            .execute(
                "UPDATE coffer_meta SET value = $3 WHERE key = $1 AND value = $2",
                &[&key, &from, &to],
            )
            .await
            .map_err(pg_err)?;
        Ok(n > 0)
    }

    pub(super) async fn sealed_page(
        &self,
        what: RootSealed,
        after: &str,
        limit: usize,
    ) -> Result<Vec<SealedRow>> {
        let conn = self.pool.get().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match what {
            RootSealed::KmsKeys => {
                conn.query(
                    "SELECT arn, wrapped FROM kms_keys WHERE arn > $1 ORDER BY arn LIMIT $2",
                    &[&after, &limit],
                )
                .await
            }
            RootSealed::Credentials => {
                conn.query(
                    "SELECT access_key_id, wrapped_secret FROM credentials
                     WHERE access_key_id > $1 ORDER BY access_key_id LIMIT $2",
                    &[&after, &limit],
                )
                .await
            }
            RootSealed::IamDocs(kind) => {
                let (account, name) = after.split_once('/').unwrap_or((after, ""));
                conn.query(
                    "SELECT account_id || '/' || name, convert_to(body, 'UTF8') FROM iam
                     WHERE kind = $1 AND (account_id, name) > ($2, $3)
                     ORDER BY account_id, name LIMIT $4",
                    &[&kind, &account, &name, &limit],
                )
                .await
            }
        }
        .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                Ok(SealedRow {
                    id: r.try_get(0).map_err(pg_err)?,
                    bytes: r.try_get(1).map_err(pg_err)?,
                })
            })
            .collect()
    }

    pub(super) async fn reseal_one(
        &self,
        what: RootSealed,
        id: &str,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool> {
        let conn = self.pool.get().await?;
        let n = match what {
            RootSealed::KmsKeys => {
                conn.execute(
                    "UPDATE kms_keys SET wrapped = $3 WHERE arn = $1 AND wrapped = $2",
                    &[&id, &old, &new],
                )
                .await
            }
            RootSealed::Credentials => {
                conn.execute(
                    "UPDATE credentials SET wrapped_secret = $3
                     WHERE access_key_id = $1 AND wrapped_secret = $2",
                    &[&id, &old, &new],
                )
                .await
            }
            RootSealed::IamDocs(kind) => {
                let (account, name) = id.split_once('/').unwrap_or((id, ""));
                let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new))
                else {
                    return Ok(false);
                };
                conn.execute(
                    "UPDATE iam SET body = $5, revision = revision + 1
                     WHERE account_id = $1 AND kind = $2 AND name = $3 AND body = $4",
                    &[&account, &kind, &name, &old, &new],
                )
                .await
            }
        }
        .map_err(pg_err)?;
        Ok(n > 0)
    }
}
