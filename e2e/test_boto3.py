"""boto3 against a real coffer binary."""

import base64
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT


def code_of(exc_info):
    return exc_info.value.response["Error"]["Code"], exc_info.value.response["Error"]["Message"]


def test_lifecycle(sm):
    created = sm.create_secret(Name="e2e/db", SecretString='{"user":"u","password":"p"}', Description="db")
    assert created["ARN"].startswith(f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:e2e/db-")
    got = sm.get_secret_value(SecretId="e2e/db")
    assert got["SecretString"] == '{"user":"u","password":"p"}'
    assert got["VersionStages"] == ["AWSCURRENT"]
    put = sm.put_secret_value(SecretId=created["ARN"], SecretString="v2")
    assert put["VersionStages"] == ["AWSCURRENT"]
    prev = sm.get_secret_value(SecretId="e2e/db", VersionStage="AWSPREVIOUS")
    assert prev["VersionId"] == created["VersionId"]
    desc = sm.describe_secret(SecretId="e2e/db")
    assert desc["Description"] == "db"
    assert sorted(desc["VersionIdsToStages"].values()) == [["AWSCURRENT"], ["AWSPREVIOUS"]]


def test_binary(sm):
    raw = bytes([0, 1, 2, 255])
    sm.create_secret(Name="bin", SecretBinary=raw)
    assert sm.get_secret_value(SecretId="bin")["SecretBinary"] == raw


def test_errors(sm):
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId="missing")
    assert code_of(e) == ("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name="bad name", SecretString="v")
    assert code_of(e)[0] == "ValidationException"
    sm.create_secret(Name="twice", SecretString="v")
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name="twice", SecretString="w")
    assert code_of(e) == ("ResourceExistsException", "The operation failed because the secret twice already exists.")
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId="twice", SecretString="x" * 65537)
    assert code_of(e)[0] == "ValidationException"


def test_idempotent_token(sm):
    token = str(uuid.uuid4())
    sm.create_secret(Name="idem", SecretString="v1")
    a = sm.put_secret_value(SecretId="idem", SecretString="v2", ClientRequestToken=token)
    b = sm.put_secret_value(SecretId="idem", SecretString="v2", ClientRequestToken=token)
    assert a["VersionId"] == b["VersionId"] == token
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId="idem", SecretString="v3", ClientRequestToken=token)
    assert code_of(e)[0] == "ResourceExistsException"


def test_stage_moves(sm):
    sm.create_secret(Name="stages", SecretString="v1")
    pending = sm.put_secret_value(SecretId="stages", SecretString="v2", VersionStages=["AWSPENDING"])
    current = sm.get_secret_value(SecretId="stages")["VersionId"]
    sm.update_secret_version_stage(
        SecretId="stages", VersionStage="AWSCURRENT", MoveToVersionId=pending["VersionId"], RemoveFromVersionId=current
    )
    assert sm.get_secret_value(SecretId="stages")["SecretString"] == "v2"
    assert sm.get_secret_value(SecretId="stages", VersionStage="AWSPREVIOUS")["SecretString"] == "v1"


def test_list_paginator_and_filters(sm):
    for i in range(7):
        sm.create_secret(Name=f"pg/s{i}", SecretString="v", Tags=[{"Key": "Team", "Value": "Dev" if i % 2 else "Ops"}])
    pages = sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 3})
    names = [s["Name"] for page in pages for s in page["SecretList"]]
    assert names == [f"pg/s{i}" for i in range(7)]
    dev = sm.list_secrets(Filters=[{"Key": "tag-value", "Values": ["Dev"]}])["SecretList"]
    assert [s["Name"] for s in dev] == ["pg/s1", "pg/s3", "pg/s5"]
    not_dev = sm.list_secrets(Filters=[{"Key": "tag-value", "Values": ["!Dev"]}])["SecretList"]
    assert len(not_dev) == 4


def test_batch_get(sm):
    sm.create_secret(Name="b1", SecretString="one")
    sm.create_secret(Name="b2", SecretString="two")
    out = sm.batch_get_secret_value(SecretIdList=["b1", "b2", "nope"])
    assert sorted(v["SecretString"] for v in out["SecretValues"]) == ["one", "two"]
    assert [(e["SecretId"], e["ErrorCode"]) for e in out["Errors"]] == [("nope", "ResourceNotFoundException")]
    by_filter = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": ["b"]}])
    assert len(by_filter["SecretValues"]) == 2


