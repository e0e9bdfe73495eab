//! The service's background work (the sweeper, last-accessed flushes, audit
//! fsyncs, the rotation scheduler, the outbox follower) and shutdown.

use crate::service::Service;
use coffer_store::Store;
use std::sync::Arc;
use std::time::Duration;

impl Service {
    /// Runs the sweeper and the last-accessed flusher until `stop` turns true.
    pub fn spawn_background(
        self: &Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let svc = self.clone();
        let follower = self.spawn_follower(stop.clone());
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(svc.sweep_interval);
            let mut flush = tokio::time::interval(Duration::from_secs(1));
            let mut rotations = tokio::time::interval(svc.rotation_interval);
            // Rotations run off this loop, one pass at a time, so the sweeper and
            // shutdown never wait for a slow rotation function. The first pass also
            // finishes rotations cut off by the last stop (or a crash).
            let mut pass: Option<tokio::task::JoinHandle<()>> = None;
            let mut first = true;
            loop {
                tokio::select! {
                    _ = sweep.tick() => {
                        let n = svc.sweep_once().await;
                        if n > 0 {
                            tracing::info!(purged = n, "sweeper purged secrets past their recovery window");
                        }
                    }
                    _ = flush.tick() => {
                        svc.access.flush(&*svc.store).await;
                        let s = svc.clone();
                        // fsync can take milliseconds: keep it off the async workers.
                        let _ = tokio::task::spawn_blocking(move || s.audit.sync()).await;
                    }
                    _ = rotations.tick() => {
                        if pass.as_ref().is_some_and(|p| !p.is_finished()) {
                            continue;
                        }
                        let (s, resume) = (svc.clone(), std::mem::take(&mut first));
                        pass = Some(tokio::spawn(async move {
                            let n = if resume { s.resume_interrupted().await } else { s.rotate_due().await };
                            if n > 0 {
                                tracing::info!(rotations = n, resumed = resume, "scheduler ran rotations");
                            }
                        }));
                    }
                    _ = stop.changed() => break,
                }
            }
            let _ = follower.await;
        })
    }

    /// Flushes pending work and closes the audit log and the store.
    pub async fn shutdown(&self) {
        self.access.flush(&*self.store).await;
        self.audit.close();
        if let Err(e) = self.store.close().await {
            tracing::warn!(error = %e, "closing the store failed");
        }
    }

    /// Writes queued last-accessed dates now (tests and shutdown).
    pub async fn flush_access(&self) {
        self.access.flush(&*self.store).await;
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}
