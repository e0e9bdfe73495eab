//! IAM's dispatch: each served operation to its handler, with the grant the
//! identity component gave it.

use super::holder::HolderOp;
use super::oidc::OidcChange;
use crate::identity::{Grant, Identity};
use coffer_api::iam_ops::IamServed;
use coffer_api::query::Node;
use coffer_api::ApiError;

impl Identity {
    /// Runs an authorized IAM operation. The match is exhaustive over the served
    /// operations, with no catch-all.
    pub(crate) async fn dispatch_iam(
        &self,
        g: &Grant<'_>,
        op: IamServed,
    ) -> Result<Vec<Node>, ApiError> {
        use IamServed as Op;
        let account = g.caller().account_id.as_str();
        match op {
            Op::CreateUser(r) => self.create_user(g.call(), account, r).await,
            Op::GetUser(r) => self.get_user(g.caller(), r.user_name).await,
            Op::ListUsers(r) => self.list_users(account, r.path_prefix).await,
            Op::DeleteUser(r) => self.delete_user(g.call(), account, &r.user_name).await,
            Op::TagUser(r) => {
                self.user_op(g.call(), account, &r.user_name, HolderOp::Tag(r.tags))
                    .await
            }
            Op::UntagUser(r) => {
                self.user_op(g.call(), account, &r.user_name, HolderOp::Untag(r.tag_keys))
                    .await
            }
            Op::PutUserPolicy(r) => {
                let op = HolderOp::PutPolicy(r.policy_name, r.policy_document);
                self.user_op(g.call(), account, &r.user_name, op).await
            }
            Op::GetUserPolicy(r) => {
                self.user_op(
                    g.call(),
                    account,
                    &r.user_name,
                    HolderOp::GetPolicy(r.policy_name),
                )
                .await
            }
            Op::DeleteUserPolicy(r) => {
                self.user_op(
                    g.call(),
                    account,
                    &r.user_name,
                    HolderOp::DeletePolicy(r.policy_name),
                )
                .await
            }
            Op::AttachUserPolicy(r) => {
                self.user_op(
                    g.call(),
                    account,
                    &r.user_name,
                    HolderOp::Attach(r.policy_arn),
                )
                .await
            }
            Op::DetachUserPolicy(r) => {
                self.user_op(
                    g.call(),
                    account,
                    &r.user_name,
                    HolderOp::Detach(r.policy_arn),
                )
                .await
            }
            Op::ListAttachedUserPolicies(r) => {
                self.user_op(g.call(), account, &r.user_name, HolderOp::ListAttached)
                    .await
            }
            Op::ListUserPolicies(r) => {
                self.user_op(g.call(), account, &r.user_name, HolderOp::ListPolicies)
                    .await
            }
            Op::CreateAccessKey(r) => {
                self.create_access_key(g.call(), g.caller(), r.user_name)
                    .await
            }
            Op::ListAccessKeys(r) => self.list_access_keys(g.caller(), r.user_name).await,
            Op::DeleteAccessKey(r) => {
                self.change_access_key(g.call(), g.caller(), r.user_name, &r.access_key_id, None)
                    .await
            }
            Op::UpdateAccessKey(r) => {
                let status = Some(r.status.as_str());
                self.change_access_key(g.call(), g.caller(), r.user_name, &r.access_key_id, status)
                    .await
            }
            Op::CreateRole(r) => self.create_role(g.call(), account, r).await,
            Op::GetRole(r) => self.get_role(account, &r.role_name).await,
            Op::ListRoles(r) => self.list_roles(account, r.path_prefix).await,
            Op::DeleteRole(r) => self.delete_role(g.call(), account, &r.role_name).await,
            Op::UpdateAssumeRolePolicy(r) => {
                self.update_trust(g.call(), account, &r.role_name, &r.policy_document)
                    .await
            }
            Op::TagRole(r) => {
                self.role_op(g.call(), account, &r.role_name, HolderOp::Tag(r.tags))
                    .await
            }
            Op::UntagRole(r) => {
                self.role_op(g.call(), account, &r.role_name, HolderOp::Untag(r.tag_keys))
                    .await
            }
            Op::PutRolePolicy(r) => {
                let op = HolderOp::PutPolicy(r.policy_name, r.policy_document);
                self.role_op(g.call(), account, &r.role_name, op).await
            }
            Op::GetRolePolicy(r) => {
                self.role_op(
                    g.call(),
                    account,
                    &r.role_name,
                    HolderOp::GetPolicy(r.policy_name),
                )
                .await
            }
            Op::DeleteRolePolicy(r) => {
                self.role_op(
                    g.call(),
                    account,
                    &r.role_name,
                    HolderOp::DeletePolicy(r.policy_name),
                )
                .await
            }
            Op::AttachRolePolicy(r) => {
                self.role_op(
                    g.call(),
                    account,
                    &r.role_name,
                    HolderOp::Attach(r.policy_arn),
                )
                .await
            }
            Op::DetachRolePolicy(r) => {
                self.role_op(
                    g.call(),
                    account,
                    &r.role_name,
                    HolderOp::Detach(r.policy_arn),
                )
                .await
            }
            Op::ListAttachedRolePolicies(r) => {
                self.role_op(g.call(), account, &r.role_name, HolderOp::ListAttached)
                    .await
            }
            Op::ListRolePolicies(r) => {
                self.role_op(g.call(), account, &r.role_name, HolderOp::ListPolicies)
                    .await
            }
            Op::CreatePolicy(r) => self.create_policy(g.call(), account, r).await,
            Op::GetPolicy(r) => self.get_policy(account, &r.policy_arn).await,
            Op::GetPolicyVersion(r) => {
                self.get_policy_version(account, &r.policy_arn, &r.version_id)
                    .await
            }
            Op::ListPolicies(r) => self.list_policies(account, r).await,
            Op::DeletePolicy(r) => self.delete_policy(g.call(), account, &r.policy_arn).await,
            Op::CreatePolicyVersion(r) => self.create_policy_version(g.call(), account, r).await,
            Op::ListPolicyVersions(r) => self.list_policy_versions(account, &r.policy_arn).await,
            Op::DeletePolicyVersion(r) => {
                self.delete_policy_version(g.call(), account, &r.policy_arn, &r.version_id)
                    .await
            }
            Op::CreateOpenIDConnectProvider(r) => {
                self.create_oidc_provider(g.call(), account, r).await
            }
            Op::GetOpenIDConnectProvider(r) => {
                self.get_oidc_provider(account, &r.open_id_connect_provider_arn)
                    .await
            }
            Op::ListOpenIDConnectProviders(_) => self.list_oidc_providers(account).await,
            Op::ListOpenIDConnectProviderTags(r) => {
                self.list_oidc_provider_tags(account, &r.open_id_connect_provider_arn)
                    .await
            }
            Op::DeleteOpenIDConnectProvider(r) => {
                self.delete_oidc_provider(g.call(), account, &r.open_id_connect_provider_arn)
                    .await
            }
            Op::AddClientIDToOpenIDConnectProvider(r) => {
                let change = OidcChange::AddClient(r.client_id);
                self.change_oidc_provider(
                    g.call(),
                    account,
                    &r.open_id_connect_provider_arn,
                    change,
                )
                .await
            }
            Op::RemoveClientIDFromOpenIDConnectProvider(r) => {
                let change = OidcChange::RemoveClient(r.client_id);
                self.change_oidc_provider(
                    g.call(),
                    account,
                    &r.open_id_connect_provider_arn,
                    change,
                )
                .await
            }
            Op::UpdateOpenIDConnectProviderThumbprint(r) => {
                let change = OidcChange::Thumbprints(r.thumbprint_list);
                self.change_oidc_provider(
                    g.call(),
                    account,
                    &r.open_id_connect_provider_arn,
                    change,
                )
                .await
            }
            Op::TagOpenIDConnectProvider(r) => {
                let change = OidcChange::Tag(r.tags);
                self.change_oidc_provider(
                    g.call(),
                    account,
                    &r.open_id_connect_provider_arn,
                    change,
                )
                .await
            }
            Op::UntagOpenIDConnectProvider(r) => {
                let change = OidcChange::Untag(r.tag_keys);
                self.change_oidc_provider(
                    g.call(),
                    account,
                    &r.open_id_connect_provider_arn,
                    change,
                )
                .await
            }
        }
    }
}
