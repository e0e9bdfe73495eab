//! Request condition keys: each one a policy conditions on, tried with a request
//! that matches and one that does not — and the attacks that once got through
//! because authorization read a lossy copy of the request (a body carrying both
//! `Tags` and `tags`, or `BlockPublicPolicy` and `blockPublicPolicy`).

use crate::access::user;
use crate::authz_matrix::sm_call;
use crate::common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;

type Creds<'a> = (&'a str, &'a str);

/// A user whose only permissions are `statements`.
async fn user_with(addr: SocketAddr, name: &str, statements: Value) -> (String, String) {
    let doc = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    user(addr, name, &[], &doc).await
}

async fn code(addr: SocketAddr, who: Creds<'_>, op: &str, body: Value) -> String {
    let (_, code, b) = sm_call(addr, who, op, &body).await;
    assert!(
        !(code != "OK" && code != "AccessDeniedException"),
        "{op} answered {code}: {b}"
    );
    code
}

async fn root_create(addr: SocketAddr, body: Value) {
    let (_, c, b) = sm_call(addr, (AKID, SECRET), "CreateSecret", &body).await;
    assert_eq!(c, "OK", "{b}");
}

async fn tags_of(addr: SocketAddr, id: &str) -> Value {
    let (_, _, b) = sm_call(
        addr,
        (AKID, SECRET),
        "DescribeSecret",
        &json!({"SecretId": id}),
    )
    .await;
    b["Tags"].clone()
}

#[tokio::test]
async fn request_tags_and_tag_keys() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let (id, key) = user_with(
        addr,
        "tagger",
        json!([
            {"Effect": "Allow", "Action": "secretsmanager:CreateSecret", "Resource": "*",
             "Condition": {"StringEquals": {"aws:RequestTag/team": "dev"}}},
            {"Effect": "Allow", "Action": ["secretsmanager:TagResource", "secretsmanager:UntagResource"],
             "Resource": "*",
             "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}}
        ]),
    )
    .await;
    let who = (id.as_str(), key.as_str());
    let create = |name: &str, tags: Value| json!({"Name": name, "Tags": tags});
    let dev = json!([{"Key": "team", "Value": "dev"}]);
    let ops = json!([{"Key": "team", "Value": "ops"}]);
    assert_eq!(
        code(addr, who, "CreateSecret", create("t/dev", dev.clone())).await,
        "OK"
    );
    assert_eq!(
        code(addr, who, "CreateSecret", create("t/ops", ops.clone())).await,
        "AccessDeniedException"
    );
    assert_eq!(
        code(addr, who, "CreateSecret", json!({"Name": "t/none"})).await,
        "AccessDeniedException"
    );
    // The attack: the operation reads `Tags`, so the policy must see `Tags` too,
    // whatever a lower-case twin says.
    let twin = json!({"Name": "t/twin", "Tags": ops, "tags": dev});
    let got = code(addr, who, "CreateSecret", twin).await;
    assert_eq!(
        got, "AccessDeniedException",
        "a secret tagged team=ops was created"
    );
    let twin = json!({"Name": "t/twin2", "tags": ops, "Tags": dev});
    assert_eq!(code(addr, who, "CreateSecret", twin).await, "OK");
    assert_eq!(
        tags_of(addr, "t/twin2").await,
        json!([{"Key": "team", "Value": "dev"}])
    );

    let tag = |keys: Value| json!({"SecretId": "t/dev", "Tags": keys});
    let env = json!([{"Key": "env", "Value": "prod"}]);
    let owner = json!([{"Key": "owner", "Value": "me"}]);
    assert_eq!(code(addr, who, "TagResource", tag(env)).await, "OK");
    assert_eq!(
        code(addr, who, "TagResource", tag(owner.clone())).await,
        "AccessDeniedException"
    );
    let twin = json!({"SecretId": "t/dev", "Tags": owner, "tags": [{"Key": "env", "Value": "x"}]});
    assert_eq!(
        code(addr, who, "TagResource", twin).await,
        "AccessDeniedException"
    );
    let untag = |keys: Value| json!({"SecretId": "t/dev", "TagKeys": keys});
    assert_eq!(
        code(addr, who, "UntagResource", untag(json!(["owner"]))).await,
        "AccessDeniedException"
    );
    let twin = json!({"SecretId": "t/dev", "TagKeys": ["owner"], "tagKeys": ["env"]});
    assert_eq!(
        code(addr, who, "UntagResource", twin).await,
        "AccessDeniedException"
    );
    assert_eq!(
        code(addr, who, "UntagResource", untag(json!(["env"]))).await,
        "OK"
    );
    // A case twin of a key the secret already has, in a later request, would make
    // `aws:ResourceTag/team` ambiguous: refused.
    let twin = json!({"SecretId": "t/dev", "Tags": [{"Key": "TEAM", "Value": "ops"}]});
    let (_, c, b) = sm_call(addr, (AKID, SECRET), "TagResource", &twin).await;
    assert_eq!(c, "InvalidParameterException", "{b}");
    assert_eq!(
        tags_of(addr, "t/dev").await,
        json!([{"Key": "team", "Value": "dev"}])
    );
    srv.stop().await;
}

