//! Delivery bookkeeping of the event bus: where each target stands in the
//! outbox (its cursor), and the events it could not take (dead letters),
//! kept until they are redriven. Targets are named by a key the core makes
//! (`ACCOUNT/REGION/RULE/TARGET-ID`); the store only keeps them.

/// An event a target gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeadLetter {
    pub account_id: String,
    pub target: String,
    pub event_seq: i64,
    /// The event as it would have been delivered (never a secret value).
    pub event: String,
    pub error: String,
    pub attempts: i64,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: i64,
    pub account_id: String,
    pub target: String,
    pub event_seq: i64,
    pub event: String,
    pub error: String,
    pub attempts: i64,
    pub at_ms: i64,
    /// Asked to be delivered again.
    pub redrive: bool,
}

/// Which dead letters to list, oldest first.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterQuery {
    pub account_id: Option<String>,
    pub target: Option<String>,
    pub redrive_only: bool,
    pub after_id: i64,
    pub limit: usize,
}
