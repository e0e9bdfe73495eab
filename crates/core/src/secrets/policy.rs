//! PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy and
//! ValidateResourcePolicy, with BlockPublicPolicy.

use super::{not_deleted, row_update};
use crate::attrs::POLICY_ATTR;
use crate::call::respond;
use crate::identity::Grant;
use crate::secrets::Secrets;
use coffer_api::types::{
    ListResourcePoliciesRequest, PutResourcePolicyRequest, ResourcePolicyRequest,
    ResourcePolicyResponse, ValidateResourcePolicyRequest,
};
use coffer_api::{validate, ApiError, ErrorCode};
use coffer_policy::{Base, Condition, Effect, Kind, Policy, PrincipalSpec};
use coffer_store::{Secret, SecretRow};
use serde_json::{json, Value};

/// Condition keys whose equality to the owning account (or to ARNs in it) pins
/// a statement's principal, so a `*` principal is not public.
const ACCOUNT_KEYS: &[&str] = &["aws:principalaccount", "aws:sourceaccount"];
const ARN_KEYS: &[&str] = &["aws:principalarn", "aws:sourcearn"];

/// Does this condition really pin the caller to the owning account? Only a
/// positive equality (no negation, no `IfExists`, no set qualifier) whose every
/// value is the owner's account id, or an ARN in that account without a
/// wildcard. `StringLike: {"aws:PrincipalArn": "*"}` pins nothing.
fn pins_to_owner(c: &Condition, owner: &str) -> bool {
    let key = c.key.to_ascii_lowercase();
    let equality = matches!(
        c.op.base,
        Base::StringEquals | Base::StringLike | Base::ArnEquals | Base::ArnLike
    );
    if !equality || c.op.negated || c.op.if_exists || c.op.set.is_some() || c.values.is_empty() {
        return false;
    }
    let exact = |v: &String| !v.contains('*') && !v.contains('?');
    if ACCOUNT_KEYS.contains(&key.as_str()) {
        return c.values.iter().all(|v| exact(v) && v == owner);
    }
    if ARN_KEYS.contains(&key.as_str()) {
        return c.values.iter().all(|v| exact(v) && names_account(v, owner));
    }
    false
}

/// Does any Allow statement open the secret to everyone, or to a principal
/// outside the owning account? A `*` principal counts unless a condition pins
/// it to the owner; service principals act for their account's own calls; any
/// other principal type (federated users, canonical users) is outside.
pub(crate) fn grants_public_access(p: &Policy, owner: &str) -> bool {
    p.statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
        .any(|s| {
            let pinned = s.conditions.iter().any(|c| pins_to_owner(c, owner));
            match &s.principal {
                None => false,
                Some((true, _)) => true,
                Some((false, PrincipalSpec::Any)) => !pinned,
                Some((false, PrincipalSpec::Named(entries))) => {
                    entries.iter().any(|(kind, vals)| {
                        vals.iter().any(|v| match kind.as_str() {
                            "AWS" if v == "*" => !pinned,
                            "AWS" => !names_account(v, owner),
                            "Service" => false,
                            _ => !pinned,
                        })
                    })
                }
            }
        })
}

fn names_account(v: &str, owner: &str) -> bool {
    v == owner
        || v.starts_with(&format!("arn:aws:iam::{owner}:"))
        || v.starts_with(&format!("arn:aws:sts::{owner}:"))
}

fn malformed() -> ApiError {
    ApiError::new(
        ErrorCode::MalformedPolicyDocument,
        "This resource policy contains a syntax error.",
    )
}

fn policy_text(p: Option<&str>) -> Result<&str, ApiError> {
    let p = p.ok_or_else(|| {
        ApiError::new(ErrorCode::Validation, "1 validation error detected: Value null at 'resourcePolicy' failed to satisfy constraint: Member must not be null")
    })?;
    validate::length(p, "resourcePolicy", 1, 20480)?;
    Ok(p)
}

