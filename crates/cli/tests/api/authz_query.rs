//! Every IAM and STS operation of the published models, run as an allowed
//! principal, a denied one, and a denied one naming an entity that does not
//! exist (IAM answers AccessDenied, not NoSuchEntity, so existence does not
//! leak). Operations Coffer does not serve answer the same clear error to all.

use crate::access::{iam, user, ROOT};
use crate::common::*;
use crate::raw::{query, xml};
use std::net::SocketAddr;

/// (HTTP status, error code or "OK").
async fn code(
    addr: SocketAddr,
    service: &str,
    params: &[(&str, &str)],
    who: (&str, &str),
) -> (u16, String) {
    let (status, body) = query(addr, service, params, (who.0, who.1, None)).await;
    let code = if status == 200 {
        "OK".to_string()
    } else {
        xml(&body, "Code").unwrap_or_default()
    };
    (status, code)
}

const DOC: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#;
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}}"#;

/// An operation, its parameters, and what root gets when the entity is missing.
type Case = (&'static str, Vec<(&'static str, String)>, &'static str);

/// Each served IAM operation with parameters naming entity `e` (a user, role
/// or policy name).
fn iam_cases(e: &str) -> Vec<Case> {
    let user = |extra: Vec<(&'static str, String)>| {
        let mut p = vec![("UserName", e.to_string())];
        p.extend(extra);
        p
    };
    let role = |extra: Vec<(&'static str, String)>| {
        let mut p = vec![("RoleName", e.to_string())];
        p.extend(extra);
        p
    };
    let policy = format!("arn:aws:iam::{ACCOUNT}:policy/{e}");
    let tag = vec![
        ("Tags.member.1.Key", "k".to_string()),
        ("Tags.member.1.Value", "v".to_string()),
    ];
    let key = ("TagKeys.member.1", "k".to_string());
    let pname = ("PolicyName", "p".to_string());
    let pdoc = ("PolicyDocument", DOC.to_string());
    let parn = (
        "PolicyArn",
        "arn:aws:iam::aws:policy/AdministratorAccess".to_string(),
    );
    let akid = ("AccessKeyId", "AKIAAAAAAAAAAAAAAAAA".to_string());
    const NSE: &str = "NoSuchEntity";
    let oidc = (
        "OpenIDConnectProviderArn",
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{e}.example.com"),
    );
    vec![
        ("GetUser", user(vec![]), NSE),
        ("DeleteUser", user(vec![]), NSE),
        ("TagUser", user(tag.clone()), NSE),
        ("UntagUser", user(vec![key.clone()]), NSE),
        (
            "PutUserPolicy",
            user(vec![pname.clone(), pdoc.clone()]),
            NSE,
        ),
        ("GetUserPolicy", user(vec![pname.clone()]), NSE),
        ("DeleteUserPolicy", user(vec![pname.clone()]), NSE),
        ("AttachUserPolicy", user(vec![parn.clone()]), NSE),
        ("DetachUserPolicy", user(vec![parn.clone()]), NSE),
        ("ListAttachedUserPolicies", user(vec![]), NSE),
        ("ListUserPolicies", user(vec![]), NSE),
        ("CreateAccessKey", user(vec![]), NSE),
        ("ListAccessKeys", user(vec![]), NSE),
        ("DeleteAccessKey", user(vec![akid.clone()]), NSE),
        (
            "UpdateAccessKey",
            user(vec![akid.clone(), ("Status", "Inactive".into())]),
            NSE,
        ),
        ("GetRole", role(vec![]), NSE),
        ("DeleteRole", role(vec![]), NSE),
        (
            "UpdateAssumeRolePolicy",
            role(vec![("PolicyDocument", TRUST.into())]),
            NSE,
        ),
        ("TagRole", role(tag.clone()), NSE),
        ("UntagRole", role(vec![key]), NSE),
        (
            "PutRolePolicy",
            role(vec![pname.clone(), pdoc.clone()]),
            NSE,
        ),
        ("GetRolePolicy", role(vec![pname.clone()]), NSE),
        ("DeleteRolePolicy", role(vec![pname]), NSE),
        ("AttachRolePolicy", role(vec![parn.clone()]), NSE),
        ("DetachRolePolicy", role(vec![parn]), NSE),
        ("ListAttachedRolePolicies", role(vec![]), NSE),
        ("ListRolePolicies", role(vec![]), NSE),
        ("GetPolicy", vec![("PolicyArn", policy.clone())], NSE),
        (
            "GetPolicyVersion",
            vec![("PolicyArn", policy.clone()), ("VersionId", "v1".into())],
            NSE,
        ),
        ("DeletePolicy", vec![("PolicyArn", policy.clone())], NSE),
        (
            "CreatePolicyVersion",
            vec![("PolicyArn", policy.clone()), pdoc],
            NSE,
        ),
        (
            "ListPolicyVersions",
            vec![("PolicyArn", policy.clone())],
            NSE,
        ),
        (
            "DeletePolicyVersion",
            vec![("PolicyArn", policy), ("VersionId", "v2".into())],
            NSE,
        ),
        // These create, or act on the account: missing is not a thing for them.
        ("CreateUser", user(tag.clone()), "OK"),
        (
            "CreateRole",
            role(vec![("AssumeRolePolicyDocument", TRUST.into())]),
            "OK",
        ),
        (
            "CreatePolicy",
            vec![
                ("PolicyName", e.to_string()),
                ("PolicyDocument", DOC.into()),
            ],
            "OK",
        ),
        ("ListUsers", vec![], "OK"),
        ("ListRoles", vec![], "OK"),
        ("ListPolicies", vec![], "OK"),
        ("GetOpenIDConnectProvider", vec![oidc.clone()], NSE),
        ("DeleteOpenIDConnectProvider", vec![oidc.clone()], NSE),
        ("ListOpenIDConnectProviderTags", vec![oidc.clone()], NSE),
        (
            "AddClientIDToOpenIDConnectProvider",
            vec![oidc.clone(), ("ClientID", "c".into())],
            NSE,
        ),
        (
            "RemoveClientIDFromOpenIDConnectProvider",
            vec![oidc.clone(), ("ClientID", "c".into())],
            NSE,
        ),
        (
            "UpdateOpenIDConnectProviderThumbprint",
            vec![oidc.clone(), ("ThumbprintList.member.1", "0".repeat(40))],
            NSE,
        ),
        (
            "TagOpenIDConnectProvider",
            {
                let mut p = vec![oidc.clone()];
                p.extend(tag.clone());
                p
            },
            NSE,
        ),
        (
            "UntagOpenIDConnectProvider",
            vec![oidc, ("TagKeys.member.1", "k".into())],
            NSE,
        ),
        ("ListOpenIDConnectProviders", vec![], "OK"),
        (
            "CreateOpenIDConnectProvider",
            vec![
                ("Url", format!("https://{e}.example.com")),
                ("ClientIDList.member.1", "sts.amazonaws.com".into()),
            ],
            "OK",
        ),
    ]
}

