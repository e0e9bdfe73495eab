//! The audit trail.
//!
//! Every call produces a CloudTrail-shaped record with no secret value in it.
//! A successful mutation's record is written by the store in the mutation's own
//! transaction. Everything else — reads, and calls that failed — goes to an
//! append-only, hash-chained file, so a read never becomes a database write. The
//! record reaches the file (one `write` under a short lock) before the caller is
//! answered: if it cannot be written, the request fails (fail-closed). The file is
//! fsynced by the service's background tick, so a power loss can cost at most the
//! last second of read records, never a mutation's.

use crate::clock::rfc3339;
use crate::context::Caller;
use coffer_api::ApiError;
use coffer_store::{keyed_chain_hash, ChainCheck, ChainKey, ChainReport, GENESIS_HASH};
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Records appended but not yet written, and who is writing them.
struct Pending {
    prev: String,
    buf: Vec<u8>,
    /// Sequence number of the last record appended to `buf`.
    last_seq: u64,
    /// A leader is writing; new records just join the buffer.
    writing: bool,
    /// Taken by the leader while it writes.
    file: Option<File>,
    closed: bool,
}

/// What the writers have done so far, published to waiting appenders.
#[derive(Clone, Copy, Default)]
struct Progress {
    written_upto: u64,
    /// The first record lost to a failed write: from there on, nothing is trusted.
    broken_from: Option<u64>,
}

/// The audit chains' key: derived from the root key (HMAC with a label of its
/// own, so it is no other key of the hierarchy).
pub fn chain_key(root: &coffer_crypto::Key256) -> ChainKey {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(root.as_bytes()).expect("any key length");
    m.update(b"coffer audit chain v1");
    ChainKey(m.finalize().into_bytes().into())
}

pub struct AuditLog {
    path: PathBuf,
    key: ChainKey,
    pending: Mutex<Pending>,
    progress: tokio::sync::watch::Sender<Progress>,
    /// A second handle for fsync, so syncing never holds up appends.
    sync_handle: File,
    dirty: AtomicBool,
    /// The hashes of the file's first line and of its last line written, then
    /// of its last line known on disk (see `audit_head`).
    first_hash: Mutex<Option<String>>,
    written_head: Mutex<Option<String>>,
    synced_head: Mutex<Option<String>>,
}

