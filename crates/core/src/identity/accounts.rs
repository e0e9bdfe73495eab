//! Accounts beyond the first: created on request of the first account's root user.

use crate::errors::internal;
use crate::identity::Identity;
use crate::ids::{new_access_key_id, new_account_id, new_secret_key};
use coffer_api::ApiError;
use coffer_crypto::SecretBytes;
use coffer_store::{AccountRow, IamOp};

impl Identity {
    /// Creates another account and its root credential. Only the root user of the
    /// first account (the one bootstrap created) may do this, as only an
    /// Organizations management account can in AWS. The secret is returned once.
    pub async fn create_account(
        &self,
        caller: &crate::Caller,
        name: &str,
    ) -> Result<(String, String, SecretBytes), ApiError> {
        use coffer_api::ErrorCode;
        let first = self.first_account().await?;
        let is_root = caller.session.is_none()
            && Some(&caller.account_id) == first.as_ref()
            && caller.principal_arn == format!("arn:aws:iam::{}:root", caller.account_id);
        let result = if !is_root {
            Err(ApiError::new(
                ErrorCode::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: coffer:CreateAccount because only the root user of the first account can create accounts",
                    caller.principal_arn
                ),
            ))
        } else if name.is_empty() || name.chars().count() > 50 {
            Err(ApiError::new(
                ErrorCode::Validation,
                "The account name must be 1 to 50 characters long.",
            ))
        } else if self
            .store
            .accounts()
            .await
            .map_err(internal)?
            .iter()
            .any(|a| a.name == name)
        {
            Err(ApiError::new(
                ErrorCode::ResourceExists,
                format!("An account named {name} already exists."),
            ))
        } else {
            return self.new_account(caller, name).await;
        };
        // Refused: the record goes to the audit file (nothing was written).
        let params = serde_json::json!({ "name": name });
        let rec = crate::audit::record(
            caller,
            "CreateAccount",
            self.clock.now_ms(),
            params,
            result.as_ref().err(),
            false,
        );
        self.audit.append(rec).await?;
        result
    }

    /// Creates the account and its root credential in one transaction with the
    /// call's audit record: no account exists unaudited, none half-made.
    async fn new_account(
        &self,
        caller: &crate::Caller,
        name: &str,
    ) -> Result<(String, String, SecretBytes), ApiError> {
        let account = loop {
            let id = new_account_id();
            if self.store.account(&id).await.map_err(internal)?.is_none() {
                break id;
            }
        };
        let key_id = new_access_key_id();
        let secret = new_secret_key();
        let root = format!("arn:aws:iam::{account}:root");
        let now = self.clock.now_ms();
        let ops = vec![
            IamOp::InsertAccount(AccountRow {
                account_id: account.clone(),
                name: name.into(),
                created_ms: now,
            }),
            IamOp::InsertCredential(self.credential_row(&account, &root, &key_id, &secret)?),
        ];
        let call = crate::call::Call::with_params(
            caller,
            "CreateAccount",
            serde_json::json!({ "name": name }),
        );
        self.iam_commit(&call, &account, ops, "The account id exists.")
            .await?;
        Ok((account, key_id, secret))
    }
}
