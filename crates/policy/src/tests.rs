//! Test vectors written from the examples in AWS's IAM and Secrets Manager
//! documentation, and a property test of the one rule nothing may break: adding a
//! Deny never grants anything.

use crate::*;
use serde_json::json;

const ACCT: &str = "111122223333";
const OTHER: &str = "444455556666";
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:dev/db-AbCdEf";

fn user(name: &str, account: &str) -> Principal {
    Principal {
        arn: format!("arn:aws:iam::{account}:user/{name}"),
        account: account.into(),
        role_arn: None,
    }
}

fn session(role: &str, account: &str) -> Principal {
    Principal {
        arn: format!("arn:aws:sts::{account}:assumed-role/{role}/s1"),
        account: account.into(),
        role_arn: Some(format!("arn:aws:iam::{account}:role/{role}")),
    }
}

fn id(doc: serde_json::Value) -> Policy {
    Policy::parse(&doc.to_string(), Kind::Identity).unwrap()
}

fn res(doc: serde_json::Value) -> Policy {
    Policy::parse(&doc.to_string(), Kind::Resource).unwrap()
}

fn stmt(effect: &str, action: &str, resource: &str) -> serde_json::Value {
    json!({"Effect": effect, "Action": action, "Resource": resource})
}

struct Case<'a> {
    who: Principal,
    action: &'a str,
    resource: &'a str,
    owner: &'a str,
    ctx: Context,
    identity: Vec<Policy>,
    session: Vec<Policy>,
    resource_policy: Option<Policy>,
}

impl Case<'_> {
    fn new(who: Principal) -> Self {
        Case {
            who,
            action: "secretsmanager:GetSecretValue",
            resource: SECRET,
            owner: ACCT,
            ctx: Context::new(),
            identity: vec![],
            session: vec![],
            resource_policy: None,
        }
    }

    fn decide(&self) -> Decision {
        evaluate(&Request {
            principal: &self.who,
            action: self.action,
            resource: self.resource,
            resource_account: self.owner,
            context: &self.ctx,
            identity: &self.identity,
            session: &self.session,
            resource_policy: self.resource_policy.as_ref(),
            resource_must_allow: self.action == "sts:AssumeRole",
        })
    }
}

#[test]
fn default_deny_and_root() {
    let c = Case::new(user("alice", ACCT));
    assert_eq!(c.decide(), Decision::ImplicitDeny(DenySource::Identity));
    let root = Principal {
        arn: format!("arn:aws:iam::{ACCT}:root"),
        account: ACCT.into(),
        role_arn: None,
    };
    assert_eq!(Case::new(root).decide(), Decision::Allow);
}

#[test]
fn explicit_deny_overrides_allow() {
    let mut c = Case::new(user("alice", ACCT));
    c.identity = vec![id(json!({"Version": "2012-10-17", "Statement": [
        stmt("Allow", "secretsmanager:*", "*"),
        stmt("Deny", "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:*:*:secret:dev/*"),
    ]}))];
    assert_eq!(c.decide(), Decision::ExplicitDeny(DenySource::Identity));
    c.action = "secretsmanager:DescribeSecret";
    assert_eq!(c.decide(), Decision::Allow);
    assert_eq!(
        Decision::ExplicitDeny(DenySource::Identity).reason("x"),
        "with an explicit deny in an identity-based policy"
    );
    assert_eq!(
        Decision::ImplicitDeny(DenySource::Identity).reason("secretsmanager:GetSecretValue"),
        "because no identity-based policy allows the secretsmanager:GetSecretValue action"
    );
}

#[test]
fn tag_based_team_access() {
    // The documented ABAC pattern: read secrets whose Team tag equals your own.
    let policy = id(json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/Team": "${aws:PrincipalTag/Team}"}}
    }}));
    let mut c = Case::new(user("dev1", ACCT));
    c.identity = vec![policy];
    c.ctx.set("aws:PrincipalTag/Team", "Dev");
    assert_eq!(
        c.decide(),
        Decision::ImplicitDeny(DenySource::Identity),
        "untagged secret"
    );
    c.ctx.set("aws:ResourceTag/Team", "Ops");
    assert!(!c.decide().allowed());
    c.ctx.set("aws:ResourceTag/Team", "Dev");
    assert!(c.decide().allowed());
    c.ctx = Context::new();
    c.ctx.set("aws:ResourceTag/Team", "Dev");
    assert!(
        !c.decide().allowed(),
        "a principal without the tag matches nothing"
    );
}

