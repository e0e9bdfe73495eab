//! The one path every Secrets Manager call takes: parse → authorize (by the
//! identity component, which returns a [`Grant`]) → dispatch with the proof →
//! one store transaction with its audit record and change event → response;
//! and the retry loop every mutating handler commits through.

use super::Secrets;
use crate::audit;
use crate::call::Call;
use crate::context::Caller;
use crate::errors::internal;
use crate::identity::Grant;
use coffer_api::{ApiError, ErrorCode, SecretsManagerOperation};
use coffer_store::{Committed, Mutation, Secret, StoreError};
use serde_json::Value;
use std::sync::Arc;

/// How many times a mutation is recomputed after losing a race.
const MAX_ATTEMPTS: usize = 64;

impl Secrets {
    /// Parses and runs one Secrets Manager operation: `operation` is the
    /// `X-Amz-Target` without its `secretsmanager.` prefix, `body` the raw JSON.
    pub async fn call(
        &self,
        caller: &Caller,
        operation: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        match SecretsManagerOperation::parse(operation, body) {
            Ok(op) => self.execute(caller, op).await,
            Err(e) => {
                // A request that does not parse is still a call: audit it, under
                // its name if the model has one, with no parameters.
                let name = SecretsManagerOperation::known(operation).unwrap_or("UnknownOperation");
                let params = Value::Object(serde_json::Map::default());
                let rec = audit::record(caller, name, self.clock.now_ms(), params, Some(&e), false);
                self.audit.append(rec).await?;
                Err(e)
            }
        }
    }

    /// Runs one typed operation: authorize, then dispatch with the proof, then
    /// audit what ran (a committed mutation carries its own audit record).
    pub async fn execute(
        &self,
        caller: &Caller,
        op: SecretsManagerOperation,
    ) -> Result<Vec<u8>, ApiError> {
        let call = Call::with_params(caller, op.name(), op.audit_parameters());
        let read_only = op.read_only();
        let result = match self.identity.authorize_operation(&call, &op).await {
            Ok(grant) => match replica_guard(&grant, &op) {
                Ok(()) => self.dispatch(&grant, op).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if !call.audited() {
            let now = self.clock.now_ms();
            let rec = audit::record(
                caller,
                call.name,
                now,
                call.params.clone(),
                result.as_ref().err(),
                read_only,
            );
            // Fail closed: no audit record, no answer.
            self.audit.append(rec).await?;
        }
        result
    }

    /// Plans and commits a change to the granted secret, re-reading (and
    /// re-authorizing) and re-planning whenever another writer got there first.
    /// `plan` returns `None` when there is nothing to write.
    pub(crate) async fn commit_with_retry<F>(
        &self,
        grant: &Grant<'_>,
        mut plan: F,
    ) -> Result<(Arc<Secret>, Option<Committed>), ApiError>
    where
        F: FnMut(&Secret, i64) -> Result<Option<Mutation>, ApiError>,
    {
        let mut secret = grant.secret()?.clone();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                secret = grant.reload().await?;
            }
            let now = self.clock.now_ms();
            let Some(m) = plan(&secret, now)? else {
                return Ok((secret, None));
            };
            match self.store.commit(m).await {
                Ok(c) => {
                    grant.call().mark_audited();
                    self.outbox.committed();
                    return Ok((secret, Some(c)));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(internal(e)),
            }
        }
        Err(ApiError::new(ErrorCode::Throttling, "Rate exceeded"))
    }
}

impl Secrets {
    /// Runs an authorized operation. The match is exhaustive and has no
    /// catch-all: an operation added to the model's enum without a handler here
    /// does not compile, and no handler can be called without a [`Grant`].
    pub(crate) async fn dispatch(
        &self,
        g: &Grant<'_>,
        op: SecretsManagerOperation,
    ) -> Result<Vec<u8>, ApiError> {
        use SecretsManagerOperation as Op;
        // A grant proves one action: using it for another is a bug, refused.
        if g.action() != op.name() {
            tracing::error!(
                granted = g.action(),
                operation = op.name(),
                "grant used for another operation"
            );
            return Err(ApiError::internal());
        }
        match op {
            Op::BatchGetSecretValue(r) => self.batch_get_secret_value(g, r).await,
            Op::CancelRotateSecret(r) => self.cancel_rotate_secret(g, r).await,
            Op::CreateSecret(r) => self.create_secret(g, r).await,
            Op::DeleteResourcePolicy(r) => self.delete_resource_policy(g, r).await,
            Op::DeleteSecret(r) => self.delete_secret(g, r).await,
            Op::DescribeSecret(r) => self.describe_secret(g, r).await,
            Op::GetRandomPassword(r) => self.get_random_password(g, r),
            Op::GetResourcePolicy(r) => self.get_resource_policy(g, r).await,
            Op::ListResourcePolicies(r) => self.list_resource_policies(g, r).await,
            Op::GetSecretValue(r) => self.get_secret_value(g, r).await,
            Op::ListSecretVersionIds(r) => self.list_secret_version_ids(g, r).await,
            Op::ListSecrets(r) => self.list_secrets(g, r).await,
            Op::PutResourcePolicy(r) => self.put_resource_policy(g, r).await,
            Op::PutSecretValue(r) => self.put_secret_value(g, r).await,
            Op::RestoreSecret(r) => self.restore_secret(g, r).await,
            Op::RotateSecret(r) => self.rotate_secret(g, r).await,
            Op::TagResource(r) => self.tag_resource(g, r).await,
            Op::UntagResource(r) => self.untag_resource(g, r).await,
            Op::UpdateSecret(r) => self.update_secret(g, r).await,
            Op::UpdateSecretVersionStage(r) => self.update_secret_version_stage(g, r).await,
            Op::ValidateResourcePolicy(r) => self.validate_resource_policy(g, r).await,
            // Not served: authorization refuses these before dispatch, with a
            // clear answer; reaching here would be a bug.
            Op::RemoveRegionsFromReplication(r) => self.remove_regions_from_replication(g, r).await,
            Op::ReplicateSecretToRegions(r) => self.replicate_secret_to_regions(g, r).await,
            Op::StopReplicationToReplica(r) => self.stop_replication_to_replica(g, r).await,
            Op::AssociateCrossAccountReplica(r) => self.associate_cross_account_replica(g, r).await,
            Op::DisassociateCrossAccountReplica(r) => {
                self.disassociate_cross_account_replica(g, r).await
            }
        }
    }
}

/// A replica changes only through its primary: every write to it is refused
/// before its handler runs, but the one that promotes it (and, on a
/// cross-account replica, its own policy and tags).
fn replica_guard(g: &Grant<'_>, op: &SecretsManagerOperation) -> Result<(), ApiError> {
    use SecretsManagerOperation as Op;
    if op.read_only() || matches!(op, Op::StopReplicationToReplica(_)) {
        return Ok(());
    }
    let Some(s) = g.held_secret() else {
        return Ok(());
    };
    match super::replication::replica_of(&s.row) {
        // A cross-account replica's policy and tags are its own account's:
        // the policy is how that account lets the primary's owner link it.
        Some(of)
            if of.cross_account
                && matches!(
                    op,
                    Op::PutResourcePolicy(_)
                        | Op::DeleteResourcePolicy(_)
                        | Op::TagResource(_)
                        | Op::UntagResource(_)
                ) =>
        {
            Ok(())
        }
        Some(_) => Err(super::replication::replica_is_read_only()),
        None => Ok(()),
    }
}
