//! What users and roles share: tags, inline policies and attached managed policies.

use super::{check_name, check_policy, check_tags, merge_tags, RoleDoc, UserDoc};
use crate::call::Call;
use crate::errors::internal;
use crate::identity::Identity;
use coffer_api::query::{url_encode, Node};
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::Kind;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;

/// A user or a role: anything policies attach to.
pub(crate) trait Holder: Serialize + DeserializeOwned {
    const KIND: &'static str;
    /// `UserName` or `RoleName`.
    const NAME_PARAM: &'static str;
    fn path(&self) -> &str;
    fn tags(&mut self) -> &mut Vec<(String, String)>;
    fn inline(&mut self) -> &mut BTreeMap<String, String>;
    fn attached(&mut self) -> &mut Vec<String>;
}

impl Holder for UserDoc {
    const KIND: &'static str = super::USER;
    const NAME_PARAM: &'static str = "UserName";
    fn path(&self) -> &str {
        &self.path
    }
    fn tags(&mut self) -> &mut Vec<(String, String)> {
        &mut self.tags
    }
    fn inline(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.inline
    }
    fn attached(&mut self) -> &mut Vec<String> {
        &mut self.attached
    }
}

impl Holder for RoleDoc {
    const KIND: &'static str = super::ROLE;
    const NAME_PARAM: &'static str = "RoleName";
    fn path(&self) -> &str {
        &self.path
    }
    fn tags(&mut self) -> &mut Vec<(String, String)> {
        &mut self.tags
    }
    fn inline(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.inline
    }
    fn attached(&mut self) -> &mut Vec<String> {
        &mut self.attached
    }
}

/// What the holder operations do, the same for users and roles.
pub(crate) enum HolderOp {
    Tag(Vec<(String, String)>),
    Untag(Vec<String>),
    /// Policy name and document.
    PutPolicy(String, String),
    GetPolicy(String),
    DeletePolicy(String),
    ListPolicies,
    /// A managed policy's ARN.
    Attach(String),
    Detach(String),
    ListAttached,
}

impl Identity {
    /// A holder operation on a user.
    pub(crate) async fn user_op(
        &self,
        call: &Call<'_>,
        account: &str,
        name: &str,
        op: HolderOp,
    ) -> Result<Vec<Node>, ApiError> {
        self.holder_action::<UserDoc>(call, account, name, op).await
    }

    /// A holder operation on a role.
    pub(crate) async fn role_op(
        &self,
        call: &Call<'_>,
        account: &str,
        name: &str,
        op: HolderOp,
    ) -> Result<Vec<Node>, ApiError> {
        self.holder_action::<RoleDoc>(call, account, name, op).await
    }

    /// Tags, inline policies and attached policies of a user or a role.
    async fn holder_action<T: Holder>(
        &self,
        call: &Call<'_>,
        account: &str,
        name: &str,
        op: HolderOp,
    ) -> Result<Vec<Node>, ApiError> {
        let (mut doc, rev) = self.iam_require::<T>(account, T::KIND, name).await?;
        match op {
            HolderOp::Tag(add) => {
                let mut all = doc.tags().clone();
                merge_tags(&mut all, add);
                check_tags(&all)?;
                *doc.tags() = all;
            }
            HolderOp::Untag(keys) => doc.tags().retain(|(k, _)| !keys.contains(k)),
            HolderOp::PutPolicy(pname, pdoc) => {
                check_name(&pname, "policyName", 128)?;
                check_policy(&pdoc, Kind::Identity)?;
                doc.inline().insert(pname, pdoc);
            }
            HolderOp::GetPolicy(pname) => {
                let Some(pdoc) = doc.inline().get(&pname) else {
                    return Err(no_inline(T::KIND, name, &pname));
                };
                let pdoc = url_encode(pdoc);
                return Ok(vec![
                    Node::text(T::NAME_PARAM, name),
                    Node::text("PolicyName", pname),
                    Node::text("PolicyDocument", pdoc),
                ]);
            }
            HolderOp::DeletePolicy(pname) => {
                if doc.inline().remove(&pname).is_none() {
                    return Err(no_inline(T::KIND, name, &pname));
                }
            }
            HolderOp::ListPolicies => {
                let names = doc.inline().keys().map(|n| Node::text("member", n.clone()));
                return Ok(vec![
                    Node::Parent("PolicyNames", names.collect()),
                    Node::text("IsTruncated", "false"),
                ]);
            }
            HolderOp::Attach(arn) => {
                self.attachable(account, &arn).await?;
                if !doc.attached().contains(&arn) {
                    if doc.attached().len() >= 10 {
                        return Err(ApiError::new(
                            ErrorCode::IamLimitExceeded,
                            "Cannot exceed quota for PoliciesPerUser: 10.",
                        ));
                    }
                    doc.attached().push(arn);
                }
            }
            HolderOp::Detach(arn) => {
                let before = doc.attached().len();
                doc.attached().retain(|a| *a != arn);
                if doc.attached().len() == before {
                    return Err(ApiError::new(
                        ErrorCode::NoSuchEntity,
                        format!("Policy {arn} was not found."),
                    ));
                }
            }
            HolderOp::ListAttached => {
                let items = doc
                    .attached()
                    .iter()
                    .map(|arn| {
                        vec![
                            Node::text("PolicyName", arn.rsplit('/').next().unwrap_or(arn)),
                            Node::text("PolicyArn", arn.clone()),
                        ]
                    })
                    .collect();
                return Ok(vec![
                    Node::members("AttachedPolicies", items),
                    Node::text("IsTruncated", "false"),
                ]);
            }
        }
        let put = Self::iam_put(account, T::KIND, name, &doc, Some(rev))?;
        self.iam_commit(call, account, vec![put], "").await?;
        Ok(vec![])
    }

    /// ListUsers / ListRoles: every holder of the kind under `PathPrefix`, each as
    /// a `<member>` of `list`.
    pub(crate) async fn list_holders<T: Holder>(
        &self,
        account: &str,
        path_prefix: Option<String>,
        list: &'static str,
        fields: fn(&str, &str, &T) -> Vec<Node>,
    ) -> Result<Vec<Node>, ApiError> {
        let prefix = path_prefix.as_deref().unwrap_or("/");
        let mut items = vec![];
        for r in self
            .store
            .iam_list(account, T::KIND)
            .await
            .map_err(internal)?
        {
            let doc: T = serde_json::from_str(&r.body).map_err(internal)?;
            if doc.path().starts_with(prefix) {
                items.push(fields(account, &r.name, &doc));
            }
        }
        Ok(vec![
            Node::members(list, items),
            Node::text("IsTruncated", "false"),
        ])
    }

    /// A managed policy exists (at the path its ARN names) and may be attached.
    async fn attachable(&self, account: &str, arn: &str) -> Result<(), ApiError> {
        self.policy_by_arn(account, arn).await.map(|_| ())
    }
}

fn no_inline(kind: &str, holder: &str, policy: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The {kind} policy with name {policy} cannot be found for {holder}."),
    )
}
