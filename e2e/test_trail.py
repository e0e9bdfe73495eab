"""CloudTrail's LookupEvents over Coffer's audit trail, with the aws CLI and
boto3: by resource, by user, paged, and only with cloudtrail:LookupEvents."""

import json
import subprocess

import botocore.exceptions
import pytest

from conftest import ACCOUNT
from test_access import client, code, new_user


def lookup(server, *args):
    p = subprocess.run(["aws", "cloudtrail", "lookup-events", *args, "--output", "json"],
                       env=server.cli_env(), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["Events"]


def test_lookup_by_resource_and_user_with_paging(server, sm):
    iam = client(server, "iam")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["secretsmanager:*"], "Resource": "*"}]}
    key, secret = new_user(iam, "writer", policy)
    mine = client(server, "secretsmanager", key, secret)
    mine.create_secret(Name="trail/db", SecretString="v1")
    mine.put_secret_value(SecretId="trail/db", SecretString="v2-never-in-the-trail")
    mine.get_secret_value(SecretId="trail/db")
    sm.create_secret(Name="trail/other", SecretString="x")

    by_name = lookup(server, "--lookup-attributes", "AttributeKey=ResourceName,AttributeValue=trail/db")
    names = [e["EventName"] for e in by_name]
    assert names[:3] == ["GetSecretValue", "PutSecretValue", "CreateSecret"], names
    put = next(e for e in by_name if e["EventName"] == "PutSecretValue")
    assert put["Username"] == "writer" and put["EventSource"] == "secretsmanager.amazonaws.com"
    assert put["ReadOnly"] == "false" and put["AccessKeyId"] == key
    record = json.loads(put["CloudTrailEvent"])
    assert record["userIdentity"]["type"] == "IAMUser" and record["recipientAccountId"] == ACCOUNT
    assert "v2-never-in-the-trail" not in put["CloudTrailEvent"]

    by_user = lookup(server, "--lookup-attributes", "AttributeKey=Username,AttributeValue=writer")
    assert {e["EventName"] for e in by_user} >= {"CreateSecret", "PutSecretValue", "GetSecretValue"}
    assert all(e["Username"] == "writer" for e in by_user)
    iam_events = lookup(server, "--lookup-attributes", "AttributeKey=EventSource,AttributeValue=iam.amazonaws.com")
    assert "CreateUser" in [e["EventName"] for e in iam_events]

    ct = client(server, "cloudtrail")
    seen, token = [], None
    while True:
        page = ct.lookup_events(MaxResults=2, LookupAttributes=[
            {"AttributeKey": "ResourceName", "AttributeValue": "trail/db"}], **({"NextToken": token} if token else {}))
        assert len(page["Events"]) <= 2
        seen += [e["EventId"] for e in page["Events"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == [e["EventId"] for e in by_name] and len(set(seen)) == len(seen)

    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.lookup_events(LookupAttributes=[{"AttributeKey": "Nope", "AttributeValue": "x"}])
    assert code(e) == "InvalidLookupAttributesException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.lookup_events(StartTime=2_000_000_000, EndTime=1_000_000_000)
    assert code(e) == "InvalidTimeRangeException"


def test_lookup_needs_its_own_permission(server, sm):
    iam = client(server, "iam")
    key, secret = new_user(iam, "no-trail", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client(server, "cloudtrail", key, secret).lookup_events()
    assert code(e) == "AccessDeniedException"
    assert "cloudtrail:LookupEvents" in e.value.response["Error"]["Message"]


def test_audit_export_writes_json_lines_for_a_siem(server, sm):
    from conftest import BIN
    sm.create_secret(Name="export/db", SecretString="v1")
    sm.get_secret_value(SecretId="export/db")

    def export(*args):
        p = subprocess.run([BIN, "audit", "export", "--data-dir", server.data_dir, *args],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        return [json.loads(line) for line in p.stdout.splitlines()]

    records = export("--since", "1h")
    names = [r["eventName"] for r in records]
    assert names.index("CreateSecret") < names.index("GetSecretValue"), "oldest first"
    from datetime import datetime
    # Times are compared as times: RFC 3339 text drops trailing zeros of fractions.
    times = [datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00")) for r in records]
    assert times == sorted(times)
    assert all(r["eventSource"] != "coffer.internal" for r in records)
    # The value, as a JSON string (the ARN's random suffix may hold "v1").
    assert '"v1"' not in json.dumps([r for r in records if r["eventName"] in ("CreateSecret", "GetSecretValue")])
    assert export("--since", "2099-01-01T00:00:00Z") == []
    p = subprocess.run([BIN, "audit", "export", "--data-dir", server.data_dir, "--since", "yesterday"],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "RFC 3339" in p.stderr