#[tokio::test]
async fn block_public_policy_key() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    root_create(
        addr,
        json!({"Name": "p/db", "SecretString": "v", "ClientRequestToken": token(1)}),
    )
    .await;
    let (id, key) = user_with(
        addr,
        "publisher",
        json!({"Effect": "Allow", "Action": "secretsmanager:PutResourcePolicy", "Resource": "*",
               "Condition": {"Bool": {"secretsmanager:BlockPublicPolicy": "true"}}}),
    )
    .await;
    let who = (id.as_str(), key.as_str());
    let public = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*",
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}})
    .to_string();
    let put = |block: Value| json!({"SecretId": "p/db", "ResourcePolicy": public, "BlockPublicPolicy": block});
    assert_eq!(
        code(
            addr,
            who,
            "PutResourcePolicy",
            json!({"SecretId": "p/db", "ResourcePolicy": public})
        )
        .await,
        "AccessDeniedException"
    );
    assert_eq!(
        code(addr, who, "PutResourcePolicy", put(json!(false))).await,
        "AccessDeniedException"
    );
    // The attack: the operation reads `BlockPublicPolicy` (false), the policy must
    // not be shown the twin's `true`.
    let twin = json!({"SecretId": "p/db", "ResourcePolicy": public,
        "BlockPublicPolicy": false, "blockPublicPolicy": true});
    assert_eq!(
        code(addr, who, "PutResourcePolicy", twin).await,
        "AccessDeniedException"
    );
    let (_, _, got) = sm_call(
        addr,
        (AKID, SECRET),
        "GetResourcePolicy",
        &json!({"SecretId": "p/db"}),
    )
    .await;
    assert!(
        got.get("ResourcePolicy").is_none(),
        "a public policy was attached: {got}"
    );
    // Allowed with the block on, and then the block refuses the public policy.
    let (_, c, _) = sm_call(addr, who, "PutResourcePolicy", &put(json!(true))).await;
    assert_eq!(c, "PublicPolicyException");
    srv.stop().await;
}

