//! Managed policies: customer-managed ones with up to five versions, and the few
//! AWS-managed policies Coffer ships (`arn:aws:iam::aws:policy/...`).

use super::{
    check_name, check_path, check_policy, check_tags, PolicyDoc, PolicyVersion, RoleDoc, UserDoc,
    POLICY, ROLE, USER,
};
use crate::call::Call;
use crate::clock::iso_seconds as iso;
use crate::errors::internal;
use crate::identity::Identity;
use crate::ids::random_id;
use coffer_api::iam_ops::{CreatePolicyRequest, CreatePolicyVersionRequest, ListPoliciesRequest};
use coffer_api::query::{url_encode, Node};
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::Kind;
use coffer_store::IamOp;
use std::collections::HashMap;

const MAX_VERSIONS: usize = 5;

/// AWS-managed policies Coffer knows, by name.
const AWS_MANAGED: &[(&str, &str)] = &[
    (
        "AdministratorAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    ),
    (
        "SecretsManagerReadWrite",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:*","kms:DescribeKey","kms:ListAliases","kms:ListKeys","tag:GetResources"],"Resource":"*"}]}"#,
    ),
];

/// The document of an AWS-managed policy ARN.
pub fn aws_managed(arn: &str) -> Option<&'static str> {
    let name = arn.strip_prefix("arn:aws:iam::aws:policy/")?;
    AWS_MANAGED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
}

pub(super) fn not_found(arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Policy {arn} does not exist or is not attachable."),
    )
}

fn no_version(arn: &str, vid: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Policy {arn} version {vid} does not exist or is not attachable."),
    )
}

fn read_only(arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidInput,
        format!("Policy {arn} is an AWS managed policy and cannot be changed."),
    )
}

fn policy_node(arn: &str, name: &str, p: &PolicyDoc, attachments: usize) -> Node {
    let mut kids = vec![
        Node::text("PolicyName", name),
        Node::text("PolicyId", p.id.clone()),
        Node::text("Arn", arn),
        Node::text("Path", p.path.clone()),
        Node::text("DefaultVersionId", p.default_version.clone()),
        Node::text("AttachmentCount", attachments.to_string()),
        Node::text("PermissionsBoundaryUsageCount", "0"),
        Node::text("IsAttachable", "true"),
        Node::text("CreateDate", iso(p.created_ms)),
        Node::text("UpdateDate", iso(p.updated_ms)),
    ];
    if let Some(d) = &p.description {
        kids.push(Node::text("Description", d.clone()));
    }
    if !p.tags.is_empty() {
        kids.push(Node::tags(&p.tags));
    }
    Node::Parent("Policy", kids)
}

fn version_node(v: &PolicyVersion, default: &str) -> Vec<Node> {
    vec![
        Node::text("Document", url_encode(&v.doc)),
        Node::text("VersionId", v.id.clone()),
        Node::text("IsDefaultVersion", (v.id == default).to_string()),
        Node::text("CreateDate", iso(v.created_ms)),
    ]
}

fn aws_doc(name: &str, doc: &str) -> PolicyDoc {
    PolicyDoc {
        id: format!(
            "ANPA{}",
            name.to_ascii_uppercase()
                .chars()
                .take(17)
                .collect::<String>()
        ),
        path: "/".into(),
        created_ms: 0,
        updated_ms: 0,
        description: None,
        default_version: "v1".into(),
        versions: vec![PolicyVersion {
            id: "v1".into(),
            doc: doc.into(),
            created_ms: 0,
        }],
        tags: vec![],
    }
}

