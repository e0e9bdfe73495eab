"""Multi-Region secrets with boto3, as AWS's: a primary replicated to other
regions of the same server, every change copied, replicas read-only until
promoted, and AWS's answers where a call is refused."""

import time

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import wait_until
from test_access import code

PRIMARY, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"


def message(e):
    return e.value.response["Error"]["Message"]


def statuses(sm, secret_id):
    return {r["Region"]: r for r in sm.describe_secret(SecretId=secret_id).get("ReplicationStatus", [])}


def in_sync(sm, secret_id, regions):
    s = statuses(sm, secret_id)
    return all(s.get(r, {}).get("Status") == "InSync" for r in regions) and s


def test_replicas_follow_their_primary_and_refuse_writes(server):
    sm, west, eu = server.client(PRIMARY), server.client(WEST), server.client(EU)
    created = sm.create_secret(
        Name="app/db", SecretString="v1", Description="the database",
        Tags=[{"Key": "team", "Value": "core"}],
        AddReplicaRegions=[{"Region": WEST}, {"Region": EU}],
    )
    arn = created["ARN"]
    assert [(r["Region"], r["Status"]) for r in created["ReplicationStatus"]] == [
        (WEST, "InProgress"), (EU, "InProgress")]
    s = wait_until("both replicas are in sync", lambda: in_sync(sm, arn, [WEST, EU]))
    assert s[WEST]["KmsKeyId"] == "alias/aws/secretsmanager"
    assert s[WEST]["StatusMessage"] == "Replication succeeded"
    primary = sm.describe_secret(SecretId=arn)
    assert primary["PrimaryRegion"] == PRIMARY

    # The replica: same name, same ARN but for the region, same versions.
    replica = west.describe_secret(SecretId="app/db")
    assert replica["ARN"] == arn.replace(f":{PRIMARY}:", f":{WEST}:")
    assert replica["PrimaryRegion"] == PRIMARY
    assert "ReplicationStatus" not in replica
    assert replica["Description"] == "the database"
    assert replica["Tags"] == [{"Key": "team", "Value": "core"}]
    assert replica["VersionIdsToStages"] == primary["VersionIdsToStages"]
    assert west.get_secret_value(SecretId="app/db")["SecretString"] == "v1"

    # A new value reaches both replicas.
    put = sm.put_secret_value(SecretId=arn, SecretString="v2")
    for region_client in (west, eu):
        wait_until("the replica has the new value", lambda c=region_client: (
            c.get_secret_value(SecretId="app/db")["SecretString"] == "v2"))
        assert region_client.get_secret_value(SecretId="app/db")["VersionId"] == put["VersionId"]
        previous = region_client.get_secret_value(SecretId="app/db", VersionStage="AWSPREVIOUS")
        assert previous["SecretString"] == "v1"
    sm.update_secret(SecretId=arn, Description="moved")
    sm.tag_resource(SecretId=arn, Tags=[{"Key": "tier", "Value": "1"}])
    wait_until("metadata reaches the replica", lambda: (
        eu.describe_secret(SecretId="app/db").get("Description") == "moved"
        and {"Key": "tier", "Value": "1"} in eu.describe_secret(SecretId="app/db")["Tags"]))
    wait_until("the primary reports its replicas in sync", lambda: in_sync(sm, arn, [WEST, EU]))

    # The replica is read-only: every write is refused with AWS's answer.
    writes = [
        lambda: west.put_secret_value(SecretId="app/db", SecretString="x"),
        lambda: west.update_secret(SecretId="app/db", Description="x"),
        lambda: west.tag_resource(SecretId="app/db", Tags=[{"Key": "k", "Value": "v"}]),
        lambda: west.delete_secret(SecretId="app/db"),
        lambda: west.put_resource_policy(SecretId="app/db", ResourcePolicy="{}"),
        lambda: west.replicate_secret_to_regions(SecretId="app/db", AddReplicaRegions=[{"Region": "ap-south-1"}]),
    ]
    for write in writes:
        with pytest.raises(ClientError) as e:
            write()
        assert code(e) == "InvalidParameterException"
        assert message(e) == ("Operation not permitted on a replica secret. "
                              "Call must be made in primary secret's region.")
    assert west.get_secret_value(SecretId="app/db")["SecretString"] == "v2"

    # A primary with replicas cannot be deleted: the replicas go first.
    with pytest.raises(ClientError) as e:
        sm.delete_secret(SecretId=arn)
    assert code(e) == "InvalidParameterException"
    assert message(e) == f"You can't delete secret {arn} that still has replica regions [{WEST}, {EU}]."
    # Once their removal is asked for, the primary may wait out its recovery
    # window while the replicas go.
    sm.remove_regions_from_replication(SecretId=arn, RemoveReplicaRegions=[WEST, EU])
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    wait_until("the replicas are gone", lambda: not west.list_secrets()["SecretList"]
               and not eu.list_secrets()["SecretList"])


