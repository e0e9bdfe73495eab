//! Each server follows the store's recorded root (so it seals under the key
//! the store names, see `keyring::roots`) and reports which root keys it holds,
//! so that `coffer key rotate` switches the store over only once every running
//! server can read what is sealed under the new key.

use crate::clock::Clock;
use crate::keyring::roots::ROOT_CHECK;
use crate::service::Service;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Where a server's report is kept: `root-holder/SERVER_ID`.
pub const HOLDER_PREFIX: &str = "root-holder/";
/// How often a server looks at the recorded root.
pub const LOOK_EVERY: Duration = Duration::from_secs(2);
/// A report is renewed at least this often; one older than three times this
/// is from a server that is gone.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

/// What a server reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// Fingerprints of the root keys held.
    pub held: Vec<String>,
    /// The fingerprint new values are sealed under.
    pub sealing: String,
    pub at_ms: i64,
}

/// A starting server's report, made before it reads which root the store
/// records: a rotation switching it in that moment sees this server, and
/// waits until it reports sealing under the new key (the sealing key is not
/// known yet: empty).
pub async fn report_start(
    store: &dyn coffer_store::Store,
    server_id: &str,
    roots: &crate::keyring::Roots,
) -> Result<(), coffer_store::StoreError> {
    let h = Holder {
        held: roots.fingerprints(),
        sealing: String::new(),
        at_ms: crate::clock::SystemClock.now_ms(),
    };
    let body = serde_json::to_string(&h).unwrap_or_default();
    store
        .meta_put(&format!("{HOLDER_PREFIX}{server_id}"), Some(&body))
        .await
}

impl Service {
    pub(crate) fn spawn_root_watch(
        self: &Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let id = self.server_id.clone()?;
        let svc = self.clone();
        let key = format!("{HOLDER_PREFIX}{id}");
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(LOOK_EVERY);
            let mut reported: Option<(String, i64)> = None;
            let mut warned = false;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => break,
                }
                match svc.store.meta_get(ROOT_CHECK).await {
                    Ok(Some(fp)) => {
                        let ours = svc.keys.roots.follow(&fp);
                        if !ours && !warned {
                            tracing::error!("the store's root key was switched to one this server does not hold: restart it with the new root key");
                        }
                        warned = !ours;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the store's root key record failed");
                    }
                }
                let sealing = crate::keyring::root_fingerprint(svc.keys.roots.sealing());
                // Liveness between processes: the machine's clock, not the
                // service's (which tests drive by hand).
                let now = crate::clock::SystemClock.now_ms();
                let due = reported.as_ref().is_none_or(|(s, at)| {
                    *s != sealing
                        || now - at >= i64::try_from(REPORT_EVERY.as_millis()).unwrap_or(i64::MAX)
                });
                if due {
                    let h = Holder {
                        held: svc.keys.roots.fingerprints(),
                        sealing: sealing.clone(),
                        at_ms: now,
                    };
                    let body = serde_json::to_string(&h).unwrap_or_default();
                    match svc.store.meta_put(&key, Some(&body)).await {
                        Ok(()) => reported = Some((sealing, now)),
                        Err(e) => tracing::warn!(error = %e, "reporting the root keys held failed"),
                    }
                }
            }
            // Gone: nothing for a rotation to wait for.
            let _ = svc.store.meta_put(&key, None).await;
        }))
    }
}