impl AuditLog {
    /// Opens (creating, 0600) the log at `path` and resumes its hash chain.
    pub fn open(path: &Path, key: ChainKey) -> io::Result<Self> {
        let prev = last_hash(path)?;
        let first = first_hash(path)?;
        let head = (prev != GENESIS_HASH).then(|| prev.clone());
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let sync_handle = file.try_clone()?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            key,
            pending: Mutex::new(Pending {
                prev,
                buf: Vec::new(),
                last_seq: 0,
                writing: false,
                file: Some(file),
                closed: false,
            }),
            progress: tokio::sync::watch::Sender::new(Progress::default()),
            sync_handle,
            dirty: AtomicBool::new(false),
            synced_head: Mutex::new(head.clone()),
            written_head: Mutex::new(head),
            first_hash: Mutex::new(first),
        })
    }

    /// Every record in the file (complete lines), oldest first.
    pub async fn records(&self) -> io::Result<Vec<Value>> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || read_records(&path))
            .await
            .map_err(io::Error::other)?
    }

    /// Appends a record; returns once it is in the file.
    ///
    /// Concurrent appenders batch themselves: whoever finds no write in progress
    /// becomes the leader and writes everything buffered (one syscall per batch);
    /// the others wait until the leader reports their record written.
    pub async fn append(&self, record: Value) -> Result<(), ApiError> {
        let body = record.to_string();
        let (seq, leader) = {
            let mut p = self.pending.lock().map_err(|_| ApiError::internal())?;
            if p.closed {
                return Err(self.refuse(&io::Error::other("audit log is closed")));
            }
            let hash = keyed_chain_hash(&self.key, &p.prev, &body);
            // Hashes are hex and `body` is serialised JSON, so the line is valid JSON.
            let line = format!(
                "{{\"prev\":\"{}\",\"hash\":\"{hash}\",\"record\":{body}}}\n",
                p.prev
            );
            p.buf.extend_from_slice(line.as_bytes());
            if let Ok(mut f) = self.first_hash.lock() {
                f.get_or_insert_with(|| hash.clone());
            }
            p.prev = hash;
            p.last_seq += 1;
            let leader = !p.writing;
            p.writing = true;
            (p.last_seq, leader)
        };
        if leader {
            self.write_pending();
        }
        let mut rx = self.progress.subscribe();
        loop {
            let now = *rx.borrow_and_update();
            if now.broken_from.is_some_and(|b| b <= seq) {
                return Err(self.refuse(&io::Error::other("an earlier audit write failed")));
            }
            if now.written_upto >= seq {
                return Ok(());
            }
            rx.changed().await.map_err(|_| ApiError::internal())?;
        }
    }

    /// The leader's loop: write what is buffered until nothing is left.
    fn write_pending(&self) {
        loop {
            let (batch, upto, first, head, mut file) = {
                let Ok(mut p) = self.pending.lock() else {
                    return;
                };
                if p.buf.is_empty() {
                    p.writing = false;
                    return;
                }
                let first = p.last_seq - count_lines(&p.buf) + 1;
                let head = p.prev.clone();
                (
                    std::mem::take(&mut p.buf),
                    p.last_seq,
                    first,
                    head,
                    p.file.take(),
                )
            };
            let result = match file.as_mut() {
                Some(f) => f.write_all(&batch),
                None => Err(io::Error::other("audit log is closed")),
            };
            if let Ok(mut p) = self.pending.lock() {
                p.file = file;
            }
            self.dirty.store(true, Ordering::Release);
            if result.is_ok() {
                if let Ok(mut h) = self.written_head.lock() {
                    *h = Some(head);
                }
            }
            self.progress.send_modify(|pr| {
                pr.written_upto = upto;
                if let Err(e) = &result {
                    tracing::error!(path = %self.path.display(), error = %e, "audit write failed; refusing further requests");
                    pr.broken_from.get_or_insert(first);
                }
            });
        }
    }

    fn refuse(&self, e: &io::Error) -> ApiError {
        tracing::error!(path = %self.path.display(), error = %e, "audit record could not be written; refusing the request");
        ApiError::internal()
    }

    /// Fsyncs what was written since the last call.
    pub fn sync(&self) {
        // Read before the fsync: whatever it names is on disk after it.
        let head = self.written_head.lock().ok().and_then(|h| h.clone());
        if self.dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = self.sync_handle.sync_data() {
                tracing::error!(path = %self.path.display(), error = %e, "audit fsync failed");
                return;
            }
        }
        if let Ok(mut s) = self.synced_head.lock() {
            *s = head;
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hashes of the file's first line and of its last line on disk.
    pub fn head(&self) -> Option<(String, String)> {
        let first = self.first_hash.lock().ok()?.clone()?;
        let last = self.synced_head.lock().ok()?.clone()?;
        Some((first, last))
    }

    /// Fsyncs and refuses further records.
    pub fn close(&self) {
        if let Ok(mut p) = self.pending.lock() {
            p.closed = true;
        }
        self.dirty.store(true, Ordering::Release);
        self.sync();
    }
}

// A few kilobytes per batch: a crate for fast byte counting would not pay.
#[allow(clippy::naive_bytecount)]
fn count_lines(buf: &[u8]) -> u64 {
    buf.iter().filter(|b| **b == b'\n').count() as u64
}

/// The hash of the file's first line, if it has one.
fn first_hash(path: &Path) -> io::Result<Option<String>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let first = BufReader::new(file)
        .lines()
        .next()
        .transpose()?
        .and_then(|l| serde_json::from_str::<Value>(&l).ok())
        .and_then(|v| v["hash"].as_str().map(str::to_string));
    Ok(first)
}