fn with_action<'a>(action: &'a str, p: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    let mut out = vec![("Action", action)];
    out.extend(p.iter().map(|(k, v)| (*k, v.as_str())));
    out
}

#[tokio::test]
async fn every_iam_and_sts_operation_allowed_denied_and_missing() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let other = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}}"#;
    let (id, key) = user(addr, "nobody", &[], other).await;
    let nobody = (id.as_str(), key.as_str());
    let root = (ROOT.0, ROOT.1);
    // Entities the denied calls name, so "exists" and "missing" both get tried.
    iam(addr, &[("Action", "CreateUser"), ("UserName", "there")]).await;
    iam(
        addr,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "there"),
            ("AssumeRolePolicyDocument", TRUST),
        ],
    )
    .await;
    iam(
        addr,
        &[
            ("Action", "CreatePolicy"),
            ("PolicyName", "there"),
            ("PolicyDocument", DOC),
        ],
    )
    .await;

    let served = iam_cases("x");
    assert_eq!(
        served.len(),
        coffer_api::iam_ops::SERVED.len(),
        "every served operation is in the table"
    );
    for (action, p, _) in iam_cases("there").iter().chain(iam_cases("missing").iter()) {
        let (status, c) = code(addr, "iam", &with_action(action, p), nobody).await;
        assert_eq!(
            (status, c.as_str()),
            (403, "AccessDenied"),
            "{action} {p:?} denied"
        );
    }
    for (action, p, missing) in iam_cases("missing") {
        let (_, c) = code(addr, "iam", &with_action(action, &p), root).await;
        assert_eq!(c, missing, "{action} by root, entity missing");
    }
    for action in coffer_api::iam_ops::NAMES {
        if coffer_api::iam_ops::SERVED.contains(action) {
            continue;
        }
        for who in [root, nobody] {
            let (status, body) =
                query(addr, "iam", &[("Action", action)], (who.0, who.1, None)).await;
            assert_eq!(
                (status, xml(&body, "Code").as_deref()),
                (400, Some("InvalidAction")),
                "{action}"
            );
            let msg = xml(&body, "Message").unwrap_or_default();
            assert_eq!(
                msg,
                format!("{action} is not implemented by this Coffer server yet.")
            );
        }
    }
    // A permissions boundary would narrow the user; not evaluated yet, it is
    // refused rather than ignored.
    let bounded = [
        ("Action", "CreateUser"),
        ("UserName", "bounded"),
        (
            "PermissionsBoundary",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        ),
    ];
    let (status, body) = query(addr, "iam", &bounded, ROOT).await;
    assert_eq!(
        (status, xml(&body, "Code").as_deref()),
        (400, Some("InvalidInput"))
    );
    // An action no model has.
    let (status, body) = query(addr, "iam", &[("Action", "MakeMeAdmin")], ROOT).await;
    assert_eq!(
        (status, xml(&body, "Code").as_deref()),
        (400, Some("InvalidAction"))
    );
    assert_eq!(
        xml(&body, "Message").as_deref(),
        Some("Could not find operation MakeMeAdmin for version 2010-05-08")
    );

    // STS: two operations anyone may call; AssumeRole needs the trust policy.
    for who in [root, nobody] {
        for action in ["GetCallerIdentity", "GetSessionToken"] {
            assert_eq!(
                code(addr, "sts", &[("Action", action)], who).await.1,
                "OK",
                "{action}"
            );
        }
    }
    let assume = |role: &str| {
        vec![
            ("Action", "AssumeRole".to_string()),
            ("RoleArn", format!("arn:aws:iam::{ACCOUNT}:role/{role}")),
            ("RoleSessionName", "s1".to_string()),
        ]
    };
    for role in ["there", "missing"] {
        let p = assume(role);
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            code(addr, "sts", &p, nobody).await,
            (403, "AccessDenied".into()),
            "{role}"
        );
    }
    let p = assume("there");
    let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(code(addr, "sts", &p, root).await.1, "OK");
    for action in coffer_api::sts_ops::NAMES {
        if coffer_api::sts_ops::SERVED.contains(action) {
            continue;
        }
        let (status, body) = query(addr, "sts", &[("Action", action)], ROOT).await;
        assert_eq!(
            (status, xml(&body, "Code").as_deref()),
            (400, Some("InvalidAction")),
            "{action}"
        );
    }
    srv.stop().await;
}

