//! Rotation through the API: RotateSecret with the built-in random-password
//! rotator, the four steps and their labels, schedules driven by the manual clock,
//! cancelling, and AWS's validation errors.

use crate::common::*;
use aws_sdk_secretsmanager::types::RotationRulesType;
use std::time::Duration;

const RANDOM: &str = "arn:aws:lambda:us-east-1:123456789012:function:coffer-random-password";

async fn stages(c: &aws_sdk_secretsmanager::Client, id: &str) -> Vec<(String, Vec<String>)> {
    let d = c.describe_secret().secret_id(id).send().await.unwrap();
    let mut v: Vec<_> = d
        .version_ids_to_stages()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    v.sort();
    v
}

/// Waits until `token` carries AWSCURRENT (rotations run in the background).
async fn wait_current(c: &aws_sdk_secretsmanager::Client, id: &str, token: &str) {
    let started = std::time::Instant::now();
    loop {
        let s = stages(c, id).await;
        // Done when the token is current and no longer pending (the outcome recorded).
        if s.iter()
            .any(|(v, l)| v == token && l == &["AWSCURRENT".to_string()])
        {
            return;
        }
        assert!(
            started.elapsed() <= PATIENCE,
            "{token} never became AWSCURRENT within {PATIENCE:?}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn current_of(s: &[(String, Vec<String>)]) -> String {
    s.iter()
        .find(|(_, l)| l.iter().any(|x| x == "AWSCURRENT"))
        .map(|(v, _)| v.clone())
        .unwrap()
}

#[tokio::test]
async fn random_password_rotation_runs_the_four_steps() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let first = c
        .create_secret()
        .name("app/db")
        .secret_string(r#"{"username":"app","password":"old-password"}"#)
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    let rules = RotationRulesType::builder()
        .automatically_after_days(30)
        .build();
    let out = c
        .rotate_secret()
        .secret_id("app/db")
        .rotation_lambda_arn(RANDOM)
        .rotation_rules(rules)
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), Some(token(1).as_str()));
    wait_current(&c, "app/db", &token(1)).await;
    // AWS's end state: the new version current, the old one previous, no pending.
    assert_eq!(
        stages(&c, "app/db").await,
        vec![
            (token(1), vec!["AWSCURRENT".to_string()]),
            (first.clone(), vec!["AWSPREVIOUS".to_string()]),
        ]
    );
    let new = c
        .get_secret_value()
        .secret_id("app/db")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(new.secret_string().unwrap()).unwrap();
    assert_eq!(v["username"], "app", "other keys are kept");
    assert_ne!(v["password"], "old-password");
    assert_eq!(v["password"].as_str().unwrap().len(), 32);
    let prev = c
        .get_secret_value()
        .secret_id("app/db")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert!(prev.secret_string().unwrap().contains("old-password"));
    let d = c
        .describe_secret()
        .secret_id("app/db")
        .send()
        .await
        .unwrap();
    assert_eq!(d.rotation_enabled(), Some(true));
    assert_eq!(d.rotation_lambda_arn(), Some(RANDOM));
    assert_eq!(
        d.rotation_rules().unwrap().automatically_after_days(),
        Some(30)
    );
    let last = d.last_rotated_date().unwrap().secs();
    let next = d.next_rotation_date().unwrap().secs();
    assert_eq!(next % 86_400, 0, "day schedules start at midnight UTC");
    assert!(
        (29 * 86_400..=30 * 86_400).contains(&(next - last)),
        "{last} {next}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn schedules_fire_once_when_due_on_the_manual_clock() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let svc = srv.running().service.clone();
    // Start on a 2nd of the month at noon: the cron window (1st or 15th) is then 13
    // days away, whatever the date the test runs on, so only the two-day schedule is
    // due after two days.
    srv.clock.advance_ms(ms_to_next_second_of_month(&srv.clock));
    for (name, rules) in [
        (
            "rate",
            RotationRulesType::builder()
                .schedule_expression("rate(10 days)")
                .build(),
        ),
        (
            "cron",
            RotationRulesType::builder()
                .schedule_expression("cron(0 16 1,15 * ? *)")
                .build(),
        ),
        (
            "days",
            RotationRulesType::builder()
                .automatically_after_days(2)
                .duration("3h")
                .build(),
        ),
    ] {
        c.create_secret()
            .name(name)
            .secret_string("initial")
            .send()
            .await
            .unwrap();
        c.rotate_secret()
            .secret_id(name)
            .rotation_lambda_arn(RANDOM)
            .rotation_rules(rules)
            .rotate_immediately(false)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(svc.rotate_due().await, 0, "nothing is due yet");
    // The cron schedule fires on the 1st or 15th at 16:00 UTC.
    let next = c.describe_secret().secret_id("cron").send().await.unwrap();
    let at = next.next_rotation_date().unwrap().secs();
    let day = time::OffsetDateTime::from_unix_timestamp(at).unwrap();
    assert!(
        matches!(day.day(), 1 | 15) && day.hour() == 16 && day.minute() == 0,
        "{day}"
    );
    let before = current_of(&stages(&c, "days").await);
    srv.clock.advance_days(2);
    assert_eq!(svc.rotate_due().await, 1, "the two-day schedule is due");
    assert_ne!(current_of(&stages(&c, "days").await), before);
    assert_eq!(svc.rotate_due().await, 0, "and does not run twice");
    srv.clock.advance_days(8);
    let n = svc.rotate_due().await;
    assert!(n >= 1, "the ten-day rate is due after ten days ({n})");
    let d = c.describe_secret().secret_id("rate").send().await.unwrap();
    assert!(d.last_rotated_date().is_some());
    srv.clock.advance_days(31);
    assert!(svc.rotate_due().await >= 1, "the cron window came");
    let d = c.describe_secret().secret_id("cron").send().await.unwrap();
    assert!(d.last_rotated_date().is_some());
    srv.stop().await;
}

fn ms_to_next_second_of_month(clock: &coffer_core::clock::ManualClock) -> i64 {
    use coffer_core::clock::Clock;
    let now = clock.now_ms();
    let mut day = time::OffsetDateTime::from_unix_timestamp(now / 1000)
        .unwrap()
        .date()
        .next_day()
        .unwrap();
    while day.day() != 2 {
        day = day.next_day().unwrap();
    }
    let noon = day.with_hms(12, 0, 0).unwrap().assume_utc();
    noon.unix_timestamp() * 1000 - now
}

#[tokio::test]
async fn validation_cancel_and_restart() {
    let mut srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("s")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    let (code, msg) = err(c
        .rotate_secret()
        .secret_id("s")
        .client_request_token(token(5))
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "InvalidRequestException",
            "No Lambda rotation function ARN is associated with this secret."
        )
    );
    let (code, _) = err(c
        .rotate_secret()
        .secret_id("s")
        .rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:nope")
        .client_request_token(token(5))
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        code, "AccessDeniedException",
        "as AWS answers for a function it cannot invoke"
    );
    for (rules, want) in [
        (
            RotationRulesType::builder()
                .schedule_expression("rate(2 weeks)")
                .build(),
            "Invalid ScheduleExpression",
        ),
        (
            RotationRulesType::builder()
                .schedule_expression("cron(0 16 * * * *)")
                .build(),
            "Invalid ScheduleExpression",
        ),
        (
            RotationRulesType::builder()
                .automatically_after_days(5)
                .duration("30h")
                .build(),
            "Invalid Duration",
        ),
    ] {
        let (code, msg) = err(c
            .rotate_secret()
            .secret_id("s")
            .rotation_lambda_arn(RANDOM)
            .rotation_rules(rules)
            .rotate_immediately(false)
            .send()
            .await
            .unwrap_err());
        assert_eq!(code, "InvalidParameterException");
        assert!(msg.contains(want), "{msg}");
    }
    let (code, _) = err(c
        .rotate_secret()
        .secret_id("s")
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(0)
                .build(),
        )
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ValidationException", "a model constraint");
    c.rotate_secret()
        .secret_id("s")
        .rotation_lambda_arn(RANDOM)
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(1)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();
    // The schedule survives a restart, and so does its place in time.
    srv.restart().await;
    let c = srv.client();
    let d = c.describe_secret().secret_id("s").send().await.unwrap();
    assert_eq!(d.rotation_enabled(), Some(true));
    c.cancel_rotate_secret()
        .secret_id("s")
        .send()
        .await
        .unwrap();
    let d = c.describe_secret().secret_id("s").send().await.unwrap();
    assert_eq!(d.rotation_enabled(), Some(false));
    assert!(d.next_rotation_date().is_none());
    srv.clock.advance_days(5);
    assert_eq!(
        srv.running().service.rotate_due().await,
        0,
        "cancelled: never due"
    );
    srv.stop().await;
}

/// The login of a database nobody listens on (port 1): a PostgreSQL rotation
/// of it fails at setSecret, after createSecret stored AWSPENDING.
const STUCK_LOGIN: &str =
    r#"{"engine":"postgres","host":"127.0.0.1","port":1,"username":"app","password":"first"}"#;

/// Starts a rotation of `id` that gets stuck; returns its version, once it
/// holds AWSPENDING and RotateSecret refuses to start another.
async fn stuck_rotation(c: &aws_sdk_secretsmanager::Client, id: &str) -> String {
    let stuck = begin_rotation(c, id, STUCK_LOGIN).await;
    let (code, msg) = err(c.rotate_secret().secret_id(id).send().await.unwrap_err());
    assert_eq!(code, "InvalidRequestException");
    assert!(msg.contains("previous rotation isn't complete"), "{msg}");
    stuck
}

/// Creates `id` with a PostgreSQL `login` and starts its rotation; returns
/// the rotation's version once createSecret has stored it.
async fn begin_rotation(c: &aws_sdk_secretsmanager::Client, id: &str, login: &str) -> String {
    c.create_secret()
        .name(id)
        .secret_string(login)
        .send()
        .await
        .unwrap();
    let stuck = c
        .rotate_secret()
        .secret_id(id)
        .rotation_lambda_arn(
            "arn:aws:lambda:us-east-1:123456789012:function:coffer-postgres-single-user",
        )
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    let started = std::time::Instant::now();
    while stages(c, id).await.iter().all(|(v, _)| *v != stuck) {
        assert!(started.elapsed() <= PATIENCE, "the rotation never began");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stuck
}

/// A rotation that failed after its createSecret step leaves a version with
/// AWSPENDING, and RotateSecret refuses to start another. A value put by hand
/// abandons it, as AWS does: AWSPENDING is removed (the new value is current)
/// and a new rotation may start.
#[tokio::test]
async fn a_value_put_by_hand_abandons_a_stuck_rotation() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let stuck = stuck_rotation(&c, "db/stuck").await;
    let manual = c
        .put_secret_value()
        .secret_id("db/stuck")
        .secret_string(STUCK_LOGIN)
        .send()
        .await
        .unwrap();
    let after = stages(&c, "db/stuck").await;
    assert!(
        after
            .iter()
            .all(|(_, l)| !l.iter().any(|x| x == "AWSPENDING")),
        "AWSPENDING removed: {after:?}"
    );
    assert_eq!(current_of(&after), manual.version_id().unwrap());
    let kept = c
        .list_secret_version_ids()
        .secret_id("db/stuck")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert!(
        kept.versions()
            .iter()
            .any(|v| v.version_id() == Some(&stuck) && v.version_stages().is_empty()),
        "the abandoned version is kept, unlabelled: {kept:?}"
    );
    let again = c
        .rotate_secret()
        .secret_id("db/stuck")
        .send()
        .await
        .expect("a new rotation may start once the old one is abandoned");
    assert_ne!(again.version_id(), Some(stuck.as_str()));
}

/// AWSPENDING moved by hand to a version of the caller's own leaves the stuck
/// rotation's version without it: that rotation is forgotten, not retried
/// hourly against a version that is no rotation's any more (each retry would
/// fail: its version exists, with another value).
#[tokio::test]
async fn a_pending_label_moved_by_hand_releases_a_stuck_rotation() {
    let srv = TestServer::start().await;
    let c = srv.client();
    stuck_rotation(&c, "db/moved").await;
    let svc = srv.running().service.clone();
    // The first attempt may still be failing in this process (its database
    // is a closed port, slow to refuse on a loaded machine); a secret being
    // rotated here is not started again, so wait for it to stop.
    let started = std::time::Instant::now();
    while svc.rotation_running() {
        assert!(started.elapsed() <= PATIENCE, "the rotation never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    srv.clock.advance_ms(2 * 3_600_000);
    assert_eq!(svc.rotate_due().await, 1, "a stuck rotation is retried");
    c.put_secret_value()
        .secret_id("db/moved")
        .secret_string(STUCK_LOGIN)
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    srv.clock.advance_ms(2 * 3_600_000);
    assert_eq!(svc.rotate_due().await, 0, "no longer retried");
}

/// A RotateSecret right after the last rotation was abandoned, while that
/// rotation is still failing in this process (its database holds the
/// connection open for a while, then drops it), runs once it has ended: not
/// an hour later, at the retry.
#[tokio::test]
async fn a_rotation_asked_for_while_an_abandoned_one_runs_follows_it() {
    let srv = TestServer::start().await;
    let c = srv.client();
    // A "database" that takes every connection and drops it 4 s later.
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = slow.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = slow.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(4)).await;
                drop(sock);
            });
        }
    });
    let login = STUCK_LOGIN.replace("\"port\":1", &format!("\"port\":{port}"));
    begin_rotation(&c, "db/slow", &login).await;
    let has = |s: &[(String, Vec<String>)], v: &str| s.iter().any(|(id, _)| id == v);
    let started = std::time::Instant::now();
    // Abandoned by a value put by hand, while its setSecret still waits.
    c.put_secret_value()
        .secret_id("db/slow")
        .secret_string(STUCK_LOGIN)
        .send()
        .await
        .unwrap();
    assert!(srv.running().service.rotation_running(), "still running");
    let second = c
        .rotate_secret()
        .secret_id("db/slow")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    // Its createSecret stores its version once the first attempt has ended;
    // the clock does not move, so no retry can be what runs it.
    while !has(&stages(&c, "db/slow").await, &second) {
        assert!(
            started.elapsed() <= PATIENCE,
            "the second rotation never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
