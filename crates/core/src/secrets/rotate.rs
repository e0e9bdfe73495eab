//! RotateSecret and CancelRotateSecret.

use super::{not_deleted, row_update};
use crate::attrs::RotationState;
use crate::call::respond;
use crate::context::Session;
use crate::functions::cannot_invoke;
use crate::identity::Grant;
use crate::schedule::{window, Schedule};
use crate::secrets::Secrets;
use coffer_api::types::{
    RotateSecretRequest, RotateSecretResponse, RotationRules, SecretIdRequest,
};
use coffer_api::{validate, ApiError};
use coffer_store::SecretRow;
use serde_json::json;

const INCOMPLETE: &str = "A previous rotation isn't complete. That rotation will be reattempted.";

/// AWS's checks on RotationRules.
fn check_rules(r: &RotationRules) -> Result<(), ApiError> {
    if let Some(d) = r.automatically_after_days {
        validate::range(d, "rotationRules.automaticallyAfterDays", 1, 1000)?;
    }
    if let Some(e) = &r.schedule_expression {
        validate::length(e, "rotationRules.scheduleExpression", 1, 256)?;
        if r.automatically_after_days.is_some() {
            return Err(ApiError::invalid_param(
                "You can't specify both AutomaticallyAfterDays and ScheduleExpression.",
            ));
        }
        let s = Schedule::parse(e)
            .map_err(|m| ApiError::invalid_param(format!("Invalid ScheduleExpression: {m}.")))?;
        if let (Some(d), Schedule::Hours(n)) = (&r.duration, &s) {
            if window(d).map_err(ApiError::invalid_param)? > n * 3_600_000 {
                return Err(ApiError::invalid_param(
                    "The rotation window can't be longer than the rotation interval.",
                ));
            }
        }
    }
    if let Some(d) = &r.duration {
        validate::length(d, "rotationRules.duration", 2, 3)?;
        window(d).map_err(|m| ApiError::invalid_param(format!("Invalid Duration: {m}.")))?;
    }
    if r.automatically_after_days.is_none() && r.schedule_expression.is_none() {
        return Err(ApiError::invalid_param(
            "You must specify AutomaticallyAfterDays or ScheduleExpression in RotationRules.",
        ));
    }
    Ok(())
}

impl Secrets {
    pub(crate) async fn rotate_secret(
        &self,
        g: &Grant<'_>,
        req: RotateSecretRequest,
    ) -> Result<Vec<u8>, ApiError> {
        if req.external_secret_rotation_metadata.is_some()
            || req.external_secret_rotation_role_arn.is_some()
        {
            return Err(ApiError::invalid_request(
                "Managed external secret rotation is not available on this server; rotate with a RotationLambdaARN.",
            ));
        }
        let immediately = req.rotate_immediately.unwrap_or(true);
        let token =
            match req.client_request_token.as_deref() {
                Some(t) => {
                    validate::length(t, "clientRequestToken", 32, 64)?;
                    Some(t.to_string())
                }
                None if immediately => return Err(ApiError::invalid_param(
                    "You must provide a ClientRequestToken value. We recommend a UUID-type value.",
                )),
                None => None,
            };
        if let Some(rules) = &req.rotation_rules {
            check_rules(rules)?;
        }
        if let Some(l) = &req.rotation_lambda_arn {
            validate::length(l, "rotationLambdaARN", 0, 2048)?;
            if self.functions.resolve(l).is_none() {
                return Err(cannot_invoke());
            }
        }
        let master = self
            .rotation_permissions(g, req.rotation_lambda_arn.as_deref())
            .await?;
        let mut resume = None;
        let (s, _) = self
            .commit_with_retry(g, |s, now| {
                not_deleted(s)?;
                let mut state = RotationState::of(s).unwrap_or_default();
                if let Some(l) = &req.rotation_lambda_arn {
                    state.lambda_arn = Some(l.clone());
                }
                if state.lambda_arn.is_none() {
                    return Err(ApiError::invalid_request(
                        "No Lambda rotation function ARN is associated with this secret.",
                    ));
                }
                if let Some(p) = &state.pending {
                    if immediately && Some(p) != token.as_ref() {
                        resume = Some((s.row.arn.clone(), p.clone()));
                        return Err(ApiError::invalid_request(INCOMPLETE));
                    }
                }
                state.master_arn.clone_from(&master);
                let caller = g.caller();
                state.configured_by = Some(caller.principal_arn.clone());
                state.configured_session = caller.session.as_deref().map(|s| Session {
                    secret: String::new(),
                    ..s.clone()
                });
                if let Some(r) = &req.rotation_rules {
                    state.rules = Some(r.clone());
                }
                state.enabled = state.rules.is_some();
                if immediately {
                    state.pending.clone_from(&token);
                    state.due_ms = Some(now + crate::attrs::RETRY_MS);
                }
                state.plan_next(now);
                let edit = |row: &mut SecretRow| {
                    state.store(&mut row.attrs);
                    row.last_changed_ms = now;
                };
                let mut m = row_update(g.call(), s, now, json!({}), edit);
                if immediately {
                    // AWS reports the call, then the rotation it starts.
                    let started = crate::events::service_event(
                        g.caller(),
                        now,
                        "RotationStarted",
                        &m.secret,
                        json!({}),
                    );
                    m.also.push(started);
                }
                Ok(Some(m))
            })
            .await
            .inspect_err(|e| {
                if e.message == INCOMPLETE {
                    if let Some((arn, pending)) = resume.clone() {
                        self.start_rotation(arn, pending);
                    }
                }
            })?;
        if immediately {
            if let Some(t) = &token {
                self.start_rotation(s.row.arn.clone(), t.clone());
            }
        }
        respond(&RotateSecretResponse {
            arn: s.row.arn.clone(),
            name: s.row.name.clone(),
            version_id: token.filter(|_| immediately),
        })
    }

