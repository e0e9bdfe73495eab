//! A rule's targets: PutTargets, RemoveTargets, ListTargetsByRule. A target
//! is an API destination of the rule's account and region; a new one starts
//! at the outbox's newest event (it gets what happens from now on).

use super::connections::DestinationDoc;
use super::rules::not_found;
use super::store::DESTINATION;
use crate::call::Call;
use crate::context::Caller;
use crate::errors::internal;
use crate::service::Service;
use coffer_api::events_ops::{
    ListTargetsByRuleRequest, PutTargetsRequest, RemoveTargetsRequest, Target,
};
use coffer_api::{ApiError, ErrorCode};
use serde_json::{json, Value};

/// Targets `nats:SUBJECT` publish to the server's NATS.
pub(crate) const NATS_PREFIX: &str = "nats:";

/// Targets per rule (AWS's quota).
const MAX_TARGETS: usize = 5;

/// The store's name for a target's delivery cursor and dead letters.
pub(crate) fn target_key(account: &str, region: &str, rule: &str, id: &str) -> String {
    format!("{account}/{region}/{rule}/{id}")
}

impl Service {
    pub(super) async fn put_targets(
        &self,
        call: &Call<'_>,
        r: PutTargetsRequest,
    ) -> Result<Value, ApiError> {
        let caller = call.caller;
        let rule_name = r.rule.unwrap_or_default();
        let (mut rule, rev) = self
            .load_rule(caller, &rule_name)
            .await?
            .ok_or_else(|| not_found(&rule_name))?;
        let new = r.targets.unwrap_or_default();
        for t in &new {
            self.check_target(caller, t).await?;
        }
        let latest = self.store.latest_event_seq().await.map_err(internal)?;
        let mut started = Vec::new();
        for t in new {
            let id = t.id.clone().unwrap_or_default();
            if let Some(x) = rule
                .targets
                .iter_mut()
                .find(|x| x.id.as_deref() == Some(&id))
            {
                *x = t;
            } else {
                started.push(id);
                rule.targets.push(t);
            }
        }
        if rule.targets.len() > MAX_TARGETS {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!("The requested resource exceeds the maximum number allowed ({MAX_TARGETS} targets per rule)."),
            ));
        }
        // The cursor first, so the target never sees events from before it.
        for id in &started {
            let key = target_key(&caller.account_id, &caller.region, &rule_name, id);
            self.store
                .advance_delivery(&key, latest, None)
                .await
                .map_err(internal)?;
        }
        self.save_rule(call, &rule_name, Some(&rule), Some(rev))
            .await?;
        Ok(json!({ "FailedEntryCount": 0, "FailedEntries": [] }))
    }

    /// A target is an API destination of the caller's account and region, or
    /// a NATS subject when the server has a NATS.
    async fn check_target(&self, caller: &Caller, t: &Target) -> Result<(), ApiError> {
        let arn = t.arn.as_deref().unwrap_or_default();
        if let Some(subject) = arn.strip_prefix(NATS_PREFIX) {
            let bad =
                |why: &str| ApiError::new(ErrorCode::Validation, format!("Target {arn}: {why}"));
            if self.nats_url.is_none() {
                return Err(bad("this server has no NATS (set nats_url)."));
            }
            if !super::nats::valid_subject(subject) {
                return Err(bad("not a subject to publish to (tokens of letters, digits, - and _, joined by dots)."));
            }
            return Ok(());
        }
        let prefix = format!(
            "arn:aws:events:{}:{}:api-destination/",
            caller.region, caller.account_id
        );
        let unsupported = || {
            ApiError::new(
                ErrorCode::Validation,
                format!("Target {} has ARN {arn}: Coffer delivers to API destinations of this account and region, and to nats:SUBJECT.", t.id.as_deref().unwrap_or_default()),
            )
        };
        let name = arn
            .strip_prefix(&prefix)
            .and_then(|r| r.split('/').next())
            .ok_or_else(unsupported)?;
        match self
            .load_entity::<DestinationDoc>(caller, DESTINATION, name)
            .await?
        {
            Some((d, _)) if d.arn == arn => Ok(()),
            _ => Err(ApiError::new(
                ErrorCode::ResourceNotFound,
                format!("API destination {arn} does not exist."),
            )),
        }
    }

    pub(super) async fn remove_targets(
        &self,
        call: &Call<'_>,
        r: RemoveTargetsRequest,
    ) -> Result<Value, ApiError> {
        let rule_name = r.rule.unwrap_or_default();
        let (mut rule, rev) = self
            .load_rule(call.caller, &rule_name)
            .await?
            .ok_or_else(|| not_found(&rule_name))?;
        let ids = r.ids.unwrap_or_default();
        rule.targets
            .retain(|t| !ids.iter().any(|i| Some(i.as_str()) == t.id.as_deref()));
        self.save_rule(call, &rule_name, Some(&rule), Some(rev))
            .await?;
        Ok(json!({ "FailedEntryCount": 0, "FailedEntries": [] }))
    }

    pub(super) async fn list_targets(
        &self,
        caller: &Caller,
        r: ListTargetsByRuleRequest,
    ) -> Result<Value, ApiError> {
        let rule_name = r.rule.unwrap_or_default();
        let (rule, _) = self
            .load_rule(caller, &rule_name)
            .await?
            .ok_or_else(|| not_found(&rule_name))?;
        Ok(json!({ "Targets": rule.targets }))
    }
}
