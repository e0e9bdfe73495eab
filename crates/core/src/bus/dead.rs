//! Coffer's own operations on the bus's dead letters (events a target gave
//! up on): list them, and ask for them to be delivered again. The target's
//! worker delivers a redriven letter once; refused again, it stays.

use crate::context::Caller;
use crate::errors::internal;
use crate::service::Service;
use coffer_api::events_ops::{ListDeadLettersRequest, RedriveDeadLettersRequest};
use coffer_api::{ApiError, ErrorCode};
use coffer_store::DeadLetterQuery;
use serde_json::{json, Value};

/// `ACCOUNT/REGION/RULE/TARGET` → (region, rule, target).
fn parts(key: &str) -> Option<(&str, &str, &str)> {
    let mut p = key.splitn(4, '/').skip(1);
    Some((p.next()?, p.next()?, p.next()?))
}

impl Service {
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
        let mut out = Vec::new();
        let mut after = after_id;
        // Letters of other regions or rules are skipped: read on until the page is full.
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
                if region != caller.region || r.rule.as_ref().is_some_and(|n| n != rule) {
                    continue;
                }
                let event: Value = serde_json::from_str(&l.event).unwrap_or_default();
                out.push(json!({
                    "Id": l.id, "Rule": rule, "TargetId": target, "EventId": event["id"],
                    "Event": l.event, "Error": l.error, "Attempts": l.attempts,
                    "Time": l.at_ms as f64 / 1000.0, "Redrive": l.redrive,
                }));
                if out.len() > limit {
                    break;
                }
            }
            if done || out.len() > limit {
                break;
            }
        }
        let mut v = json!({});
        if out.len() > limit {
            out.truncate(limit);
            v["NextToken"] = Value::String(out[limit - 1]["Id"].to_string());
        }
        v["DeadLetters"] = Value::Array(out);
        Ok(v)
    }

    pub(super) async fn redrive_dead_letters(
        &self,
        caller: &Caller,
        r: RedriveDeadLettersRequest,
    ) -> Result<Value, ApiError> {
        // Only letters of the caller's region: find their ids first.
        let mut ids = Vec::new();
        let mut after = 0;
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
                let here = parts(&l.target).is_some_and(|(region, _, _)| region == caller.region);
                if here && (r.all || r.ids.contains(&l.id)) {
                    ids.push(l.id);
                }
            }
            if done {
                break;
            }
        }
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
