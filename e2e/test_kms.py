"""Customer-managed keys with real clients: the aws CLI and boto3's kms client
against Coffer's KMS API, and Secrets Manager using those keys as AWS does."""

import base64
import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, BIN, wait_until
from test_access import client, code, new_user


def aws(server, *args, env=None):
    out = subprocess.run(
        ["aws", *args, "--output", "json"], env={**server.cli_env(), **(env or {})},
        capture_output=True, text=True, timeout=60,
    )
    return out


def ok(out):
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def message(excinfo):
    return excinfo.value.response["Error"]["Message"]


READ_SECRETS = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}


def test_secret_under_a_customer_key_follows_the_key_policy_and_state(server, sm):
    key = ok(aws(server, "kms", "create-key", "--description", "app key"))["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER" and key["KeyState"] == "Enabled"
    key_id, key_arn = key["KeyId"], key["Arn"]
    ok(aws(server, "kms", "create-alias", "--alias-name", "alias/app", "--target-key-id", key_id))
    created = ok(aws(server, "secretsmanager", "create-secret", "--name", "app/db",
                     "--secret-string", "s3cr3t", "--kms-key-id", "alias/app"))
    assert sm.get_secret_value(SecretId="app/db")["SecretString"] == "s3cr3t"
    versions = sm.list_secret_version_ids(SecretId=created["ARN"])["Versions"]
    assert versions[0]["KmsKeyIds"] == ["alias/app"]

    # A user whom IAM lets read secrets, but whom neither IAM nor the key policy
    # lets use the key, is refused as AWS refuses it.
    iam = client(server, "iam")
    akid, secret = new_user(iam, "reader", READ_SECRETS)
    reader = client(server, "secretsmanager", akid, secret)
    with pytest.raises(ClientError) as e:
        reader.get_secret_value(SecretId="app/db")
    assert code(e) == "AccessDeniedException"
    assert message(e) == "Access to KMS is not allowed"

    # A key-policy statement naming the user, only through Secrets Manager.
    policy = json.loads(ok(aws(server, "kms", "get-key-policy", "--key-id", key_id))["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    policy["Statement"].append({
        "Sid": "Let the reader decrypt through Secrets Manager", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/reader"},
        "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}},
    })
    ok(aws(server, "kms", "put-key-policy", "--key-id", key_id, "--policy-name", "default",
           "--policy", json.dumps(policy)))
    assert reader.get_secret_value(SecretId="app/db")["SecretString"] == "s3cr3t"
    # KMS's own trail names the reader, the key and the secret, refused or not.
    uses = [json.loads(line)["record"] for line in open(os.path.join(server.data_dir, "audit.log"))
            if '"eventName":"Decrypt"' in line]
    by_reader = [u for u in uses if u["userIdentity"].get("arn", "").endswith(":user/reader")]
    assert [u.get("errorCode") for u in by_reader] == ["AccessDeniedException", None]
    assert all(u["eventSource"] == "kms.amazonaws.com" for u in by_reader)
    assert by_reader[-1]["userIdentity"]["invokedBy"] == "secretsmanager.amazonaws.com"
    assert by_reader[-1]["requestParameters"] == {
        "keyId": key_arn, "encryptionContext": {"SecretARN": created["ARN"]}}
    # The same statement does not let the reader call KMS directly.
    kms_reader = client(server, "kms", akid, secret)
    blob = client(server, "kms").encrypt(KeyId=key_arn, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        kms_reader.decrypt(CiphertextBlob=blob)
    assert code(e) == "AccessDeniedException"

    # A disabled key stops reads and writes; enabled again, both work.
    ok(aws(server, "kms", "disable-key", "--key-id", key_id))
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId="app/db")
    assert code(e) == "DecryptionFailure"
    assert f"{key_arn} is disabled." in message(e)
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId="app/db", SecretString="next")
    assert code(e) == "EncryptionFailure"
    ok(aws(server, "kms", "enable-key", "--key-id", key_id))
    assert sm.get_secret_value(SecretId="app/db")["SecretString"] == "s3cr3t"

    # Rotating the key keeps every version readable; new versions use the new material.
    before = client(server, "kms").describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    ok(aws(server, "kms", "rotate-key-on-demand", "--key-id", key_id))
    after = client(server, "kms").describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert before != after
    sm.put_secret_value(SecretId="app/db", SecretString="after-rotation")
    assert sm.get_secret_value(SecretId="app/db", VersionStage="AWSPREVIOUS")["SecretString"] == "s3cr3t"
    assert sm.get_secret_value(SecretId="app/db")["SecretString"] == "after-rotation"

    # A built-in rotator rotates a secret under a customer-managed key.
    rot = sm.rotate_secret(SecretId="app/db", RotateImmediately=True, RotationLambdaARN=(
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:coffer-random-password"))

    def rotated():
        d = sm.describe_secret(SecretId="app/db")
        return d["VersionIdsToStages"].get(rot["VersionId"]) == ["AWSCURRENT"] and "LastRotatedDate" in d
    wait_until("the rotation under the customer key finished", rotated)
    assert sm.list_secret_version_ids(SecretId="app/db")["Versions"]

    # Pending deletion: reads fail with KMS's reason; cancelled, the key is disabled.
    kms = client(server, "kms")
    with pytest.raises(ClientError) as e:
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=3)
    assert message(e) == "PendingWindowInDays must be between 7 and 30"
    sched = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert sched["KeyId"] == key_arn and sched["KeyState"] == "PendingDeletion"
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId="app/db")
    assert code(e) == "DecryptionFailure" and "is pending deletion." in message(e)
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"


