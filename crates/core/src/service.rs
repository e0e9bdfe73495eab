//! The service: the components wired together, and the surface the HTTP layer
//! and the command line use. It owns nothing of its own beyond the wiring; each
//! call is answered by the component that owns it.

use crate::audit::{AuditLog, RejectedCall};
use crate::clock::Clock;
use crate::context::{Caller, Credential};
use crate::events::{IAM_SOURCE, SECRETS_SOURCE};
use crate::functions::{ExternalFunction, Functions};
use crate::identity::Identity;
use crate::keyring::Keyring;
use crate::outbox::Outbox;
use crate::rotation::Rotation;
use crate::secrets::{Secrets, SecretsParts};
use coffer_api::{ApiError, SecretsManagerOperation};
use coffer_crypto::SecretBytes;
use coffer_store::{EventRow, Store};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub struct ServiceOptions {
    pub audit_path: PathBuf,
    /// How often the sweeper looks for secrets whose recovery window ended.
    pub sweep_interval: Duration,
    /// How often the scheduler looks for rotations that are due.
    pub rotation_interval: Duration,
    /// External rotation functions by name.
    pub rotation_functions: HashMap<String, ExternalFunction>,
    /// Set when servers share the store: the audit file's lines are copied
    /// into it under this server's id.
    pub ship_audit_as: Option<String>,
    /// PEM roots for the built-in database rotators (TLS to the databases).
    pub rotation_database_ca_file: Option<PathBuf>,
    /// How long change events stay in the outbox (None: for ever).
    pub event_retention: Option<Duration>,
    /// How long audit records stay in the store (None: for ever).
    pub audit_retention: Option<Duration>,
    /// PEM roots API destinations are trusted by, besides the system's.
    pub events_ca_file: Option<PathBuf>,
    /// The NATS server targets `nats:SUBJECT` publish to.
    pub nats_url: Option<String>,
    /// Regions served by other Coffer deployments, that replicas may go to.
    pub remote_regions: Vec<crate::secrets::replication::remote::RemoteRegionConfig>,
    /// The regions this deployment serves (None: any); replicas go to these or
    /// to a remote region.
    pub local_regions: Option<Vec<String>>,
    /// This server's id among those sharing the store: it reports the root
    /// keys it holds under it (see `watch_root`).
    pub server_id: Option<String>,
    /// Where OIDC issuers' keys come from (AssumeRoleWithWebIdentity).
    pub web_identity: crate::identity::WebIdentityOptions,
}

