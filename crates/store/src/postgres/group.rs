//! Group commit: a server's concurrent writes share transactions.
//!
//! Every write appends to the audit chain and the outbox under one advisory
//! lock held through its commit's WAL flush (see `write.rs`), so one write per
//! transaction made durable writes cost a flush each, one after the other
//! (463 writes/s here). Writes waiting while a transaction is open go into the
//! next one together: each under its own savepoint (a write refused for a
//! conflict or a taken name leaves the others), their records appended at the
//! end under one taking of the lock, one commit for all. A write is answered
//! once its transaction has committed, so nothing acknowledged is lost.
//!
//! A transaction locks its secrets' rows in one order (existing secrets by id,
//! as the access-time touches do, then new ones by name), so two of a fleet's
//! transactions cannot deadlock. When a shared transaction fails before its
//! commit (a lost connection), each write is retried alone, so one bad write
//! cannot fail its neighbours; when the commit itself fails, whether it took
//! effect is unknown and every write in it answers the error, as a lone write
//! would.

use super::error::pg_err;
use super::pool::Pool;
use super::prepared::Writer;
use super::write;
use crate::{ChainKey, Committed, Mutation, MutationOp, Result, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Writes one transaction holds at most.
const BATCH_MAX: usize = 32;
/// Transactions a server has open at once: one appending while others write
/// their rows.
const IN_FLIGHT: usize = 3;

type Job = (Mutation, oneshot::Sender<Result<Committed>>);

pub struct Committer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Committer {
    /// Starts the task that gathers writes into transactions on `pool`.
    pub fn start(pool: Arc<Pool>, key: Option<ChainKey>) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(gather(pool, key, queue));
        Committer { jobs }
    }

    /// Commits `m` in the next transaction, and answers once it is durable.
    pub async fn commit(&self, m: Mutation) -> Result<Committed> {
        let (done, answer) = oneshot::channel();
        let gone = || StoreError::Unavailable("the store's writer has stopped".into());
        self.jobs.send((m, done)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn gather(pool: Arc<Pool>, key: Option<ChainKey>, mut queue: mpsc::UnboundedReceiver<Job>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        // Waiting for a slot is what lets the next batch fill.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut jobs = vec![first];
        while jobs.len() < BATCH_MAX {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            run(&pool, key.as_ref(), jobs).await;
            drop(slot);
        });
    }
}

async fn run(pool: &Pool, key: Option<&ChainKey>, mut jobs: Vec<Job>) {
    if jobs.len() > 1 {
        jobs.sort_by(|a, b| lock_order(&a.0).cmp(&lock_order(&b.0)));
        match together(pool, key, &jobs).await {
            Ok(results) => {
                for ((_, done), result) in jobs.into_iter().zip(results) {
                    let _ = done.send(result);
                }
                return;
            }
            Err(Failed::AtCommit(e)) => {
                for (_, done) in jobs {
                    let _ = done.send(Err(e.clone()));
                }
                return;
            }
            Err(Failed::Before) => {}
        }
    }
    for (m, done) in jobs {
        let _ = done.send(alone(pool, key, &m).await);
    }
}

/// Existing secrets by id, then new ones by name.
fn lock_order(m: &Mutation) -> (bool, i64, &str, &str, &str) {
    let s = &m.secret;
    let new = matches!(m.op, MutationOp::Create);
    (
        new,
        if new { 0 } else { s.id },
        &s.account_id,
        &s.region,
        &s.name,
    )
}

enum Failed {
    /// Nothing was committed.
    Before,
    /// The commit failed: whether it took effect is unknown.
    AtCommit(StoreError),
}

/// The writes in one transaction; each one's own result, those refused
/// rolled back to their savepoint.
async fn together(
    pool: &Pool,
    key: Option<&ChainKey>,
    jobs: &[Job],
) -> std::result::Result<Vec<Result<Committed>>, Failed> {
    let mut conn = pool.get().await.map_err(|_| Failed::Before)?;
    let (client, statements) = conn.parts();
    let tx = client.transaction().await.map_err(|_| Failed::Before)?;
    let w = Writer::new(&tx, statements);
    let mut results = Vec::with_capacity(jobs.len());
    let (mut audits, mut events) = (Vec::new(), Vec::new());
    for (m, _) in jobs {
        tx.batch_execute("SAVEPOINT job")
            .await
            .map_err(|_| Failed::Before)?;
        match write::change(&w, m).await {
            Ok(done) => {
                let (a, e) = write::records(m);
                audits.extend(a);
                events.extend(e);
                results.push(Ok(done));
            }
            Err(e) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT job")
                    .await
                    .map_err(|_| Failed::Before)?;
                results.push(Err(e));
            }
        }
    }
    if !audits.is_empty() {
        write::append(&w, &audits, &events, key)
            .await
            .map_err(|_| Failed::Before)?;
    }
    tx.commit().await.map_err(|e| Failed::AtCommit(pg_err(e)))?;
    Ok(results)
}

/// One write in its own transaction.
async fn alone(pool: &Pool, key: Option<&ChainKey>, m: &Mutation) -> Result<Committed> {
    let mut conn = pool.get().await?;
    let (client, statements) = conn.parts();
    let tx = client.transaction().await.map_err(pg_err)?;
    let done = write::mutation(&Writer::new(&tx, statements), m, key).await?;
    tx.commit().await.map_err(pg_err)?;
    Ok(done)
}
