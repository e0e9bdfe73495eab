"""Access control with real clients: boto3's iam, sts and secretsmanager clients and
the aws CLI against the coffer binary, following the seeds' scenarios."""

import json
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT, BIN


def client(server, service, key=None, secret=None, token=None):
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key or server.exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret or server.exports["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}),
    )


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def new_user(iam, name, policy, tags=()):
    iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in tags])
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


TEAM_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/Team": "${aws:PrincipalTag/Team}"}},
    }],
}


def test_team_user_reads_exactly_the_dev_secrets(server, sm):
    sm.create_secret(Name="dev/api", SecretString="dev-value", Tags=[{"Key": "Team", "Value": "Dev"}])
    sm.create_secret(Name="ops/api", SecretString="ops-value", Tags=[{"Key": "Team", "Value": "Ops"}])
    sm.create_secret(Name="untagged", SecretString="x")
    iam = client(server, "iam")
    key, secret = new_user(iam, "dev1", TEAM_POLICY, tags=[("Team", "Dev")])
    dev = client(server, "secretsmanager", key, secret)
    assert dev.get_secret_value(SecretId="dev/api")["SecretString"] == "dev-value"
    for other in ("ops/api", "untagged"):
        with pytest.raises(ClientError) as e:
            dev.get_secret_value(SecretId=other)
        assert code(e) == "AccessDeniedException"
        msg = e.value.response["Error"]["Message"]
        assert f"arn:aws:iam::{ACCOUNT}:user/dev1 is not authorized to perform: secretsmanager:GetSecretValue" in msg
    who = client(server, "sts", key, secret).get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/dev1"
    # The user cannot manage IAM.
    with pytest.raises(ClientError) as e:
        client(server, "iam", key, secret).create_user(UserName="sneaky")
    assert code(e) == "AccessDenied"


def test_explicit_deny_overrides_allow(server, sm):
    sm.create_secret(Name="prod/db", SecretString="p")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue",
             "Resource": "arn:aws:secretsmanager:*:*:secret:prod/*"},
        ],
    }
    key, secret = new_user(client(server, "iam"), "ops", policy)
    ops = client(server, "secretsmanager", key, secret)
    ops.describe_secret(SecretId="prod/db")
    with pytest.raises(ClientError) as e:
        ops.get_secret_value(SecretId="prod/db")
    assert "explicit deny" in e.value.response["Error"]["Message"]


def test_inactive_access_key_is_refused(server):
    iam = client(server, "iam")
    key, secret = new_user(iam, "temp", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}]})
    user_sm = client(server, "secretsmanager", key, secret)
    user_sm.list_secrets()
    iam.update_access_key(UserName="temp", AccessKeyId=key, Status="Inactive")
    assert iam.list_access_keys(UserName="temp")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    with pytest.raises(ClientError) as e:
        user_sm.list_secrets()
    assert code(e) == "UnrecognizedClientException"