def test_kms_api_shapes_and_errors(server, sm):
    kms = client(server, "kms")
    meta = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "dev"}])["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    assert meta["Description"] == "" and meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "dev"}]

    # Encrypt/Decrypt bind the encryption context; Decrypt finds the key in the blob.
    out = kms.encrypt(KeyId=arn, Plaintext=b"top-secret-plaintext", EncryptionContext={"app": "x"})
    assert out["KeyId"] == arn
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"app": "x"})
    assert back["Plaintext"] == b"top-secret-plaintext" and back["KeyId"] == arn
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"app": "y"})
    assert code(e) == "InvalidCiphertextException"
    tampered = bytearray(out["CiphertextBlob"])
    tampered[-1] ^= 1
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext={"app": "x"})
    assert code(e) == "InvalidCiphertextException"
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"app": "x"}, KeyId=other)
    assert code(e) == "IncorrectKeyException"
    moved = kms.re_encrypt(CiphertextBlob=out["CiphertextBlob"], SourceEncryptionContext={"app": "x"},
                           DestinationKeyId=other)
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == b"top-secret-plaintext"

    # Data keys, random bytes, and the model's constraints with AWS's messages.
    dk = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert len(dk["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    assert "Plaintext" not in kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=16)
    assert len(kms.generate_random(NumberOfBytes=44)["Plaintext"]) == 44
    with pytest.raises(ClientError) as e:
        kms.generate_random(NumberOfBytes=1025)
    assert message(e) == ("1 validation error detected: Value '1025' at 'numberOfBytes' failed to "
                          "satisfy constraint: Member must have value less than or equal to 1024")
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key_id, Plaintext=b"x" * 4097)
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        kms.create_key(KeySpec="RSA_2048")
    assert code(e) == "UnsupportedOperationException"

    # Keys that do not exist, aliases, and the AWS-managed key.
    missing = "11111111-2222-3333-4444-555555555555"
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=missing)
    assert code(e) == "NotFoundException"
    assert message(e) == f"Key 'arn:aws:kms:us-east-1:{ACCOUNT}:key/{missing}' does not exist"
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="app", TargetKeyId=key_id)
    assert message(e).startswith('Alias must start with the prefix "alias/".')
    kms.create_alias(AliasName="alias/one", TargetKeyId=key_id)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/one", TargetKeyId=key_id)
    assert code(e) == "AlreadyExistsException"
    assert message(e) == f"An alias with the name arn:aws:kms:us-east-1:{ACCOUNT}:alias/one already exists"
    kms.update_alias(AliasName="alias/one", TargetKeyId=other)
    assert kms.describe_key(KeyId="alias/one")["KeyMetadata"]["KeyId"] == other
    kms.delete_alias(AliasName="alias/one")
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="alias/one")
    assert message(e) == f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/one is not found."
    sm.create_secret(Name="plain", SecretString="v")
    names = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert "alias/aws/secretsmanager" in names
    managed = kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId="alias/aws/secretsmanager", Plaintext=b"x")
    assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        kms.disable_key(KeyId=managed["KeyId"])
    assert code(e) == "AccessDeniedException"

    # Rotation status, and listing with markers.
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90
    first = kms.list_keys(Limit=1)
    assert first["Truncated"] and len(first["Keys"]) == 1
    rest = kms.list_keys(Marker=first["NextMarker"])
    assert {k["KeyId"] for k in first["Keys"] + rest["Keys"]} >= {key_id, other, managed["KeyId"]}

    # The audit trail names KMS, and never holds the plaintext.
    audit = open(os.path.join(server.data_dir, "audit.log")).read()
    assert '"eventSource":"kms.amazonaws.com"' in audit
    assert "top-secret-plaintext" not in audit
    assert base64.b64encode(b"top-secret-plaintext").decode() not in audit