fn last_hash(path: &Path) -> io::Result<String> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(GENESIS_HASH.into()),
        Err(e) => return Err(e),
    };
    let mut last = None;
    for line in BufReader::new(file).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            last = Some(line);
        }
    }
    match last {
        None => Ok(GENESIS_HASH.into()),
        Some(l) => serde_json::from_str::<Value>(&l)
            .ok()
            .and_then(|v| v["hash"].as_str().map(str::to_string))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "audit log ends with a malformed line",
                )
            }),
    }
}

/// Checks the file's hash chain with `key`; `allow_unkeyed` accepts a head of
/// unkeyed links (a log begun before keyed chains).
pub fn verify_file(path: &Path, key: ChainKey, allow_unkeyed: bool) -> Result<ChainReport, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut check = ChainCheck::new(key, allow_unkeyed);
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let (prev, hash) = (v["prev"].as_str(), v["hash"].as_str());
        let body = v["record"].to_string();
        if !check.next(prev.unwrap_or_default(), &body, hash.unwrap_or_default()) {
            return Err(format!("line {}: hash chain broken", i + 1));
        }
    }
    Ok(check.report)
}

/// A request refused before authentication succeeded.
pub struct RejectedCall<'a> {
    /// The operation (or action) the request named, if the model has it.
    pub event_name: &'a str,
    /// `secretsmanager.amazonaws.com`, `iam.amazonaws.com`, `sts.amazonaws.com`.
    pub event_source: &'a str,
    /// The access key id the request claimed (unverified), or empty.
    pub access_key_id: &'a str,
    pub region: &'a str,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    pub request_id: &'a str,
}

/// The record of a refused authentication: who it claimed to be and from where,
/// and why it was refused. No signature, no session token.
pub fn rejected(r: &RejectedCall<'_>, at_ms: i64, error: &ApiError) -> Value {
    json!({
        "eventVersion": "1.08",
        "eventTime": rfc3339(at_ms),
        "eventSource": r.event_source,
        "eventName": r.event_name,
        "awsRegion": r.region,
        "sourceIPAddress": r.source_ip,
        "userAgent": r.user_agent,
        "userIdentity": { "type": "Unknown", "accessKeyId": r.access_key_id },
        "requestParameters": null,
        "requestID": r.request_id,
        "eventID": uuid::Uuid::new_v4().to_string(),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "errorCode": error.code.as_str(),
        "errorMessage": error.message,
    })
}

/// The records of the audit file at `path` (none if there is no file).
pub fn read_records(path: &Path) -> io::Result<Vec<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|mut v| v["record"].take())
        .collect())
}

/// CloudTrail's `userIdentity`: Root, IAMUser, or AssumedRole with the
/// session's context (the role that issued it and when).
fn user_identity(caller: &Caller) -> Value {
    if caller.is_unsigned() {
        // A web identity whose token was not accepted: nobody verified.
        return json!({ "type": "WebIdentityUser" });
    }
    let arn = &caller.principal_arn;
    let mut id = json!({
        "type": if arn.ends_with(":root") { "Root" } else { "IAMUser" },
        "principalId": caller.access_key_id,
        "arn": arn,
        "accountId": caller.account_id,
        "accessKeyId": caller.access_key_id,
    });
    if let Some(name) = arn
        .rsplit_once(":user/")
        .map(|(_, p)| p.rsplit('/').next().unwrap_or(p))
    {
        id["userName"] = json!(name);
    }
    if let Some(s) = caller.session.as_ref().filter(|s| s.role.is_some()) {
        let role = s.role.as_ref().expect("filtered");
        id["type"] = json!("AssumedRole");
        id["principalId"] = json!(format!(
            "{}:{}",
            role.id,
            s.session_name.as_deref().unwrap_or_default()
        ));
        id["sessionContext"] = json!({
            "sessionIssuer": {
                "type": "Role",
                "arn": role.arn,
                "accountId": s.account,
                "userName": role.name,
                "principalId": role.id,
            },
            "attributes": {
                "creationDate": rfc3339(s.issued_ms),
                "mfaAuthenticated": "false",
            },
        });
        if let Some(si) = &s.source_identity {
            id["sessionContext"]["sourceIdentity"] = json!(si);
        }
    }
    id
}