#[tokio::test]
async fn version_stage_version_id_name_and_description_keys() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    root_create(
        addr,
        json!({"Name": "s/db", "SecretString": "v1", "ClientRequestToken": token(1)}),
    )
    .await;
    let put = json!({"SecretId": "s/db", "SecretString": "v2", "ClientRequestToken": token(2)});
    sm_call(addr, (AKID, SECRET), "PutSecretValue", &put).await;
    let (id, key) = user_with(
        addr,
        "reader",
        json!([
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
            {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
             "Condition": {"StringEquals": {"secretsmanager:VersionStage": "AWSPREVIOUS"}}},
            {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
             "Condition": {"StringEquals": {"secretsmanager:VersionId": token(2)}}},
            {"Effect": "Allow", "Action": "secretsmanager:CreateSecret", "Resource": "*",
             "Condition": {"StringLike": {"secretsmanager:Name": "team/*"}}},
            {"Effect": "Allow", "Action": "secretsmanager:UpdateSecret", "Resource": "*",
             "Condition": {"StringNotLike": {"secretsmanager:Description": "*secret*"}}}
        ]),
    )
    .await;
    let who = (id.as_str(), key.as_str());
    let get = |extra: Value| {
        let mut b = json!({"SecretId": "s/db"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    assert_eq!(
        code(addr, who, "GetSecretValue", get(json!({}))).await,
        "OK"
    );
    assert_eq!(
        code(
            addr,
            who,
            "GetSecretValue",
            get(json!({"VersionStage": "AWSPREVIOUS"}))
        )
        .await,
        "AccessDeniedException"
    );
    let twin = get(json!({"VersionStage": "AWSPREVIOUS", "versionStage": "AWSCURRENT"}));
    assert_eq!(
        code(addr, who, "GetSecretValue", twin).await,
        "AccessDeniedException"
    );
    assert_eq!(
        code(
            addr,
            who,
            "GetSecretValue",
            get(json!({"VersionId": token(2)}))
        )
        .await,
        "AccessDeniedException"
    );
    assert_eq!(
        code(
            addr,
            who,
            "GetSecretValue",
            get(json!({"VersionId": token(1)}))
        )
        .await,
        "OK"
    );
    assert_eq!(
        code(addr, who, "CreateSecret", json!({"Name": "team/a"})).await,
        "OK"
    );
    assert_eq!(
        code(addr, who, "CreateSecret", json!({"Name": "other/a"})).await,
        "AccessDeniedException"
    );
    let twin = json!({"Name": "other/b", "name": "team/b"});
    assert_eq!(
        code(addr, who, "CreateSecret", twin).await,
        "AccessDeniedException"
    );
    let update = |d: &str| json!({"SecretId": "team/a", "Description": d});
    assert_eq!(
        code(addr, who, "UpdateSecret", update("the db")).await,
        "OK"
    );
    assert_eq!(
        code(addr, who, "UpdateSecret", update("top secret")).await,
        "AccessDeniedException"
    );
    srv.stop().await;
}

#[tokio::test]
async fn rotation_keys() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    root_create(
        addr,
        json!({"Name": "r/db", "SecretString": "v1", "ClientRequestToken": token(1)}),
    )
    .await;
    let lambda = "arn:aws:lambda:us-east-1:123456789012:function:coffer-random-password";
    let (id, key) = user_with(
        addr,
        "rotator",
        json!([
            {"Effect": "Allow", "Action": "secretsmanager:RotateSecret", "Resource": "*",
             "Condition": {"StringEquals": {"secretsmanager:RotationLambdaARN": lambda},
                           "Bool": {"secretsmanager:RotateImmediately": "false"}}},
            // Configuring a rotation also needs the function itself.
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}
        ]),
    )
    .await;
    let who = (id.as_str(), key.as_str());
    let rules = json!({"AutomaticallyAfterDays": 30});
    let rotate = |arn: &str, now: bool| {
        json!({"SecretId": "r/db", "RotationLambdaARN": arn, "RotationRules": rules,
               "RotateImmediately": now, "ClientRequestToken": token(5)})
    };
    let other = "arn:aws:lambda:us-east-1:123456789012:function:coffer-postgres-single-user";
    assert_eq!(
        code(addr, who, "RotateSecret", rotate(other, false)).await,
        "AccessDeniedException"
    );
    assert_eq!(
        code(addr, who, "RotateSecret", rotate(lambda, true)).await,
        "AccessDeniedException"
    );
    assert_eq!(
        code(addr, who, "RotateSecret", rotate(lambda, false)).await,
        "OK"
    );
    srv.stop().await;
}