def test_promotion_removal_and_refusals(server):
    sm, west, eu = server.client(PRIMARY), server.client(WEST), server.client(EU)
    arn = sm.create_secret(Name="svc", SecretString="one")["ARN"]
    assert "PrimaryRegion" not in sm.describe_secret(SecretId=arn)

    with pytest.raises(ClientError) as e:
        sm.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": PRIMARY}])
    assert (code(e), message(e)) == ("InvalidParameterException", "Invalid replica region.")
    with pytest.raises(ClientError) as e:
        sm.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": "Mars"}])
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        sm.stop_replication_to_replica(SecretId=arn)
    assert code(e) == "InvalidRequestException"

    # A secret of the same name in the region: the replica fails, with AWS's
    # message, until the caller asks to overwrite it.
    eu.create_secret(Name="svc", SecretString="someone else's")
    out = sm.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}, {"Region": EU}])
    assert out["ARN"] == arn
    assert {r["Region"]: r["Status"] for r in out["ReplicationStatus"]} == {WEST: "InProgress", EU: "InProgress"}
    wait_until("the blocked replica fails", lambda: statuses(sm, arn)[EU]["Status"] == "Failed")
    assert statuses(sm, arn)[EU]["StatusMessage"] == (
        f"Replication failed: Secret name svc already exists in region {EU}.")
    assert eu.get_secret_value(SecretId="svc")["SecretString"] == "someone else's"
    sm.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": EU}],
                                   ForceOverwriteReplicaSecret=True)
    wait_until("the overwritten replica is in sync", lambda: in_sync(sm, arn, [WEST, EU]))
    assert eu.get_secret_value(SecretId="svc")["SecretString"] == "one"

    # Promoting the west replica: it becomes a standalone, writable secret,
    # the primary forgets it and stops copying to it.
    promoted = west.stop_replication_to_replica(SecretId="svc")
    assert promoted["ARN"] == arn.replace(f":{PRIMARY}:", f":{WEST}:")
    assert "PrimaryRegion" not in west.describe_secret(SecretId="svc")
    assert set(statuses(sm, arn)) == {EU}
    west.put_secret_value(SecretId="svc", SecretString="west's own")
    sm.put_secret_value(SecretId=arn, SecretString="two")
    wait_until("the remaining replica follows", lambda: eu.get_secret_value(SecretId="svc")["SecretString"] == "two")
    time.sleep(0.5)
    assert west.get_secret_value(SecretId="svc")["SecretString"] == "west's own"

    # Asking for the region again finds the promoted secret there: a secret of
    # the replica's name, which stays unless overwriting is asked for.
    sm.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}])
    wait_until("the re-added replica fails on the name", lambda: statuses(sm, arn).get(WEST, {}).get("Status") == "Failed")
    assert west.get_secret_value(SecretId="svc")["SecretString"] == "west's own"
    sm.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}],
                                   ForceOverwriteReplicaSecret=True)
    wait_until("the overwritten region is in sync", lambda: in_sync(sm, arn, [WEST, EU]))
    assert west.get_secret_value(SecretId="svc")["SecretString"] == "two"
    assert west.describe_secret(SecretId="svc")["PrimaryRegion"] == PRIMARY
    sm.remove_regions_from_replication(SecretId=arn, RemoveReplicaRegions=[WEST])

    # Removing the last replica deletes it; the primary is no longer replicated.
    out = sm.remove_regions_from_replication(SecretId=arn, RemoveReplicaRegions=[EU])
    assert out == {**out, "ARN": arn, "ReplicationStatus": []}
    wait_until("the replica is gone", lambda: not eu.list_secrets(
        Filters=[{"Key": "name", "Values": ["svc"]}])["SecretList"])
    described = sm.describe_secret(SecretId=arn)
    assert "ReplicationStatus" not in described and "PrimaryRegion" not in described
    sm.remove_regions_from_replication(SecretId=arn, RemoveReplicaRegions=[EU])
    sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def test_replica_keys_and_primary_region_filter(server):
    sm, west = server.client(PRIMARY), server.client(WEST)
    kms = boto3.client("kms", endpoint_url=server.endpoint, region_name=WEST,
                       aws_access_key_id=server.exports["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=server.exports["AWS_SECRET_ACCESS_KEY"])
    key = kms.create_key(Description="west key")["KeyMetadata"]
    kms.create_alias(AliasName="alias/west", TargetKeyId=key["KeyId"])
    arn = sm.create_secret(Name="keyed", SecretString="k",
                           AddReplicaRegions=[{"Region": WEST, "KmsKeyId": "alias/west"}])["ARN"]
    sm.create_secret(Name="plain", SecretString="p")
    wait_until("the replica is in sync", lambda: in_sync(sm, arn, [WEST]))
    assert statuses(sm, arn)[WEST]["KmsKeyId"] == "alias/west"
    assert west.describe_secret(SecretId="keyed")["KmsKeyId"] == "alias/west"
    assert west.list_secret_version_ids(SecretId="keyed")["Versions"][0]["KmsKeyIds"] == ["alias/west"]

    # The replica's key rules its reads there: disabled, the replica cannot be read.
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as e:
        west.get_secret_value(SecretId="keyed")
    assert code(e) == "DecryptionFailure"
    kms.enable_key(KeyId=key["KeyId"])
    assert west.get_secret_value(SecretId="keyed")["SecretString"] == "k"

    # A replica key that does not exist is refused before anything is written.
    with pytest.raises(ClientError) as e:
        sm.replicate_secret_to_regions(SecretId="plain", AddReplicaRegions=[
            {"Region": "eu-central-1", "KmsKeyId": "alias/none"}])
    assert code(e) == "EncryptionFailure"  # as CreateSecret answers for such a key
    assert "ReplicationStatus" not in sm.describe_secret(SecretId="plain")

    # The replica's key changes: with its key disabled the replica fails,
    # and asking for the region again with another key reseals the versions
    # it has under the new one (the old key stays disabled throughout).
    key2 = kms.create_key(Description="west key 2")["KeyMetadata"]
    kms.disable_key(KeyId=key["KeyId"])
    sm.put_secret_value(SecretId=arn, SecretString="k2")
    wait_until("the replica fails on its disabled key",
               lambda: statuses(sm, arn)[WEST]["Status"] == "Failed")
    sm.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST, "KmsKeyId": key2["Arn"]}])
    wait_until("the replica is in sync again", lambda: in_sync(sm, arn, [WEST]))
    assert west.get_secret_value(SecretId="keyed")["SecretString"] == "k2"
    assert west.get_secret_value(SecretId="keyed", VersionStage="AWSPREVIOUS")["SecretString"] == "k"
    kms.enable_key(KeyId=key["KeyId"])

    names = lambda c, v: [s["Name"] for s in c.list_secrets(
        Filters=[{"Key": "primary-region", "Values": [v]}])["SecretList"]]
    assert names(sm, PRIMARY) == ["keyed"]
    assert names(west, PRIMARY) == ["keyed"]
    assert names(sm, WEST) == []
    listed = {s["Name"]: s for s in west.list_secrets()["SecretList"]}
    assert listed["keyed"]["PrimaryRegion"] == PRIMARY


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REMOTE = "eu-central-1"


