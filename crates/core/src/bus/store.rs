//! The bus's entities (rules, connections, API destinations) in the store:
//! kept per account and region as entities of the store, written with an
//! outbox record (every server's view follows) and their audit record in the
//! same transaction.

use crate::call::Call;
use crate::context::Caller;
use crate::errors::internal;
use crate::service::Service;
use coffer_api::{ApiError, ErrorCode};
use coffer_store::{IamOp, IamRow, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) const RULE: &str = "events-rule";
pub(crate) const CONNECTION: &str = "events-connection";
pub(crate) const DESTINATION: &str = "events-api-destination";

/// A document the bus keeps.
pub(crate) trait Entity: Serialize + DeserializeOwned {}

/// Entities are regional; the store's are not: the key holds both.
fn key(region: &str, name: &str) -> String {
    format!("{region}/{name}")
}

impl Service {
    pub(crate) async fn load_entity<T: Entity>(
        &self,
        caller: &Caller,
        kind: &str,
        name: &str,
    ) -> Result<Option<(T, i64)>, ApiError> {
        let row = self
            .store
            .iam_get(&caller.account_id, kind, &key(&caller.region, name))
            .await
            .map_err(internal)?;
        row.map(|r| Ok((serde_json::from_str(&r.body).map_err(internal)?, r.revision)))
            .transpose()
    }

    /// Every entity of a kind in the caller's account and region, by name.
    pub(crate) async fn entities<T: Entity>(
        &self,
        caller: &Caller,
        kind: &str,
    ) -> Result<Vec<T>, ApiError> {
        self.entities_in(&caller.account_id, &caller.region, kind)
            .await
    }

    pub(crate) async fn entities_in<T: Entity>(
        &self,
        account: &str,
        region: &str,
        kind: &str,
    ) -> Result<Vec<T>, ApiError> {
        let prefix = format!("{region}/");
        let rows = self.store.iam_list(account, kind).await.map_err(internal)?;
        rows.iter()
            .filter(|r| r.name.starts_with(&prefix))
            .map(|r| serde_json::from_str(&r.body).map_err(internal))
            .collect()
    }

    /// Writes (or with `doc` None, deletes) an entity at revision `expected`
    /// (None: a new one), with the call's audit record.
    pub(crate) async fn save_entity<T: Entity>(
        &self,
        call: &Call<'_>,
        kind: &str,
        name: &str,
        doc: Option<&T>,
        expected: Option<i64>,
    ) -> Result<(), ApiError> {
        let caller = call.caller;
        let (account, k) = (caller.account_id.clone(), key(&caller.region, name));
        let op = match (doc, expected) {
            (Some(d), _) => IamOp::Put {
                row: IamRow {
                    account_id: account.clone(),
                    kind: kind.into(),
                    name: k,
                    body: serde_json::to_string(d).map_err(internal)?,
                    revision: expected.map_or(1, |r| r + 1),
                },
                expected_revision: expected,
            },
            (None, Some(r)) => IamOp::Delete {
                account_id: account.clone(),
                kind: kind.into(),
                name: k,
                expected_revision: r,
            },
            (None, None) => return Ok(()),
        };
        let now = self.clock.now_ms();
        let ops = vec![op];
        let event = crate::events::iam_change(&account, now, &ops);
        match self.store.iam_write(ops, event, call.audit(now)).await {
            Ok(()) => {
                call.mark_audited();
                self.outbox.committed();
                Ok(())
            }
            Err(StoreError::Conflict | StoreError::Duplicate) => Err(ApiError::new(
                ErrorCode::EventsConcurrentModification,
                format!("{name} was modified concurrently; retry."),
            )),
            Err(e) => Err(internal(e)),
        }
    }
}
