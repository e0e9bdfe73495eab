//! Retention: change events and audit records older than their windows leave
//! the store; a change stream resuming from a pruned point is told to start
//! over; the audit trail still verifies, and a head cut outside retention
//! does not.

use crate::access::{stream_for, ROOT};
use crate::agent::{get, json, start_agent_at, PUSH_DEADLINE};
use crate::common::*;
use std::time::Duration;

async fn create(srv: &TestServer, name: &str) {
    srv.client()
        .create_secret()
        .name(name)
        .secret_string("v")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn old_history_is_pruned_and_the_audit_trail_still_verifies() {
    let mut srv = TestServer::start_with(|o| {
        o.event_retention = Some(Duration::from_hours(1));
        o.audit_retention = Some(Duration::from_hours(24));
    })
    .await;
    let svc = srv.running().service.clone();
    for i in 0..3 {
        create(&srv, &format!("old-{i}")).await;
    }
    let addr = srv.running().addr;
    let before = stream_for(addr, ROOT, 1).await;
    assert!(
        before.contains("event: change") && !before.contains("event: reset"),
        "{before}"
    );

    assert_eq!(
        svc.prune_history().await,
        coffer_store::Pruned::default(),
        "nothing is old yet"
    );
    srv.clock.advance_ms(2 * 3_600_000);
    create(&srv, "recent").await;
    let p = svc.prune_history().await;
    assert_eq!(
        (p.events, p.audit),
        (3, 0),
        "events after an hour, audit after a day"
    );
    srv.clock.advance_days(2);
    create(&srv, "newest").await;
    let p = svc.prune_history().await;
    assert_eq!((p.events, p.audit), (1, 4), "every record but the newest");

    // Resuming from a pruned point: told to start over, then followed.
    let after = stream_for(addr, ROOT, 1).await;
    assert!(after.contains("event: reset"), "{after}");
    assert!(
        !after.contains("event: change"),
        "nothing new since: {after}"
    );
    // ... and from a point ahead of the outbox (a restored database).
    let ahead = stream_for(addr, ROOT, 1_000_000).await;
    assert!(ahead.contains("event: reset"), "{ahead}");
    // The secrets themselves are all still there.
    let listed = srv.client().list_secrets().send().await.unwrap();
    assert_eq!(listed.secret_list().len(), 5);
    srv.running.take().unwrap().stop().await.unwrap();
    let dir = srv.dir.path().to_path_buf();

    let (ok, out) = coffer_in(&["audit", "verify"], &dir);
    assert!(ok, "{out}");
    assert!(out.contains("4 older records pruned by retention"), "{out}");

    // Cutting more of the head and moving the anchor to match: no keyed
    // record of pruning states that anchor.
    let db = rusqlite::Connection::open(dir.join("coffer.db")).unwrap();
    let (seq, hash): (i64, String) = db
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let anchors: String = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'audit_anchors'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut forged: coffer_store::AuditAnchors = serde_json::from_str(&anchors).unwrap();
    let a = forged.records.as_mut().unwrap();
    (a.through, a.hash, a.pruned) = (seq, hash, a.pruned + 1);
    db.execute("DELETE FROM audit WHERE seq = ?1", [seq])
        .unwrap();
    db.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'audit_anchors'",
        [forged.to_json()],
    )
    .unwrap();
    drop(db);
    let (ok, out) = coffer_in(&["audit", "verify"], &dir);
    assert!(!ok, "{out}");
    assert!(out.contains("removed outside retention"), "{out}");
}

/// A server on `srv`'s data directory and clock, with a one-hour event
/// retention, at `listen` (None: any port).
async fn start_on(srv: &TestServer, listen: Option<std::net::SocketAddr>) -> coffer::Running {
    let mut o = options(srv.dir.path().to_path_buf(), srv.clock.clone());
    o.event_retention = Some(Duration::from_hours(1));
    if let Some(l) = listen {
        o.listen = l;
    }
    coffer::start(o).await.unwrap()
}

/// An agent whose change stream was down while a change it needed was made
/// and then pruned is told, on reconnecting, that it missed changes, and
/// reads every cached secret afresh (its TTL alone would serve the old value
/// for an hour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_missed_pruned_changes_refreshes_everything() {
    let mut srv =
        TestServer::start_with(|o| o.event_retention = Some(Duration::from_hours(1))).await;
    let addr = srv.running().addr;
    create(&srv, "cached").await;
    let a = start_agent_at(&srv.endpoint(), "ttl_seconds = 3600", true).await;
    wait_for("the agent subscribed", PATIENCE, async || a.is_subscribed()).await;
    assert_eq!(
        json(&get(a.addr, "/v1/cached").await.2)["SecretString"],
        "v"
    );

    // The agent's server goes away; through another, the secret changes and
    // that change leaves the outbox.
    srv.running.take().unwrap().stop().await.unwrap();
    let other = start_on(&srv, None).await;
    let c = client_for(&other.endpoint(), "us-east-1", AKID, SECRET);
    c.put_secret_value()
        .secret_id("cached")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    srv.clock.advance_ms(2 * 3_600_000);
    c.create_secret()
        .name("later")
        .secret_string("l")
        .send()
        .await
        .unwrap();
    // The server's own retention job may have pruned them already; either
    // way the outbox now begins after both.
    other.service.prune_history().await;
    assert!(other.service.store().event_horizon().await.unwrap() >= 2);
    other.stop().await.unwrap();

    srv.running = Some(start_on(&srv, Some(addr)).await);
    wait_for(
        "the agent read the missed change afresh",
        PUSH_DEADLINE,
        async || json(&get(a.addr, "/v1/cached").await.2)["SecretString"] == "v2",
    )
    .await;
}
