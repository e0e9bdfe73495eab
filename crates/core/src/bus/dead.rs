//! Coffer's own operations on the bus's dead letters (events a target gave
//! up on): list them, and ask for them to be delivered again. The target's
//! worker delivers a redriven letter once; refused again, it stays.

use crate::context::Caller;
use crate::errors::internal;
use crate::service::Service;
use coffer_api::events_ops::{ListDeadLettersRequest, RedriveDeadLettersRequest};
use coffer_api::{ApiError, ErrorCode};
use coffer_store::{DeadLetter, DeadLetterQuery};
use serde_json::{json, Value};

/// `ACCOUNT/REGION/RULE/TARGET` → (region, rule, target).
fn parts(key: &str) -> Option<(&str, &str, &str)> {
    let mut p = key.splitn(4, '/').skip(1);
    Some((p.next()?, p.next()?, p.next()?))
}

impl Service {
    /// The caller's account's dead letters after `after_id` in its region, in
    /// id order, with their rule and target.
    async fn letters_here(
        &self,
        caller: &Caller,
        after_id: i64,
    ) -> Result<Vec<(DeadLetter, String, String)>, ApiError> {
        let mut out = Vec::new();
        let mut after = after_id;
        loop {
            let q = DeadLetterQuery {
                account_id: Some(caller.account_id.clone()),
                after_id: after,
                limit: 500,
                ..DeadLetterQuery::default()
            };
            let batch = self.store.dead_letters(&q).await.map_err(internal)?;
            let done = batch.len() < 500;
            for l in batch {
                after = l.id;
                let Some((region, rule, target)) = parts(&l.target) else {
                    continue;
                };
                if region == caller.region {
                    let (rule, target) = (rule.to_string(), target.to_string());
                    out.push((l, rule, target));
                }
            }
            if done {
                return Ok(out);
            }
        }
    }

    pub(super) async fn list_dead_letters(
        &self,
        caller: &Caller,
        r: ListDeadLettersRequest,
    ) -> Result<Value, ApiError> {
        let limit = usize::try_from(r.limit.unwrap_or(100)).unwrap_or(100);
        let after_id = match &r.next_token {
            Some(t) => t
                .parse::<i64>()
                .map_err(|_| ApiError::new(ErrorCode::Validation, "The NextToken is not valid."))?,
            None => 0,
        };
        let mut letters = self.letters_here(caller, after_id).await?;
        letters.retain(|(_, rule, _)| r.rule.as_ref().is_none_or(|n| n == rule));
        let more = letters.len() > limit;
        letters.truncate(limit);
        let shown: Vec<Value> = letters
            .iter()
            .map(|(l, rule, target)| {
                let event: Value = serde_json::from_str(&l.event).unwrap_or_default();
                json!({
                    "Id": l.id, "Rule": rule, "TargetId": target, "EventId": event["id"],
                    "Event": l.event, "Error": l.error, "Attempts": l.attempts,
                    "Time": l.at_ms as f64 / 1000.0, "Redrive": l.redrive,
                })
            })
            .collect();
        let mut v = json!({ "DeadLetters": shown });
        if more {
            if let Some((l, _, _)) = letters.last() {
                v["NextToken"] = Value::String(l.id.to_string());
            }
        }
        Ok(v)
    }

    pub(super) async fn redrive_dead_letters(
        &self,
        caller: &Caller,
        r: RedriveDeadLettersRequest,
    ) -> Result<Value, ApiError> {
        // Only letters of the caller's region.
        let ids: Vec<i64> = self
            .letters_here(caller, 0)
            .await?
            .into_iter()
            .map(|(l, _, _)| l.id)
            .filter(|id| r.all || r.ids.contains(id))
            .collect();
        let n = if ids.is_empty() {
            0
        } else {
            self.store
                .redrive_dead_letters(&caller.account_id, &ids)
                .await
                .map_err(internal)?
        };
        Ok(json!({ "Redriven": n }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn target_keys_split_into_region_rule_and_target() {
        assert_eq!(
            super::parts("123456789012/us-east-1/my-rule/t1"),
            Some(("us-east-1", "my-rule", "t1"))
        );
        assert_eq!(super::parts("bad"), None);
    }
}
