//! The audit trail.
//!
//! Every call produces a CloudTrail-shaped record with no secret value in it.
//! A successful mutation's record is written by the store in the mutation's own
//! transaction. Everything else — reads, and calls that failed — goes to an
//! append-only, hash-chained file, so a read never becomes a database write. The
//! file writer batches records and the caller waits for its record to reach the
//! file: if it cannot be written, the request fails (fail-closed).

use crate::clock::rfc3339;
use crate::context::Caller;
use coffer_api::ApiError;
use coffer_store::{chain_hash, GENESIS_HASH};
use serde_json::{json, Map, Value};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How often the file is fsynced; writes reach the OS at once.
const SYNC_EVERY: Duration = Duration::from_millis(200);

const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";
const SENSITIVE: &[&str] = &[
    "SecretString",
    "SecretBinary",
    "RotationToken",
    "RandomPassword",
];

type Job = (Value, oneshot::Sender<io::Result<()>>);

pub struct AuditLog {
    tx: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl AuditLog {
    /// Opens (creating, 0600) the log at `path` and resumes its hash chain.
    pub fn open(path: &Path) -> io::Result<Self> {
        let prev = last_hash(path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let (tx, rx) = mpsc::channel(8192);
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("coffer-audit".into())
            .spawn(move || writer(file, path, prev, rx))?;
        Ok(AuditLog {
            tx: std::sync::Mutex::new(Some(tx)),
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// Appends a record and waits until it is in the file.
    pub async fn append(&self, record: Value) -> Result<(), ApiError> {
        let sender = self
            .tx
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .ok_or_else(ApiError::internal)?;
        let (ack, done) = oneshot::channel();
        sender
            .send((record, ack))
            .await
            .map_err(|_| ApiError::internal())?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "audit record could not be written; refusing the request");
                Err(ApiError::internal())
            }
            Err(_) => Err(ApiError::internal()),
        }
    }

    /// Flushes, fsyncs and stops the writer.
    pub fn close(&self) {
        if let Ok(mut g) = self.tx.lock() {
            g.take();
        }
        if let Some(h) = self.thread.lock().ok().and_then(|mut g| g.take()) {
            let _ = h.join();
        }
    }
}

fn writer(file: File, path: PathBuf, mut prev: String, mut rx: mpsc::Receiver<Job>) {
    let mut out = io::BufWriter::with_capacity(64 * 1024, file);
    let mut last_sync = Instant::now();
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(j) = rx.try_recv() {
            batch.push(j);
            if batch.len() >= 1024 {
                break;
            }
        }
        let mut result = Ok(());
        let mut new_prev = prev.clone();
        for (record, _) in &batch {
            let body = record.to_string();
            let hash = chain_hash(&new_prev, &body);
            let line = json!({ "prev": new_prev, "hash": hash, "record": record });
            if let Err(e) = writeln!(out, "{line}") {
                result = Err(e);
                break;
            }
            new_prev = hash;
        }
        if result.is_ok() {
            result = out.flush();
        }
        if result.is_ok() && last_sync.elapsed() >= SYNC_EVERY {
            result = out.get_ref().sync_data();
            last_sync = Instant::now();
        }
        match &result {
            Ok(()) => prev = new_prev,
            Err(e) => tracing::error!(path = %path.display(), error = %e, "audit write failed"),
        }
        for (_, ack) in batch {
            let _ = ack.send(
                result
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| io::Error::new(e.kind(), e.to_string())),
            );
        }
    }
    let _ = out.flush();
    let _ = out.get_ref().sync_all();
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

/// Checks the file's hash chain; returns the number of records.
pub fn verify_file(path: &Path) -> Result<usize, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut prev = GENESIS_HASH.to_string();
    let mut n = 0;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let expected = chain_hash(&prev, &v["record"].to_string());
        if v["prev"].as_str() != Some(prev.as_str())
            || v["hash"].as_str() != Some(expected.as_str())
        {
            return Err(format!("line {}: hash chain broken", i + 1));
        }
        prev = expected;
        n += 1;
    }
    Ok(n)
}

/// Replaces secret material in a request with CloudTrail's placeholder and
/// lower-cases the first letter of each member, as CloudTrail does.
pub fn request_parameters(request: &Value) -> Value {
    match request {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = lower_first(k);
                if SENSITIVE.contains(&k.as_str()) {
                    out.insert(key, Value::String(HIDDEN.into()));
                } else {
                    out.insert(key, request_parameters(v));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(request_parameters).collect()),
        other => other.clone(),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// One CloudTrail-shaped record.
pub fn record(
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
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": event_name,
        "awsRegion": caller.region,
        "sourceIPAddress": caller.source_ip,
        "userAgent": caller.user_agent,
        "userIdentity": {
            "type": if caller.principal_arn.ends_with(":root") { "Root" } else { "IAMUser" },
            "arn": caller.principal_arn,
            "accountId": caller.account_id,
            "accessKeyId": caller.access_key_id,
        },
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

    #[test]
    fn sensitive_members_are_hidden() {
        let p = request_parameters(
            &json!({"SecretId": "a", "SecretString": "hunter2", "Tags": [{"Key": "k"}]}),
        );
        assert_eq!(
            p,
            json!({"secretId": "a", "secretString": HIDDEN, "tags": [{"key": "k"}]})
        );
    }

    #[tokio::test]
    async fn chain_survives_reopen_and_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        for round in 0..2 {
            let log = AuditLog::open(&path).unwrap();
            for i in 0..5 {
                log.append(json!({"round": round, "i": i})).await.unwrap();
            }
            log.close();
        }
        assert_eq!(verify_file(&path).unwrap(), 10);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"i\":3", "\"i\":4");
        std::fs::write(&path, text).unwrap();
        assert!(verify_file(&path)
            .unwrap_err()
            .contains("hash chain broken"));
    }
}
