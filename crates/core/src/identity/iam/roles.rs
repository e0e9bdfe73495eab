//! CreateRole, GetRole, ListRoles, DeleteRole, UpdateAssumeRolePolicy, and the role
//! forms of the holder operations.

use super::{check_name, check_path, check_policy, check_tags, entity_arn, RoleDoc, ROLE};
use crate::call::Call;
use crate::clock::iso_seconds as iso;
use crate::identity::Identity;
use crate::ids::random_id;
use coffer_api::iam_ops::CreateRoleRequest;
use coffer_api::query::{url_encode, Node};
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::Kind;
use coffer_store::IamOp;

pub(crate) fn role_node(account: &str, name: &str, r: &RoleDoc) -> Node {
    Node::Parent("Role", role_fields(account, name, r))
}

/// A role's elements (inside `<Role>`, or a `<member>` of ListRoles).
fn role_fields(account: &str, name: &str, r: &RoleDoc) -> Vec<Node> {
    let mut kids = vec![
        Node::text("Path", r.path.clone()),
        Node::text("RoleName", name),
        Node::text("RoleId", r.id.clone()),
        Node::text("Arn", entity_arn(account, "role", &r.path, name)),
        Node::text("CreateDate", iso(r.created_ms)),
        Node::text("AssumeRolePolicyDocument", url_encode(&r.trust)),
        Node::text("MaxSessionDuration", r.max_session_secs.to_string()),
    ];
    if let Some(d) = &r.description {
        kids.push(Node::text("Description", d.clone()));
    }
    if !r.tags.is_empty() {
        kids.push(Node::tags(&r.tags));
    }
    kids
}

fn max_session(v: Option<i64>) -> Result<i64, ApiError> {
    let v = v.unwrap_or(3600);
    if !(3600..=43200).contains(&v) {
        return Err(ApiError::new(
            ErrorCode::Validation,
            format!("1 validation error detected: Value '{v}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200"),
        ));
    }
    Ok(v)
}

impl Identity {
    pub(crate) async fn create_role(
        &self,
        call: &Call<'_>,
        account: &str,
        r: CreateRoleRequest,
    ) -> Result<Vec<Node>, ApiError> {
        let name = &r.role_name;
        check_name(name, "roleName", 64)?;
        super::no_boundary(r.permissions_boundary.as_deref())?;
        check_policy(&r.assume_role_policy_document, Kind::Trust)?;
        check_tags(&r.tags)?;
        if r.description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 1000)
        {
            return Err(ApiError::new(ErrorCode::Validation, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000"));
        }
        let doc = RoleDoc {
            id: format!("AROA{}", random_id(17)),
            path: check_path(r.path.as_deref())?,
            created_ms: self.clock.now_ms(),
            trust: r.assume_role_policy_document,
            max_session_secs: max_session(r.max_session_duration)?,
            description: r.description,
            tags: r.tags,
            inline: std::collections::BTreeMap::default(),
            attached: vec![],
        };
        let put = Self::iam_put(account, ROLE, name, &doc, None)?;
        self.iam_commit(
            call,
            account,
            vec![put],
            &format!("Role with name {name} already exists."),
        )
        .await?;
        Ok(vec![role_node(account, name, &doc)])
    }

    pub(crate) async fn get_role(&self, account: &str, name: &str) -> Result<Vec<Node>, ApiError> {
        let (doc, _) = self.iam_require::<RoleDoc>(account, ROLE, name).await?;
        Ok(vec![role_node(account, name, &doc)])
    }

    pub(crate) async fn list_roles(
        &self,
        account: &str,
        path_prefix: Option<String>,
    ) -> Result<Vec<Node>, ApiError> {
        self.list_holders::<RoleDoc>(account, path_prefix, "Roles", role_fields)
            .await
    }

    pub(crate) async fn delete_role(
        &self,
        call: &Call<'_>,
        account: &str,
        name: &str,
    ) -> Result<Vec<Node>, ApiError> {
        let (doc, rev) = self.iam_require::<RoleDoc>(account, ROLE, name).await?;
        if !doc.inline.is_empty() || !doc.attached.is_empty() {
            return Err(ApiError::new(
                ErrorCode::DeleteConflict,
                "Cannot delete entity, must delete policies first.",
            ));
        }
        let del = IamOp::Delete {
            account_id: account.into(),
            kind: ROLE.into(),
            name: name.into(),
            expected_revision: rev,
        };
        self.iam_commit(call, account, vec![del], "").await?;
        Ok(vec![])
    }

    /// UpdateAssumeRolePolicy.
    pub(crate) async fn update_trust(
        &self,
        call: &Call<'_>,
        account: &str,
        name: &str,
        trust: &str,
    ) -> Result<Vec<Node>, ApiError> {
        check_policy(trust, Kind::Trust)?;
        let (mut doc, rev) = self.iam_require::<RoleDoc>(account, ROLE, name).await?;
        doc.trust = trust.into();
        let put = Self::iam_put(account, ROLE, name, &doc, Some(rev))?;
        self.iam_commit(call, account, vec![put], "").await?;
        Ok(vec![])
    }
}
