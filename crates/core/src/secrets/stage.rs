//! UpdateSecretVersionStage.

use super::row_change;
use super::{label_map, not_deleted, relabels};
use crate::call::respond;
use crate::call::Call;
use crate::identity::Grant;
use crate::labels::CURRENT;
use crate::secrets::Secrets;
use coffer_api::types::{ArnNameResponse, UpdateSecretVersionStageRequest};
use coffer_api::{validate, ApiError, ErrorCode};
use coffer_store::{Mutation, MutationOp, Secret};
use serde_json::json;

impl Secrets {
    pub(crate) async fn update_secret_version_stage(
        &self,
        g: &Grant<'_>,
        req: UpdateSecretVersionStageRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let stage =
            validate::required(req.version_stage.as_deref(), "versionStage", 1, 256)?.to_string();
        let remove_from =
            validate::version_id(req.remove_from_version_id.as_deref(), "removeFromVersionId")?
                .map(str::to_string);
        let move_to = validate::version_id(req.move_to_version_id.as_deref(), "moveToVersionId")?
            .map(str::to_string);
        if remove_from.is_none() && move_to.is_none() {
            return Err(ApiError::invalid_param(
                "You must specify RemoveFromVersionId, MoveToVersionId, or both.",
            ));
        }
        // A version without a label is not among those a secret carries: one
        // the label moves to is looked up in the store.
        let s0 = g.secret()?;
        let deprecated = match &move_to {
            Some(v) if !s0.versions.iter().any(|x| &x.version_id == v) => {
                self.version_of(s0, v).await?.map(|x| x.version_id)
            }
            _ => None,
        };
        let (s, _) = self
            .commit_with_retry(g, |s, now| {
                plan(
                    g.call(),
                    s,
                    now,
                    &stage,
                    remove_from.as_deref(),
                    move_to.as_deref(),
                    deprecated.as_deref(),
                )
            })
            .await?;
        respond(&ArnNameResponse {
            arn: s.row.arn.clone(),
            name: s.row.name.clone(),
        })
    }
}

fn plan(
    call: &Call<'_>,
    s: &Secret,
    now: i64,
    stage: &str,
    remove_from: Option<&str>,
    move_to: Option<&str>,
    deprecated: Option<&str>,
) -> Result<Option<Mutation>, ApiError> {
    not_deleted(s)?;
    let mut before = label_map(s);
    if let Some(d) = deprecated {
        if before.labels_of(d).is_none() {
            before.add_version(d);
        }
    }
    let exists = |v: &str| before.labels_of(v).is_some();
    for v in [remove_from, move_to].into_iter().flatten() {
        if !exists(v) {
            return Err(ApiError::new(
                ErrorCode::ResourceNotFound,
                format!("Secrets Manager can't find the specified secret value for VersionId: {v}"),
            ));
        }
    }
    let holder = before.holder(stage);
    if let Some(h) = holder {
        if Some(h) != move_to && Some(h) != remove_from {
            return Err(ApiError::invalid_param(format!(
                "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {h}, so you must explicitly reference that version in RemoveFromVersionId."
            )));
        }
    }
    if let Some(r) = remove_from {
        if holder != Some(r) {
            return Err(ApiError::invalid_param(format!(
                "The staging label {stage} is not attached to version {r}, so it can't be removed from it."
            )));
        }
    }
    let mut after = before.clone();
    if let Some(m) = move_to {
        after.put(m, stage);
    } else {
        if stage == CURRENT {
            return Err(ApiError::invalid_param(
                "You can't remove the staging label AWSCURRENT from a version without moving it to another version.",
            ));
        }
        if let Some(r) = remove_from {
            after.remove(r, stage);
        }
    }
    after.check_label_limit()?;
    let relabel = relabels(&before, &after);
    if relabel.is_empty() {
        return Ok(None);
    }
    let mut row = s.row.clone();
    row.last_changed_ms = now;
    let detail = json!({ "versionStage": stage, "moveToVersionId": move_to, "removeFromVersionId": remove_from });
    let op = MutationOp::Update {
        expected_revision: s.row.revision,
    };
    Ok(Some(Mutation {
        also: Vec::new(),
        relabel,
        ..row_change(call, op, row, now, detail)
    }))
}
