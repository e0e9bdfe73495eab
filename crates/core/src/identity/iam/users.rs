//! CreateUser, GetUser, ListUsers, DeleteUser, and the user forms of the holder
//! operations (tags and policies).

use super::{check_name, check_path, check_tags, entity_arn, UserDoc, USER};
use crate::call::Call;
use crate::clock::iso_seconds as iso;
use crate::context::Caller;
use crate::errors::internal;
use crate::identity::Identity;
use crate::ids::random_id;
use coffer_api::iam_ops::CreateUserRequest;
use coffer_api::query::Node;
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

impl Identity {
    pub(crate) async fn create_user(
        &self,
        call: &Call<'_>,
        account: &str,
        r: CreateUserRequest,
    ) -> Result<Vec<Node>, ApiError> {
        let name = &r.user_name;
        check_name(name, "userName", 64)?;
        super::no_boundary(r.permissions_boundary.as_deref())?;
        check_tags(&r.tags)?;
        let doc = UserDoc {
            id: format!("AIDA{}", random_id(17)),
            path: check_path(r.path.as_deref())?,
            created_ms: self.clock.now_ms(),
            tags: r.tags,
            inline: std::collections::BTreeMap::default(),
            attached: vec![],
        };
        let put = Self::iam_put(account, USER, name, &doc, None)?;
        self.iam_commit(
            call,
            account,
            vec![put],
            &format!("User with name {name} already exists."),
        )
        .await?;
        Ok(vec![user_node(account, name, &doc)])
    }

    pub(crate) async fn get_user(
        &self,
        caller: &Caller,
        user_name: Option<String>,
    ) -> Result<Vec<Node>, ApiError> {
        let account = caller.account_id.as_str();
        let root_arn = format!("arn:aws:iam::{account}:root");
        if user_name.is_none() && caller.principal_arn == root_arn {
            // The account's root answers for itself, as in AWS: no name or path.
            let created = self
                .store
                .account(account)
                .await
                .map_err(internal)?
                .map_or(0, |a| a.created_ms);
            return Ok(vec![Node::Parent(
                "User",
                vec![
                    Node::text("UserId", account),
                    Node::text("Arn", root_arn),
                    Node::text("CreateDate", iso(created)),
                ],
            )]);
        }
        let name = user_named(caller, user_name)?;
        let (doc, _) = self.iam_require::<UserDoc>(account, USER, &name).await?;
        Ok(vec![user_node(account, &name, &doc)])
    }

    pub(crate) async fn list_users(
        &self,
        account: &str,
        path_prefix: Option<String>,
    ) -> Result<Vec<Node>, ApiError> {
        self.list_holders::<UserDoc>(account, path_prefix, "Users", user_fields)
            .await
    }

    pub(crate) async fn delete_user(
        &self,
        call: &Call<'_>,
        account: &str,
        name: &str,
    ) -> Result<Vec<Node>, ApiError> {
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
        self.iam_commit(call, account, vec![del], "").await?;
        Ok(vec![])
    }
}

/// The IAM user name of the caller, if it is a user.
pub(crate) fn caller_user_name(caller: &Caller) -> Option<String> {
    let rest = caller
        .principal_arn
        .strip_prefix(&format!("arn:aws:iam::{}:user/", caller.account_id))?;
    rest.rsplit('/').next().map(str::to_string)
}

/// The `UserName` member, or the calling user's own name (as IAM defaults it).
pub(crate) fn user_named(caller: &Caller, user_name: Option<String>) -> Result<String, ApiError> {
    match user_name {
        Some(u) => Ok(u),
        None => caller_user_name(caller).ok_or_else(|| {
            ApiError::new(
                ErrorCode::Validation,
                "Must specify userName when calling with non-User credentials",
            )
        }),
    }
}