pub struct Service {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) audit: Arc<AuditLog>,
    pub(crate) shipper: Option<crate::audit_ship::Shipper>,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) identity: Arc<Identity>,
    pub(crate) keys: Arc<Keyring>,
    pub(crate) secrets: Arc<Secrets>,
    pub(crate) rotation: Arc<Rotation>,
    pub(crate) sweep_interval: Duration,
    pub(crate) rotation_interval: Duration,
    pub(crate) event_retention: Option<Duration>,
    pub(crate) audit_retention: Option<Duration>,
    pub(crate) events_ca_file: Option<PathBuf>,
    pub(crate) nats_url: Option<String>,
    pub(crate) server_id: Option<String>,
    /// The audit chains' key (signs the audit file's head).
    pub(crate) chain_key: coffer_store::ChainKey,
    /// Hands RotateSecret's rotations to the engine; taken when the background
    /// work starts.
    rotation_requests: std::sync::Mutex<
        Option<tokio::sync::mpsc::UnboundedReceiver<crate::secrets::RotationRequest>>,
    >,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        roots: Arc<crate::keyring::Roots>,
        chain_key: coffer_store::ChainKey,
        clock: Arc<dyn Clock>,
        opts: ServiceOptions,
    ) -> std::io::Result<Arc<Self>> {
        let audit = Arc::new(AuditLog::open(&opts.audit_path, chain_key)?);
        let shipper = opts
            .ship_audit_as
            .map(|id| crate::audit_ship::Shipper::new(opts.audit_path.clone(), id, store.clone()));
        let keys = Arc::new(Keyring::new(roots, store.clone(), clock.clone()));
        let outbox = Arc::new(Outbox::new(store.clone()));
        let functions = Arc::new(Functions {
            external: opts.rotation_functions,
            database_ca_file: opts.rotation_database_ca_file,
        });
        let identity = Arc::new(Identity::new(
            store.clone(),
            keys.clone(),
            clock.clone(),
            outbox.clone(),
            audit.clone(),
            &opts.web_identity,
        ));
        let (rotations, requests) = tokio::sync::mpsc::unbounded_channel();
        let secrets = Arc::new(Secrets::new(SecretsParts {
            store: store.clone(),
            keys: keys.clone(),
            clock: clock.clone(),
            identity: identity.clone(),
            audit: audit.clone(),
            outbox: outbox.clone(),
            functions: functions.clone(),
            rotations,
            remotes: crate::secrets::replication::remote::Remotes::new(opts.remote_regions)
                .map_err(std::io::Error::other)?,
            local_regions: opts.local_regions,
        }));
        let rotation = Rotation::new(
            store.clone(),
            clock.clone(),
            secrets.clone(),
            identity.clone(),
            functions,
        );
        Ok(Arc::new(Service {
            store,
            clock,
            audit,
            shipper,
            outbox,
            identity,
            keys,
            secrets,
            rotation,
            sweep_interval: opts.sweep_interval,
            rotation_interval: opts.rotation_interval,
            event_retention: opts.event_retention,
            audit_retention: opts.audit_retention,
            events_ca_file: opts.events_ca_file,
            nats_url: opts.nats_url,
            rotation_requests: std::sync::Mutex::new(Some(requests)),
            server_id: opts.server_id,
            chain_key,
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
        self.secrets.call(caller, operation, body).await
    }

    /// Runs one call of another deployment's replicator (`target` without
    /// `CofferReplication.`).
    pub async fn call_replication(
        &self,
        caller: &Caller,
        target: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        self.secrets.call_replication(caller, target, body).await
    }

    /// Readies what must be in place before the first request (the
    /// replicator's place in the outbox).
    pub async fn prepare(&self) -> Result<(), ApiError> {
        self.secrets.place_replicator().await
    }

    /// Runs one typed Secrets Manager operation.
    pub async fn execute(
        &self,
        caller: &Caller,
        op: SecretsManagerOperation,
    ) -> Result<Vec<u8>, ApiError> {
        self.secrets.execute(caller, op).await
    }

    /// The access key, if known and active, for SigV4 verification.
    pub async fn credential(
        &self,
        access_key_id: &str,
    ) -> Result<Option<Arc<Credential>>, ApiError> {
        self.identity.credential(access_key_id).await
    }

    /// The credential a session token stands for, if genuine and unexpired.
    pub async fn session_credential(
        &self,
        access_key_id: &str,
        token: &str,
    ) -> Result<Arc<Credential>, ApiError> {
        self.identity.session_credential(access_key_id, token).await
    }

    /// Creates the account if it does not exist.
    pub async fn ensure_account(&self, account_id: &str, name: &str) -> Result<(), ApiError> {
        self.identity.ensure_account(account_id, name).await
    }

    /// The first account created, if any.
    pub async fn first_account(&self) -> Result<Option<String>, ApiError> {
        self.identity.first_account().await
    }

    /// Registers a root credential; false if the key id exists already.
    pub async fn add_root_credential(
        &self,
        account_id: &str,
        access_key_id: &str,
        secret: &SecretBytes,
    ) -> Result<bool, ApiError> {
        self.identity
            .add_root_credential(account_id, access_key_id, secret)
            .await
    }

    /// Creates another account (first account's root only); see
    /// [`Identity::create_account`].
    pub async fn create_account(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<(String, String, SecretBytes), ApiError> {
        self.identity.create_account(caller, name).await
    }

    /// Audits a request refused before it had a caller (a bad signature, an
    /// unknown or inactive key, an expired session), so a key being guessed or
    /// misused shows up where auditors look. `access_key_id` is the one the
    /// request claimed, never verified. The refusal stands whatever happens here.
    /// Records a web console sign-in, as CloudTrail's `ConsoleLogin`; fails
    /// closed (no record, no session).
    pub async fn audit_console_login(&self, caller: &Caller) -> Result<(), ApiError> {
        let rec = crate::audit::record_from(
            "signin.amazonaws.com",
            caller,
            "ConsoleLogin",
            self.clock.now_ms(),
            serde_json::json!({}),
            None,
            false,
        );
        self.audit.append(rec).await
    }

    pub async fn audit_rejected(&self, r: &RejectedCall<'_>, error: &ApiError) {
        let record = crate::audit::rejected(r, self.clock.now_ms(), error);
        if let Err(e) = self.audit.append(record).await {
            tracing::error!(error = %e, "could not audit a refused authentication");
        }
    }

    /// May `caller` subscribe to the change stream?
    pub async fn authorize_stream(&self, caller: &Caller) -> Result<(), ApiError> {
        self.identity.authorize_stream(caller).await
    }

    /// The change events `caller` may see.
    pub async fn visible_events(&self, caller: &Caller, rows: Vec<EventRow>) -> Vec<EventRow> {
        self.identity.visible_events(caller, rows).await
    }

    /// Change events of an account after a sequence number (the change stream).
    pub async fn events_for(
        &self,
        account_id: &str,
        after_seq: Option<i64>,
    ) -> Result<(i64, Vec<EventRow>), ApiError> {
        self.outbox.events_for(account_id, after_seq).await
    }

    /// The newest change event's sequence number (where a new subscriber starts).
    pub async fn latest_event_seq(&self) -> Result<i64, ApiError> {
        self.store
            .latest_event_seq()
            .await
            .map_err(crate::errors::internal)
    }

    /// Where a change stream resuming after `after` must start over, if it
    /// missed changes (see [`Outbox::gap`]).
    pub async fn resume_gap(&self, after: i64) -> Result<Option<i64>, ApiError> {
        self.outbox.gap(after).await
    }

    /// Changes when a mutation commits (the change stream waits on it).
    pub fn commit_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.outbox.commit_signal()
    }

    /// Drops what one committed change (this server's or another's) made stale.
    pub(crate) fn invalidate(&self, r: &EventRow) {
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        match body["source"].as_str() {
            Some(SECRETS_SOURCE) => {
                if let Some(arn) = body["resources"][0].as_str() {
                    self.store.forget_cached(arn);
                }
            }
            // Identities and access keys are cached by IAM generation: one bump
            // makes every cached one be read again.
            Some(IAM_SOURCE) => self.identity.iam_changed(),
            _ => {}
        }
    }

    /// Drops every cached secret, identity and access key.
    pub(crate) fn reset_caches(&self) {
        self.store.forget_all_cached();
        self.identity.iam_changed();
    }

    /// Purges every secret whose recovery window has ended; returns how many.
    pub async fn sweep_once(&self) -> usize {
        self.secrets.sweep_once().await
    }

    /// Drops change events and audit records past their retention, batch by
    /// batch; returns what went.
    pub async fn prune_history(&self) -> coffer_store::Pruned {
        let now = self.clock.now_ms();
        let cut = |d: Option<Duration>| {
            d.map(|d| now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
        };
        let r = coffer_store::Retention {
            events_before_ms: cut(self.event_retention),
            audit_before_ms: cut(self.audit_retention),
            now_ms: now,
            event_time: crate::clock::rfc3339(now),
        };
        let mut all = coffer_store::Pruned::default();
        if r.events_before_ms.is_none() && r.audit_before_ms.is_none() {
            return all;
        }
        loop {
            match self.store.prune_history(&r).await {
                Ok(p) => {
                    all.events += p.events;
                    all.audit += p.audit;
                    all.shipped += p.shipped;
                    if !p.full() {
                        return all;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "pruning history past its retention failed; will retry");
                    return all;
                }
            }
        }
    }

    /// Writes queued last-accessed dates now (tests and shutdown).
    pub async fn flush_access(&self) {
        self.secrets.flush_access().await;
    }

    /// Starts every rotation that is due; returns how many.
    pub async fn rotate_due(&self) -> usize {
        self.rotation.rotate_due().await
    }

    /// Is any rotation running in this process?
    pub fn rotation_running(&self) -> bool {
        self.rotation.rotation_running()
    }

    /// Tells the service the address clients reach it at (rotation functions
    /// call back there).
    pub fn set_endpoint(&self, url: String) {
        self.rotation.set_endpoint(url);
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn take_rotation_requests(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<crate::secrets::RotationRequest>> {
        self.rotation_requests.lock().ok()?.take()
    }
}
