//! Access keys of IAM users: created with the secret shown once, listed without it,
//! made inactive (then refused by SigV4 verification) or deleted.

use super::users::user_named;
use super::{entity_arn, UserDoc, USER};
use crate::call::Call;
use crate::clock::iso_seconds as iso;
use crate::context::Caller;
use crate::errors::internal;
use crate::identity::Identity;
use crate::ids::{new_access_key_id, new_secret_key};
use coffer_api::query::Node;
use coffer_api::{ApiError, ErrorCode};
use coffer_store::{CredentialRow, IamOp};

const KEYS_PER_USER: usize = 2;

impl Identity {
    /// The user an access-key operation names (the caller by default), its ARN
    /// and its keys.
    async fn keys_of(
        &self,
        caller: &Caller,
        user_name: Option<String>,
    ) -> Result<(String, String, Vec<CredentialRow>), ApiError> {
        let account = caller.account_id.as_str();
        let user = user_named(caller, user_name)?;
        let (doc, _) = self.iam_require::<UserDoc>(account, USER, &user).await?;
        let arn = entity_arn(account, "user", &doc.path, &user);
        let keys = self.store.credentials_of(&arn).await.map_err(internal)?;
        Ok((user, arn, keys))
    }

    pub(crate) async fn create_access_key(
        &self,
        call: &Call<'_>,
        caller: &Caller,
        user_name: Option<String>,
    ) -> Result<Vec<Node>, ApiError> {
        let (user, arn, keys) = self.keys_of(caller, user_name).await?;
        if keys.len() >= KEYS_PER_USER {
            return Err(ApiError::new(
                ErrorCode::IamLimitExceeded,
                "Cannot exceed quota for AccessKeysPerUser: 2",
            ));
        }
        let id = new_access_key_id();
        let secret = new_secret_key();
        let row = self.credential_row(&caller.account_id, &arn, &id, &secret)?;
        let op = IamOp::InsertCredential(row);
        self.iam_commit(
            call,
            &caller.account_id,
            vec![op],
            "The access key id exists.",
        )
        .await?;
        let shown = String::from_utf8_lossy(secret.as_slice()).into_owned();
        Ok(vec![Node::Parent(
            "AccessKey",
            vec![
                Node::text("UserName", user),
                Node::text("AccessKeyId", id),
                Node::text("Status", "Active"),
                Node::text("SecretAccessKey", shown),
                Node::text("CreateDate", iso(self.clock.now_ms())),
            ],
        )])
    }

    pub(crate) async fn list_access_keys(
        &self,
        caller: &Caller,
        user_name: Option<String>,
    ) -> Result<Vec<Node>, ApiError> {
        let (user, _, keys) = self.keys_of(caller, user_name).await?;
        let items = keys
            .iter()
            .map(|k| {
                vec![
                    Node::text("UserName", user.clone()),
                    Node::text("AccessKeyId", k.access_key_id.clone()),
                    Node::text("Status", k.status.clone()),
                    Node::text("CreateDate", iso(k.created_ms)),
                ]
            })
            .collect();
        Ok(vec![
            Node::members("AccessKeyMetadata", items),
            Node::text("IsTruncated", "false"),
        ])
    }

    /// DeleteAccessKey (`status` None) or UpdateAccessKey.
    pub(crate) async fn change_access_key(
        &self,
        call: &Call<'_>,
        caller: &Caller,
        user_name: Option<String>,
        id: &str,
        status: Option<&str>,
    ) -> Result<Vec<Node>, ApiError> {
        let (_, _, keys) = self.keys_of(caller, user_name).await?;
        if !keys.iter().any(|k| k.access_key_id == id) {
            return Err(ApiError::new(
                ErrorCode::NoSuchEntity,
                format!("The Access Key with id {id} cannot be found."),
            ));
        }
        let op = match status {
            None => IamOp::DeleteCredential {
                access_key_id: id.into(),
            },
            Some(status) => {
                if status != "Active" && status != "Inactive" {
                    return Err(ApiError::new(
                        ErrorCode::Validation,
                        format!("1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"),
                    ));
                }
                IamOp::SetCredentialStatus {
                    access_key_id: id.into(),
                    status: status.into(),
                }
            }
        };
        self.iam_commit(call, &caller.account_id, vec![op], "")
            .await?;
        Ok(vec![])
    }
}
