//! TagResource and UntagResource.

use super::not_deleted;
use super::row_change;
use crate::call::respond;
use crate::call::Call;
use crate::identity::Grant;
use crate::secrets::Secrets;
use coffer_api::types::{Empty, TagResourceRequest, UntagResourceRequest};
use coffer_api::{validate, ApiError, ErrorCode};
use coffer_store::{Mutation, MutationOp, Secret};
use serde_json::json;

const MAX_TAGS: usize = 50;

fn plan(
    call: &Call<'_>,
    s: &Secret,
    now: i64,
    edit: impl Fn(&mut Vec<(String, String)>),
) -> Result<Option<Mutation>, ApiError> {
    not_deleted(s)?;
    let mut row = s.row.clone();
    let mut tags = row.tags.clone().unwrap_or_default();
    edit(&mut tags);
    if tags.len() > MAX_TAGS {
        return Err(ApiError::new(
            ErrorCode::LimitExceeded,
            "The number of tags on the secret would exceed the limit of 50.",
        ));
    }
    // Condition keys ignore case (`aws:ResourceTag/team`): a secret may not carry
    // two keys that differ only in case, or a policy would see one of them.
    let mut seen = std::collections::HashSet::new();
    if !tags.iter().all(|(k, _)| seen.insert(k.to_lowercase())) {
        return Err(ApiError::invalid_param(
            "Duplicate tag keys found. Tag keys are case insensitive.",
        ));
    }
    row.tags = Some(tags);
    row.last_changed_ms = now;
    Ok(Some(row_change(
        call,
        MutationOp::Update {
            expected_revision: s.row.revision,
        },
        row,
        now,
        json!({}),
    )))
}

impl Secrets {
    pub(crate) async fn tag_resource(
        &self,
        g: &Grant<'_>,
        req: TagResourceRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let tags = req.tags.ok_or_else(|| ApiError::new(ErrorCode::Validation, "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must not be null"))?;
        validate::tags(&tags)?;
        let pairs: Vec<(String, String)> = tags
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        self.commit_with_retry(g, |s, now| {
            plan(g.call(), s, now, |tags| {
                for (k, v) in &pairs {
                    match tags.iter_mut().find(|(ek, _)| ek == k) {
                        Some(slot) => slot.1.clone_from(v),
                        None => tags.push((k.clone(), v.clone())),
                    }
                }
            })
        })
        .await?;
        respond(&Empty {})
    }

    pub(crate) async fn untag_resource(
        &self,
        g: &Grant<'_>,
        req: UntagResourceRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let keys = req.tag_keys.ok_or_else(|| ApiError::new(ErrorCode::Validation, "1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must not be null"))?;
        for k in &keys {
            validate::length(k, "tagKeys.member", 1, 128)?;
        }
        self.commit_with_retry(g, |s, now| {
            plan(g.call(), s, now, |tags| {
                tags.retain(|(k, _)| !keys.contains(k));
            })
        })
        .await?;
        respond(&Empty {})
    }
}
