//! Rotation: the schedule and state of each secret (kept in its attributes), the
//! four-step protocol (createSecret, setSecret, testSecret, finishSecret) run
//! against a rotation function, and the scheduler that starts rotations when they
//! are due.
//!
//! A rotation's token is its pending version id. It is recorded before the first
//! step and cleared only when finishSecret has moved AWSCURRENT, so a failed or
//! interrupted rotation (a crash included) is resumed with the same token, and the
//! steps, being idempotent, complete it. Only one rotation per secret runs at a time.

mod call;
mod db;
mod functions;
mod lambda;
mod mysql;
mod postgres;
pub mod schedule;

pub use functions::{ExternalFunction, Function};

use crate::context::Caller;
use crate::ops::{not_deleted, row_update};
use crate::service::{Call, Service};
use coffer_api::types::RotationRules;
use coffer_api::{ApiError, ErrorCode};
use coffer_store::Secret;
use schedule::Schedule;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Where the state lives in a secret's attributes.
pub const ATTR: &str = "Rotation";
/// How many rotations run at once in one process.
pub const CONCURRENT: usize = 4;
/// How long after a failed attempt the scheduler tries again.
pub const RETRY_MS: i64 = 3_600_000;
/// The steps, in order.
pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Failure {
    pub step: String,
    pub message: String,
    pub at_ms: i64,
}

/// A secret's rotation configuration and progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationState {
    pub enabled: bool,
    pub lambda_arn: Option<String>,
    pub rules: Option<RotationRules>,
    pub last_rotated_ms: Option<i64>,
    /// The start of the next rotation window.
    pub next_ms: Option<i64>,
    /// The token of a rotation started and not yet finished.
    pub pending: Option<String>,
    /// When the scheduler next looks at this secret (a window or a retry).
    pub due_ms: Option<i64>,
    pub last_failure: Option<Failure>,
}

impl RotationState {
    pub fn of(s: &Secret) -> Option<RotationState> {
        serde_json::from_value(s.row.attrs.get(ATTR)?.clone()).ok()
    }

    pub fn store(&self, attrs: &mut Value) {
        if !attrs.is_object() {
            *attrs = json!({});
        }
        if let (Some(m), Ok(v)) = (attrs.as_object_mut(), serde_json::to_value(self)) {
            m.insert(ATTR.into(), v);
        }
    }

    pub fn schedule(&self) -> Option<Schedule> {
        let rules = self.rules.as_ref()?;
        match (&rules.schedule_expression, rules.automatically_after_days) {
            (Some(e), _) => Schedule::parse(e).ok(),
            (None, Some(d)) => Some(Schedule::Days(d)),
            (None, None) => None,
        }
    }

    /// Sets the next window from the last rotation (or `now`) and makes it due.
    pub fn plan_next(&mut self, now: i64) {
        let last = self.last_rotated_ms.unwrap_or(now);
        self.next_ms = if self.enabled {
            self.schedule().and_then(|s| s.next(last, now))
        } else {
            None
        };
        self.due_ms = match (&self.pending, self.next_ms) {
            (Some(_), _) => self.due_ms,
            (None, next) => next,
        };
    }
}

/// The principal the service acts as when it rotates (in-process functions).
pub(crate) fn rotation_caller(account: &str, region: &str) -> Caller {
    Caller {
        account_id: account.into(),
        principal_arn: "secretsmanager.amazonaws.com".into(),
        access_key_id: String::new(),
        region: region.into(),
        source_ip: "internal".into(),
        user_agent: "coffer-rotation".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        session: None,
        internal: true,
    }
}

/// The error for a function name that resolves to nothing (as AWS answers).
pub fn cannot_invoke() -> ApiError {
    ApiError::new(
        ErrorCode::AccessDenied,
        "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.",
    )
}

