//! The audit trail fails closed: when a record cannot be written, the call that
//! needed it is refused (with nothing secret in the answer), and so is every later
//! call that needs the file, since the chain can no longer be trusted.

use crate::authz_matrix::sm_call;
use crate::common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Makes a file immutable (`chattr +i`) until dropped. Writes through a
/// descriptor the server already holds then fail with EPERM, even for root.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Immutable {
        let ok = Command::new("chattr").arg("+i").arg(path).status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "chattr +i {} failed: the test needs a filesystem with immutable files (ext4)",
            path.display()
        );
        Immutable(path.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[tokio::test]
async fn an_unwritable_audit_log_refuses_reads() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let root = (AKID, SECRET);
    let value = "hunter2-audit-canary";
    let create = json!({"Name": "a/db", "SecretString": value, "ClientRequestToken": token(1)});
    assert_eq!(sm_call(addr, root, "CreateSecret", &create).await.1, "OK");
    let get = json!({"SecretId": "a/db"});
    let (_, code, body) = sm_call(addr, root, "GetSecretValue", &get).await;
    assert_eq!(
        (code.as_str(), body["SecretString"].as_str()),
        ("OK", Some(value))
    );

    let guard = Immutable::set(&srv.dir.path().join("audit.log"));
    let (status, code, body) = sm_call(addr, root, "GetSecretValue", &get).await;
    assert_eq!(
        (status, code.as_str()),
        (500, "InternalServiceError"),
        "{body}"
    );
    assert!(!body.to_string().contains(value), "{body}");
    // The SDK sees the same refusal.
    let e = srv
        .client()
        .get_secret_value()
        .secret_id("a/db")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err(e).0, "InternalServiceError");

    // Writable again, the log still refuses: records after a lost one would sit
    // in a chain with a hole, so nothing more is written until a restart.
    drop(guard);
    let (_, code, body) = sm_call(addr, root, "GetSecretValue", &get).await;
    assert_eq!(code, "InternalServiceError", "{body}");
    assert!(!body.to_string().contains(value));
    let (_, code, _) = sm_call(addr, root, "ListSecrets", &json!({})).await;
    assert_eq!(code, "InternalServiceError");
    srv.stop().await;
}