/// IAM tags are condition keys too: a user allowed to create users only with
/// `team=dev` cannot create one tagged otherwise, nor sneak a case twin past.
#[tokio::test]
async fn iam_request_tags_are_authorized() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:CreateUser","Resource":"*",
      "Condition":{"StringEquals":{"aws:RequestTag/team":"dev"}}}}"#;
    let (id, key) = user(addr, "maker", &[], policy).await;
    let maker = (id.as_str(), key.as_str());
    let create = |name: &'static str, k: &'static str, v: &'static str| {
        vec![
            ("Action", "CreateUser"),
            ("UserName", name),
            ("Tags.member.1.Key", k),
            ("Tags.member.1.Value", v),
        ]
    };
    assert_eq!(
        code(addr, "iam", &create("u1", "team", "dev"), maker)
            .await
            .1,
        "OK"
    );
    assert_eq!(
        code(addr, "iam", &create("u2", "team", "ops"), maker)
            .await
            .1,
        "AccessDenied"
    );
    let mut twin = create("u3", "team", "dev");
    twin.extend([
        ("Tags.member.2.Key", "Team"),
        ("Tags.member.2.Value", "ops"),
    ]);
    let (status, c) = code(addr, "iam", &twin, maker).await;
    assert_ne!(c, "OK", "a user tagged Team=ops was created ({status})");
    srv.stop().await;
}

/// The tags of the IAM entity acted on are `aws:ResourceTag` and
/// `iam:ResourceTag` keys: a lead allowed to act on roles tagged `team=dev`
/// may tag and assume those, and neither for a role tagged otherwise.
#[tokio::test]
async fn iam_resource_tags_are_authorized() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    for (role, team) in [("dev-role", "dev"), ("ops-role", "ops")] {
        iam(
            addr,
            &[
                ("Action", "CreateRole"),
                ("RoleName", role),
                ("AssumeRolePolicyDocument", TRUST),
                ("Tags.member.1.Key", "team"),
                ("Tags.member.1.Value", team),
            ],
        )
        .await;
    }
    let policy = r#"{"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":"iam:TagRole","Resource":"*",
       "Condition":{"StringEquals":{"iam:ResourceTag/team":"dev"}}},
      {"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*",
       "Condition":{"StringEquals":{"aws:ResourceTag/team":"dev"}}}]}"#;
    let (id, key) = user(addr, "lead", &[], policy).await;
    let lead = (id.as_str(), key.as_str());
    for (role, want) in [("dev-role", "OK"), ("ops-role", "AccessDenied")] {
        let tag = [
            ("Action", "TagRole"),
            ("RoleName", role),
            ("Tags.member.1.Key", "reviewed"),
            ("Tags.member.1.Value", "yes"),
        ];
        assert_eq!(
            code(addr, "iam", &tag, lead).await.1,
            want,
            "TagRole {role}"
        );
        let arn = format!("arn:aws:iam::123456789012:role/{role}");
        let assume = [
            ("Action", "AssumeRole"),
            ("RoleArn", arn.as_str()),
            ("RoleSessionName", "s1"),
        ];
        assert_eq!(
            code(addr, "sts", &assume, lead).await.1,
            want,
            "AssumeRole {role}"
        );
    }
    srv.stop().await;
}
