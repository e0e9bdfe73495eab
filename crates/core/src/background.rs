//! The service's background work (the sweeper, last-accessed flushes, audit
//! fsyncs, the rotation scheduler, the outbox follower) and shutdown.

use crate::service::Service;
use std::sync::Arc;
use std::time::Duration;

impl Service {
    /// Runs the sweeper and the last-accessed flusher until `stop` turns true.
    pub fn spawn_background(
        self: &Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let svc = self.clone();
        let (me, me_too) = (Arc::downgrade(self), Arc::downgrade(self));
        let follower = self.outbox.spawn_follower(
            move |r| {
                if let Some(s) = me.upgrade() {
                    s.invalidate(r);
                }
            },
            move || {
                if let Some(s) = me_too.upgrade() {
                    s.reset_caches();
                }
            },
            stop.clone(),
        );
        let runner = self
            .take_rotation_requests()
            .map(|rx| self.rotation.spawn_runner(rx));
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
                        svc.secrets.flush_access().await;
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
                            let r = &s.rotation;
                            let n = if resume { r.resume_interrupted().await } else { r.rotate_due().await };
                            if n > 0 {
                                tracing::info!(rotations = n, resumed = resume, "scheduler ran rotations");
                            }
                        }));
                    }
                    _ = stop.changed() => break,
                }
            }
            let _ = follower.await;
            if let Some(r) = runner {
                r.abort();
            }
        })
    }

    /// Flushes pending work and closes the audit log and the store.
    pub async fn shutdown(&self) {
        self.secrets.flush_access().await;
        self.audit.close();
        if let Err(e) = self.store.close().await {
            tracing::warn!(error = %e, "closing the store failed");
        }
    }
}
