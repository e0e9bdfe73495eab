//! IAM's OpenID Connect providers: the issuers whose tokens
//! AssumeRoleWithWebIdentity accepts, each with the audiences (client ids)
//! it may be used for. One document per provider, named by its URL without
//! `https://`, as its ARN is (`arn:aws:iam::A:oidc-provider/HOST/PATH`).

use super::{check_tags, merge_tags};
use crate::call::Call;
use crate::clock::iso_seconds as iso;
use crate::identity::Identity;
use coffer_api::iam_ops::CreateOpenIDConnectProviderRequest;
use coffer_api::query::Node;
use coffer_api::{ApiError, ErrorCode};
use coffer_store::IamOp;
use serde::{Deserialize, Serialize};

pub const OIDC: &str = "oidc-provider";

/// AWS's quota of OIDC providers per account.
const PROVIDERS_MAX: usize = 100;

/// A provider, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OidcDoc {
    /// `https://HOST/PATH`, as tokens' `iss` write it.
    pub url: String,
    pub client_ids: Vec<String>,
    pub thumbprints: Vec<String>,
    pub created_ms: i64,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

/// What a change does to a provider.
pub(crate) enum OidcChange {
    AddClient(String),
    RemoveClient(String),
    Thumbprints(Vec<String>),
    Tag(Vec<(String, String)>),
    Untag(Vec<String>),
}

pub(crate) fn provider_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{OIDC}/{name}")
}

fn validation(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Validation, msg)
}

fn not_found(arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("OpenIDConnect Provider not found for arn {arn}"),
    )
}

/// The provider's name in `account` from its ARN; another account's provider
/// is not found (IAM entities are the caller's own).
fn name_of<'a>(account: &str, arn: &'a str) -> Result<&'a str, ApiError> {
    if arn.len() < 20 || arn.len() > 2048 {
        return Err(validation("1 validation error detected: Value at 'openIDConnectProviderArn' failed to satisfy constraint: Member must have length between 20 and 2048"));
    }
    let Some(rest) = arn.strip_prefix("arn:aws:iam::") else {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("ARN {arn} is not valid."),
        ));
    };
    match rest.split_once(':') {
        Some((a, name)) if a == account => name
            .strip_prefix("oidc-provider/")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| not_found(arn)),
        _ => Err(not_found(arn)),
    }
}

/// The URL as AWS takes it: `https://`, a host, an optional port and path, no
/// query or fragment; the provider's name is the rest after `https://`.
fn check_url(url: &str) -> Result<&str, ApiError> {
    if url.is_empty() || url.chars().count() > 255 {
        return Err(validation("1 validation error detected: Value at 'url' failed to satisfy constraint: Member must have length less than or equal to 255"));
    }
    let rest = url
        .strip_prefix("https://")
        .filter(|r| {
            let host = r.split('/').next().unwrap_or("");
            !host.is_empty()
                && !r.contains(['?', '#', ' '])
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
        })
        .ok_or_else(|| validation("Invalid Open ID Connect Provider URL"))?;
    Ok(rest)
}

fn check_client_ids(ids: &[String]) -> Result<(), ApiError> {
    if ids.iter().any(|c| c.is_empty() || c.chars().count() > 255) {
        return Err(validation("1 validation error detected: Value at 'clientIDList' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 255, Member must have length greater than or equal to 1]"));
    }
    if ids.len() > 100 {
        return Err(ApiError::new(
            ErrorCode::IamLimitExceeded,
            "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100",
        ));
    }
    Ok(())
}

fn check_thumbprints(t: &[String]) -> Result<(), ApiError> {
    if t.iter()
        .any(|x| x.len() != 40 || !x.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(validation("1 validation error detected: Value at 'thumbprintList' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 40, Member must have length greater than or equal to 40]"));
    }
    if t.len() > 5 {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "Thumbprint list must contain fewer than 5 entries.",
        ));
    }
    Ok(())
}