fn named(
    s: &Secret,
    resource_policy: Option<String>,
    asked: Option<&String>,
) -> Result<Vec<u8>, ApiError> {
    respond(&ResourcePolicyResponse {
        arn: s.row.arn.clone(),
        name: s.row.name.clone(),
        resource_policy,
        policy_name: asked.map(|_| DEFAULT_POLICY),
    })
}

/// A secret has one resource policy, `default`, as in AWS.
const DEFAULT_POLICY: &str = "default";

/// `PolicyName`: the model's constraints, then whether it names the one policy.
fn policy_name(name: Option<&str>) -> Result<bool, ApiError> {
    let Some(n) = name else { return Ok(true) };
    validate::length(n, "policyName", 1, 64)?;
    if !n
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::new(
            ErrorCode::Validation,
            "1 validation error detected: Value at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9A-Za-z\\-\\_]+",
        ));
    }
    Ok(n == DEFAULT_POLICY)
}

/// Put and Delete change only `default`: AWS refuses any other name.
fn only_default(name: Option<&str>) -> Result<(), ApiError> {
    if policy_name(name)? {
        Ok(())
    } else {
        Err(ApiError::invalid_param(
            "You can only attach or delete the default resource policy.",
        ))
    }
}

impl Secrets {
    pub(crate) async fn put_resource_policy(
        &self,
        g: &Grant<'_>,
        req: PutResourcePolicyRequest,
    ) -> Result<Vec<u8>, ApiError> {
        only_default(req.policy_name.as_deref())?;
        let text = policy_text(req.resource_policy.as_deref())?;
        let policy = Policy::parse(text, Kind::Resource).map_err(|_| malformed())?;
        let block = req.block_public_policy.unwrap_or(false);
        let (s, _) = self
            .commit_with_retry(g, |s, now| {
                not_deleted(s)?;
                if block && grants_public_access(&policy, &s.row.account_id) {
                    return Err(ApiError::new(
                        ErrorCode::PublicPolicy,
                        "This resource policy contains a policy that grants public access.",
                    ));
                }
                let edit = |row: &mut SecretRow| {
                    set_attr(&mut row.attrs, Some(text));
                    row.last_changed_ms = now;
                };
                let detail = json!({});
                Ok(Some(row_update(g.call(), s, now, detail, edit)))
            })
            .await?;
        named(&s, None, req.policy_name.as_ref())
    }

    pub(crate) async fn delete_resource_policy(
        &self,
        g: &Grant<'_>,
        req: ResourcePolicyRequest,
    ) -> Result<Vec<u8>, ApiError> {
        only_default(req.policy_name.as_deref())?;
        let (s, _) = self
            .commit_with_retry(g, |s, now| {
                if s.row.attrs.get(POLICY_ATTR).is_none() {
                    return Ok(None);
                }
                let edit = |row: &mut SecretRow| {
                    set_attr(&mut row.attrs, None);
                    row.last_changed_ms = now;
                };
                let detail = json!({});
                Ok(Some(row_update(g.call(), s, now, detail, edit)))
            })
            .await?;
        named(&s, None, req.policy_name.as_ref())
    }

    pub(crate) async fn get_resource_policy(
        &self,
        g: &Grant<'_>,
        req: ResourcePolicyRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let s = g.secret()?;
        if !policy_name(req.policy_name.as_deref())? {
            return Err(ApiError::new(
                ErrorCode::ResourceNotFound,
                "Secrets Manager can't find the specified resource policy.",
            ));
        }
        let policy = s.row.attrs.get(POLICY_ATTR).and_then(Value::as_str);
        named(s, policy.map(str::to_string), req.policy_name.as_ref())
    }