def test_replica_in_a_remote_deployment_outlives_its_primary(workdir):
    """A second `coffer server` process, configured in the first as the remote
    region eu-central-1, keeps the replica in its own store: it follows the
    primary, catches up after being down, and serves (and can promote) the
    replica while the primary's process is stopped."""
    import os
    from conftest import ACCOUNT, Server

    remote_env = {"COFFER_DEV_ACCESS_KEY_ID": "AKIAREMOTEREGION0001",
                  "COFFER_DEV_SECRET_ACCESS_KEY": "remote-secret-key",
                  "COFFER_DEV_ACCOUNT_ID": ACCOUNT}
    port = free_port()
    remote_dir = os.path.join(workdir, "remote")
    remote = Server(remote_dir, env=remote_env, listen=f"127.0.0.1:{port}")
    config = os.path.join(workdir, "primary.toml")
    with open(config, "w") as f:
        f.write(f"""
[[remote_regions]]
region = "{REMOTE}"
endpoint = "http://127.0.0.1:{port}"
access_key_id = "AKIAREMOTEREGION0001"
secret_access_key_env = "EU_SECRET"
""")
    primary = Server(os.path.join(workdir, "primary"), extra_args=["--config", config],
                     env={"COFFER_DEV_ACCOUNT_ID": ACCOUNT, "EU_SECRET": "remote-secret-key"})
    try:
        sm = primary.client(PRIMARY)
        arn = sm.create_secret(Name="dr/db", SecretString="v1",
                               AddReplicaRegions=[{"Region": REMOTE}])["ARN"]
        wait_until("the remote replica is in sync", lambda: in_sync(sm, arn, [REMOTE]))
        far = remote.client(REMOTE)
        assert far.get_secret_value(SecretId="dr/db")["SecretString"] == "v1"
        described = far.describe_secret(SecretId="dr/db")
        assert described["ARN"] == arn.replace(f":{PRIMARY}:", f":{REMOTE}:")
        assert described["PrimaryRegion"] == PRIMARY
        with pytest.raises(ClientError) as e:
            far.put_secret_value(SecretId="dr/db", SecretString="x")
        assert code(e) == "InvalidParameterException"

        sm.put_secret_value(SecretId=arn, SecretString="v2")
        wait_until("the remote replica follows", lambda: far.get_secret_value(SecretId="dr/db")["SecretString"] == "v2")

        # The remote is down: the primary says so, and catches up when it returns.
        assert remote.stop() == 0
        sm.put_secret_value(SecretId=arn, SecretString="v3")
        failed = wait_until("the primary reports the remote failing",
                            lambda: statuses(sm, arn)[REMOTE]["Status"] == "Failed" and statuses(sm, arn)[REMOTE])
        # The caller learns which region failed, not this deployment's endpoints.
        assert failed["StatusMessage"] == f"Replication failed: region {REMOTE} cannot be reached"
        assert str(port) not in failed["StatusMessage"]
        # The primary's server restarts meanwhile: the copy to try again is
        # kept in its store, not only in the memory of the process that failed.
        assert primary.stop() == 0
        primary = Server(os.path.join(workdir, "primary"), extra_args=["--config", config],
                         env={"COFFER_DEV_ACCOUNT_ID": ACCOUNT, "EU_SECRET": "remote-secret-key"})
        sm = primary.client(PRIMARY)
        remote = Server(remote_dir, env=remote_env, listen=f"127.0.0.1:{port}")
        far = remote.client(REMOTE)
        wait_until("the remote catches up", lambda: in_sync(sm, arn, [REMOTE]))
        assert far.get_secret_value(SecretId="dr/db")["SecretString"] == "v3"

        # The primary's process stops: the remote goes on serving the replica,
        # and promoting it makes it writable there.
        assert primary.stop() == 0
        assert far.get_secret_value(SecretId="dr/db")["SecretString"] == "v3"
        far.stop_replication_to_replica(SecretId="dr/db")
        far.put_secret_value(SecretId="dr/db", SecretString="failed over")
        assert far.get_secret_value(SecretId="dr/db")["SecretString"] == "failed over"
    finally:
        primary.stop()
        remote.stop()


