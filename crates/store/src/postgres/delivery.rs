//! The event bus's delivery bookkeeping on PostgreSQL (see
//! [`crate::delivery`]). Only the fleet's leader delivers, so these rows have
//! one writer; the cursor still only moves forward.

use super::error::pg_err;
use super::PgStore;
use crate::delivery::{DeadLetter, DeadLetterQuery, NewDeadLetter};
use crate::Result;

impl PgStore {
    pub(super) async fn cursor(&self, target: &str) -> Result<Option<i64>> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_opt(
                "SELECT after_seq FROM delivery_cursors WHERE target = $1",
                &[&target],
            )
            .await
            .map_err(pg_err)?;
        Ok(row.map(|r| r.get(0)))
    }

    pub(super) async fn advance(
        &self,
        target: &str,
        after: i64,
        dead: Option<NewDeadLetter>,
    ) -> Result<()> {
        let mut conn = self.pool.get().await?;
        let tx = conn.transaction().await.map_err(pg_err)?;
        if let Some(d) = dead {
            tx.execute(
                "INSERT INTO dead_letters (account_id, target, event_seq, event, error, attempts, at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&d.account_id, &d.target, &d.event_seq, &d.event, &d.error, &d.attempts, &d.at_ms],
            )
            .await
            .map_err(pg_err)?;
        }
        tx.execute(
            "INSERT INTO delivery_cursors (target, after_seq) VALUES ($1, $2)
             ON CONFLICT (target) DO UPDATE
               SET after_seq = GREATEST(delivery_cursors.after_seq, excluded.after_seq)",
            &[&target, &after],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)
    }

    pub(super) async fn letters(&self, q: &DeadLetterQuery) -> Result<Vec<DeadLetter>> {
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                "SELECT id, account_id, target, event_seq, event, error, attempts, at_ms, redrive
                 FROM dead_letters
                 WHERE id > $1 AND ($2::text IS NULL OR account_id = $2)
                   AND ($3::text IS NULL OR target = $3) AND (NOT $4 OR redrive)
                 ORDER BY id LIMIT $5",
                &[
                    &q.after_id,
                    &q.account_id,
                    &q.target,
                    &q.redrive_only,
                    &(q.limit as i64),
                ],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows
            .iter()
            .map(|r| DeadLetter {
                id: r.get(0),
                account_id: r.get(1),
                target: r.get(2),
                event_seq: r.get(3),
                event: r.get(4),
                error: r.get(5),
                attempts: r.get(6),
                at_ms: r.get(7),
                redrive: r.get(8),
            })
            .collect())
    }

    pub(super) async fn redrive(&self, account_id: &str, ids: &[i64]) -> Result<usize> {
        let conn = self.pool.get().await?;
        let n = conn
            .execute(
                "UPDATE dead_letters SET redrive = true
                 WHERE account_id = $1 AND (cardinality($2::bigint[]) = 0 OR id = ANY($2))",
                &[&account_id, &ids],
            )
            .await
            .map_err(pg_err)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) async fn settle(&self, id: i64, failure: Option<String>) -> Result<()> {
        let conn = self.pool.get().await?;
        match failure {
            None => conn.execute("DELETE FROM dead_letters WHERE id = $1", &[&id]).await,
            Some(e) => {
                conn.execute(
                    "UPDATE dead_letters SET redrive = false, error = $2, attempts = attempts + 1 WHERE id = $1",
                    &[&id, &e],
                )
                .await
            }
        }
        .map_err(pg_err)?;
        Ok(())
    }
}
