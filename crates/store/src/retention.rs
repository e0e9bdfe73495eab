//! Retention: the outbox and the audit tables drop what is older than the
//! configured windows, so they do not grow without bound.
//!
//! Events go oldest first; the newest event always stays, so sequence numbers
//! keep counting from it. The newest pruned number is kept as the outbox's
//! horizon: a change stream resuming below it has missed changes and is told to
//! start over.
//!
//! Audit records go as a prefix of their hash chain. Where each chain now
//! starts (its anchor: the last pruned link's number and hash) is kept in the
//! store, and the same pruning appends a record to the chain of mutations that
//! states every anchor, linked and keyed like any record. `coffer audit
//! verify` starts each chain at its anchor and requires the newest such record
//! to state exactly the anchors the store holds: someone who can write to the
//! database but lacks the root key cannot cut a chain's head and pass it off
//! as retention.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Rows of each kind dropped per call, so one call never holds the writer (or
/// a transaction) for long; the caller repeats while a batch comes back full.
pub const PRUNE_BATCH: usize = 5_000;

/// `eventName` of the record pruning appends to the chain of mutations.
pub const PRUNE_EVENT: &str = "PruneAuditRecords";
const PRUNE_SOURCE: &str = "coffer.internal";

/// What to drop: rows older than each cut (None: keep that kind forever).
#[derive(Debug, Clone)]
pub struct Retention {
    pub events_before_ms: Option<i64>,
    pub audit_before_ms: Option<i64>,
    /// When the pruning runs, for its own audit record.
    pub now_ms: i64,
    /// `now_ms` as RFC 3339, the record's `eventTime`.
    pub event_time: String,
}

/// Rows one call dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: usize,
    pub audit: usize,
    /// Lines of servers' audit files (shared stores).
    pub shipped: usize,
}

impl Pruned {
    /// Whether any kind filled its batch (more may be due).
    pub fn full(&self) -> bool {
        self.events >= PRUNE_BATCH || self.audit >= PRUNE_BATCH || self.shipped >= PRUNE_BATCH
    }
}

/// Where a chain starts after pruning: the last pruned link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The record's sequence number (a file line's number, for servers' files).
    pub through: i64,
    /// Its hash: the `prev` of the first record kept.
    pub hash: String,
    /// How many records were pruned in all, through this one.
    pub pruned: u64,
}

/// Every chain's anchor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAnchors {
    /// The chain of mutations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Anchor>,
    /// Servers' audit files, by server id (shared stores).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub servers: BTreeMap<String, Anchor>,
}

impl AuditAnchors {
    pub fn from_json(text: Option<&str>) -> crate::Result<Self> {
        text.map_or(Ok(Self::default()), |t| {
            serde_json::from_str(t)
                .map_err(|e| crate::StoreError::Backend(format!("audit anchors: {e}")))
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The anchors a pruning record states, if `body` is one.
    pub fn stated_by(body: &str) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        if v["eventSource"] != PRUNE_SOURCE || v["eventName"] != PRUNE_EVENT {
            return None;
        }
        serde_json::from_value(v["serviceEventDetails"]["anchors"].clone()).ok()
    }

    /// The audit record body that states these anchors.
    pub fn record(&self, r: &Retention, pruned: Pruned) -> String {
        serde_json::json!({
            "eventVersion": "1.08",
            "eventTime": r.event_time,
            "eventSource": PRUNE_SOURCE,
            "eventName": PRUNE_EVENT,
            "eventType": "AwsServiceEvent",
            "readOnly": false,
            "serviceEventDetails": {
                "anchors": self,
                "prunedRecords": pruned.audit,
                "prunedServerLines": pruned.shipped,
            },
        })
        .to_string()
    }
}

/// One link as pruning sees it.
pub struct Link {
    pub num: i64,
    pub at_ms: i64,
    pub hash: String,
}

/// The oldest links (in order, a batch) that may go: older than `before_ms`,
/// stopping at the first younger one, never the newest link (`newest`). Returns
/// the last of them and how many there are.
pub fn prunable(oldest: &[Link], before_ms: i64, newest: i64) -> Option<(&Link, usize)> {
    let n = oldest
        .iter()
        .take_while(|l| l.at_ms < before_ms && l.num < newest)
        .count();
    n.checked_sub(1).map(|last| (&oldest[last], n))
}

/// Moves `anchor` past `n` more pruned links ending at `last`.
pub fn advance(anchor: Option<&Anchor>, last: &Link, n: usize) -> Anchor {
    Anchor {
        through: last.num,
        hash: last.hash.clone(),
        pruned: anchor.map_or(0, |a| a.pruned) + n as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(ages: &[i64]) -> Vec<Link> {
        ages.iter()
            .enumerate()
            .map(|(i, &at_ms)| Link {
                num: i as i64 + 1,
                at_ms,
                hash: format!("h{}", i + 1),
            })
            .collect()
    }

    #[test]
    fn a_prefix_of_old_links_never_the_newest() {
        let l = links(&[1, 2, 9, 3, 4]);
        let (last, n) = prunable(&l, 5, 5).unwrap();
        assert_eq!((last.num, n), (2, 2), "stops at the first young link");
        let l = links(&[1, 2, 3]);
        let (last, n) = prunable(&l, 10, 3).unwrap();
        assert_eq!((last.num, n), (2, 2), "the newest stays");
        assert!(prunable(&l, 1, 3).is_none());
        assert!(prunable(&[], 10, 0).is_none());
    }

    #[test]
    fn a_pruning_record_states_its_anchors() {
        let mut a = AuditAnchors::default();
        let l = links(&[1, 2]);
        a.records = Some(advance(None, &l[1], 2));
        a.servers
            .insert("s1".into(), advance(a.records.as_ref(), &l[0], 1));
        let r = Retention {
            events_before_ms: None,
            audit_before_ms: Some(5),
            now_ms: 7,
            event_time: "1970-01-01T00:00:00Z".into(),
        };
        let body = a.record(&r, Pruned::default());
        assert_eq!(AuditAnchors::stated_by(&body), Some(a.clone()));
        assert_eq!(a.servers["s1"].pruned, 3);
        assert_eq!(AuditAnchors::from_json(Some(&a.to_json())).unwrap(), a);
        assert_eq!(
            AuditAnchors::stated_by(r#"{"eventName":"PutSecretValue"}"#),
            None
        );
    }
}