def replica_call(server, op, payload, key, secret, region=REMOTE):
    """A `CofferReplication.*` call, as another deployment's replicator makes it."""
    import json
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="POST", url=server.endpoint + "/", data=json.dumps(payload).encode(),
                     headers={"Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": f"CofferReplication.{op}"})
    SigV4Auth(Credentials(key, secret), "secretsmanager", region).add_auth(req)
    http = urllib.request.Request(server.endpoint + "/", data=req.body,
                                  headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(http, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_pushed_replicas_are_authorized_and_sanitized(server):
    """What a remote deployment's replicator sends is a caller's request like
    any other: it needs the replication permission here, cannot bring a policy
    without PutResourcePolicy, and cannot smuggle in attributes."""
    from conftest import ACCOUNT
    from test_access import client, new_user

    iam = client(server, "iam")
    reader = new_user(iam, "reader", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
    replicator = new_user(iam, "replicator", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "secretsmanager:ReplicateSecretToRegions", "Resource": "*"}]})
    primary_arn = f"arn:aws:secretsmanager:{PRIMARY}:{ACCOUNT}:secret:pushed-AbCdEf"
    state = {
        "PrimaryArn": primary_arn, "PrimaryRegion": PRIMARY, "Name": "pushed",
        "CreatedMs": 1_700_000_000_000, "LastChangedMs": 1_700_000_000_000,
        "ForceOverwrite": False,
        "Attrs": {"Replicas": [{"Region": "ap-south-1", "Status": "InSync"}],
                  "Rotation": {"Enabled": True, "DueMs": 0, "Pending": "t"}},
        "Versions": [{"VersionId": "v" * 32, "Labels": ["AWSCURRENT"], "CreatedMs": 1,
                      "SecretString": "pushed value"}],
    }
    status, body = replica_call(server, "PutReplica", state, *reader)
    assert (status, body["__type"]) == (400, "AccessDeniedException"), body
    with_policy = {**state, "Attrs": {"ResourcePolicy": "{}"}}
    status, body = replica_call(server, "PutReplica", with_policy, *replicator)
    assert (status, body["__type"]) == (400, "AccessDeniedException"), body
    mismatched = {**state, "Name": "other"}
    status, body = replica_call(server, "PutReplica", mismatched, *replicator)
    assert (status, body["__type"]) == (400, "SerializationException"), body
    # Nothing a primary's own operations could not have written: one label on
    # two versions, or a policy that does not parse.
    clash = {**state, "Versions": state["Versions"] + [
        {"VersionId": "w" * 32, "Labels": ["AWSCURRENT"], "CreatedMs": 2, "SecretString": "x"}]}
    status, body = replica_call(server, "PutReplica", clash, *replicator)
    assert (status, body["__type"]) == (400, "InvalidParameterException"), body
    root = (server.exports["AWS_ACCESS_KEY_ID"], server.exports["AWS_SECRET_ACCESS_KEY"])
    bad_policy = {**state, "Attrs": {"ResourcePolicy": "{not json"}}
    status, body = replica_call(server, "PutReplica", bad_policy, *root)
    assert (status, body["__type"]) == (400, "MalformedPolicyDocumentException"), body

    status, body = replica_call(server, "PutReplica", state, *replicator)
    assert (status, body) == (200, {"Status": "InSync"})
    far = server.client(REMOTE)
    got = far.get_secret_value(SecretId="pushed")
    assert got["SecretString"] == "pushed value"
    assert got["ARN"] == f"arn:aws:secretsmanager:{REMOTE}:{ACCOUNT}:secret:pushed-AbCdEf"
    described = far.describe_secret(SecretId="pushed")
    # Its own replicas and a due rotation were dropped: it is only a replica.
    assert described["PrimaryRegion"] == PRIMARY
    assert "ReplicationStatus" not in described
    with pytest.raises(ClientError) as e:
        far.rotate_secret(SecretId="pushed")
    assert code(e) == "InvalidParameterException"

    # Removing takes the same kind of permission.
    status, body = replica_call(server, "DeleteReplica", {"PrimaryArn": primary_arn}, *replicator)
    assert (status, body["__type"]) == (400, "AccessDeniedException"), body
    status, _ = replica_call(server, "DeleteReplica", {"PrimaryArn": primary_arn},
                             server.exports["AWS_ACCESS_KEY_ID"], server.exports["AWS_SECRET_ACCESS_KEY"])
    assert status == 200
    assert not far.list_secrets()["SecretList"]