#[test]
fn username_variable_in_resource() {
    let mut c = Case::new(user("alice", ACCT));
    c.identity = vec![id(json!({"Version": "2012-10-17", "Statement":
        stmt("Allow", "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:*:*:secret:home/${aws:username}/*")}))];
    c.ctx.set("aws:username", "alice");
    c.resource = "arn:aws:secretsmanager:us-east-1:111122223333:secret:home/alice/key-AbCdEf";
    assert!(c.decide().allowed());
    c.resource = "arn:aws:secretsmanager:us-east-1:111122223333:secret:home/bob/key-AbCdEf";
    assert!(!c.decide().allowed());
    // A user named `*` does not become a wildcard.
    c.ctx.set("aws:username", "*");
    assert!(!c.decide().allowed());
}

#[test]
fn not_action_and_not_resource() {
    let mut c = Case::new(user("alice", ACCT));
    c.identity = vec![id(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": "secretsmanager:Delete*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:secretsmanager:*:*:secret:dev/*"},
    ]}))];
    assert!(c.decide().allowed());
    c.action = "secretsmanager:DeleteSecret";
    assert!(!c.decide().allowed());
    c.action = "secretsmanager:GetSecretValue";
    c.resource = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf";
    assert_eq!(c.decide(), Decision::ExplicitDeny(DenySource::Identity));
}

#[test]
fn secure_transport_and_source_ip() {
    // Documented guard rails: deny over plain HTTP, deny outside the office range.
    let mut c = Case::new(user("alice", ACCT));
    c.identity = vec![id(json!({"Version": "2012-10-17", "Statement": [
        stmt("Allow", "secretsmanager:*", "*"),
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}},
    ]}))];
    c.ctx
        .set("aws:SecureTransport", "true")
        .set("aws:SourceIp", "203.0.113.7");
    assert!(c.decide().allowed());
    c.ctx.set("aws:SourceIp", "198.51.100.1");
    assert!(!c.decide().allowed());
    c.ctx
        .set("aws:SourceIp", "192.0.2.1")
        .set("aws:SecureTransport", "false");
    assert!(!c.decide().allowed());
}

#[test]
fn dates_numbers_null_and_if_exists() {
    let mut c = Case::new(user("alice", ACCT));
    c.identity = vec![id(json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*",
        "Condition": {
            "DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"},
            "NumericLessThanEqualsIfExists": {"aws:MultiFactorAuthAge": "3600"},
            "Null": {"aws:PrincipalTag/Team": "false"}
        }
    }}))];
    c.ctx
        .set("aws:CurrentTime", "2026-11-22T12:00:00Z")
        .set("aws:PrincipalTag/Team", "Dev");
    assert!(c.decide().allowed(), "MFA age absent: IfExists passes");
    c.ctx.set("aws:MultiFactorAuthAge", "7200");
    assert!(!c.decide().allowed());
    c.ctx.set("aws:MultiFactorAuthAge", "60");
    assert!(c.decide().allowed());
    c.ctx.set("aws:CurrentTime", "2027-06-01T00:00:00Z");
    assert!(!c.decide().allowed(), "after the end date");
    let mut c2 = Case::new(user("alice", ACCT));
    c2.identity = c.identity.clone();
    c2.ctx.set("aws:CurrentTime", "2026-11-22T12:00:00Z");
    assert!(!c2.decide().allowed(), "Null false demands the tag");
}

#[test]
fn set_operators_on_tag_keys() {
    // The documented CreateSecret guard: only these tag keys may be set.
    let mut c = Case::new(user("alice", ACCT));
    c.action = "secretsmanager:CreateSecret";
    c.identity = vec![id(json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "secretsmanager:CreateSecret", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["Team", "Env"]}}
    }}))];
    c.ctx.set_many("aws:TagKeys", vec!["Team".into()]);
    assert!(c.decide().allowed());
    c.ctx
        .set_many("aws:TagKeys", vec!["Team".into(), "Owner".into()]);
    assert!(!c.decide().allowed());
    // AWS's documented pitfall: no tags at all satisfies ForAllValues.
    c.ctx = Context::new();
    assert!(c.decide().allowed());
    c.identity = vec![id(json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "secretsmanager:CreateSecret", "Resource": "*",
        "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": "Team*"}}
    }}))];
    assert!(!c.decide().allowed(), "ForAnyValue needs a value");
    c.ctx
        .set_many("aws:TagKeys", vec!["Owner".into(), "TeamName".into()]);
    assert!(c.decide().allowed());
}

#[test]
fn version_stage_condition() {
    // Secrets Manager doc: allow reading only the AWSCURRENT version.
    let mut c = Case::new(user("app", ACCT));
    c.identity = vec![id(json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"}}
    }}))];
    c.ctx.set("secretsmanager:VersionStage", "AWSCURRENT");
    assert!(c.decide().allowed());
    c.ctx.set("secretsmanager:VersionStage", "AWSPREVIOUS");
    assert!(!c.decide().allowed());
}

fn grant_to(principal: serde_json::Value) -> Policy {
    res(json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Principal": {"AWS": principal},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}))
}

#[test]
fn resource_policy_in_one_account() {
    let mut c = Case::new(user("alice", ACCT));
    c.resource_policy = Some(grant_to(json!(format!("arn:aws:iam::{ACCT}:user/alice"))));
    assert!(
        c.decide().allowed(),
        "naming the user is enough in one account"
    );
    c.resource_policy = Some(grant_to(json!(ACCT)));
    assert!(
        !c.decide().allowed(),
        "naming the account delegates to identity policies"
    );
    c.identity = vec![id(
        json!({"Statement": stmt("Allow", "secretsmanager:GetSecretValue", "*")}),
    )];
    assert!(c.decide().allowed());
}

#[test]
fn cross_account_needs_both_sides() {
    let mut c = Case::new(session("Reader", OTHER));
    c.identity = vec![id(
        json!({"Statement": stmt("Allow", "secretsmanager:GetSecretValue", SECRET)}),
    )];
    assert_eq!(c.decide(), Decision::ImplicitDeny(DenySource::Resource));
    c.resource_policy = Some(grant_to(json!(format!("arn:aws:iam::{OTHER}:role/Reader"))));
    assert!(c.decide().allowed());
    c.resource_policy = Some(grant_to(json!(format!("arn:aws:iam::{OTHER}:root"))));
    assert!(c.decide().allowed());
    c.identity.clear();
    assert_eq!(c.decide(), Decision::ImplicitDeny(DenySource::Identity));
    c.identity = vec![id(
        json!({"Statement": stmt("Allow", "secretsmanager:*", "*")}),
    )];
    c.resource_policy = Some(res(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": OTHER}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
    ]})));
    assert_eq!(c.decide(), Decision::ExplicitDeny(DenySource::Resource));
}

#[test]
fn not_principal() {
    let mut c = Case::new(user("alice", ACCT));
    c.identity = vec![id(
        json!({"Statement": stmt("Allow", "secretsmanager:*", "*")}),
    )];
    c.resource_policy = Some(res(json!({"Statement": {
        "Effect": "Deny", "NotPrincipal": {"AWS": format!("arn:aws:iam::{ACCT}:user/admin")},
        "Action": "secretsmanager:*", "Resource": "*"}})));
    assert!(!c.decide().allowed());
    c.who = user("admin", ACCT);
    assert!(c.decide().allowed());
}

#[test]
fn session_policy_narrows() {
    let mut c = Case::new(session("Admin", ACCT));
    c.identity = vec![id(
        json!({"Statement": stmt("Allow", "secretsmanager:*", "*")}),
    )];
    c.session = vec![id(
        json!({"Statement": stmt("Allow", "secretsmanager:DescribeSecret", "*")}),
    )];
    assert_eq!(c.decide(), Decision::ImplicitDeny(DenySource::Session));
    c.action = "secretsmanager:DescribeSecret";
    assert!(c.decide().allowed());
    // A session policy never widens what the role may do.
    c.action = "secretsmanager:GetSecretValue";
    c.identity.clear();
    c.session = vec![id(json!({"Statement": stmt("Allow", "*", "*")}))];
    assert!(!c.decide().allowed());
}

#[test]
fn trust_policy_for_assume_role() {
    let trust = Policy::parse(
        &json!({"Version": "2012-10-17", "Statement": {
            "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{OTHER}:root")},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "ext-42"}}}})
        .to_string(),
        Kind::Trust,
    )
    .unwrap();
    let mut c = Case::new(user("bob", OTHER));
    c.action = "sts:AssumeRole";
    c.resource = "arn:aws:iam::111122223333:role/Reader";
    c.resource_policy = Some(trust);
    c.identity = vec![id(
        json!({"Statement": stmt("Allow", "sts:AssumeRole", "*")}),
    )];
    assert!(!c.decide().allowed(), "external id missing");
    c.ctx.set("sts:ExternalId", "ext-42");
    assert!(c.decide().allowed());
    c.identity.clear();
    assert!(!c.decide().allowed(), "the other account must allow it too");
    // In one account an identity allow is not enough: the trust policy decides.
    let mut same = Case::new(user("alice", ACCT));
    same.action = "sts:AssumeRole";
    same.resource = "arn:aws:iam::111122223333:role/Reader";
    same.identity = vec![id(
        json!({"Statement": stmt("Allow", "sts:AssumeRole", "*")}),
    )];
    same.resource_policy = Some(
        Policy::parse(
            &json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/bob"}, "Action": "sts:AssumeRole"}}).to_string(),
            Kind::Trust,
        )
        .unwrap(),
    );
    assert_eq!(same.decide(), Decision::ImplicitDeny(DenySource::Resource));
    same.who = user("bob", ACCT);
    same.identity.clear();
    assert!(
        same.decide().allowed(),
        "a trust policy naming the user is enough"
    );
}

#[test]
fn parse_errors() {
    let bad = [
        (
            json!({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}}),
            Kind::Identity,
            "should not specify a principal",
        ),
        (
            json!({"Statement": {"Effect": "Allow", "Resource": "*"}}),
            Kind::Identity,
            "must contain actions",
        ),
        (
            json!({"Statement": {"Effect": "Allow", "Action": "s3:*"}}),
            Kind::Identity,
            "must contain resources",
        ),
        (
            json!({"Statement": {"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}}),
            Kind::Identity,
            "Effect",
        ),
        (
            json!({"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}),
            Kind::Identity,
            "version",
        ),
        (
            json!({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringSorta": {"a:b": "c"}}}}),
            Kind::Identity,
            "Invalid Condition type",
        ),
        (
            json!({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "not-an-ip"}}}}),
            Kind::Identity,
            "IP address",
        ),
        (
            json!({"Statement": {"Effect": "Allow", "Action": "GetSecretValue", "Resource": "*"}}),
            Kind::Identity,
            "vendor",
        ),
        (
            json!({"Statement": {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}}),
            Kind::Resource,
            "principal",
        ),
        (
            json!({"Statement": []}),
            Kind::Identity,
            "at least one Statement",
        ),
    ];
    for (doc, kind, want) in bad {
        let e = Policy::parse(&doc.to_string(), kind).unwrap_err();
        assert!(e.0.contains(want), "{doc}: {e}");
    }
    assert!(Policy::parse("{not json", Kind::Identity).is_err());
}

/// A small deterministic generator (xorshift), so the property test needs no
/// extra crates and every failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn random_statement(rng: &mut Rng, effect: &str, with_principal: bool) -> serde_json::Value {
    let actions = [
        "*",
        "secretsmanager:*",
        "secretsmanager:Get*",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    ];
    let resources = [
        "*",
        SECRET,
        "arn:aws:secretsmanager:*:*:secret:dev/*",
        "arn:aws:secretsmanager:*:*:secret:prod/*",
    ];
    let mut s =
        json!({"Effect": effect, "Action": rng.pick(&actions), "Resource": rng.pick(&resources)});
    if rng.next().is_multiple_of(3) {
        s["Condition"] =
            json!({"StringEquals": {"aws:ResourceTag/Team": rng.pick(&["Dev", "Ops"])}});
    }
    if with_principal {
        s["Principal"] =
            json!({"AWS": rng.pick(&["*", ACCT, OTHER, "arn:aws:iam::444455556666:role/Reader"])});
    }
    s
}

#[test]
fn adding_a_deny_never_grants() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let who = if rng.next().is_multiple_of(2) {
            user("alice", ACCT)
        } else {
            session("Reader", OTHER)
        };
        let mut c = Case::new(who);
        c.action = rng.pick(&[
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
            "secretsmanager:DeleteSecret",
        ]);
        c.ctx.set("aws:ResourceTag/Team", rng.pick(&["Dev", "Ops"]));
        let n = 1 + rng.next() % 3;
        let mut ident: Vec<_> = (0..n)
            .map(|_| random_statement(&mut rng, "Allow", false))
            .collect();
        let mut resource: Vec<_> = (0..n)
            .map(|_| random_statement(&mut rng, "Allow", true))
            .collect();
        c.identity = vec![id(json!({"Statement": ident.clone()}))];
        c.resource_policy = Some(res(json!({"Statement": resource.clone()})));
        let before = c.decide();
        if rng.next().is_multiple_of(2) {
            ident.push(random_statement(&mut rng, "Deny", false));
        } else {
            resource.push(random_statement(&mut rng, "Deny", true));
        }
        c.identity = vec![id(json!({"Statement": ident}))];
        c.resource_policy = Some(res(json!({"Statement": resource})));
        let after = c.decide();
        assert!(
            !after.allowed() || before.allowed(),
            "a Deny turned {before:?} into {after:?}"
        );
    }
}

/// A KMS key policy: it must allow, and naming the account hands the decision
/// to the account's identity policies (root holds them all).
#[test]
fn key_policy_must_allow_and_account_root_delegates() {
    let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let delegate = res(
        json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCT}:root")},
        "Action": "kms:*", "Resource": "*"}]}),
    );
    let root = Principal {
        arn: format!("arn:aws:iam::{ACCT}:root"),
        account: ACCT.into(),
        role_arn: None,
    };
    let ctx = Context::new();
    let ask = |who: &Principal, identity: &[Policy], policy: &Policy| {
        evaluate(&Request {
            principal: who,
            action: "kms:Decrypt",
            resource: key,
            resource_account: ACCT,
            context: &ctx,
            identity,
            session: &[],
            resource_policy: Some(policy),
            resource_must_allow: true,
        })
    };
    assert!(ask(&root, &[], &delegate).allowed());
    let alice = user("alice", ACCT);
    assert!(!ask(&alice, &[], &delegate).allowed(), "IAM does not allow");
    let allow =
        id(json!({"Version": "2012-10-17", "Statement": [stmt("Allow", "kms:Decrypt", "*")]}));
    assert!(ask(&alice, &[allow], &delegate).allowed());
    let only_bob = res(json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCT}:user/bob")},
        "Action": "kms:*", "Resource": "*"}]}));
    assert!(!ask(&root, &[], &only_bob).allowed(), "root is locked out");
    assert!(ask(&user("bob", ACCT), &[], &only_bob).allowed());
}

#[test]
fn web_identities_are_named_only_as_federated_providers() {
    let provider = format!("arn:aws:iam::{ACCT}:oidc-provider/oidc.example.com/id/X");
    let trust = |principal: serde_json::Value| {
        Policy::parse(
            &json!({"Statement": {"Effect": "Allow", "Principal": principal,
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"oidc.example.com/id/X:sub": "system:serviceaccount:ns:app"}}}})
            .to_string(),
            Kind::Trust,
        )
        .unwrap()
    };
    let who = Principal {
        arn: provider.clone(),
        account: ACCT.into(),
        role_arn: None,
    };
    assert!(who.is_federated());
    let mut c = Case::new(who);
    c.action = "sts:AssumeRoleWithWebIdentity";
    c.resource = "arn:aws:iam::111122223333:role/App";
    c.ctx
        .set("oidc.example.com/id/X:sub", "system:serviceaccount:ns:app");
    c.resource_policy = Some(trust(json!({"Federated": provider})));
    assert!(c.decide().allowed());
    for other in [
        json!("*"),
        json!({"AWS": "*"}),
        json!({"AWS": ACCT}),
        json!({"AWS": provider}),
        json!({"Federated": "arn:aws:iam::111122223333:oidc-provider/other.example.com"}),
    ] {
        c.resource_policy = Some(trust(other.clone()));
        assert!(!c.decide().allowed(), "{other}");
    }
    c.resource_policy = Some(trust(json!({"Federated": provider})));
    c.ctx.set(
        "oidc.example.com/id/X:sub",
        "system:serviceaccount:ns:other",
    );
    assert!(!c.decide().allowed(), "another service account");

    // A guardrail Deny naming everyone applies to web identities too.
    c.ctx
        .set("oidc.example.com/id/X:sub", "system:serviceaccount:ns:app");
    let allow = json!({"Effect": "Allow", "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity"});
    c.resource_policy =
        Some(Policy::parse(&json!({"Statement": [allow]}).to_string(), Kind::Trust).unwrap());
    assert!(c.decide().allowed());
    for everyone in [json!("*"), json!({"AWS": "*"})] {
        let doc = json!({"Statement": [allow, {"Effect": "Deny", "Principal": everyone,
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringNotLike": {"oidc.example.com/id/X:sub": "system:serviceaccount:prod:*"}}}]});
        c.resource_policy = Some(Policy::parse(&doc.to_string(), Kind::Trust).unwrap());
        assert!(!c.decide().allowed(), "deny {everyone}");
    }
    // NotPrincipal in an Allow names no web identity.
    let doc = json!({"Statement": {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:user/x"},
        "Action": "sts:AssumeRoleWithWebIdentity"}});
    c.resource_policy = Some(Policy::parse(&doc.to_string(), Kind::Trust).unwrap());
    assert!(!c.decide().allowed(), "not principal");
}
