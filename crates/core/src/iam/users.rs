//! CreateUser, GetUser, ListUsers, DeleteUser, and the user forms of the holder
//! operations (tags and policies).

use super::wire::{iso, Node, Params};
use super::{check_name, check_path, check_tags, entity_arn, UserDoc, USER};
use crate::bootstrap::random_id;
use crate::context::Caller;
use crate::internal;
use crate::service::Service;
use coffer_api::{ApiError, ErrorCode};
use coffer_store::IamOp;

pub(crate) fn user_node(account: &str, name: &str, u: &UserDoc) -> Node {
    Node::Parent("User", user_fields(account, name, u))
}

/// A user's elements (inside `<User>`, or a `<member>` of ListUsers).
fn user_fields(account: &str, name: &str, u: &UserDoc) -> Vec<Node> {
    let mut kids = vec![
        Node::text("Path", u.path.clone()),
        Node::text("UserName", name),
        Node::text("UserId", u.id.clone()),
        Node::text("Arn", entity_arn(account, "user", &u.path, name)),
        Node::text("CreateDate", iso(u.created_ms)),
    ];
    if !u.tags.is_empty() {
        kids.push(Node::tags(&u.tags));
    }
    kids
}

impl Service {
    pub(crate) async fn user_action(
        &self,
        caller: &Caller,
        action: &str,
        p: &Params,
    ) -> Result<Vec<Node>, ApiError> {
        let account = caller.account_id.as_str();
        match action {
            "CreateUser" => {
                let name = p.required("UserName")?;
                check_name(name, "userName", 64)?;
                let tags = p.tags("Tags")?;
                check_tags(&tags)?;
                let doc = UserDoc {
                    id: format!("AIDA{}", random_id(17)),
                    path: check_path(p.get("Path"))?,
                    created_ms: self.clock.now_ms(),
                    tags,
                    inline: Default::default(),
                    attached: vec![],
                };
                let put = Self::iam_put(account, USER, name, &doc, None)?;
                self.iam_commit(vec![put], &format!("User with name {name} already exists."))
                    .await?;
                Ok(vec![user_node(account, name, &doc)])
            }
            "GetUser" => {
                let name = user_named(caller, p)?;
                let (doc, _) = self.iam_require::<UserDoc>(account, USER, &name).await?;
                Ok(vec![user_node(account, &name, &doc)])
            }
            "ListUsers" => {
                self.list_holders::<UserDoc>(account, p, "Users", user_fields)
                    .await
            }
            "DeleteUser" => {
                let name = p.required("UserName")?;
                let (doc, rev) = self.iam_require::<UserDoc>(account, USER, name).await?;
                let arn = entity_arn(account, "user", &doc.path, name);
                let keys = self.store.credentials_of(&arn).await.map_err(internal)?;
                let conflict = |what: &str| {
                    Err(ApiError::new(
                        ErrorCode::DeleteConflict,
                        format!("Cannot delete entity, must {what} first."),
                    ))
                };
                if !keys.is_empty() {
                    return conflict("delete access keys");
                }
                if !doc.inline.is_empty() {
                    return conflict("delete policies");
                }
                if !doc.attached.is_empty() {
                    return conflict("detach all policies");
                }
                let del = IamOp::Delete {
                    account_id: account.into(),
                    kind: USER.into(),
                    name: name.into(),
                    expected_revision: rev,
                };
                self.iam_commit(vec![del], "").await?;
                Ok(vec![])
            }
            other => {
                let op = other.replacen("User", "", 1);
                self.holder_action::<UserDoc>(caller, &op, p).await
            }
        }
    }
}

/// The IAM user name of the caller, if it is a user.
pub(crate) fn caller_user_name(caller: &Caller) -> Option<String> {
    let rest = caller
        .principal_arn
        .strip_prefix(&format!("arn:aws:iam::{}:user/", caller.account_id))?;
    rest.rsplit('/').next().map(str::to_string)
}

/// The `UserName` parameter, or the calling user's own name (as IAM defaults it).
pub(crate) fn user_named(caller: &Caller, p: &Params) -> Result<String, ApiError> {
    match p.get("UserName") {
        Some(u) => Ok(u.to_string()),
        None => caller_user_name(caller).ok_or_else(|| {
            ApiError::new(
                ErrorCode::Validation,
                "Must specify userName when calling with non-User credentials",
            )
        }),
    }
}