def test_cross_account_replica_needs_both_accounts_and_follows_its_primary(server):
    """The 2026 cross-account replicas: account B creates a replica naming A's
    primary (under B's own customer-managed key); A links it, which B's
    resource policy must allow; the replica then follows the primary, is
    read-only, and ends Detached on either side."""
    import json
    import subprocess

    from conftest import ACCOUNT, BIN

    out = subprocess.run([BIN, "account", "create", "replica-owner"], env=server.cli_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    b_env = dict(line[len("export "):].split("=", 1) for line in out.stdout.splitlines()
                 if line.startswith("export "))
    b_key = (b_env["AWS_ACCESS_KEY_ID"], b_env["AWS_SECRET_ACCESS_KEY"])
    sm_a = server.client(PRIMARY)
    sm_b = server.client(PRIMARY, key=b_key[0], secret=b_key[1])
    kms_b = boto3.client("kms", endpoint_url=server.endpoint, region_name=PRIMARY,
                         aws_access_key_id=b_key[0], aws_secret_access_key=b_key[1])
    b_account = boto3.client("sts", endpoint_url=server.endpoint, region_name=PRIMARY,
                             aws_access_key_id=b_key[0], aws_secret_access_key=b_key[1]
                             ).get_caller_identity()["Account"]

    primary = sm_a.create_secret(Name="shared/db", SecretString="a1", Description="from A")["ARN"]
    # AWS's rules for a cross-account replica: a customer key, no value of its own.
    with pytest.raises(ClientError) as e:
        sm_b.create_secret(Name="mirror", CrossAccountPrimaryARN=primary)
    assert code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        sm_b.create_secret(Name="mirror", CrossAccountPrimaryARN=primary, SecretString="x")
    assert code(e) == "InvalidParameterException"
    key = kms_b.create_key()["KeyMetadata"]["Arn"]
    replica = sm_b.create_secret(Name="mirror", CrossAccountPrimaryARN=primary, KmsKeyId=key)["ARN"]
    assert sm_b.describe_secret(SecretId="mirror")["CrossAccountPrimary"] == {
        "PrimarySecretARN": primary, "ReplicationStatus": "Pending"}

    # A links it only once B's policy lets A in.
    with pytest.raises(ClientError) as e:
        sm_a.associate_cross_account_replica(SecretId=primary, CrossAccountReplicaARN=replica)
    assert code(e) == "AccessDeniedException"
    sm_b.put_resource_policy(SecretId="mirror", ResourcePolicy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "secretsmanager:AcceptCrossAccountReplication", "Resource": "*"}]}))
    # Not a replica of this primary: refused.
    other = sm_a.create_secret(Name="other", SecretString="o")["ARN"]
    with pytest.raises(ClientError) as e:
        sm_a.associate_cross_account_replica(SecretId=other, CrossAccountReplicaARN=replica)
    assert code(e) == "InvalidRequestException"
    out = sm_a.associate_cross_account_replica(SecretId=primary, CrossAccountReplicaARN=replica,
                                               ReplicaRestriction="NoRestriction")
    assert (out["ARN"], out["CrossAccountReplicaARN"], out["ReplicationStatus"]) == (
        primary, replica, "InProgress")

    wait_until("the replica has A's value", lambda: (
        sm_b.describe_secret(SecretId="mirror")["CrossAccountPrimary"]["ReplicationStatus"] == "InSync"))
    assert sm_b.get_secret_value(SecretId="mirror")["SecretString"] == "a1"
    assert sm_b.describe_secret(SecretId="mirror")["Description"] == "from A"
    assert sm_b.list_secret_version_ids(SecretId="mirror")["Versions"][0]["KmsKeyIds"] == [key]
    wait_until("A sees it in sync", lambda: (
        sm_a.describe_secret(SecretId=primary)["CrossAccountReplicas"][0]["ReplicationStatus"] == "InSync"))
    assert sm_a.describe_secret(SecretId=primary)["CrossAccountReplicas"][0]["ReplicaSecretARN"] == replica
    assert b_account != ACCOUNT

    sm_a.put_secret_value(SecretId=primary, SecretString="a2")
    wait_until("the replica follows", lambda: sm_b.get_secret_value(SecretId="mirror")["SecretString"] == "a2")
    with pytest.raises(ClientError) as e:
        sm_b.put_secret_value(SecretId="mirror", SecretString="mine")
    assert code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        sm_a.delete_secret(SecretId=primary)
    assert code(e) == "InvalidParameterException"

    # B promotes it: A reads Detached and stops copying; B may write.
    sm_b.stop_replication_to_replica(SecretId="mirror")
    assert "CrossAccountPrimary" not in sm_b.describe_secret(SecretId="mirror")
    assert sm_a.describe_secret(SecretId=primary)["CrossAccountReplicas"][0]["ReplicationStatus"] == "Detached"
    sm_b.put_secret_value(SecretId="mirror", SecretString="b's own")
    sm_a.put_secret_value(SecretId=primary, SecretString="a3")
    time.sleep(0.5)
    assert sm_b.get_secret_value(SecretId="mirror")["SecretString"] == "b's own"
    out = sm_a.disassociate_cross_account_replica(SecretId=primary, CrossAccountReplicaARN=replica)
    assert out["CrossAccountReplicaARN"] == replica
    assert "CrossAccountReplicas" not in sm_a.describe_secret(SecretId=primary)
    sm_a.delete_secret(SecretId=primary, ForceDeleteWithoutRecovery=True)


