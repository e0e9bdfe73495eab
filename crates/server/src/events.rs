//! `GET /coffer/v1/events`: the change stream as server-sent events.
//!
//! Authenticated by SigV4 like every API call; a caller sees the events of its own
//! account only, and of those only the secrets it may describe. Each event carries its outbox sequence number as the SSE `id`, so
//! a client resumes with `Last-Event-ID` (or `?after=SEQ`) and misses nothing; a
//! new subscriber without one starts from now. A client resuming from a point
//! the server no longer holds (pruned by retention, or ahead of its database)
//! gets `event: reset` with the id to go on from: it has missed changes, and
//! must drop what it cached. A subscriber wakes when this
//! process commits a mutation, and polls the outbox once a second besides.

use crate::body::Body;
use bytes::Bytes;
use coffer_core::{Caller, Service};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

const POLL: Duration = Duration::from_secs(1);
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Where to resume: `?after=SEQ`, else the `Last-Event-ID` header.
pub fn resume_point(query: Option<&str>, last_event_id: Option<&str>) -> Option<i64> {
    let from_query = query
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("after="))
        .and_then(|v| v.parse().ok());
    from_query.or_else(|| last_event_id.and_then(|v| v.trim().parse().ok()))
}

/// Starts the subscription task and returns the body it feeds.
pub fn subscribe(
    svc: Arc<Service>,
    caller: Caller,
    after: Option<i64>,
    mut closing: watch::Receiver<bool>,
    slot: crate::streams::StreamSlot,
) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut commits = svc.commit_signal();
    tokio::spawn(async move {
        // Held for as long as the stream is open.
        let _slot = slot;
        let Some((start, first)) = start_point(&svc, after).await else {
            return;
        };
        if tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        let mut after = Some(start);
        let mut quiet_since = Instant::now();
        loop {
            // An error is logged by the service; the client reconnects.
            let Ok((last, rows)) = svc.events_for(&caller.account_id, after).await else {
                return;
            };
            let rows = svc.visible_events(&caller, rows).await;
            after = Some(last);
            for r in &rows {
                let chunk = format!("id: {}\nevent: change\ndata: {}\n\n", r.seq, r.body);
                if tx.send(Bytes::from(chunk)).await.is_err() {
                    return;
                }
                quiet_since = Instant::now();
            }
            if quiet_since.elapsed() >= KEEPALIVE {
                if tx
                    .send(Bytes::from_static(b": keepalive\n\n"))
                    .await
                    .is_err()
                {
                    return;
                }
                quiet_since = Instant::now();
            }
            tokio::select! {
                _ = commits.changed() => {}
                // A fallback for writers this process does not see (other nodes).
                () = tokio::time::sleep(POLL) => {}
                _ = closing.changed() => return,
                () = tx.closed() => return,
            }
        }
    });
    Body::Stream(rx)
}

/// Where the stream starts, and its first message. It carries the starting
/// point as its `id`, so a client that reconnects before any change arrived
/// resumes from there instead of from "now" (missing what happened between).
/// A resume point the server no longer holds makes it a `reset`: the changes
/// in between are gone, and the client must drop what it cached.
async fn start_point(svc: &Service, after: Option<i64>) -> Option<(i64, String)> {
    let Some(a) = after else {
        let latest = svc.latest_event_seq().await.ok()?;
        return Some((
            latest,
            format!("retry: 1000\nid: {latest}\n: connected\n\n"),
        ));
    };
    match svc.resume_gap(a).await.ok()? {
        None => Some((a, format!("retry: 1000\nid: {a}\n: connected\n\n"))),
        Some(latest) => Some((
            latest,
            format!(
                "retry: 1000\nid: {latest}\nevent: reset\ndata: {{\"reason\":\"missed changes: resume point {a} is outside the retained change history\"}}\n\n"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::resume_point;

    #[test]
    fn resume_points() {
        assert_eq!(resume_point(Some("after=42"), None), Some(42));
        assert_eq!(resume_point(None, Some("7")), Some(7));
        assert_eq!(resume_point(Some("after=3"), Some("7")), Some(3));
        assert_eq!(resume_point(Some("x=1"), None), None);
    }
}