def test_iam_errors_and_listing(server):
    iam = client(server, "iam")
    iam.create_user(UserName="a")
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName="a")
    assert code(e) == "EntityAlreadyExists"
    with pytest.raises(ClientError) as e:
        iam.get_user(UserName="nobody")
    assert code(e) == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        iam.create_policy(PolicyName="bad", PolicyDocument='{"Statement": [{"Effect": "Allow"}]}')
    assert code(e) == "MalformedPolicyDocument"
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:List*", "Resource": "*"}]}
    arn = iam.create_policy(PolicyName="lister", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="a", PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == doc, "botocore decodes the URL-encoded document"
    with pytest.raises(ClientError) as e:
        iam.delete_policy(PolicyArn=arn)
    assert code(e) == "DeleteConflict"
    iam.detach_user_policy(UserName="a", PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    iam.delete_user(UserName="a")
    assert iam.list_users()["Users"] == []


def aws(server, *args, env=None):
    out = subprocess.run(
        ["aws", *args], env={**server.cli_env(), **(env or {})},
        capture_output=True, text=True, timeout=60,
    )
    return out


def test_cross_account_read_through_resource_policy_and_assumed_role(server, sm):
    # A second account, created with the first account's root credential.
    out = subprocess.run([BIN, "account", "create", "team-b"], env=server.cli_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    b = dict(line[len("export "):].split("=", 1) for line in out.stdout.splitlines())
    b_account = b["COFFER_ACCOUNT_ID"]
    assert b_account != ACCOUNT and len(b_account) == 12
    b_env = {"AWS_ACCESS_KEY_ID": b["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": b["AWS_SECRET_ACCESS_KEY"]}
    # In account B, with the aws CLI: a role its root may assume, that reads secrets.
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{b_account}:root"}, "Action": "sts:AssumeRole"}]}
    r = aws(server, "iam", "create-role", "--role-name", "Reader",
            "--assume-role-policy-document", json.dumps(trust), env=b_env)
    assert r.returncode == 0, r.stderr
    # Across accounts the secret's key must be shared too: the role may decrypt.
    read = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "kms:Decrypt"], "Resource": "*"}]}
    r = aws(server, "iam", "put-role-policy", "--role-name", "Reader", "--policy-name", "read",
            "--policy-document", json.dumps(read), env=b_env)
    assert r.returncode == 0, r.stderr
    r = aws(server, "sts", "assume-role", "--role-arn", f"arn:aws:iam::{b_account}:role/Reader",
            "--role-session-name", "cli", env=b_env)
    assert r.returncode == 0, r.stderr
    creds = json.loads(r.stdout)["Credentials"]
    reader = client(server, "secretsmanager", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    # In account A: the shared secret, under a key whose policy shares it with B
    # (the default key never crosses accounts).
    kms = client(server, "kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    key_policy = json.loads(kms.get_key_policy(KeyId=key)["Policy"])
    key_policy["Statement"].append({"Sid": "TeamB", "Effect": "Allow",
                                    "Principal": {"AWS": f"arn:aws:iam::{b_account}:root"},
                                    "Action": "kms:Decrypt", "Resource": "*"})
    kms.put_key_policy(KeyId=key, Policy=json.dumps(key_policy))
    arn = sm.create_secret(Name="shared/db", SecretString="shared-value", KmsKeyId=key)["ARN"]
    with pytest.raises(ClientError) as e:
        reader.get_secret_value(SecretId=arn)
    assert code(e) == "AccessDeniedException"
    public = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
              "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    with pytest.raises(ClientError) as e:
        sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(public), BlockPublicPolicy=True)
    assert code(e) == "PublicPolicyException"
    checked = sm.validate_resource_policy(ResourcePolicy=json.dumps(public))
    assert checked["PolicyValidationPassed"] is False
    grant = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{b_account}:role/Reader"},
             "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(grant))
    assert json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"]) == grant
    assert reader.get_secret_value(SecretId=arn)["SecretString"] == "shared-value"
    with pytest.raises(ClientError) as e:
        reader.describe_secret(SecretId=arn)
    assert code(e) == "AccessDeniedException"


def test_account_create_needs_the_first_root(server):
    iam = client(server, "iam")
    key, secret = new_user(iam, "admin", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    env = {**server.cli_env(), "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    out = subprocess.run([BIN, "account", "create", "nope"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "AccessDeniedException" in out.stderr


def test_get_user_without_a_name_answers_for_the_caller(server):
    # The dev server's first key is the root's: `aws iam get-user` must work for it.
    r = aws(server, "iam", "get-user", "--output", "json")
    assert r.returncode == 0, r.stderr
    root = json.loads(r.stdout)["User"]
    assert root["Arn"] == f"arn:aws:iam::{ACCOUNT}:root" and root["UserId"] == ACCOUNT
    assert "UserName" not in root
    iam = client(server, "iam")
    akid, secret = new_user(iam, "self", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]})
    me = client(server, "iam", akid, secret).get_user()["User"]
    assert me["UserName"] == "self" and me["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/self"
