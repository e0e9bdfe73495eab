//! DeleteSecret, RestoreSecret, and the sweeper that purges secrets whose recovery
//! window has ended.
//!
//! Besides each call's own event, the service reports the deletion's course
//! with the service events AWS's CloudTrail guide names: StartSecretVersionDelete
//! when a deletion is scheduled, CancelSecretVersionDelete when RestoreSecret
//! cancels it, EndSecretVersionDelete when the secret is gone (at the end of
//! the window, or at once for a forced delete).

use super::row_change;
use crate::call::respond;
use crate::clock::DAY_MS;
use crate::context::Caller;
use crate::errors::internal;
use crate::events;
use crate::identity::Grant;
use crate::secrets::Secrets;
use coffer_api::types::{
    ArnNameResponse, DeleteSecretRequest, DeleteSecretResponse, SecretIdRequest, Timestamp,
};
use coffer_api::ApiError;
use coffer_store::{Mutation, MutationOp, NewAudit, StoreError};
use serde_json::json;

impl Secrets {
    pub(crate) async fn delete_secret(
        &self,
        g: &Grant<'_>,
        req: DeleteSecretRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let call = g.call();
        let force = req.force_delete_without_recovery.unwrap_or(false);
        if force && req.recovery_window_in_days.is_some() {
            return Err(ApiError::invalid_param(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
            ));
        }
        let window = req.recovery_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&window) {
            return Err(ApiError::invalid_param(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
            ));
        }
        if force && g.missing() {
            return Self::deleted_already(
                call.caller,
                req.secret_id.as_deref().unwrap_or_default(),
                self.clock.now_ms(),
            );
        }
        let mut deletion = 0;
        let (s, _) = self
            .commit_with_retry(g, |s, now| {
                if s.row.deleted_ms.is_some() && !force {
                    return Err(ApiError::marked_for_deletion());
                }
                super::replication::no_replicas_left(s, force)?;
                let mut row = s.row.clone();
                let op = if force {
                    deletion = now;
                    MutationOp::Purge {
                        expected_revision: s.row.revision,
                    }
                } else {
                    deletion = now + window * DAY_MS;
                    row.deleted_ms = Some(now);
                    row.purge_after_ms = Some(deletion);
                    MutationOp::Update {
                        expected_revision: s.row.revision,
                    }
                };
                let detail =
                    json!({ "deletionDate": deletion, "forceDeleteWithoutRecovery": force });
                let mut m = row_change(call, op, row, now, detail);
                let mut course = vec!["StartSecretVersionDelete"];
                if force {
                    course.push("EndSecretVersionDelete");
                }
                for name in course {
                    let d = json!({ "deletionDate": deletion });
                    m.also
                        .push(events::service_event(call.caller, now, name, &m.secret, d));
                }
                Ok(Some(m))
            })
            .await?;
        respond(&DeleteSecretResponse {
            arn: s.row.arn.clone(),
            name: s.row.name.clone(),
            deletion_date: Timestamp(deletion),
        })
    }

    /// A forced delete of a secret that does not exist succeeds, as AWS's does:
    /// the answer names what was asked for, as if it had just been deleted.
    fn deleted_already(caller: &Caller, id: &str, now: i64) -> Result<Vec<u8>, ApiError> {
        let (arn, name) = if id.starts_with("arn:") {
            let name = id.rsplit_once(":secret:").map_or(id, |(_, n)| n);
            (id.to_string(), name.to_string())
        } else {
            let arn = crate::arn::secret_arn(
                &caller.region,
                &caller.account_id,
                id,
                &crate::arn::random_suffix(),
            );
            (arn, id.to_string())
        };
        respond(&DeleteSecretResponse {
            arn,
            name,
            deletion_date: Timestamp(now),
        })
    }

    pub(crate) async fn restore_secret(
        &self,
        g: &Grant<'_>,
        _req: SecretIdRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let call = g.call();
        let (s, _) = self
            .commit_with_retry(g, |s, now| {
                if s.row.deleted_ms.is_none() {
                    return Ok(None);
                }
                let mut row = s.row.clone();
                row.deleted_ms = None;
                row.purge_after_ms = None;
                row.last_changed_ms = now;
                let op = MutationOp::Update {
                    expected_revision: s.row.revision,
                };
                let mut m = row_change(call, op, row, now, json!({}));
                let cancel = "CancelSecretVersionDelete";
                m.also.push(events::service_event(
                    call.caller,
                    now,
                    cancel,
                    &m.secret,
                    json!({}),
                ));
                Ok(Some(m))
            })
            .await?;
        respond(&ArnNameResponse {
            arn: s.row.arn.clone(),
            name: s.row.name.clone(),
        })
    }

    /// Purges every secret whose recovery window has ended; returns how many.
    pub async fn sweep_once(&self) -> usize {
        let now = self.clock.now_ms();
        let due = match self.store.due_for_purge(now).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "sweeper could not list due secrets");
                return 0;
            }
        };
        let mut purged = 0;
        for (_, _, arn) in due {
            match self.purge_one(&arn, now).await {
                Ok(true) => purged += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(%arn, error = %e, "sweeper could not purge a secret"),
            }
        }
        purged
    }

    async fn purge_one(&self, arn: &str, now: i64) -> Result<bool, ApiError> {
        // Re-read: it may have been restored since it was listed.
        let Some(s) = self.store.secret_by_arn(arn).await.map_err(internal)? else {
            return Ok(false);
        };
        if s.row.purge_after_ms.is_none_or(|t| t > now) {
            return Ok(false);
        }
        let system = Caller::service(
            &s.row.account_id,
            &s.row.region,
            "coffer:sweeper",
            "coffer-sweeper",
        );
        let params = json!({ "secretId": arn });
        let end = "EndSecretVersionDelete";
        let body = crate::audit::record(&system, end, now, params, None, false);
        let m = Mutation {
            also: Vec::new(),
            op: MutationOp::Purge {
                expected_revision: s.row.revision,
            },
            event: Some(events::change(&system, now, end, &s.row, json!({}))),
            audit: NewAudit {
                at_ms: now,
                body: body.to_string(),
            },
            secret: s.row.clone(),
            insert_versions: vec![],
            relabel: vec![],
            delete_versions: vec![],
            reseal: vec![],
            prune_before_ms: None,
        };
        match self.store.commit(m).await {
            Ok(_) => {
                self.outbox.committed();
                Ok(true)
            }
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(internal(e)),
        }
    }
}
