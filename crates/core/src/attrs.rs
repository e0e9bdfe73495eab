//! What a secret keeps in its attributes besides its columns: its rotation
//! configuration and progress, and its resource policy. The secrets component
//! writes them; authorization and the rotation engine read them.

use crate::schedule::Schedule;
use coffer_api::types::RotationRules;
use coffer_store::{Secret, SecretRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Where the rotation state lives in a secret's attributes.
pub const ATTR: &str = "Rotation";
/// Where a secret's resource policy lives in its attributes.
pub const POLICY_ATTR: &str = "ResourcePolicy";
/// How long after a failed attempt the scheduler tries again.
pub const RETRY_MS: i64 = 3_600_000;

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
    /// For the alternating-users rotators: the master secret approved when the
    /// rotation was configured (its configurer could read it), the only one the
    /// rotator may read.
    #[serde(default)]
    pub master_arn: Option<String>,
    /// Who configured the rotation (a user's, the root's or a session's ARN):
    /// the rotator reads the master only while they still may.
    #[serde(default)]
    pub configured_by: Option<String>,
    /// For a rotation configured through temporary credentials: that session
    /// (its role by unique id, its policy, tags and issue time; never its
    /// secret), so the same authorization can be asked again at each run.
    #[serde(default)]
    pub configured_session: Option<crate::context::Session>,
}

impl RotationState {
    pub fn of(s: &Secret) -> Option<RotationState> {
        Self::of_row(&s.row)
    }

    pub fn of_row(row: &SecretRow) -> Option<RotationState> {
        serde_json::from_value(row.attrs.get(ATTR)?.clone()).ok()
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