def test_overwriting_and_pushing_need_their_own_rights(server):
    """ForceOverwriteReplicaSecret deletes a secret in the other region: the
    caller needs DeleteSecret on it, as if deleting it themselves. And nobody
    can push a state into a replica whose primary is in this deployment."""
    from test_access import client, new_user

    sm, eu = server.client(PRIMARY), server.client(EU)
    iam = client(server, "iam")
    key, secret = new_user(iam, "replicator", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Resource": "*", "Action": [
            "secretsmanager:CreateSecret", "secretsmanager:ReplicateSecretToRegions",
            "secretsmanager:DescribeSecret"]}]})
    as_user = server.client(PRIMARY, key=key, secret=secret)
    eu.create_secret(Name="victim", SecretString="keep me")
    with pytest.raises(ClientError) as e:
        as_user.create_secret(Name="victim", SecretString="mine", ForceOverwriteReplicaSecret=True,
                              AddReplicaRegions=[{"Region": EU}])
    assert code(e) == "AccessDeniedException"
    assert "secretsmanager:DeleteSecret" in message(e)
    as_user.create_secret(Name="victim", SecretString="mine")
    with pytest.raises(ClientError) as e:
        as_user.replicate_secret_to_regions(SecretId="victim", ForceOverwriteReplicaSecret=True,
                                            AddReplicaRegions=[{"Region": EU}])
    assert code(e) == "AccessDeniedException"
    # Without the overwrite it is asked for, and fails on the name, as AWS.
    as_user.replicate_secret_to_regions(SecretId="victim", AddReplicaRegions=[{"Region": EU}])
    wait_until("the replica fails on the name", lambda: statuses(sm, "victim")[EU]["Status"] == "Failed")
    assert eu.get_secret_value(SecretId="victim")["SecretString"] == "keep me"

    # A state pushed for a primary of this deployment is refused, whoever pushes.
    arn = sm.create_secret(Name="local", SecretString="real", AddReplicaRegions=[{"Region": WEST}])["ARN"]
    wait_until("the replica is in sync", lambda: in_sync(sm, arn, [WEST]))
    forged = {"PrimaryArn": arn, "PrimaryRegion": PRIMARY, "Name": "local", "CreatedMs": 1,
              "LastChangedMs": 1, "ForceOverwrite": False, "Attrs": {},
              "Versions": [{"VersionId": "f" * 32, "Labels": ["AWSCURRENT"], "CreatedMs": 1,
                            "SecretString": "forged"}]}
    root = (server.exports["AWS_ACCESS_KEY_ID"], server.exports["AWS_SECRET_ACCESS_KEY"])
    status, body = replica_call(server, "PutReplica", forged, *root, region=WEST)
    assert (status, body["__type"]) == (400, "InvalidRequestException"), body
    assert server.client(WEST).get_secret_value(SecretId="local")["SecretString"] == "real"


