//! The service object, operation dispatch, and the helpers every operation shares.

use crate::access::AccessTracker;
use crate::arn::{parse_secret_id, SecretRef};
use crate::audit::{self, AuditLog};
use crate::clock::Clock;
use crate::context::Caller;
use crate::internal;
use crate::keyring::Keyring;
use coffer_api::{ApiError, ErrorCode};
use coffer_crypto::SecretBytes;
use coffer_store::{Committed, Mutation, NewAudit, Scope, Secret, Store, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
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
    pub(crate) creds: RwLock<HashMap<String, Arc<Credential>>>,
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

const OPERATIONS: &[(&str, bool)] = &[
    ("BatchGetSecretValue", true),
    ("CreateSecret", false),
    ("DeleteSecret", false),
    ("DescribeSecret", true),
    ("GetRandomPassword", true),
    ("GetSecretValue", true),
    ("ListSecretVersionIds", true),
    ("ListSecrets", true),
    ("PutSecretValue", false),
    ("RestoreSecret", false),
    ("TagResource", false),
    ("UntagResource", false),
    ("UpdateSecret", false),
    ("UpdateSecretVersionStage", false),
    ("PutResourcePolicy", false),
    ("GetResourcePolicy", true),
    ("DeleteResourcePolicy", false),
    ("ValidateResourcePolicy", true),
    ("RotateSecret", false),
    ("CancelRotateSecret", false),
];

/// Parses a request body into an operation's input shape.
pub(crate) fn parse<T: DeserializeOwned>(body: &Value) -> Result<T, ApiError> {
    T::deserialize(body).map_err(|e| {
        ApiError::new(
            ErrorCode::SerializationException,
            redact_values(&e.to_string()),
        )
    })
}

/// serde's messages quote the offending value (``invalid type: integer `12345` ``),
/// and that value may be a mistyped secret: keep the message, drop the values.
fn redact_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut quote: Option<char> = None;
    for c in msg.split(" at line").next().unwrap_or("").chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '`' || c == '"' => {
                quote = Some(c);
                out.push_str("(value)");
            }
            None => out.push(c),
        }
    }
    out
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
            creds: RwLock::default(),
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

    /// Is `operation` one this service answers?
    pub fn knows(operation: &str) -> bool {
        OPERATIONS.iter().any(|(n, _)| *n == operation)
    }

    /// Runs one operation. `body` is the raw JSON request.
    pub async fn call(
        &self,
        caller: &Caller,
        operation: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        let Some(&(name, read_only)) = OPERATIONS.iter().find(|(n, _)| *n == operation) else {
            return Err(ApiError::new(ErrorCode::UnknownOperation, ""));
        };
        let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            match serde_json::from_slice(body) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::SerializationException,
                        "Start of structure or map found where not expected.",
                    ))
                }
            }
        };
        let call = Call {
            caller,
            name,
            params: audit::request_parameters(&request),
            audited: AtomicBool::new(false),
        };
        let result = match self.authorize_upfront(&call, &request).await {
            Ok(()) => self.dispatch(&call, &request).await,
            Err(e) => Err(e),
        };
        if !call.audited.load(Ordering::SeqCst) {
            let now = self.clock.now_ms();
            let rec = audit::record(
                caller,
                name,
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

    /// Actions that do not act on one existing secret are authorized before they
    /// run; the others are authorized when their secret is loaded.
    async fn authorize_upfront(&self, call: &Call<'_>, req: &Value) -> Result<(), ApiError> {
        let c = call.caller;
        let resource = match call.name {
            "ListSecrets" | "GetRandomPassword" | "BatchGetSecretValue" => "*".to_string(),
            "CreateSecret" => match req.get("Name").and_then(Value::as_str) {
                Some(n) => format!(
                    "arn:aws:secretsmanager:{}:{}:secret:{n}",
                    c.region, c.account_id
                ),
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        let action = format!("secretsmanager:{}", call.name);
        self.authorize(call, &action, None, &resource, &c.account_id)
            .await?;
        // Reading by filters lists the account's secrets: AWS asks for that too.
        if call.name == "BatchGetSecretValue" && req.get("Filters").is_some() {
            let list = "secretsmanager:ListSecrets";
            self.authorize(call, list, None, "*", &c.account_id).await?;
        }
        Ok(())
    }

    async fn dispatch(&self, call: &Call<'_>, req: &Value) -> Result<Vec<u8>, ApiError> {
        match call.name {
            "CreateSecret" => self.create_secret(call, parse(req)?).await,
            "GetSecretValue" => self.get_secret_value(call, parse(req)?).await,
            "BatchGetSecretValue" => self.batch_get_secret_value(call, parse(req)?).await,
            "PutSecretValue" => self.put_secret_value(call, parse(req)?).await,
            "UpdateSecret" => self.update_secret(call, parse(req)?).await,
            "DescribeSecret" => self.describe_secret(call, parse(req)?).await,
            "ListSecrets" => self.list_secrets(call, parse(req)?).await,
            "ListSecretVersionIds" => self.list_secret_version_ids(call, parse(req)?).await,
            "UpdateSecretVersionStage" => self.update_secret_version_stage(call, parse(req)?).await,
            "DeleteSecret" => self.delete_secret(call, parse(req)?).await,
            "RestoreSecret" => self.restore_secret(call, parse(req)?).await,
            "TagResource" => self.tag_resource(call, parse(req)?).await,
            "UntagResource" => self.untag_resource(call, parse(req)?).await,
            "GetRandomPassword" => self.get_random_password(parse(req)?),
            "PutResourcePolicy" => self.put_resource_policy(call, parse(req)?).await,
            "GetResourcePolicy" => self.get_resource_policy(call, parse(req)?).await,
            "DeleteResourcePolicy" => self.delete_resource_policy(call, parse(req)?).await,
            "ValidateResourcePolicy" => self.validate_resource_policy(call, parse(req)?).await,
            "RotateSecret" => self.rotate_secret(call, parse(req)?).await,
            "CancelRotateSecret" => self.cancel_rotate_secret(call, parse(req)?).await,
            _ => Err(ApiError::new(ErrorCode::UnknownOperation, "")),
        }
    }

    /// Finds a secret by name, full ARN or partial ARN, and authorizes the call's
    /// action on it.
    pub(crate) async fn load(
        &self,
        call: &Call<'_>,
        secret_id: &str,
    ) -> Result<Arc<Secret>, ApiError> {
        self.load_as(call, secret_id, call.name).await
    }

    /// Like `load`, authorizing `operation` instead of the call's own (batch reads
    /// need `GetSecretValue` on each secret). A secret of another account is found
    /// by its ARN, and then its resource policy must let the caller in. A secret that
    /// does not exist is reported as missing only to a caller allowed to see it.
    pub(crate) async fn load_as(
        &self,
        call: &Call<'_>,
        secret_id: &str,
        operation: &str,
    ) -> Result<Arc<Secret>, ApiError> {
        let scope = call.caller.scope();
        let (found, guess, owner) = match parse_secret_id(secret_id) {
            SecretRef::Name(name) => (
                self.store
                    .secret_by_name(&scope, name)
                    .await
                    .map_err(internal)?,
                format!(
                    "arn:aws:secretsmanager:{}:{}:secret:{name}",
                    scope.region, scope.account_id
                ),
                scope.account_id.clone(),
            ),
            SecretRef::Arn {
                arn,
                region,
                account,
                resource,
            } => {
                if region != scope.region {
                    return Err(ApiError::not_found());
                }
                let found = match self.store.secret_by_arn(arn).await.map_err(internal)? {
                    Some(s) => Some(s),
                    // A partial ARN names the secret without its random suffix.
                    None => {
                        let owner = Scope {
                            account_id: account.to_string(),
                            region: region.to_string(),
                        };
                        self.store
                            .secret_by_name(&owner, resource)
                            .await
                            .map_err(internal)?
                    }
                };
                (found, arn.to_string(), account.to_string())
            }
        };
        let action = format!("secretsmanager:{operation}");
        match found {
            Some(s) => {
                self.authorize(call, &action, Some(&s), &s.row.arn, &s.row.account_id)
                    .await?;
                Ok(s)
            }
            None => {
                self.authorize(call, &action, None, &guess, &owner).await?;
                Err(ApiError::not_found())
            }
        }
    }

    /// Loads, plans and commits, recomputing the plan whenever another writer got
    /// there first. `plan` returns `None` when there is nothing to write.
    pub(crate) async fn commit_with_retry<F>(
        &self,
        call: &Call<'_>,
        secret_id: &str,
        mut plan: F,
    ) -> Result<(Arc<Secret>, Option<Committed>), ApiError>
    where
        F: FnMut(&Secret, i64) -> Result<Option<Mutation>, ApiError>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let secret = self.load(call, secret_id).await?;
            let now = self.clock.now_ms();
            let Some(m) = plan(&secret, now)? else {
                return Ok((secret, None));
            };
            match self.store.commit(m).await {
                Ok(c) => {
                    call.mark_audited();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_do_not_echo_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            #[serde(rename = "SecretString")]
            s: Option<String>,
        }
        let e = parse::<T>(&serde_json::json!({"SecretString": 987654321})).unwrap_err();
        assert_eq!(e.code, ErrorCode::SerializationException);
        assert!(!e.message.contains("987654321"), "{}", e.message);
        assert!(
            e.message
                .starts_with("invalid type: integer (value), expected"),
            "{}",
            e.message
        );
        let e =
            parse::<T>(&serde_json::json!({"SecretString": {"nested": "hunter2"}})).unwrap_err();
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }
}