def test_the_default_key_does_not_cross_accounts_but_a_shared_key_does(server, sm):
    from conftest import BIN
    out = subprocess.run([BIN, "account", "create", "team-b"], env=server.cli_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    b = dict(line[len("export "):].split("=", 1) for line in out.stdout.splitlines())
    b_account = b["COFFER_ACCOUNT_ID"]
    b_sm = client(server, "secretsmanager", b["AWS_ACCESS_KEY_ID"], b["AWS_SECRET_ACCESS_KEY"])
    grant = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{b_account}:root"},
             "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    plain = sm.create_secret(Name="shared/plain", SecretString="v")["ARN"]
    sm.put_resource_policy(SecretId=plain, ResourcePolicy=json.dumps(grant))
    with pytest.raises(ClientError) as e:
        b_sm.get_secret_value(SecretId=plain)
    assert code(e) == "InvalidRequestException"
    assert message(e) == ("You can't access a secret from a different AWS account if you encrypt "
                          "the secret with the default KMS service key.")
    kms = client(server, "kms")
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    shared = sm.create_secret(Name="shared/cmk", SecretString="shared-value", KmsKeyId=key_arn)["ARN"]
    sm.put_resource_policy(SecretId=shared, ResourcePolicy=json.dumps(grant))
    with pytest.raises(ClientError) as e:
        b_sm.get_secret_value(SecretId=shared)
    assert message(e) == "Access to KMS is not allowed"
    policy = json.loads(kms.get_key_policy(KeyId=key_arn)["Policy"])
    policy["Statement"].append({"Sid": "TeamB", "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{b_account}:root"},
                                "Action": "kms:Decrypt", "Resource": "*"})
    kms.put_key_policy(KeyId=key_arn, Policy=json.dumps(policy))
    assert b_sm.get_secret_value(SecretId=shared)["SecretString"] == "shared-value"


def kms_raw(server, target, payload, key, secret):
    """One signed KMS call as a client that sends what it likes: (status, body)."""
    import urllib.error
    import urllib.request
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=json.dumps(payload).encode(),
                     headers={"Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": f"TrentService.{target}"})
    SigV4Auth(Credentials(key, secret), "kms", "us-east-1").add_auth(req)
    r = urllib.request.Request(server.endpoint + "/", data=req.body, headers=dict(req.headers.items()),
                               method="POST")
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_attacks_on_the_fields_a_caller_controls(server, sm):
    kms = client(server, "kms")
    mine = kms.create_key()["KeyMetadata"]
    theirs = kms.create_key()["KeyMetadata"]
    iam = client(server, "iam")
    akid, secret = new_user(iam, "limited", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["kms:DisableKey", "kms:DescribeKey"], "Resource": mine["Arn"]}]})

    # A lower-case twin of KeyId is not a second key: what is authorized is what is disabled.
    status, body = kms_raw(server, "DisableKey", {"KeyId": theirs["KeyId"], "keyId": mine["KeyId"]},
                           akid, secret)
    assert (status, body["__type"]) == (400, "AccessDeniedException"), body
    status, _ = kms_raw(server, "DisableKey", {"KeyId": mine["KeyId"], "keyId": theirs["KeyId"]},
                        akid, secret)
    assert status == 200
    assert kms.describe_key(KeyId=theirs["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.describe_key(KeyId=mine["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"

    # A path in a key ARN or an alias names nothing.
    for bad in (f"{mine['Arn']}/../{theirs['KeyId']}", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/../key/{theirs['KeyId']}"):
        status, body = kms_raw(server, "DescribeKey", {"KeyId": bad}, akid, secret)
        assert body["__type"] == "NotFoundException", (bad, body)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/../x", TargetKeyId=theirs["KeyId"])
    assert code(e) == "ValidationException"

    # Another account's key: not managed from here, and used only if its policy says so.
    out = subprocess.run([BIN, "account", "create", "other"], env=server.cli_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    b = dict(line[len("export "):].split("=", 1) for line in out.stdout.splitlines())
    b_kms = client(server, "kms", b["AWS_ACCESS_KEY_ID"], b["AWS_SECRET_ACCESS_KEY"])
    b_key = b_kms.create_key()["KeyMetadata"]["Arn"]
    for call in (lambda: kms.disable_key(KeyId=b_key),
                 lambda: kms.create_alias(AliasName="alias/theirs", TargetKeyId=b_key),
                 lambda: kms.put_key_policy(KeyId=b_key, Policy="{}")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NotFoundException"
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=b_key, Plaintext=b"x")
    assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name="under-their-key", SecretString="v", KmsKeyId=b_key)
    assert message(e) == "Access to KMS is not allowed"
    assert b_kms.describe_key(KeyId=b_key)["KeyMetadata"]["KeyState"] == "Enabled"
