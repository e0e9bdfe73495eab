//! The service object, the one path every Secrets Manager call takes (parse →
//! authorize → dispatch → audit), and the helpers every operation shares.

use crate::access::AccessTracker;
use crate::audit::{self, AuditLog};
use crate::authz::Grant;
use crate::clock::Clock;
use crate::context::Caller;
use crate::internal;
use crate::keyring::Keyring;
use coffer_api::{ApiError, ErrorCode, SecretsManagerOperation};
use coffer_crypto::SecretBytes;
use coffer_store::{Committed, Mutation, NewAudit, Secret, Store, StoreError};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How many times a mutation is recomputed after losing a race.
const MAX_ATTEMPTS: usize = 64;

pub struct ServiceOptions {
    pub audit_path: PathBuf,
    /// How often the sweeper looks for secrets whose recovery window ended.
    pub sweep_interval: Duration,
    /// How often the scheduler looks for rotations that are due.
    pub rotation_interval: Duration,
    /// External rotation functions by name.
    pub rotation_functions: HashMap<String, crate::rotation::ExternalFunction>,
}

/// An access key with its secret, as SigV4 verification needs it.
pub struct Credential {
    pub access_key_id: String,
    pub account_id: String,
    pub principal_arn: String,
    pub secret: SecretBytes,
    /// The session, for temporary credentials.
    pub session: Option<Arc<crate::session::Session>>,
}

pub struct Service {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Keyring,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) audit: AuditLog,
    pub(crate) access: AccessTracker,
    pub(crate) sweep_interval: Duration,
    /// Bumped after every committed mutation, so change-stream subscribers wake at
    /// once instead of polling the outbox.
    pub(crate) commits: tokio::sync::watch::Sender<u64>,
    pub(crate) identities: crate::authz::IdentityCache,
    /// This service, for the tasks it spawns (rotations).
    pub(crate) me: std::sync::Weak<Service>,
    /// Secrets whose rotation is running in this process.
    pub(crate) rotating: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Rotations running at once, however many are started: a storm of them
    /// queues instead of crowding out readers.
    pub(crate) rotation_slots: Arc<tokio::sync::Semaphore>,
    pub(crate) functions: HashMap<String, crate::rotation::ExternalFunction>,
    pub(crate) rotation_interval: Duration,
    /// The address clients reach this service at, for rotation functions.
    pub(crate) endpoint: std::sync::OnceLock<String>,
}

/// One call in flight: what the audit record needs, and whether the store already
/// wrote it as part of a committed mutation.
pub(crate) struct Call<'a> {
    pub caller: &'a Caller,
    pub name: &'static str,
    pub params: Value,
    audited: AtomicBool,
}

impl<'a> Call<'a> {
    /// A call whose audit record its caller writes (IAM and STS, which write
    /// no store mutation of their own).
    pub(crate) fn new(caller: &'a Caller, name: &'static str) -> Call<'a> {
        Call {
            caller,
            name,
            params: Value::Null,
            audited: AtomicBool::new(false),
        }
    }

    /// A call made on a caller's behalf by the service itself (not audited as an
    /// operation of its own).
    pub(crate) fn internal(caller: &'a Caller, name: &'static str) -> Call<'a> {
        Call {
            caller,
            name,
            params: Value::Object(Default::default()),
            audited: AtomicBool::new(true),
        }
    }

    /// The audit record to commit with a mutation.
    pub fn audit(&self, at_ms: i64) -> NewAudit {
        let body = audit::record(
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
}

pub(crate) fn respond<T: Serialize>(out: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(out).map_err(internal)
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        root: coffer_crypto::Key256,
        clock: Arc<dyn Clock>,
        opts: ServiceOptions,
    ) -> std::io::Result<Arc<Self>> {
        let audit = AuditLog::open(&opts.audit_path)?;
        Ok(Arc::new_cyclic(|me| Service {
            keys: Keyring::new(root, store.clone(), clock.clone()),
            access: AccessTracker::default(),
            store,
            clock,
            audit,
            sweep_interval: opts.sweep_interval,
            commits: tokio::sync::watch::Sender::new(0),
            identities: Default::default(),
            me: me.clone(),
            rotating: Default::default(),
            rotation_slots: Arc::new(tokio::sync::Semaphore::new(crate::rotation::CONCURRENT)),
            functions: opts.rotation_functions,
            rotation_interval: opts.rotation_interval,
            endpoint: Default::default(),
        }))
    }

    /// Parses and runs one Secrets Manager operation: `operation` is the
    /// `X-Amz-Target` without its `secretsmanager.` prefix, `body` the raw JSON.
    pub async fn call(
        &self,
        caller: &Caller,
        operation: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        match SecretsManagerOperation::parse(operation, body) {
            Ok(op) => self.execute(caller, op).await,
            Err(e) => {
                // A request that does not parse is still a call: audit it, under
                // its name if the model has one, with no parameters.
                let name = SecretsManagerOperation::known(operation).unwrap_or("UnknownOperation");
                let params = Value::Object(Default::default());
                let rec = audit::record(caller, name, self.clock.now_ms(), params, Some(&e), false);
                self.audit.append(rec).await?;
                Err(e)
            }
        }
    }

    /// Runs one typed operation: authorize, then dispatch with the proof, then
    /// audit what ran (a committed mutation carries its own audit record).
    pub async fn execute(
        &self,
        caller: &Caller,
        op: SecretsManagerOperation,
    ) -> Result<Vec<u8>, ApiError> {
        let call = Call {
            caller,
            name: op.name(),
            params: op.audit_parameters(),
            audited: AtomicBool::new(false),
        };
        let read_only = op.read_only();
        let result = match self.authorize_operation(&call, &op).await {
            Ok(grant) => self.dispatch(&grant, op).await,
            Err(e) => Err(e),
        };
        if !call.audited.load(Ordering::SeqCst) {
            let now = self.clock.now_ms();
            let rec = audit::record(
                caller,
                call.name,
                now,
                call.params.clone(),
                result.as_ref().err(),
                read_only,
            );
            // Fail closed: no audit record, no answer.
            self.audit.append(rec).await?;
        }
        result
    }

    /// Plans and commits a change to the granted secret, re-reading (and
    /// re-authorizing) and re-planning whenever another writer got there first.
    /// `plan` returns `None` when there is nothing to write.
    pub(crate) async fn commit_with_retry<F>(
        &self,
        grant: &Grant<'_>,
        mut plan: F,
    ) -> Result<(Arc<Secret>, Option<Committed>), ApiError>
    where
        F: FnMut(&Secret, i64) -> Result<Option<Mutation>, ApiError>,
    {
        let mut secret = grant.secret()?.clone();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                secret = grant.reload().await?;
            }
            let now = self.clock.now_ms();
            let Some(m) = plan(&secret, now)? else {
                return Ok((secret, None));
            };
            match self.store.commit(m).await {
                Ok(c) => {
                    grant.call().mark_audited();
                    self.committed();
                    return Ok((secret, Some(c)));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(internal(e)),
            }
        }
        Err(ApiError::new(ErrorCode::Throttling, "Rate exceeded"))
    }

    /// Tells the service the address clients reach it at (rotation functions
    /// call back there).
    pub fn set_endpoint(&self, url: String) {
        let _ = self.endpoint.set(url);
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}
