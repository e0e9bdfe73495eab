//! `coffer backup` while the server runs and writes, and `coffer restore`:
//! what was acknowledged before the backup comes back, the copy is private,
//! and a restore that would lose or garble data is refused.

use crate::common::*;
use crate::durability::{sigterm, spawn_binary};
use std::os::unix::fs::PermissionsExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_backup_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("server.log"));
    let mut srv = spawn_binary(&data, &log);
    let c = client_for(&srv.endpoint, "us-east-1", AKID, SECRET);
    c.create_secret()
        .name("kept")
        .secret_string("v1")
        .send()
        .await
        .unwrap();
    for i in 0..20 {
        c.create_secret()
            .name(format!("bulk/{i}"))
            .secret_string("x")
            .send()
            .await
            .unwrap();
    }
    // Writes go on while the backup is taken.
    let writer = {
        let c = c.clone();
        tokio::spawn(async move {
            for i in 0..50 {
                c.put_secret_value()
                    .secret_id("bulk/0")
                    .secret_string(format!("w{i}"))
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    let backup = dir.path().join("coffer.backup");
    let b = backup.to_str().unwrap().to_string();
    let (ok, text) = tokio::task::spawn_blocking({
        let data = data.clone();
        move || coffer_in(&["backup", "--out", &b], &data)
    })
    .await
    .unwrap();
    assert!(ok, "{text}");
    assert!(text.contains("21 secrets"), "{text}");
    writer.await.unwrap();
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the copy is as private as the store");
    let (ok, text) = coffer_in(&["backup", "--out", backup.to_str().unwrap()], &data);
    assert!(!ok && text.contains("exists"), "never overwrites: {text}");

    // After the backup: a change the restore will take back.
    c.put_secret_value()
        .secret_id("kept")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    let from = backup.to_str().unwrap();
    let (ok, text) = coffer_in(&["restore", "--from", from, "--replace"], &data);
    assert!(
        !ok && text.contains("is using"),
        "refused while the server runs: {text}"
    );
    sigterm(&mut srv);
    let (ok, text) = coffer_in(&["restore", "--from", from], &data);
    assert!(!ok && text.contains("--replace"), "{text}");
    let (ok, text) = coffer_in(&["restore", "--from", from, "--replace"], &data);
    assert!(ok, "{text}");
    assert!(
        std::fs::read_dir(&data).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("coffer.db.replaced-")),
        "the database that was there is kept aside"
    );

    let mut srv = spawn_binary(&data, &log);
    let c = client_for(&srv.endpoint, "us-east-1", AKID, SECRET);
    let got = c.get_secret_value().secret_id("kept").send().await.unwrap();
    assert_eq!(
        got.secret_string(),
        Some("v1"),
        "the store as of the backup"
    );
    assert_eq!(
        c.list_secrets()
            .max_results(100)
            .send()
            .await
            .unwrap()
            .secret_list()
            .len(),
        21
    );
    sigterm(&mut srv);

    // Another root key: the restore would make every secret unreadable.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("root.key"), "07".repeat(32)).unwrap();
    std::fs::set_permissions(
        other.join("root.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let (ok, text) = coffer_in(&["restore", "--from", from], &other);
    assert!(!ok && text.contains("another root key"), "{text}");
}