def test_attacks_on_the_replication_fields(server):
    """What a caller controls in the new operations: a lower-case twin of a
    member, a path inside an ARN, another account's id."""
    from conftest import ACCOUNT, raw_call
    from test_access import client, new_user

    sm = server.client(PRIMARY)
    arn = sm.create_secret(Name="guarded", SecretString="v")["ARN"]
    # Allowed to replicate to eu-west-1 only, through the condition key.
    iam = client(server, "iam")
    key, secret = new_user(iam, "eu-only", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "secretsmanager:ReplicateSecretToRegions", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"secretsmanager:AddReplicaRegions": [EU]}}}]})
    # A lower-case twin naming another region: what is authorized is what runs.
    status, body = raw_call(server.endpoint, "ReplicateSecretToRegions", {
        "SecretId": "guarded", "AddReplicaRegions": [{"Region": EU}],
        "addReplicaRegions": [{"Region": "ap-south-1"}]}, key=key, secret=secret)
    assert status == 200, body
    assert [r["Region"] for r in body["ReplicationStatus"]] == [EU]
    status, body = raw_call(server.endpoint, "ReplicateSecretToRegions", {
        "SecretId": "guarded", "AddReplicaRegions": [{"Region": "ap-south-1"}]}, key=key, secret=secret)
    assert (status, body["__type"]) == (400, "AccessDeniedException"), body
    wait_until("only the allowed replica exists", lambda: in_sync(sm, arn, [EU]))
    assert set(statuses(sm, arn)) == {EU}

    # A path inside an ARN names nothing; this account's own secret is not a
    # cross-account replica; another account's secret is not found by name.
    for replica in [f"arn:aws:secretsmanager:{PRIMARY}:111122223333:secret:../guarded-AbCdEf",
                    arn.replace("guarded", "../guarded")]:
        with pytest.raises(ClientError) as e:
            sm.associate_cross_account_replica(SecretId=arn, CrossAccountReplicaARN=replica)
        assert code(e) in ("ResourceNotFoundException", "InvalidParameterException"), replica
    with pytest.raises(ClientError) as e:
        sm.associate_cross_account_replica(SecretId=arn, CrossAccountReplicaARN=arn)
    assert code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name="mine", KmsKeyId="alias/aws/secretsmanager",
                         CrossAccountPrimaryARN=arn.replace(ACCOUNT, "111122223333").replace(PRIMARY, EU))
    assert code(e) == "InvalidParameterException"
    # Another account's primary, named by an ARN with a path in it, for a push.
    root = (server.exports["AWS_ACCESS_KEY_ID"], server.exports["AWS_SECRET_ACCESS_KEY"])
    pushed = {"PrimaryArn": f"arn:aws:secretsmanager:{PRIMARY}:111122223333:secret:a:secret:guarded-AbCdEf",
              "PrimaryRegion": PRIMARY, "Name": "guarded", "CreatedMs": 1, "LastChangedMs": 1,
              "ForceOverwrite": True, "Attrs": {}, "Versions": []}
    status, body = replica_call(server, "PutReplica", pushed, *root, region=PRIMARY)
    assert (status, body["__type"]) == (400, "SerializationException"), body
    assert sm.get_secret_value(SecretId="guarded")["SecretString"] == "v"
