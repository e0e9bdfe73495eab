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

use crate::attrs::{Failure, RotationState, RETRY_MS};
use crate::call::Call;
use crate::clock::Clock;
use crate::context::Caller;
use crate::functions::{cannot_invoke, Functions};
use crate::identity::Identity;
use crate::secrets::{not_deleted, row_update, RotationRequest, Secrets};
use coffer_api::ApiError;
use coffer_store::Store;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// How many rotations run at once in one process.
pub const CONCURRENT: usize = 4;
/// The steps, in order.
pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// The rotation engine: runs rotations (one per secret at a time, a few at once
/// per process) through the secrets component's operations.
pub struct Rotation {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    secrets: Arc<Secrets>,
    identity: Arc<Identity>,
    functions: Arc<Functions>,
    /// This engine, for the tasks it spawns.
    me: Weak<Rotation>,
    /// Secrets whose rotation is running in this process, each with the
    /// token of a rotation asked for meanwhile, to run when it ends.
    rotating: Mutex<HashMap<String, Option<String>>>,
    /// Rotations running at once, however many are started: a storm of them
    /// queues instead of crowding out readers.
    slots: Arc<tokio::sync::Semaphore>,
    /// The address clients reach the server at, for rotation functions.
    endpoint: OnceLock<String>,
}

impl Rotation {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        secrets: Arc<Secrets>,
        identity: Arc<Identity>,
        functions: Arc<Functions>,
    ) -> Arc<Rotation> {
        Arc::new_cyclic(|me| Rotation {
            store,
            clock,
            secrets,
            identity,
            functions,
            me: me.clone(),
            rotating: Mutex::default(),
            slots: Arc::new(tokio::sync::Semaphore::new(CONCURRENT)),
            endpoint: OnceLock::new(),
        })
    }

    /// Runs the rotations the secrets component asks for, until it goes away.
    pub fn spawn_runner(
        self: &Arc<Self>,
        mut requests: tokio::sync::mpsc::UnboundedReceiver<RotationRequest>,
    ) -> tokio::task::JoinHandle<()> {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some((arn, token)) = requests.recv().await {
                match me.upgrade() {
                    Some(r) => r.spawn_rotation(arn, token),
                    None => return,
                }
            }
        })
    }

    /// Tells the engine the address clients reach the server at (rotation
    /// functions call back there).
    pub fn set_endpoint(&self, url: String) {
        let _ = self.endpoint.set(url);
    }
}

/// The principal the service acts as when it rotates (in-process functions).
pub(crate) fn rotation_caller(account: &str, region: &str) -> Caller {
    Caller::service(
        account,
        region,
        crate::identity::SERVICE_PRINCIPAL,
        "coffer-rotation",
    )
}

impl Rotation {
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
        self.rotating.lock().is_ok_and(|r| !r.is_empty())
    }

    /// Runs (or resumes) one rotation to its end or its first failure. While
    /// another rotation of the secret runs in this process, this one waits
    /// for it and then runs (a RotateSecret right after the last one was
    /// abandoned used to be dropped here, and waited for the hourly retry);
    /// of several asked for meanwhile, the last.
    pub async fn rotate(&self, arn: &str, token: &str) {
        {
            let Ok(mut running) = self.rotating.lock() else {
                return;
            };
            if let Some(next) = running.get_mut(arn) {
                *next = Some(token.to_string());
                return;
            }
            running.insert(arn.to_string(), None);
        }
        let mut token = token.to_string();
        loop {
            self.rotate_once(arn, &token).await;
            let Ok(mut running) = self.rotating.lock() else {
                return;
            };
            if let Some(next) = running.get_mut(arn).and_then(Option::take) {
                token = next;
            } else {
                running.remove(arn);
                return;
            }
        }
    }

    async fn rotate_once(&self, arn: &str, token: &str) {
        let outcome = match self.slots.clone().acquire_owned().await {
            Ok(_slot) => self.run_steps(arn, token).await,
            Err(_) => Err(("start".to_string(), "the service is stopping".to_string())),
        };
        if let Err((step, message)) = &outcome {
            tracing::warn!(secret = %arn, step = %step, error = %message, "rotation step failed");
        }
        if let Err(e) = self.finish_rotation(arn, token, outcome).await {
            tracing::warn!(secret = %arn, error = %e, "recording the rotation outcome failed");
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
        if state.pending.as_deref() != Some(token) {
            // Abandoned or superseded before it ran (a rotation that waited
            // for another): nothing to do, and nothing to record.
            return Ok(());
        }
        let lambda = state.lambda_arn.clone().unwrap_or_default();
        let function = self
            .functions
            .resolve(&lambda)
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
            .map_err(crate::errors::internal)?
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
        let grant = self.identity.internal_grant(&call, arn).await?;
        self.secrets
            .commit_with_retry(&grant, |s, now| {
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
                let mut m = row_update(&call, s, now, detail, |row| state.store(&mut row.attrs));
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
            .map_err(crate::errors::internal)?
        else {
            return Ok(None);
        };
        let caller = rotation_caller(&s.row.account_id, &s.row.region);
        let call = Call::internal(&caller, "RotationStarted");
        let grant = self.identity.internal_grant(&call, arn).await?;
        let mut chosen = None;
        self.secrets
            .commit_with_retry(&grant, |s, now| {
                let mut state = RotationState::of(s).unwrap_or_default();
                let resume_now = interrupted && state.pending.is_some();
                if s.row.deleted_ms.is_some()
                    || (!resume_now && state.due_ms.is_none_or(|d| d > now))
                {
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
                Ok(Some(row_update(&call, s, now, detail, edit)))
            })
            .await?;
        Ok(chosen)
    }
}
