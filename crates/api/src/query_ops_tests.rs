//! The generated IAM and STS operations, parsed from form parameters.

use crate::iam_ops::{self, CreateUserRequest, IamOperation};
use crate::query::Params;
use crate::sts_ops::{self, StsOperation};
use crate::ErrorCode;
use serde_json::json;

fn params(pairs: &[(&str, &str)]) -> Params {
    pairs.iter().copied().collect()
}

#[test]
fn create_user_with_tags() {
    let p = params(&[
        ("Action", "CreateUser"),
        ("UserName", "bob"),
        ("Path", "/eng/"),
        ("Tags.member.1.Key", "team"),
        ("Tags.member.1.Value", "dev"),
        ("Tags.member.2.Key", "env"),
        ("Tags.member.2.Value", "prod"),
    ]);
    let op = IamOperation::parse(&p).unwrap();
    assert_eq!(
        op,
        IamOperation::CreateUser(CreateUserRequest {
            path: Some("/eng/".into()),
            user_name: "bob".into(),
            permissions_boundary: None,
            tags: vec![("team".into(), "dev".into()), ("env".into(), "prod".into())],
        })
    );
    assert_eq!(op.name(), "CreateUser");
    assert!(op.served() && !op.read_only());
    assert_eq!(
        op.audit_parameters(),
        json!({
            "userName": "bob",
            "path": "/eng/",
            "tags": [{"key": "team", "value": "dev"}, {"key": "env", "value": "prod"}],
        })
    );
}

#[test]
fn missing_required_member() {
    for (action, member) in [("DeleteUser", "userName"), ("UntagRole", "roleName")] {
        let e = IamOperation::parse(&params(&[("Action", action)])).unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation);
        assert_eq!(
            e.message,
            format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null")
        );
    }
    // A required list must be sent, though it may be empty (`TagKeys=`).
    let e = IamOperation::parse(&params(&[("Action", "UntagRole"), ("RoleName", "r")]));
    assert!(e.unwrap_err().message.contains("'tagKeys'"));
    let op = IamOperation::parse(&params(&[
        ("Action", "UntagRole"),
        ("RoleName", "r"),
        ("TagKeys", ""),
    ]));
    assert!(matches!(op, Ok(IamOperation::UntagRole(r)) if r.tag_keys.is_empty()));
    // UserName is optional where the model says so (the caller's own user).
    let op = IamOperation::parse(&params(&[("Action", "GetUser")])).unwrap();
    assert!(matches!(op, IamOperation::GetUser(r) if r.user_name.is_none()));
}

#[test]
fn bad_scalars() {
    let e = IamOperation::parse(&params(&[("Action", "ListUsers"), ("MaxItems", "ten")]));
    assert_eq!(e.unwrap_err().message, "Invalid value for MaxItems: ten");
    let op = IamOperation::parse(&params(&[
        ("Action", "ListPolicies"),
        ("OnlyAttached", "true"),
        ("MaxItems", "5"),
    ]))
    .unwrap();
    let IamOperation::ListPolicies(r) = &op else {
        panic!("{op:?}")
    };
    assert_eq!((r.only_attached, r.max_items), (Some(true), Some(5)));
    assert!(op.read_only());
    assert_eq!(
        op.audit_parameters(),
        json!({"onlyAttached": true, "maxItems": 5})
    );
}

#[test]
fn unknown_and_missing_actions() {
    let e = IamOperation::parse(&params(&[("Action", "Frobnicate")])).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownOperation);
    assert_eq!(
        e.message,
        "Could not find operation Frobnicate for version 2010-05-08"
    );
    let e = StsOperation::parse(&params(&[("Action", "CreateUser")])).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownOperation);
    assert_eq!(
        e.message,
        "Could not find operation CreateUser for version 2011-06-15"
    );
    for p in [params(&[]), params(&[("Action", "")])] {
        let e = StsOperation::parse(&p).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::UnknownOperation, "Missing Action")
        );
    }
}