    pub(crate) async fn cancel_rotate_secret(
        &self,
        g: &Grant<'_>,
        _req: SecretIdRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let mut pending = None;
        let (s, _) = self
            .commit_with_retry(g, |s, now| {
                not_deleted(s)?;
                let Some(mut state) = RotationState::of(s) else {
                    return Err(ApiError::invalid_request(
                        "Secrets Manager can't cancel rotation because rotation isn't enabled for this secret.",
                    ));
                };
                // The pending version keeps its AWSPENDING label, as in AWS.
                pending = state.pending.take();
                state.enabled = false;
                state.plan_next(now);
                state.due_ms = None;
                let edit = |row: &mut SecretRow| {
                    state.store(&mut row.attrs);
                    row.last_changed_ms = now;
                };
                Ok(Some(row_update(g.call(), s, now, json!({}), edit)))
            })
            .await?;
        respond(&RotateSecretResponse {
            arn: s.row.arn.clone(),
            name: s.row.name.clone(),
            version_id: pending,
        })
    }
}

impl Secrets {
    /// What configuring a rotation needs besides RotateSecret itself: the caller
    /// may invoke the function (`lambda:InvokeFunction` on its ARN, whose account
    /// counts), and, for the alternating-users rotators, may read the master
    /// secret the value names; that master (its full ARN) is returned, to be the
    /// only one the rotator will read. Without this, whoever may rotate one
    /// secret could have the service read any other of the account.
    async fn rotation_permissions(
        &self,
        g: &Grant<'_>,
        named: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        let s = g.secret()?;
        let lambda = match named {
            Some(l) => l.to_string(),
            None => match RotationState::of(s).and_then(|r| r.lambda_arn) {
                Some(l) => l,
                None => return Ok(None),
            },
        };
        let owner = lambda.split(':').nth(4).filter(|a| !a.is_empty());
        let owner = owner.unwrap_or(&g.caller().account_id).to_string();
        g.permits_action("lambda:InvokeFunction", &lambda, &owner)
            .await?;
        let Some(function) = self.functions.resolve(&lambda) else {
            return Err(cannot_invoke());
        };
        if !function.uses_master() {
            return Ok(None);
        }
        let Some(current) = s
            .versions
            .iter()
            .find(|v| v.labels.iter().any(|l| l == "AWSCURRENT"))
        else {
            return Ok(None);
        };
        let plain = self.decrypt(s, current).await?;
        let value: serde_json::Value = serde_json::from_slice(plain.as_slice()).unwrap_or_default();
        let Some(master) = value["masterarn"].as_str() else {
            return Ok(None);
        };
        let m = g
            .resolve(coffer_api::sm_ops::action::GET_SECRET_VALUE, master)
            .await?;
        Ok(Some(m.row.arn.clone()))
    }

    /// Hands a rotation to the rotation component, which runs it in the
    /// background (and skips it if that secret's rotation is already running).
    fn start_rotation(&self, arn: String, token: String) {
        if self.rotations.send((arn, token)).is_err() {
            tracing::warn!(
                "the rotation runner has stopped; the scheduler will resume this rotation"
            );
        }
    }
}
