//! One call in flight: who made it, which operation, what its audit record
//! says, and whether a committed mutation already carried that record.

use crate::audit;
use crate::context::Caller;
use crate::errors::internal;
use coffer_api::ApiError;
use coffer_store::NewAudit;
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};

/// One call in flight: what the audit record needs, and whether the store already
/// wrote it as part of a committed mutation.
pub(crate) struct Call<'a> {
    pub caller: &'a Caller,
    pub name: &'static str,
    pub params: Value,
    /// The service the record names as `eventSource`.
    pub source: &'static str,
    audited: AtomicBool,
    /// An AssumeRoleWithWebIdentity's verified caller: its `userIdentity`
    /// and the role's account (an unsigned request has no account of its own).
    web_identity: std::sync::OnceLock<(Value, String)>,
}

impl<'a> Call<'a> {
    /// A call whose audit record its caller writes (IAM and STS, which write
    /// no store mutation of their own).
    pub(crate) fn new(caller: &'a Caller, name: &'static str) -> Call<'a> {
        Call {
            caller,
            name,
            params: Value::Null,
            source: audit::SECRETS_MANAGER,
            audited: AtomicBool::new(false),
            web_identity: std::sync::OnceLock::new(),
        }
    }

    /// A request's call, audited with `params` unless a committed mutation
    /// carries its record.
    pub(crate) fn with_params(caller: &'a Caller, name: &'static str, params: Value) -> Call<'a> {
        Call {
            caller,
            name,
            params,
            source: audit::SECRETS_MANAGER,
            audited: AtomicBool::new(false),
            web_identity: std::sync::OnceLock::new(),
        }
    }

    /// A call made on a caller's behalf by the service itself (not audited as an
    /// operation of its own).
    pub(crate) fn internal(caller: &'a Caller, name: &'static str) -> Call<'a> {
        Call {
            caller,
            name,
            params: Value::Object(serde_json::Map::default()),
            source: audit::SECRETS_MANAGER,
            audited: AtomicBool::new(true),
            web_identity: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn set_web_identity(&self, user_identity: Value, account: String) {
        let _ = self.web_identity.set((user_identity, account));
    }

    pub(crate) fn web_identity(&self) -> Option<(Value, String)> {
        self.web_identity.get().cloned()
    }

    /// The same call, audited as one of `source` (`iam.amazonaws.com`).
    pub(crate) fn audited_as(mut self, source: &'static str) -> Self {
        self.source = source;
        self
    }

    /// The audit record to commit with a mutation.
    pub fn audit(&self, at_ms: i64) -> NewAudit {
        let body = audit::record_from(
            self.source,
            self.caller,
            self.name,
            at_ms,
            self.params.clone(),
            None,
            false,
        );
        NewAudit {
            at_ms,
            body: body.to_string(),
        }
    }

    pub fn mark_audited(&self) {
        self.audited.store(true, Ordering::SeqCst);
    }

    /// Did a committed mutation carry this call's audit record?
    pub fn audited(&self) -> bool {
        self.audited.load(Ordering::SeqCst)
    }
}

pub(crate) fn respond<T: Serialize>(out: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(out).map_err(internal)
}