#[test]
fn unserved_operations_are_unit_variants() {
    // Its members are not parsed, so a missing required one is no error here.
    let op = IamOperation::parse(&params(&[("Action", "CreateSAMLProvider")]));
    let op = op.unwrap();
    assert_eq!(op, IamOperation::CreateSAMLProvider);
    assert!(!op.served());
    assert_eq!(op.name(), "CreateSAMLProvider");
    assert_eq!(op.audit_parameters(), json!({}));
    let op = StsOperation::parse(&params(&[("Action", "DecodeAuthorizationMessage")])).unwrap();
    assert!(!op.served() && op.read_only());
    let op = IamOperation::parse(&params(&[("Action", "GenerateCredentialReport")])).unwrap();
    assert!(!op.read_only());
}

#[test]
fn audit_leaves_out_policy_documents() {
    let p = params(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", "r"),
        ("PolicyName", "p"),
        ("PolicyDocument", "{}"),
    ]);
    let op = IamOperation::parse(&p).unwrap();
    let IamOperation::PutRolePolicy(r) = &op else {
        panic!("{op:?}")
    };
    assert_eq!(r.policy_document, "{}");
    assert_eq!(
        op.audit_parameters(),
        json!({"roleName": "r", "policyName": "p"})
    );
    let p = params(&[
        ("Action", "CreateRole"),
        ("RoleName", "r"),
        ("AssumeRolePolicyDocument", "{}"),
        ("MaxSessionDuration", "7200"),
    ]);
    assert_eq!(
        IamOperation::parse(&p).unwrap().audit_parameters(),
        json!({"roleName": "r", "maxSessionDuration": 7200})
    );
}

#[test]
fn every_operation_of_the_models() {
    assert_eq!(iam_ops::NAMES.len(), 180);
    assert_eq!(sts_ops::NAMES.len(), 11);
    assert_eq!(iam_ops::SERVED.len(), 49);
    assert_eq!(sts_ops::SERVED.len(), 4);
    // Each name parses to the variant of that name, served exactly when listed
    // (or, served, fails for want of a required member).
    for &name in iam_ops::NAMES {
        match IamOperation::parse(&params(&[("Action", name)])) {
            Ok(op) => {
                assert_eq!(op.name(), name);
                assert_eq!(op.served(), iam_ops::SERVED.contains(&name));
            }
            Err(e) => {
                assert_eq!(e.code, ErrorCode::Validation, "{name}");
                assert!(iam_ops::SERVED.contains(&name));
            }
        }
    }
    for &name in sts_ops::NAMES {
        let op = StsOperation::parse(&params(&[("Action", name)]));
        if let Ok(op) = op {
            assert_eq!(op.name(), name);
            assert_eq!(op.served(), sts_ops::SERVED.contains(&name));
        }
    }
}

#[test]
fn assume_role_with_policy_arns() {
    let p = params(&[
        ("Action", "AssumeRole"),
        ("RoleArn", "arn:aws:iam::123456789012:role/r"),
        ("RoleSessionName", "s"),
        (
            "PolicyArns.member.1.arn",
            "arn:aws:iam::aws:policy/ReadOnly",
        ),
        (
            "PolicyArns.member.2.arn",
            "arn:aws:iam::123456789012:policy/p",
        ),
        ("Policy", "{}"),
        ("DurationSeconds", "900"),
        ("TransitiveTagKeys.member.1", "team"),
    ]);
    let op = StsOperation::parse(&p).unwrap();
    let StsOperation::AssumeRole(r) = &op else {
        panic!("{op:?}")
    };
    assert_eq!(r.role_arn, "arn:aws:iam::123456789012:role/r");
    assert_eq!(r.policy_arns.len(), 2);
    assert_eq!(r.policy_arns[0]["arn"], "arn:aws:iam::aws:policy/ReadOnly");
    assert_eq!(r.duration_seconds, Some(900));
    assert_eq!(r.transitive_tag_keys, ["team"]);
    assert!(!op.read_only());
    assert_eq!(
        op.audit_parameters(),
        json!({
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "roleSessionName": "s",
            "policyArns": [
                {"arn": "arn:aws:iam::aws:policy/ReadOnly"},
                {"arn": "arn:aws:iam::123456789012:policy/p"},
            ],
            "durationSeconds": 900,
            "transitiveTagKeys": ["team"],
        })
    );
    let op = StsOperation::parse(&params(&[("Action", "GetCallerIdentity")])).unwrap();
    assert!(op.served() && op.read_only());
}