def test_delete_restore(sm):
    sm.create_secret(Name="del", SecretString="v")
    out = sm.delete_secret(SecretId="del", RecoveryWindowInDays=7)
    assert "DeletionDate" in out
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId="del")
    assert code_of(e) == (
        "InvalidRequestException",
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
    assert "DeletedDate" in sm.describe_secret(SecretId="del")
    sm.restore_secret(SecretId="del")
    assert sm.get_secret_value(SecretId="del")["SecretString"] == "v"
    sm.delete_secret(SecretId="del", ForceDeleteWithoutRecovery=True)
    with pytest.raises(ClientError) as e:
        sm.describe_secret(SecretId="del")
    assert code_of(e)[0] == "ResourceNotFoundException"


def test_tags_and_random_password(sm):
    sm.create_secret(Name="t", SecretString="v")
    sm.tag_resource(SecretId="t", Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    sm.untag_resource(SecretId="t", TagKeys=["a"])
    assert sm.describe_secret(SecretId="t")["Tags"] == [{"Key": "b", "Value": "2"}]
    pw = sm.get_random_password(PasswordLength=40, ExcludePunctuation=True)["RandomPassword"]
    assert len(pw) == 40 and pw.isalnum()


def test_auth_failures(server):
    bad = server.client(secret="wrong")
    with pytest.raises(ClientError) as e:
        bad.list_secrets()
    assert code_of(e)[0] == "InvalidSignatureException"
    unknown = server.client(key="AKIAUNKNOWN000000000")
    with pytest.raises(ClientError) as e:
        unknown.list_secrets()
    assert code_of(e)[0] == "UnrecognizedClientException"


def test_regions_isolated(server):
    server.client("us-east-1").create_secret(Name="r", SecretString="east")
    west = server.client("eu-west-1")
    with pytest.raises(ClientError):
        west.get_secret_value(SecretId="r")
    west.create_secret(Name="r", SecretString="west")
    assert west.get_secret_value(SecretId="r")["SecretString"] == "west"


def test_binary_base64_on_the_wire(server, sm):
    # boto3 decodes base64 for us; the raw model says blob, check a value with '+' and '/'.
    raw = base64.b64decode("+/+/AAEC")
    sm.create_secret(Name="b64", SecretBinary=raw)
    assert sm.get_secret_value(SecretId="b64")["SecretBinary"] == raw


def test_resource_policies_by_name(sm):
    # The 2026 model's policy names: a secret has one policy, "default".
    arn = sm.create_secret(Name="policied", SecretString="v")["ARN"]
    assert sm.list_resource_policies(SecretId=arn)["ResourcePolicies"] == []
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                      "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                      "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
    put = sm.put_resource_policy(SecretId=arn, ResourcePolicy=doc, PolicyName="default")
    assert put["PolicyName"] == "default"
    assert sm.list_resource_policies(SecretId=arn)["ResourcePolicies"] == [{"PolicyName": "default"}]
    with pytest.raises(ClientError) as e:
        sm.put_resource_policy(SecretId=arn, ResourcePolicy=doc, PolicyName="other")
    assert code_of(e)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        sm.get_resource_policy(SecretId=arn, PolicyName="other")
    assert code_of(e)[0] == "ResourceNotFoundException"
    assert sm.get_resource_policy(SecretId=arn, PolicyName="default")["ResourcePolicy"] == doc
    sm.delete_resource_policy(SecretId=arn)
    assert sm.list_resource_policies(SecretId=arn)["ResourcePolicies"] == []


def test_members_coffer_cannot_honour_are_refused(sm):
    # A cross-account replica takes no value of its own (the model's rule;
    # test_replication.py has the rest of it).
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name="replica", SecretString="v",
                         CrossAccountPrimaryARN=f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:p-AbCdEf")
    assert code_of(e)[0] == "InvalidParameterException"
    sm.create_secret(Name="ext", SecretString="v")
    with pytest.raises(ClientError) as e:
        sm.rotate_secret(SecretId="ext", ExternalSecretRotationRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r")
    assert code_of(e)[0] == "InvalidRequestException"


def test_list_filters_match_words_as_aws_does(sm):
    sm.create_secret(Name="MyApplication/prod-db", SecretString="v", Description="Team database",
                     Tags=[{"Key": "costCenter", "Value": "ops.east"}])
    sm.create_secret(Name="other", SecretString="v", Description="an app")

    def names(*filters):
        out = sm.list_secrets(Filters=[{"Key": k, "Values": v} for k, v in filters])
        return sorted(s["Name"] for s in out["SecretList"])

    # name and tags: case-sensitive prefixes of the whole text (AWS's documentation).
    assert names(("name", ["MyApp"])) == ["MyApplication/prod-db"]
    assert names(("name", ["myapp"])) == names(("name", ["application"])) == []
    assert names(("tag-key", ["cost"])) == ["MyApplication/prod-db"]
    assert names(("tag-key", ["Center"])) == []
    assert names(("tag-value", ["ops"])) == ["MyApplication/prod-db"]
    # description and all: every word starts a word, case aside; all spans every text.
    assert names(("description", ["team DATA"])) == ["MyApplication/prod-db"]
    assert names(("all", ["application"])) == ["MyApplication/prod-db"]
    assert names(("all", ["app"])) == ["MyApplication/prod-db", "other"]
    assert names(("all", ["app team"])) == ["MyApplication/prod-db"]
    assert names(("all", ["!team"])) == ["other"]
