//! The event bus's delivery bookkeeping on SQLite (see [`crate::delivery`]):
//! writes are jobs of the writer thread, reads go through the read pool.

use crate::delivery::{DeadLetter, DeadLetterQuery, NewDeadLetter};
use crate::{Result, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// One write of the delivery bookkeeping; each answers how many rows it touched.
pub enum DeliveryWrite {
    Advance {
        target: String,
        after: i64,
        dead: Option<NewDeadLetter>,
    },
    Redrive {
        account_id: String,
        ids: Vec<i64>,
    },
    Settle {
        id: i64,
        failure: Option<String>,
    },
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(super) fn write(tx: &Transaction<'_>, w: &DeliveryWrite) -> Result<usize> {
    let n = match w {
        DeliveryWrite::Advance {
            target,
            after,
            dead,
        } => {
            if let Some(d) = dead {
                tx.execute(
                    "INSERT INTO dead_letters (account_id, target, event_seq, event, error, attempts, at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![d.account_id, d.target, d.event_seq, d.event, d.error, d.attempts, d.at_ms],
                )
                .map_err(backend)?;
            }
            tx.execute(
                "INSERT INTO delivery_cursors (target, after_seq) VALUES (?1, ?2)
                 ON CONFLICT (target) DO UPDATE SET after_seq = MAX(after_seq, excluded.after_seq)",
                params![target, after],
            )
            .map_err(backend)?
        }
        DeliveryWrite::Redrive { account_id, ids } if ids.is_empty() => tx
            .execute(
                "UPDATE dead_letters SET redrive = 1 WHERE account_id = ?1",
                [account_id],
            )
            .map_err(backend)?,
        DeliveryWrite::Redrive { account_id, ids } => {
            let mut n = 0;
            for id in ids {
                n += tx
                    .execute(
                        "UPDATE dead_letters SET redrive = 1 WHERE account_id = ?1 AND id = ?2",
                        params![account_id, id],
                    )
                    .map_err(backend)?;
            }
            n
        }
        DeliveryWrite::Settle { id, failure: None } => tx
            .execute("DELETE FROM dead_letters WHERE id = ?1", [id])
            .map_err(backend)?,
        DeliveryWrite::Settle {
            id,
            failure: Some(e),
        } => tx
            .execute(
                "UPDATE dead_letters SET redrive = 0, error = ?2, attempts = attempts + 1 WHERE id = ?1",
                params![id, e],
            )
            .map_err(backend)?,
    };
    Ok(n)
}

pub(super) fn cursor(c: &Connection, target: &str) -> rusqlite::Result<Option<i64>> {
    c.query_row(
        "SELECT after_seq FROM delivery_cursors WHERE target = ?1",
        [target],
        |r| r.get(0),
    )
    .optional()
}

pub(super) fn dead_letters(
    c: &Connection,
    q: &DeadLetterQuery,
) -> rusqlite::Result<Vec<DeadLetter>> {
    let mut st = c.prepare_cached(
        "SELECT id, account_id, target, event_seq, event, error, attempts, at_ms, redrive FROM dead_letters
         WHERE id > ?1 AND (?2 IS NULL OR account_id = ?2) AND (?3 IS NULL OR target = ?3)
           AND (?4 = 0 OR redrive = 1)
         ORDER BY id LIMIT ?5",
    )?;
    let rows = st.query_map(
        params![
            q.after_id,
            q.account_id,
            q.target,
            i64::from(q.redrive_only),
            q.limit as i64
        ],
        |r| {
            Ok(DeadLetter {
                id: r.get(0)?,
                account_id: r.get(1)?,
                target: r.get(2)?,
                event_seq: r.get(3)?,
                event: r.get(4)?,
                error: r.get(5)?,
                attempts: r.get(6)?,
                at_ms: r.get(7)?,
                redrive: r.get::<_, i64>(8)? != 0,
            })
        },
    )?;
    rows.collect()
}