    /// ListResourcePolicies: `default` when the secret has a policy.
    pub(crate) async fn list_resource_policies(
        &self,
        g: &Grant<'_>,
        req: ListResourcePoliciesRequest,
    ) -> Result<Vec<u8>, ApiError> {
        if let Some(m) = req.max_results {
            validate::range(m, "maxResults", 1, 100)?;
        }
        validate::optional(req.next_token.as_deref(), "nextToken", 1, 4096)?;
        let s = g.secret()?;
        let names: Vec<Value> = s
            .row
            .attrs
            .get(POLICY_ATTR)
            .map(|_| json!({ "PolicyName": DEFAULT_POLICY }))
            .into_iter()
            .collect();
        respond(&json!({ "ResourcePolicies": names }))
    }

    pub(crate) async fn validate_resource_policy(
        &self,
        g: &Grant<'_>,
        req: ValidateResourcePolicyRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let text = policy_text(req.resource_policy.as_deref())?;
        let owner = match req.secret_id {
            Some(_) => g.secret()?.row.account_id.clone(),
            None => g.caller().account_id.clone(),
        };
        let mut errors = vec![];
        match Policy::parse(text, Kind::Resource) {
            Err(e) => errors.push(json!({"CheckName": "SYNTAX_CHECKING", "ErrorMessage": e.0})),
            Ok(p) if grants_public_access(&p, &owner) => errors.push(json!({
                "CheckName": "BROAD_ACCESS",
                "ErrorMessage": "The policy grants access to any principal or to principals outside the owning account.",
            })),
            Ok(_) => {}
        }
        respond(&json!({"PolicyValidationPassed": errors.is_empty(), "ValidationErrors": errors}))
    }
}

fn set_attr(attrs: &mut Value, policy: Option<&str>) {
    if !attrs.is_object() {
        *attrs = json!({});
    }
    if let Some(m) = attrs.as_object_mut() {
        match policy {
            Some(p) => m.insert(POLICY_ATTR.into(), Value::String(p.into())),
            None => m.remove(POLICY_ATTR),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(doc: Value) -> bool {
        grants_public_access(
            &Policy::parse(&doc.to_string(), Kind::Resource).unwrap(),
            "111122223333",
        )
    }

    #[test]
    fn public_policies() {
        let st = |principal: Value| json!({"Statement": {"Effect": "Allow", "Principal": principal, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}});
        assert!(public(st(json!("*"))));
        assert!(public(st(json!({"AWS": "*"}))));
        assert!(public(st(json!({"AWS": "444455556666"}))));
        assert!(public(st(
            json!({"AWS": "arn:aws:iam::444455556666:role/R"})
        )));
        assert!(!public(st(
            json!({"AWS": "arn:aws:iam::111122223333:role/R"})
        )));
        assert!(!public(st(json!({"AWS": "111122223333"}))));
        let mut pinned = st(json!("*"));
        pinned["Statement"]["Condition"] =
            json!({"StringEquals": {"aws:PrincipalAccount": "111122223333"}});
        assert!(!public(pinned));
        let deny = json!({"Statement": {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}});
        assert!(!public(deny));
        // Conditions that only look restrictive pin nothing.
        for cond in [
            json!({"StringLike": {"aws:PrincipalArn": "*"}}),
            json!({"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}}),
            json!({"StringEquals": {"aws:PrincipalAccount": "444455556666"}}),
            json!({"StringEqualsIfExists": {"aws:PrincipalAccount": "111122223333"}}),
            json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/R"}}),
            json!({"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}),
        ] {
            let mut p = st(json!("*"));
            p["Statement"]["Condition"] = cond.clone();
            assert!(public(p), "{cond}");
        }
        let mut arn_pinned = st(json!("*"));
        arn_pinned["Statement"]["Condition"] =
            json!({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/R"}});
        assert!(!public(arn_pinned));
        // Principal types other than AWS accounts and services are outside.
        assert!(public(st(
            json!({"Federated": "cognito-identity.amazonaws.com"})
        )));
        assert!(!public(st(json!({"Service": "lambda.amazonaws.com"}))));
    }
}
