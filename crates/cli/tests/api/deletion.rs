//! Scheduled deletion, restore, force delete, and the sweeper, on the injectable clock.

use crate::common::*;

/// The names of the newest `n` change events, oldest first, and whether each
/// is the service's own (a service event) rather than a caller's call.
async fn last_events(srv: &TestServer, n: usize) -> Vec<(String, bool)> {
    let events = srv
        .running()
        .service
        .store()
        .events_after(0, 10_000)
        .await
        .unwrap();
    events[events.len().saturating_sub(n)..]
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.body).unwrap();
            let service = v["detail-type"] == "AWS Service Event via CloudTrail";
            (
                v["detail"]["eventName"].as_str().unwrap().to_string(),
                service,
            )
        })
        .collect()
}

fn named(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(n, s)| ((*n).to_string(), *s)).collect()
}

#[tokio::test]
async fn recovery_window_then_purge() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("doomed")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    let del = c
        .delete_secret()
        .secret_id("doomed")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let d = c
        .describe_secret()
        .secret_id("doomed")
        .send()
        .await
        .unwrap();
    assert_eq!(
        last_events(&srv, 2).await,
        named(&[("DeleteSecret", false), ("StartSecretVersionDelete", true)])
    );
    let deleted = d.deleted_date().expect("DeletedDate");
    assert_eq!(
        del.deletion_date().unwrap().secs() - deleted.secs(),
        7 * 86_400
    );
    let (code, msg) = err(c
        .get_secret_value()
        .secret_id("doomed")
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "InvalidRequestException",
            "You can't perform this operation on the secret because it was marked for deletion."
        )
    );
    let (code, _) = err(c
        .put_secret_value()
        .secret_id("doomed")
        .secret_string("x")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidRequestException");
    let (code, _) = err(c
        .delete_secret()
        .secret_id("doomed")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidRequestException");
    // Hidden from ListSecrets unless asked for.
    assert!(c
        .list_secrets()
        .send()
        .await
        .unwrap()
        .secret_list()
        .is_empty());
    assert_eq!(
        c.list_secrets()
            .include_planned_deletion(true)
            .send()
            .await
            .unwrap()
            .secret_list()
            .len(),
        1
    );

    srv.clock.advance_days(6);
    assert_eq!(srv.running().service.sweep_once().await, 0);
    c.describe_secret()
        .secret_id("doomed")
        .send()
        .await
        .expect("still restorable on day 6");
    srv.clock.advance_days(2);
    assert_eq!(srv.running().service.sweep_once().await, 1);
    // The service's own deletion, under AWS's name, as a service event.
    assert_eq!(
        last_events(&srv, 1).await,
        named(&[("EndSecretVersionDelete", true)])
    );
    let (code, _) = err(c
        .describe_secret()
        .secret_id("doomed")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceNotFoundException");
    // The name is free again.
    c.create_secret()
        .name("doomed")
        .secret_string("again")
        .send()
        .await
        .unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn restore_within_window() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("saved")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    c.delete_secret().secret_id("saved").send().await.unwrap();
    srv.clock.advance_days(29);
    c.restore_secret().secret_id("saved").send().await.unwrap();
    assert_eq!(
        last_events(&srv, 2).await,
        named(&[
            ("RestoreSecret", false),
            ("CancelSecretVersionDelete", true)
        ])
    );
    assert!(c
        .describe_secret()
        .secret_id("saved")
        .send()
        .await
        .unwrap()
        .deleted_date()
        .is_none());
    srv.clock.advance_days(5);
    assert_eq!(srv.running().service.sweep_once().await, 0);
    assert_eq!(
        c.get_secret_value()
            .secret_id("saved")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v")
    );
    // Restoring a live secret is harmless.
    c.restore_secret().secret_id("saved").send().await.unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn force_delete_and_window_validation() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("gone")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    for days in [6, 31] {
        let (code, msg) = err(c
            .delete_secret()
            .secret_id("gone")
            .recovery_window_in_days(days)
            .send()
            .await
            .unwrap_err());
        assert_eq!(code, "InvalidParameterException");
        assert_eq!(
            msg,
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
        );
    }
    let (code, _) = err(c
        .delete_secret()
        .secret_id("gone")
        .recovery_window_in_days(7)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidParameterException");
    let d = c.delete_secret().secret_id("gone").send().await.unwrap();
    assert!(d.deletion_date().is_some());
    // Force-deleting a secret already scheduled for deletion is allowed.
    c.delete_secret()
        .secret_id("gone")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        last_events(&srv, 3).await,
        named(&[
            ("DeleteSecret", false),
            ("StartSecretVersionDelete", true),
            ("EndSecretVersionDelete", true)
        ])
    );
    let (code, _) = err(c
        .describe_secret()
        .secret_id("gone")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceNotFoundException");
    srv.stop().await;
}
