//! Access keys of IAM users: created with the secret shown once, listed without it,
//! made inactive (then refused by SigV4 verification) or deleted.

use super::users::user_named;
use super::wire::{iso, Node, Params};
use super::{entity_arn, no_such, UserDoc, USER};
use crate::bootstrap::{new_access_key_id, new_secret_key};
use crate::context::Caller;
use crate::internal;
use crate::service::Service;
use coffer_api::{ApiError, ErrorCode};
use coffer_store::IamOp;

const KEYS_PER_USER: usize = 2;

impl Service {
    pub(crate) async fn key_action(
        &self,
        caller: &Caller,
        action: &str,
        p: &Params,
    ) -> Result<Vec<Node>, ApiError> {
        let account = caller.account_id.as_str();
        let user = user_named(caller, p)?;
        let (doc, _) = self.iam_require::<UserDoc>(account, USER, &user).await?;
        let arn = entity_arn(account, "user", &doc.path, &user);
        let keys = self.store.credentials_of(&arn).await.map_err(internal)?;
        match action {
            "CreateAccessKey" => {
                if keys.len() >= KEYS_PER_USER {
                    return Err(ApiError::new(
                        ErrorCode::IamLimitExceeded,
                        "Cannot exceed quota for AccessKeysPerUser: 2",
                    ));
                }
                let id = new_access_key_id();
                let secret = new_secret_key();
                self.add_credential(account, &arn, &id, &secret).await?;
                self.iam_changed();
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
            "ListAccessKeys" => {
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
            "DeleteAccessKey" | "UpdateAccessKey" => {
                let id = p.required("AccessKeyId")?;
                if !keys.iter().any(|k| k.access_key_id == id) {
                    return Err(ApiError::new(
                        ErrorCode::NoSuchEntity,
                        format!("The Access Key with id {id} cannot be found."),
                    ));
                }
                let op = if action == "DeleteAccessKey" {
                    IamOp::DeleteCredential {
                        access_key_id: id.into(),
                    }
                } else {
                    let status = p.required("Status")?;
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
                };
                self.iam_commit(vec![op], "").await?;
                self.forget_credential(id);
                Ok(vec![])
            }
            _ => Err(no_such(USER, &user)),
        }
    }
}
