//! Accounts and access keys: creating the first account and its root credential,
//! and looking keys up for SigV4 verification (decrypted once, then cached).

use crate::context::Credential;
use crate::errors::internal;
use crate::identity::Identity;
use coffer_api::ApiError;
use coffer_crypto::SecretBytes;
use coffer_store::{AccountRow, CredentialRow, StoreError};
use std::sync::Arc;

impl Identity {
    /// Creates the account if it does not exist.
    pub async fn ensure_account(&self, account_id: &str, name: &str) -> Result<(), ApiError> {
        if self
            .store
            .account(account_id)
            .await
            .map_err(internal)?
            .is_some()
        {
            return Ok(());
        }
        let row = AccountRow {
            account_id: account_id.into(),
            name: name.into(),
            created_ms: self.clock.now_ms(),
        };
        match self.store.insert_account(row).await {
            Ok(()) | Err(StoreError::Duplicate) => Ok(()),
            Err(e) => Err(internal(e)),
        }
    }

    /// The first account created, if any.
    pub async fn first_account(&self) -> Result<Option<String>, ApiError> {
        Ok(self
            .store
            .accounts()
            .await
            .map_err(internal)?
            .into_iter()
            .next()
            .map(|a| a.account_id))
    }

    /// Registers `access_key_id` as a root credential of `account_id`. Returns
    /// false if the key id exists already (its secret is left as it was).
    pub async fn add_root_credential(
        &self,
        account_id: &str,
        access_key_id: &str,
        secret: &SecretBytes,
    ) -> Result<bool, ApiError> {
        let root = format!("arn:aws:iam::{account_id}:root");
        self.add_credential(account_id, &root, access_key_id, secret)
            .await
    }

    /// The row of a new, active access key, its secret sealed.
    pub(crate) fn credential_row(
        &self,
        account_id: &str,
        principal_arn: &str,
        access_key_id: &str,
        secret: &SecretBytes,
    ) -> Result<CredentialRow, ApiError> {
        Ok(CredentialRow {
            access_key_id: access_key_id.into(),
            account_id: account_id.into(),
            principal_arn: principal_arn.into(),
            wrapped_secret: self
                .keys
                .wrap_credential(access_key_id, secret.as_slice())?,
            status: "Active".into(),
            created_ms: self.clock.now_ms(),
        })
    }

    /// Registers an access key for a principal. Returns false if the key id exists.
    pub async fn add_credential(
        &self,
        account_id: &str,
        principal_arn: &str,
        access_key_id: &str,
        secret: &SecretBytes,
    ) -> Result<bool, ApiError> {
        let row = self.credential_row(account_id, principal_arn, access_key_id, secret)?;
        match self.store.insert_credential(row).await {
            Ok(()) => Ok(true),
            Err(StoreError::Duplicate) => Ok(false),
            Err(e) => Err(internal(e)),
        }
    }

    /// The access key, if known and active, for SigV4 verification.
    pub async fn credential(
        &self,
        access_key_id: &str,
    ) -> Result<Option<Arc<Credential>>, ApiError> {
        if let Some(c) = self.cache.credential(access_key_id) {
            return Ok(Some(c));
        }
        let seen = self.cache.generation();
        let Some(row) = self
            .store
            .credential(access_key_id)
            .await
            .map_err(internal)?
        else {
            return Ok(None);
        };
        if row.status != "Active" {
            return Ok(None);
        }
        let secret = self
            .keys
            .unwrap_credential(access_key_id, &row.wrapped_secret)?;
        let cred = Arc::new(Credential {
            access_key_id: row.access_key_id,
            account_id: row.account_id,
            principal_arn: row.principal_arn,
            secret,
            session: None,
        });
        self.cache.remember_credential(seen, cred.clone());
        Ok(Some(cred))
    }
}
