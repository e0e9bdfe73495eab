//! The service's background work (the sweeper, last-accessed flushes, audit
//! fsyncs, the rotation scheduler, the outbox follower) and shutdown.

use crate::service::Service;
use std::sync::Arc;
use std::time::Duration;

/// How often a server that does not lead asks whether it may (so a new leader
/// takes over within seconds of the old one's end).
const LEAD_CHECK: Duration = Duration::from_secs(2);

/// Whether this server runs the fleet's background work; asked of the store
/// before each pass, since a lock held on a lost connection is no lock.
#[derive(Default)]
struct Leadership {
    leading: bool,
    /// Set on becoming the leader: its first rotation pass finishes the
    /// rotations the last leader left interrupted.
    must_resume: bool,
}

impl Leadership {
    async fn check(&mut self, svc: &Service) -> bool {
        let now = match svc.store.lead().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether this server leads background work");
                false
            }
        };
        self.must_resume |= now && !self.leading;
        if now != self.leading {
            tracing::info!(
                leading = now,
                "background work (rotations, deletion sweep) {}",
                if now {
                    "runs on this server"
                } else {
                    "left to another server"
                }
            );
        }
        self.leading = now;
        now
    }
}

/// Starts a rotation pass unless one is running (then says false); `resume`
/// finishes interrupted rotations instead of starting due ones.
fn start_pass(
    svc: &Arc<Service>,
    pass: &mut Option<tokio::task::JoinHandle<()>>,
    resume: bool,
) -> bool {
    if pass.as_ref().is_some_and(|p| !p.is_finished()) {
        return false;
    }
    let s = svc.clone();
    *pass = Some(tokio::spawn(async move {
        let r = &s.rotation;
        let n = if resume {
            r.resume_interrupted().await
        } else {
            r.rotate_due().await
        };
        if n > 0 {
            tracing::info!(rotations = n, resumed = resume, "scheduler ran rotations");
        }
    }));
    true
}

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
        let delivery = self.spawn_delivery(stop.clone());
        let replicator = self.secrets.spawn_replicator(stop.clone());
        let root_watch = self.spawn_root_watch(stop.clone());
        let runner = self
            .take_rotation_requests()
            .map(|rx| self.rotation.spawn_runner(rx));
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(svc.sweep_interval);
            let mut flush = tokio::time::interval(Duration::from_secs(1));
            let mut rotations = tokio::time::interval(svc.rotation_interval);
            let mut lead_check = tokio::time::interval(LEAD_CHECK);
            // Rotations run off this loop, one pass at a time, so the sweeper and
            // shutdown never wait for a slow rotation function. The first pass of
            // a new leader also finishes rotations cut off by the last one's stop
            // (or crash).
            let mut pass: Option<tokio::task::JoinHandle<()>> = None;
            let mut audit_head: Option<String> = None;
            let mut store_head: Option<i64> = None;
            let mut leader = Leadership::default();
            loop {
                tokio::select! {
                    _ = sweep.tick() => {
                        if !leader.check(&svc).await {
                            continue;
                        }
                        let n = svc.sweep_once().await;
                        if n > 0 {
                            tracing::info!(purged = n, "sweeper purged secrets past their recovery window");
                        }
                        let k = svc.sweep_keys().await;
                        if k > 0 {
                            tracing::info!(keys = k, "sweeper deleted or rotated KMS keys whose time came");
                        }
                        let p = svc.prune_history().await;
                        if p != coffer_store::Pruned::default() {
                            tracing::info!(events = p.events, audit_records = p.audit, server_audit_lines = p.shipped, "pruned history past its retention");
                        }
                    }
                    _ = flush.tick() => {
                        svc.secrets.flush_access().await;
                        let s = svc.clone();
                        // fsync can take milliseconds: keep it off the async workers.
                        let _ = tokio::task::spawn_blocking(move || s.audit.sync()).await;
                        svc.record_audit_head(&mut audit_head).await;
                        svc.record_store_head(&mut store_head).await;
                        svc.ship_audit().await;
                    }
                    _ = lead_check.tick() => {
                        if leader.check(&svc).await && leader.must_resume {
                            leader.must_resume = !start_pass(&svc, &mut pass, true);
                        }
                    }
                    _ = rotations.tick() => {
                        if leader.check(&svc).await {
                            let resume = leader.must_resume;
                            let started = start_pass(&svc, &mut pass, resume);
                            leader.must_resume = resume && !started;
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
            let _ = follower.await;
            let _ = delivery.await;
            let _ = replicator.await;
            if let Some(w) = root_watch {
                let _ = w.await;
            }
            if let Some(r) = runner {
                r.abort();
            }
        })
    }

    /// Copies new audit file lines into a shared store (when it is one).
    async fn ship_audit(&self) {
        if let Some(s) = &self.shipper {
            if let Err(e) = s.ship().await {
                tracing::warn!(error = %e, "copying audit records into the store failed; will retry");
            }
        }
    }

    /// Flushes pending work and closes the audit log and the store.
    pub async fn shutdown(&self) {
        self.secrets.flush_access().await;
        self.audit.close();
        self.record_audit_head(&mut None).await;
        self.record_store_head(&mut None).await;
        self.ship_audit().await;
        if let Err(e) = self.store.close().await {
            tracing::warn!(error = %e, "closing the store failed");
        }
    }
}