impl Service {
    /// Starts, in the background, the rotation `token` of `arn` unless one is
    /// already running for that secret.
    pub(crate) fn spawn_rotation(&self, arn: String, token: String) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            me.rotate(&arn, &token).await;
        });
    }

    /// Is any rotation running in this process?
    pub fn rotation_running(&self) -> bool {
        self.rotating.lock().map(|r| !r.is_empty()).unwrap_or(false)
    }

    /// Runs (or resumes) one rotation to its end or its first failure.
    pub async fn rotate(&self, arn: &str, token: &str) {
        {
            let Ok(mut running) = self.rotating.lock() else {
                return;
            };
            if !running.insert(arn.to_string()) {
                return;
            }
        }
        let outcome = match self.rotation_slots.clone().acquire_owned().await {
            Ok(_slot) => self.run_steps(arn, token).await,
            Err(_) => Err(("start".to_string(), "the service is stopping".to_string())),
        };
        if let Err((step, message)) = &outcome {
            tracing::warn!(secret = %arn, step = %step, error = %message, "rotation step failed");
        }
        if let Err(e) = self.finish_rotation(arn, token, outcome).await {
            tracing::warn!(secret = %arn, error = %e, "recording the rotation outcome failed");
        }
        if let Ok(mut running) = self.rotating.lock() {
            running.remove(arn);
        }
    }

    async fn run_steps(&self, arn: &str, token: &str) -> Result<(), (String, String)> {
        let secret = self
            .store
            .secret_by_arn(arn)
            .await
            .map_err(|e| ("load".to_string(), e.to_string()))?
            .ok_or(("load".to_string(), "the secret is gone".to_string()))?;
        let state = RotationState::of(&secret).unwrap_or_default();
        let lambda = state.lambda_arn.clone().unwrap_or_default();
        let function = self
            .resolve_function(&lambda)
            .ok_or(("invoke".to_string(), cannot_invoke().message))?;
        for step in STEPS {
            self.invoke(&function, step, &secret.row, token)
                .await
                .map_err(|m| (step.to_string(), m))?;
        }
        Ok(())
    }

    /// Records how a rotation ended: success clears the pending token, moves the
    /// schedule on and drops AWSPENDING; failure keeps the token for the retry.
    async fn finish_rotation(
        &self,
        arn: &str,
        token: &str,
        outcome: Result<(), (String, String)>,
    ) -> Result<(), ApiError> {
        let Some(s) = self
            .store
            .secret_by_arn(arn)
            .await
            .map_err(crate::internal)?
        else {
            return Ok(());
        };
        let caller = rotation_caller(&s.row.account_id, &s.row.region);
        let event = if outcome.is_ok() {
            "RotationSucceeded"
        } else {
            "RotationFailed"
        };
        let call = Call::internal(&caller, event);
        let grant = self.internal_grant(&call, arn).await?;
        self.commit_with_retry(&grant, |s, now| {
            not_deleted(s)?;
            let mut state = RotationState::of(s).unwrap_or_default();
            if state.pending.as_deref() != Some(token) {
                return Ok(None); // cancelled or superseded meanwhile
            }
            let mut relabel = vec![];
            let detail = match &outcome {
                Ok(()) => {
                    state.pending = None;
                    state.last_failure = None;
                    state.last_rotated_ms = Some(now);
                    state.plan_next(now);
                    if let Some(v) = s.versions.iter().find(|v| v.version_id == token) {
                        let labels: Vec<String> = v
                            .labels
                            .iter()
                            .filter(|l| *l != crate::labels::PENDING)
                            .cloned()
                            .collect();
                        relabel.push((token.to_string(), labels));
                    }
                    json!({ "versionId": token })
                }
                Err((step, message)) => {
                    state.last_failure = Some(Failure {
                        step: step.clone(),
                        message: message.clone(),
                        at_ms: now,
                    });
                    state.due_ms = Some(now + RETRY_MS);
                    json!({ "versionId": token, "step": step })
                }
            };
            let mut m = row_update(&call, s, now, event, detail, |row| {
                state.store(&mut row.attrs)
            });
            m.relabel = relabel;
            Ok(Some(m))
        })
        .await?;
        Ok(())
    }

    /// Starts every rotation that is due (or was interrupted); returns how many.
    /// The background task calls this; tests call it after moving the clock.
    pub async fn rotate_due(&self) -> usize {
        self.run_due(false).await
    }

    /// Resumes every rotation that was started and not finished, due or not: at
    /// start-up, those were cut off by a stop or a crash.
    pub async fn resume_interrupted(&self) -> usize {
        self.run_due(true).await
    }

    async fn run_due(&self, interrupted: bool) -> usize {
        let now = self.clock.now_ms();
        let due = match self.store.rotation_due(now, interrupted).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "looking for due rotations failed");
                return 0;
            }
        };
        let mut started = vec![];
        for arn in due {
            match self.start_due(&arn, interrupted).await {
                Ok(Some(token)) => started.push((arn, token)),
                Ok(None) => {}
                Err(e) => tracing::warn!(secret = %arn, error = %e, "starting a rotation failed"),
            }
        }
        let n = started.len();
        // `rotate` waits for one of the service's rotation slots.
        let mut tasks = tokio::task::JoinSet::new();
        for (arn, token) in started {
            let Some(me) = self.me.upgrade() else { break };
            tasks.spawn(async move {
                me.rotate(&arn, &token).await;
            });
        }
        while tasks.join_next().await.is_some() {}
        n
    }

    /// Records the token of a due rotation (a new one, or the interrupted one).
    async fn start_due(&self, arn: &str, interrupted: bool) -> Result<Option<String>, ApiError> {
        let Some(s) = self
            .store
            .secret_by_arn(arn)
            .await
            .map_err(crate::internal)?
        else {
            return Ok(None);
        };
        let caller = rotation_caller(&s.row.account_id, &s.row.region);
        let call = Call::internal(&caller, "RotationStarted");
        let grant = self.internal_grant(&call, arn).await?;
        let mut chosen = None;
        self.commit_with_retry(&grant, |s, now| {
            let mut state = RotationState::of(s).unwrap_or_default();
            let resume_now = interrupted && state.pending.is_some();
            if s.row.deleted_ms.is_some() || (!resume_now && state.due_ms.is_none_or(|d| d > now)) {
                return Ok(None);
            }
            if let Some(t) = &state.pending {
                chosen = Some(t.clone());
                return Ok(None); // resume: the token is recorded already
            }
            if !state.enabled {
                return Ok(None);
            }
            let token = uuid::Uuid::new_v4().to_string();
            state.pending = Some(token.clone());
            state.due_ms = Some(now + RETRY_MS);
            chosen = Some(token.clone());
            let detail = json!({ "versionId": token });
            let edit = |row: &mut coffer_store::SecretRow| state.store(&mut row.attrs);
            Ok(Some(row_update(
                &call,
                s,
                now,
                "RotationStarted",
                detail,
                edit,
            )))
        })
        .await?;
        Ok(chosen)
    }
}
