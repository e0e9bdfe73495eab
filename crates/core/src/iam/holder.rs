//! What users and roles share: tags, inline policies and attached managed policies.

use super::wire::{url_encode, Node, Params};
use super::{check_name, check_policy, check_tags, merge_tags, RoleDoc, UserDoc};
use crate::context::Caller;
use crate::internal;
use crate::service::Service;
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

/// The managed policy name in a policy ARN, if the ARN is this account's.
pub(crate) fn policy_name_of<'a>(account: &str, arn: &'a str) -> Option<&'a str> {
    let rest = arn.strip_prefix(&format!("arn:aws:iam::{account}:policy/"))?;
    rest.rsplit('/').next().filter(|n| !n.is_empty())
}

impl Service {
    /// The operations on a holder's tags and policies. `op` is the action name
    /// with the holder's kind removed (`Tag`, `PutPolicy`, `AttachPolicy`, ...).
    pub(crate) async fn holder_action<T: Holder>(
        &self,
        caller: &Caller,
        op: &str,
        p: &Params,
    ) -> Result<Vec<Node>, ApiError> {
        let account = &caller.account_id;
        let name = p.required(T::NAME_PARAM)?;
        let (mut doc, rev) = self.iam_require::<T>(account, T::KIND, name).await?;
        let mut out = vec![];
        match op {
            "Tag" => {
                let add = p.tags("Tags")?;
                let mut all = doc.tags().clone();
                merge_tags(&mut all, add);
                check_tags(&all)?;
                *doc.tags() = all;
            }
            "Untag" => {
                let keys = p.list("TagKeys");
                doc.tags().retain(|(k, _)| !keys.contains(k));
            }
            "PutPolicy" => {
                let pname = p.required("PolicyName")?;
                check_name(pname, "policyName", 128)?;
                let pdoc = p.required("PolicyDocument")?;
                check_policy(pdoc, Kind::Identity)?;
                doc.inline().insert(pname.into(), pdoc.into());
            }
            "GetPolicy" => {
                let pname = p.required("PolicyName")?;
                let Some(pdoc) = doc.inline().get(pname) else {
                    return Err(no_inline(T::KIND, name, pname));
                };
                return Ok(vec![
                    Node::text(T::NAME_PARAM, name),
                    Node::text("PolicyName", pname),
                    Node::text("PolicyDocument", url_encode(pdoc)),
                ]);
            }
            "DeletePolicy" => {
                let pname = p.required("PolicyName")?;
                if doc.inline().remove(pname).is_none() {
                    return Err(no_inline(T::KIND, name, pname));
                }
            }
            "ListPolicies" => {
                let names = doc.inline().keys().map(|n| Node::text("member", n.clone()));
                out.push(Node::Parent("PolicyNames", names.collect()));
                out.push(Node::text("IsTruncated", "false"));
                return Ok(out);
            }
            "AttachPolicy" => {
                let arn = p.required("PolicyArn")?;
                self.attachable(account, arn).await?;
                if !doc.attached().iter().any(|a| a == arn) {
                    if doc.attached().len() >= 10 {
                        return Err(ApiError::new(
                            ErrorCode::IamLimitExceeded,
                            "Cannot exceed quota for PoliciesPerUser: 10.",
                        ));
                    }
                    doc.attached().push(arn.into());
                }
            }
            "DetachPolicy" => {
                let arn = p.required("PolicyArn")?;
                let before = doc.attached().len();
                doc.attached().retain(|a| a != arn);
                if doc.attached().len() == before {
                    return Err(ApiError::new(
                        ErrorCode::NoSuchEntity,
                        format!("Policy {arn} was not found."),
                    ));
                }
            }
            "ListAttachedPolicies" => {
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
                out.push(Node::members("AttachedPolicies", items));
                out.push(Node::text("IsTruncated", "false"));
                return Ok(out);
            }
            _ => return Err(super::unknown_action(op)),
        }
        let put = Self::iam_put(account, T::KIND, name, &doc, Some(rev))?;
        self.iam_commit(vec![put], "").await?;
        Ok(out)
    }

    /// ListUsers / ListRoles: every holder of the kind under `PathPrefix`, each as
    /// a `<member>` of `list`.
    pub(crate) async fn list_holders<T: Holder>(
        &self,
        account: &str,
        p: &Params,
        list: &'static str,
        fields: fn(&str, &str, &T) -> Vec<Node>,
    ) -> Result<Vec<Node>, ApiError> {
        let prefix = p.get("PathPrefix").unwrap_or("/");
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

    /// A managed policy exists and may be attached.
    async fn attachable(&self, account: &str, arn: &str) -> Result<(), ApiError> {
        let missing = || {
            ApiError::new(
                ErrorCode::NoSuchEntity,
                format!("Policy {arn} does not exist or is not attachable."),
            )
        };
        if super::policies::aws_managed(arn).is_some() {
            return Ok(());
        }
        let name = policy_name_of(account, arn).ok_or_else(missing)?;
        match self
            .iam_load::<super::PolicyDoc>(account, super::POLICY, name)
            .await?
        {
            Some(_) => Ok(()),
            None => Err(missing()),
        }
    }
}

fn no_inline(kind: &str, holder: &str, policy: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The {kind} policy with name {policy} cannot be found for {holder}."),
    )
}
