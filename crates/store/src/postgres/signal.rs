//! Two things one server needs from the others, each on its own connection:
//! word of their commits (LISTEN on the channel every commit NOTIFYs), and who
//! among them runs the fleet's background work (a session advisory lock).
//!
//! The lock lives as long as its connection: when the leading server dies, the
//! database sees its connection close (or its keepalives go unanswered) and
//! releases the lock, and the next server to ask takes it.

use super::error::pg_err;
use super::pool;
use super::write::CHANNEL;
use super::Target;
use crate::Result;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Mutex};
use tokio_postgres::{AsyncMessage, Client, Connection, NoTls};

/// The advisory lock whose holder runs background work.
const LEAD_LOCK: i64 = 0x636f_6666_6572_0003;
/// How long the listener waits before reconnecting to a lost database.
const RECONNECT: Duration = Duration::from_secs(1);

pub struct Signal {
    config: Target,
    changes: watch::Sender<u64>,
    listener: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The connection that holds (or last tried for) the leader's lock, and
    /// whether it holds it.
    leader: Mutex<Option<(Client, bool)>>,
}

impl Signal {
    pub fn start(config: Target) -> Signal {
        let changes = watch::Sender::new(0u64);
        let listener = tokio::spawn(listen(config.clone(), changes.clone()));
        Signal {
            config,
            changes,
            listener: std::sync::Mutex::new(Some(listener)),
            leader: Mutex::new(None),
        }
    }

    /// Bumped by every change another server (or this one) commits, and on
    /// reconnecting after a gap in which notifications may have been missed.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Whether this server leads: holds the lock on a live connection, or has
    /// just taken it. An error means the database could not be asked (not leading).
    pub async fn lead(&self) -> Result<bool> {
        let mut slot = self.leader.lock().await;
        if slot.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            *slot = None;
            let c = pool::connect(&self.config).await?;
            *slot = Some((c, false));
        }
        let Some((client, held)) = slot.as_mut() else {
            return Ok(false);
        };
        // Holding: prove the connection (and so the lock) is still alive.
        // Not holding: try to take it; the call does not wait.
        let asked = if *held {
            client.query_one("SELECT true", &[]).await
        } else {
            client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LEAD_LOCK])
                .await
        };
        match asked {
            Ok(row) => {
                *held = row.try_get::<_, bool>(0).map_err(pg_err)?;
                Ok(*held)
            }
            Err(e) => {
                *slot = None;
                Err(pg_err(e))
            }
        }
    }

    pub async fn stop(&self) {
        let handle = self.listener.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            h.abort();
        }
        // Closing the connection gives the lock up at once for the next leader.
        *self.leader.lock().await = None;
    }
}

/// Listens until aborted, reconnecting after the database comes back.
async fn listen(target: Target, changes: watch::Sender<u64>) {
    loop {
        let connected = match &target.tls {
            Some(tls) => match target.config.connect(tls.clone()).await {
                Ok((client, conn)) => {
                    listen_on(&client, conn, &changes).await;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            None => match target.config.connect(NoTls).await {
                Ok((client, conn)) => {
                    listen_on(&client, conn, &changes).await;
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        match connected {
            Ok(()) => tracing::warn!("lost the database's change notifications; reconnecting"),
            Err(e) => tracing::debug!(error = %e, "cannot listen for changes yet"),
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// LISTENs on one connection, bumping `changes` for each notification, until
/// the connection ends.
async fn listen_on<S, T>(client: &Client, mut conn: Connection<S, T>, changes: &watch::Sender<u64>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let bump = changes.clone();
    let pump = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    bump.send_modify(|n| *n = n.wrapping_add(1));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
    });
    if client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .is_ok()
    {
        // Whatever was committed while we were not listening.
        changes.send_modify(|n| *n = n.wrapping_add(1));
        let _ = pump.await;
    } else {
        pump.abort();
    }
}