impl Identity {
    /// How many users and roles of the account attach each managed policy, from
    /// one read of each.
    async fn attachment_counts(&self, account: &str) -> Result<HashMap<String, usize>, ApiError> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut attached = vec![];
        for r in self.store.iam_list(account, USER).await.map_err(internal)? {
            attached.extend(
                serde_json::from_str::<UserDoc>(&r.body)
                    .map_err(internal)?
                    .attached,
            );
        }
        for r in self.store.iam_list(account, ROLE).await.map_err(internal)? {
            attached.extend(
                serde_json::from_str::<RoleDoc>(&r.body)
                    .map_err(internal)?
                    .attached,
            );
        }
        for arn in attached {
            *counts.entry(arn).or_default() += 1;
        }
        Ok(counts)
    }

    async fn attachments(&self, account: &str, arn: &str) -> Result<usize, ApiError> {
        Ok(self
            .attachment_counts(account)
            .await?
            .get(arn)
            .copied()
            .unwrap_or(0))
    }

    /// The policy an ARN names: AWS-managed, or this account's at exactly the
    /// path the ARN gives.
    /// A managed policy by ARN, found only at the path its ARN names (a policy
    /// deleted and re-created at another path is another policy).
    pub(in crate::identity) async fn policy_by_arn(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<(String, PolicyDoc, Option<i64>), ApiError> {
        if let Some(doc) = aws_managed(arn) {
            let name = arn.rsplit('/').next().unwrap_or(arn).to_string();
            return Ok((name.clone(), aws_doc(&name, doc), None));
        }
        let (path, name) =
            super::split_entity_arn(arn, account, POLICY).ok_or_else(|| not_found(arn))?;
        let (doc, rev) = self
            .iam_load::<PolicyDoc>(account, POLICY, name)
            .await?
            .filter(|(d, _)| d.path == path)
            .ok_or_else(|| not_found(arn))?;
        Ok((name.to_string(), doc, Some(rev)))
    }

    pub(crate) async fn create_policy(
        &self,
        call: &Call<'_>,
        account: &str,
        r: CreatePolicyRequest,
    ) -> Result<Vec<Node>, ApiError> {
        let name = &r.policy_name;
        check_name(name, "policyName", 128)?;
        check_policy(&r.policy_document, Kind::Identity)?;
        check_tags(&r.tags)?;
        let now = self.clock.now_ms();
        let doc = PolicyDoc {
            id: format!("ANPA{}", random_id(17)),
            path: check_path(r.path.as_deref())?,
            created_ms: now,
            updated_ms: now,
            description: r.description,
            default_version: "v1".into(),
            versions: vec![PolicyVersion {
                id: "v1".into(),
                doc: r.policy_document,
                created_ms: now,
            }],
            tags: r.tags,
        };
        let arn = super::entity_arn(account, "policy", &doc.path, name);
        let put = Self::iam_put(account, POLICY, name, &doc, None)?;
        self.iam_commit(
            call,
            account,
            vec![put],
            &format!("A policy called {name} already exists. Duplicate names are not allowed."),
        )
        .await?;
        Ok(vec![policy_node(&arn, name, &doc, 0)])
    }

    pub(crate) async fn get_policy(&self, account: &str, arn: &str) -> Result<Vec<Node>, ApiError> {
        let (name, doc, _) = self.policy_by_arn(account, arn).await?;
        let n = self.attachments(account, arn).await?;
        Ok(vec![policy_node(arn, &name, &doc, n)])
    }

    pub(crate) async fn get_policy_version(
        &self,
        account: &str,
        arn: &str,
        vid: &str,
    ) -> Result<Vec<Node>, ApiError> {
        let (_, doc, _) = self.policy_by_arn(account, arn).await?;
        let v = doc
            .versions
            .iter()
            .find(|v| v.id == vid)
            .ok_or_else(|| no_version(arn, vid))?;
        Ok(vec![Node::Parent(
            "PolicyVersion",
            version_node(v, &doc.default_version),
        )])
    }

    pub(crate) async fn list_policy_versions(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<Vec<Node>, ApiError> {
        let (_, doc, _) = self.policy_by_arn(account, arn).await?;
        let items = doc
            .versions
            .iter()
            .rev()
            .map(|v| version_node(v, &doc.default_version))
            .collect();
        Ok(vec![
            Node::members("Versions", items),
            Node::text("IsTruncated", "false"),
        ])
    }

    pub(crate) async fn create_policy_version(
        &self,
        call: &Call<'_>,
        account: &str,
        r: CreatePolicyVersionRequest,
    ) -> Result<Vec<Node>, ApiError> {
        let arn = &r.policy_arn;
        let (name, mut doc, rev) = self.policy_by_arn(account, arn).await?;
        let rev = rev.ok_or_else(|| read_only(arn))?;
        check_policy(&r.policy_document, Kind::Identity)?;
        if doc.versions.len() >= MAX_VERSIONS {
            return Err(ApiError::new(
                ErrorCode::IamLimitExceeded,
                format!("A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new version, you must delete an existing version."),
            ));
        }
        let next = doc
            .versions
            .iter()
            .filter_map(|v| v.id.strip_prefix('v')?.parse::<u32>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let now = self.clock.now_ms();
        let v = PolicyVersion {
            id: format!("v{next}"),
            doc: r.policy_document,
            created_ms: now,
        };
        if r.set_as_default == Some(true) {
            doc.default_version = v.id.clone();
        }
        doc.updated_ms = now;
        doc.versions.push(v.clone());
        let put = Self::iam_put(account, POLICY, &name, &doc, Some(rev))?;
        self.iam_commit(call, account, vec![put], "").await?;
        Ok(vec![Node::Parent(
            "PolicyVersion",
            version_node(&v, &doc.default_version),
        )])
    }

    pub(crate) async fn delete_policy_version(
        &self,
        call: &Call<'_>,
        account: &str,
        arn: &str,
        vid: &str,
    ) -> Result<Vec<Node>, ApiError> {
        let (name, mut doc, rev) = self.policy_by_arn(account, arn).await?;
        let rev = rev.ok_or_else(|| read_only(arn))?;
        if vid == doc.default_version {
            return Err(ApiError::new(
                ErrorCode::DeleteConflict,
                "Cannot delete the default version of a policy.",
            ));
        }
        let before = doc.versions.len();
        doc.versions.retain(|v| v.id != vid);
        if doc.versions.len() == before {
            return Err(no_version(arn, vid));
        }
        let put = Self::iam_put(account, POLICY, &name, &doc, Some(rev))?;
        self.iam_commit(call, account, vec![put], "").await?;
        Ok(vec![])
    }

    pub(crate) async fn delete_policy(
        &self,
        call: &Call<'_>,
        account: &str,
        arn: &str,
    ) -> Result<Vec<Node>, ApiError> {
        let (name, doc, rev) = self.policy_by_arn(account, arn).await?;
        let rev = rev.ok_or_else(|| read_only(arn))?;
        if self.attachments(account, arn).await? > 0 {
            return Err(ApiError::new(
                ErrorCode::DeleteConflict,
                "Cannot delete a policy attached to entities.",
            ));
        }
        if doc.versions.len() > 1 {
            return Err(ApiError::new(
                ErrorCode::DeleteConflict,
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
            ));
        }
        let del = IamOp::Delete {
            account_id: account.into(),
            kind: POLICY.into(),
            name,
            expected_revision: rev,
        };
        self.iam_commit(call, account, vec![del], "").await?;
        Ok(vec![])
    }

    pub(crate) async fn list_policies(
        &self,
        account: &str,
        r: ListPoliciesRequest,
    ) -> Result<Vec<Node>, ApiError> {
        let scope = r.scope.as_deref().unwrap_or("All");
        let only_attached = r.only_attached == Some(true);
        let prefix = r.path_prefix.as_deref().unwrap_or("/");
        let mut all: Vec<(String, String, PolicyDoc)> = vec![];
        if scope == "All" || scope == "AWS" {
            for (n, d) in AWS_MANAGED {
                all.push((
                    format!("arn:aws:iam::aws:policy/{n}"),
                    n.to_string(),
                    aws_doc(n, d),
                ));
            }
        }
        if scope == "All" || scope == "Local" {
            for r in self
                .store
                .iam_list(account, POLICY)
                .await
                .map_err(internal)?
            {
                let doc: PolicyDoc = serde_json::from_str(&r.body).map_err(internal)?;
                let arn = super::entity_arn(account, "policy", &doc.path, &r.name);
                all.push((arn, r.name, doc));
            }
        }
        let counts = self.attachment_counts(account).await?;
        let mut items = vec![];
        for (arn, name, doc) in all {
            let n = counts.get(&arn).copied().unwrap_or(0);
            if (only_attached && n == 0) || !doc.path.starts_with(prefix) {
                continue;
            }
            if let Node::Parent(_, kids) = policy_node(&arn, &name, &doc, n) {
                items.push(kids);
            }
        }
        Ok(vec![
            Node::members("Policies", items),
            Node::text("IsTruncated", "false"),
        ])
    }
}