fn dedup(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for x in list {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

impl Identity {
    pub(crate) async fn create_oidc_provider(
        &self,
        call: &Call<'_>,
        account: &str,
        r: CreateOpenIDConnectProviderRequest,
    ) -> Result<Vec<Node>, ApiError> {
        let name = check_url(&r.url)?.to_string();
        check_client_ids(&r.client_id_list)?;
        let held = self
            .store
            .iam_list(account, OIDC)
            .await
            .map_err(crate::errors::internal)?
            .len();
        if held >= PROVIDERS_MAX {
            return Err(ApiError::new(
                ErrorCode::IamLimitExceeded,
                format!(
                    "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {PROVIDERS_MAX}."
                ),
            ));
        }
        check_thumbprints(&r.thumbprint_list)?;
        check_tags(&r.tags)?;
        let doc = OidcDoc {
            url: r.url.clone(),
            client_ids: dedup(r.client_id_list),
            thumbprints: dedup(r.thumbprint_list),
            created_ms: self.clock.now_ms(),
            tags: r.tags,
        };
        let put = Self::iam_put(account, OIDC, &name, &doc, None)?;
        let exists = format!("Provider with url {} already exists.", r.url);
        self.iam_commit(call, account, vec![put], &exists).await?;
        let mut out = vec![Node::text(
            "OpenIDConnectProviderArn",
            provider_arn(account, &name),
        )];
        if !doc.tags.is_empty() {
            out.push(Node::tags(&doc.tags));
        }
        Ok(out)
    }

    async fn oidc_require(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<(String, OidcDoc, i64), ApiError> {
        let name = name_of(account, arn)?;
        let (doc, rev) = self
            .iam_load::<OidcDoc>(account, OIDC, name)
            .await?
            .ok_or_else(|| not_found(arn))?;
        Ok((name.to_string(), doc, rev))
    }

    pub(crate) async fn get_oidc_provider(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<Vec<Node>, ApiError> {
        let (name, doc, _) = self.oidc_require(account, arn).await?;
        let list = |tag: &'static str, xs: &[String]| {
            Node::Parent(
                tag,
                xs.iter().map(|x| Node::text("member", x.clone())).collect(),
            )
        };
        Ok(vec![
            Node::text("Url", name),
            list("ClientIDList", &doc.client_ids),
            list("ThumbprintList", &doc.thumbprints),
            Node::text("CreateDate", iso(doc.created_ms)),
            Node::tags(&doc.tags),
        ])
    }

    pub(crate) async fn list_oidc_providers(&self, account: &str) -> Result<Vec<Node>, ApiError> {
        let rows = self
            .store
            .iam_list(account, OIDC)
            .await
            .map_err(crate::errors::internal)?;
        let members = rows
            .iter()
            .map(|r| vec![Node::text("Arn", provider_arn(account, &r.name))])
            .collect();
        Ok(vec![Node::members("OpenIDConnectProviderList", members)])
    }

    pub(crate) async fn list_oidc_provider_tags(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<Vec<Node>, ApiError> {
        let (_, doc, _) = self.oidc_require(account, arn).await?;
        Ok(vec![
            Node::tags(&doc.tags),
            Node::text("IsTruncated", "false"),
        ])
    }

    pub(crate) async fn delete_oidc_provider(
        &self,
        call: &Call<'_>,
        account: &str,
        arn: &str,
    ) -> Result<Vec<Node>, ApiError> {
        let gone = || {
            ApiError::new(
                ErrorCode::NoSuchEntity,
                format!("OpenId connect Provider {arn} cannot be found."),
            )
        };
        let name = name_of(account, arn).map_err(|_| gone())?;
        let Some((_, rev)) = self.iam_load::<OidcDoc>(account, OIDC, name).await? else {
            return Err(gone());
        };
        let del = IamOp::Delete {
            account_id: account.into(),
            kind: OIDC.into(),
            name: name.into(),
            expected_revision: rev,
        };
        self.iam_commit(call, account, vec![del], "").await?;
        Ok(vec![])
    }

    /// AddClientID, RemoveClientID (both idempotent), UpdateThumbprint, Tag,
    /// Untag.
    pub(crate) async fn change_oidc_provider(
        &self,
        call: &Call<'_>,
        account: &str,
        arn: &str,
        change: OidcChange,
    ) -> Result<Vec<Node>, ApiError> {
        let (name, mut doc, rev) = self.oidc_require(account, arn).await?;
        match change {
            OidcChange::AddClient(id) => {
                check_client_ids(std::slice::from_ref(&id))?;
                if !doc.client_ids.contains(&id) {
                    doc.client_ids.push(id);
                }
                check_client_ids(&doc.client_ids)?;
            }
            OidcChange::RemoveClient(id) => {
                check_client_ids(std::slice::from_ref(&id))?;
                doc.client_ids.retain(|c| *c != id);
            }
            OidcChange::Thumbprints(t) => {
                check_thumbprints(&t)?;
                doc.thumbprints = dedup(t);
            }
            OidcChange::Tag(tags) => {
                merge_tags(&mut doc.tags, tags);
                check_tags(&doc.tags)?;
            }
            OidcChange::Untag(keys) => doc.tags.retain(|(k, _)| !keys.contains(k)),
        }
        let put = Self::iam_put(account, OIDC, &name, &doc, Some(rev))?;
        self.iam_commit(call, account, vec![put], "").await?;
        Ok(vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_arns() {
        assert_eq!(
            check_url("https://oidc.example.com/id/AB").unwrap(),
            "oidc.example.com/id/AB"
        );
        assert_eq!(
            check_url("https://127.0.0.1:8443").unwrap(),
            "127.0.0.1:8443"
        );
        for bad in [
            "example.org",
            "http://a.b",
            "https://",
            "https:///x",
            "https://a.b/?q=1",
        ] {
            assert_eq!(
                check_url(bad).unwrap_err().message,
                "Invalid Open ID Connect Provider URL",
                "{bad}"
            );
        }
        let arn = "arn:aws:iam::111111111111:oidc-provider/oidc.example.com/id/AB";
        assert_eq!(
            name_of("111111111111", arn).unwrap(),
            "oidc.example.com/id/AB"
        );
        assert_eq!(
            name_of("222222222222", arn).unwrap_err().code,
            ErrorCode::NoSuchEntity,
            "another account's provider"
        );
        assert_eq!(
            name_of("111111111111", "arn:aws:iam::111111111111:role/x")
                .unwrap_err()
                .code,
            ErrorCode::NoSuchEntity
        );
    }

    #[test]
    fn limits() {
        let five: Vec<String> = (0..5).map(|i| format!("{i:040}")).collect();
        assert!(check_thumbprints(&five).is_ok());
        let mut six = five.clone();
        six.push("a".repeat(40));
        assert_eq!(
            check_thumbprints(&six).unwrap_err().code,
            ErrorCode::InvalidInput
        );
        assert_eq!(
            check_thumbprints(&["abc".into()]).unwrap_err().code,
            ErrorCode::Validation
        );
        let ids: Vec<String> = (0..101).map(|i| i.to_string()).collect();
        assert_eq!(
            check_client_ids(&ids).unwrap_err().code,
            ErrorCode::IamLimitExceeded
        );
    }
}
