//! AssumeRoleWithWebIdentity: a token from an OIDC issuer (a Kubernetes
//! cluster's service account token, a CI system's ID token) exchanged for a
//! role's session. The request is not signed; the token is the credential.
//!
//! In order: the token's issuer registered as an IAM OIDC provider in the
//! account the role ARN names (only then are the issuer's keys fetched, so a
//! caller cannot make this server fetch from anywhere); the signature under
//! the issuer's keys; `exp` and `nbf`; an audience among the provider's
//! client ids; the role (AccessDenied, as a refusal, if there is none); and
//! its trust policy, for the provider as a `Federated` principal with the keys
//! `ISSUER:aud`, `ISSUER:sub` and `ISSUER:amr` (ISSUER is the URL without
//! `https://`).

use super::grant::RoleGrant;
use super::iam::oidc::{provider_arn, OidcDoc, OIDC};
use super::iam::RoleDoc;
use super::secrets::Granted;
use super::web_token::{self, Claims};
use super::{Grant, Identity};
use crate::call::Call;
use coffer_api::sts_ops::AssumeRoleWithWebIdentityRequest;
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{evaluate, Context, Kind, Policy, Principal, Request};
use serde_json::{json, Value};

/// What a web identity grant was given for.
pub(crate) struct WebGrant {
    pub role: RoleGrant,
    pub provider_arn: String,
    /// The audience that matched one of the provider's client ids.
    pub audience: String,
    pub claims: Claims,
}

impl WebGrant {
    /// CloudTrail's `userIdentity` of the call.
    pub(crate) fn user_identity(&self) -> Value {
        json!({
            "type": "WebIdentityUser",
            "principalId": format!("{}:{}:{}", self.provider_arn, self.audience, self.claims.sub),
            "userName": self.claims.sub,
            "identityProvider": self.provider_arn,
        })
    }
}

fn denied() -> ApiError {
    ApiError::new(
        ErrorCode::AccessDenied,
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    )
}

impl Identity {
    pub(crate) async fn authorize_web_identity<'a>(
        &'a self,
        call: &'a Call<'a>,
        r: &AssumeRoleWithWebIdentityRequest,
    ) -> Result<Grant<'a>, ApiError> {
        let n = r.web_identity_token.chars().count();
        if !(4..=20_000).contains(&n) {
            return Err(ApiError::new(ErrorCode::Validation, "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length between 4 and 20000"));
        }
        let token = web_token::parse(&r.web_identity_token)?;
        let (account, path, name) = super::query::parse_role_arn(&r.role_arn).ok_or_else(denied)?;
        let iss = token.claims.iss.clone();
        let no_provider = || {
            web_token::invalid(&format!(
                "No OpenIDConnect provider found in your account for {iss}"
            ))
        };
        let issuer = iss.strip_prefix("https://").ok_or_else(no_provider)?;
        let (provider, _) = self
            .iam_load::<OidcDoc>(account, OIDC, issuer)
            .await?
            .ok_or_else(no_provider)?;
        let prints = &provider.thumbprints;
        let mut keys = self.oidc.keys(&provider.url, prints, false).await?;
        if !token.kid_known(&keys) {
            keys = self.oidc.keys(&provider.url, prints, true).await?;
        }
        if !token.signed_by(&keys) {
            return Err(web_token::invalid("The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request."));
        }
        token.check_times(self.clock.now_ms() / 1000)?;
        let audience = token
            .claims
            .aud
            .iter()
            .find(|a| provider.client_ids.contains(a))
            .cloned()
            .ok_or_else(|| web_token::invalid("Incorrect token audience"))?;
        let provider_arn = provider_arn(account, issuer);
        // The role only now, after the token: a made-up token learns nothing
        // of which roles exist (a missing role and a refusing trust policy
        // answer alike).
        let Some((role, _)) = self
            .iam_load::<RoleDoc>(account, super::iam::ROLE, name)
            .await?
            .filter(|(d, _)| d.path == path)
        else {
            return Err(denied());
        };
        let trust = Policy::parse(&role.trust, Kind::Trust).map_err(|_| denied())?;
        let mut ctx = Context::new();
        self.request_keys(&mut ctx, call.caller);
        ctx.set("aws:FederatedProvider", provider_arn.clone())
            .set("sts:RoleSessionName", r.role_session_name.clone())
            .set(&format!("{issuer}:aud"), audience.clone())
            .set(&format!("{issuer}:sub"), token.claims.sub.clone());
        if !token.claims.amr.is_empty() {
            ctx.set_many(&format!("{issuer}:amr"), token.claims.amr.clone());
        }
        // Session tags from the token are a permission of their own, as for
        // AssumeRole: the trust policy must allow sts:TagSession too.
        let tags = &token.claims.tags;
        let mut keys = vec![];
        super::query::request_tags(&mut keys, tags);
        for (k, v) in keys {
            ctx.set_many(&k, v);
        }
        super::query::resource_tags(&mut ctx, &role.tags);
        let principal = Principal {
            arn: provider_arn.clone(),
            account: account.to_string(),
            role_arn: None,
        };
        let mut actions = vec!["sts:AssumeRoleWithWebIdentity"];
        if !tags.is_empty() {
            actions.push("sts:TagSession");
        }
        let allowed = actions.into_iter().all(|action| {
            evaluate(&Request {
                principal: &principal,
                action,
                resource: &r.role_arn,
                resource_account: account,
                context: &ctx,
                identity: &[],
                session: &[],
                resource_policy: Some(&trust),
                resource_must_allow: true,
            })
            .allowed()
        });
        if !allowed {
            return Err(denied());
        }
        let grant = WebGrant {
            role: RoleGrant {
                account: account.to_string(),
                name: name.to_string(),
                doc: role,
            },
            provider_arn,
            audience,
            claims: token.claims,
        };
        Ok(Grant::new(
            self,
            call,
            vec![],
            Granted::WebRole(Box::new(grant)),
        ))
    }
}
