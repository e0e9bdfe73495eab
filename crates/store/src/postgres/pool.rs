//! A small connection pool: idle clients on a stack, a semaphore for the cap.
//!
//! A client whose connection broke is dropped when it comes back, and the next
//! checkout opens a new one; so when the database returns after an outage the
//! pool heals by itself, with no reconnect loop to tune.

use super::error::pg_err;
use super::prepared::Statements;
use super::Target;
use crate::{Result, StoreError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, NoTls};

/// How long a request waits for a connection before it answers "unavailable".
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client and the statements prepared on its connection, which go with it.
type Pooled = (Client, Statements);

pub struct Pool {
    config: Target,
    idle: Mutex<Vec<Pooled>>,
    permits: Arc<Semaphore>,
}

/// A checked-out client; goes back to the pool on drop unless its connection broke.
pub struct Conn<'a> {
    pool: &'a Pool,
    client: Option<Pooled>,
    _permit: OwnedSemaphorePermit,
}

impl Conn<'_> {
    /// `sql` prepared on this connection, once (see [`Statements`]).
    pub async fn prepared(&self, sql: &str) -> Result<tokio_postgres::Statement> {
        let (client, statements) = self.client.as_ref().expect("present until drop");
        statements.get(client, sql).await.map_err(pg_err)
    }

    /// The client, for a transaction, and the statements prepared on it.
    pub fn parts(&mut self) -> (&mut Client, &Statements) {
        let (client, statements) = self.client.as_mut().expect("present until drop");
        (client, statements)
    }
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client.as_ref().expect("present until drop").0
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client.as_mut().expect("present until drop").0
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if !c.0.is_closed() {
                if let Ok(mut idle) = self.pool.idle.lock() {
                    idle.push(c);
                }
            }
        }
    }
}

impl Pool {
    pub fn new(config: Target, size: usize) -> Pool {
        Pool {
            config,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size)),
        }
    }

    pub async fn get(&self) -> Result<Conn<'_>> {
        let permit = tokio::time::timeout(CHECKOUT_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Unavailable("no database connection free".into()))?
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        let pooled = loop {
            let c = self.idle.lock().map_err(|_| poisoned())?.pop();
            match c {
                Some(c) if c.0.is_closed() => continue,
                other => break other,
            }
        };
        let client = match pooled {
            Some(c) => c,
            None => (connect(&self.config).await?, Statements::default()),
        };
        Ok(Conn {
            pool: self,
            client: Some(client),
            _permit: permit,
        })
    }

    /// Drops idle connections and refuses new checkouts.
    pub fn close(&self) {
        self.permits.close();
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("connection pool lock poisoned".into())
}

/// A new connection, driven by a task of its own until it closes.
pub async fn connect(target: &Target) -> Result<Client> {
    let client = if let Some(tls) = &target.tls {
        let (client, conn) = target.config.connect(tls.clone()).await.map_err(pg_err)?;
        tokio::spawn(drive(conn));
        client
    } else {
        let (client, conn) = target.config.connect(NoTls).await.map_err(pg_err)?;
        tokio::spawn(drive(conn));
        client
    };
    Ok(client)
}

async fn drive(
    conn: impl std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>>,
) {
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "database connection ended");
    }
}