/// `eventSource` of Secrets Manager's records.
pub const SECRETS_MANAGER: &str = "secretsmanager.amazonaws.com";
/// `eventSource` of KMS's records (its API, and its use by Secrets Manager).
pub const KMS: &str = "kms.amazonaws.com";

/// One CloudTrail-shaped record of a Secrets Manager call.
pub fn record(
    caller: &Caller,
    event_name: &str,
    at_ms: i64,
    params: Value,
    error: Option<&ApiError>,
    read_only: bool,
) -> Value {
    record_from(
        SECRETS_MANAGER,
        caller,
        event_name,
        at_ms,
        params,
        error,
        read_only,
    )
}

/// One CloudTrail-shaped record of a call to the service `source`.
/// What the audit record of a call says about it, besides its caller and outcome.
pub(crate) struct Audited {
    pub source: &'static str,
    pub name: &'static str,
    pub params: Value,
    pub read_only: bool,
}

impl AuditLog {
    /// Records a call no committed mutation carried, then lets its answer go.
    /// Fail closed: no audit record, no answer.
    pub(crate) async fn settle<T>(
        &self,
        caller: &Caller,
        at_ms: i64,
        a: Audited,
        result: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let rec = record_from(
            a.source,
            caller,
            a.name,
            at_ms,
            a.params,
            result.as_ref().err(),
            a.read_only,
        );
        self.append(rec).await?;
        result
    }
}

pub fn record_from(
    source: &str,
    caller: &Caller,
    event_name: &str,
    at_ms: i64,
    params: Value,
    error: Option<&ApiError>,
    read_only: bool,
) -> Value {
    let mut r = json!({
        "eventVersion": "1.08",
        "eventTime": rfc3339(at_ms),
        "eventSource": source,
        "eventName": event_name,
        "awsRegion": caller.region,
        "sourceIPAddress": caller.source_ip,
        "userAgent": caller.user_agent,
        "userIdentity": user_identity(caller),
        "requestParameters": params,
        "requestID": caller.request_id,
        "eventID": uuid::Uuid::new_v4().to_string(),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "recipientAccountId": caller.account_id,
    });
    if let Some(e) = error {
        r["errorCode"] = Value::String(e.code.as_str().into());
        r["errorMessage"] = Value::String(e.message.clone());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: ChainKey = ChainKey([7; 32]);

    /// Many appenders at once: every append succeeds, every record is written once,
    /// and the chain verifies (the leader/follower batching loses nothing).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_appends_batch_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = std::sync::Arc::new(AuditLog::open(&path, KEY).unwrap());
        let mut tasks = Vec::new();
        for t in 0..32 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..200 {
                    log.append(json!({"t": t, "i": i})).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        log.close();
        assert!(
            log.append(json!({"late": true})).await.is_err(),
            "closed logs refuse records"
        );
        assert_eq!(verify_file(&path, KEY, false).unwrap().records, 32 * 200);
    }

    #[tokio::test]
    async fn chain_survives_reopen_and_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        for round in 0..2 {
            let log = AuditLog::open(&path, KEY).unwrap();
            for i in 0..5 {
                log.append(json!({"round": round, "i": i})).await.unwrap();
            }
            log.close();
        }
        let report = verify_file(&path, KEY, false).unwrap();
        assert_eq!((report.records, report.unkeyed), (10, 0));
        assert!(
            verify_file(&path, ChainKey([8; 32]), false).is_err(),
            "another key cannot have written it"
        );
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"i\":3", "\"i\":4");
        std::fs::write(&path, text).unwrap();
        assert!(verify_file(&path, KEY, false)
            .unwrap_err()
            .contains("hash chain broken"));
    }
}
