"""EventBridge's rules API on Coffer's endpoint, through the aws CLI and boto3:
rules of the default bus, their patterns, tags and access control."""

import json
import os
import sqlite3
import subprocess

import botocore.exceptions
import pytest

from conftest import ACCOUNT
from test_access import client, code, new_user

PATTERN = {
    "source": ["aws.secretsmanager"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {"eventName": ["PutSecretValue", "UpdateSecret"]},
}

EVENT = {
    "id": "1", "account": ACCOUNT, "source": "aws.secretsmanager", "time": "2026-11-29T10:00:00Z",
    "region": "us-east-1", "resources": [], "detail-type": "AWS API Call via CloudTrail",
    "detail": {"eventName": "PutSecretValue"},
}


def events_cli(server, *args, check=True):
    p = subprocess.run(["aws", "events", *args, "--output", "json"], env=server.cli_env(), capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_rules_with_the_aws_cli(server):
    out = json.loads(events_cli(server, "put-rule", "--name", "secret-changes", "--event-pattern", json.dumps(PATTERN),
                                "--description", "changes to secrets").stdout)
    arn = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/secret-changes"
    assert out["RuleArn"] == arn
    rule = json.loads(events_cli(server, "describe-rule", "--name", "secret-changes").stdout)
    assert rule["State"] == "ENABLED" and rule["EventBusName"] == "default"
    assert json.loads(rule["EventPattern"]) == PATTERN and rule["Description"] == "changes to secrets"
    events_cli(server, "disable-rule", "--name", "secret-changes")
    listed = json.loads(events_cli(server, "list-rules", "--name-prefix", "secret").stdout)
    assert [(r["Name"], r["State"]) for r in listed["Rules"]] == [("secret-changes", "DISABLED")]
    events_cli(server, "enable-rule", "--name", "secret-changes")
    events_cli(server, "tag-resource", "--resource-arn", arn, "--tags", "Key=team,Value=payments")
    tags = json.loads(events_cli(server, "list-tags-for-resource", "--resource-arn", arn).stdout)["Tags"]
    assert tags == [{"Key": "team", "Value": "payments"}]
    result = json.loads(events_cli(server, "test-event-pattern", "--event-pattern", json.dumps(PATTERN),
                                   "--event", json.dumps(EVENT)).stdout)
    assert result["Result"] is True
    events_cli(server, "delete-rule", "--name", "secret-changes")
    p = events_cli(server, "describe-rule", "--name", "secret-changes", check=False)
    assert p.returncode != 0
    assert "ResourceNotFoundException" in p.stderr and "Rule secret-changes does not exist on EventBus default." in p.stderr


def test_rules_with_boto3_errors_and_paging(server):
    ev = client(server, "events")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ev.put_rule(Name="bad", EventPattern=json.dumps({"source": "aws.secretsmanager"}))
    assert code(e) == "InvalidEventPatternException"
    assert e.value.response["Error"]["Message"].startswith("Event pattern is not valid. Reason: ")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ev.put_rule(Name="no pattern")
    assert code(e) == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ev.put_rule(Name="r", EventPattern=json.dumps(PATTERN), EventBusName="custom")
    assert code(e) == "ResourceNotFoundException"
    for i in range(5):
        ev.put_rule(Name=f"r{i}", EventPattern=json.dumps(PATTERN))
    names, token = [], None
    while True:
        page = ev.list_rules(Limit=2, **({"NextToken": token} if token else {}))
        assert len(page["Rules"]) <= 2
        names += [r["Name"] for r in page["Rules"]]
        token = page.get("NextToken")
        if not token:
            break
    assert names == [f"r{i}" for i in range(5)]
    # PutRule again replaces the rule (the omitted description goes).
    ev.put_rule(Name="r0", EventPattern=json.dumps(PATTERN), Description="first")
    ev.put_rule(Name="r0", EventPattern=json.dumps({"source": ["aws.ec2"]}), State="DISABLED")
    r0 = ev.describe_rule(Name="r0")
    assert r0["State"] == "DISABLED" and "Description" not in r0
    no = ev.test_event_pattern(EventPattern=r0["EventPattern"], Event=json.dumps(EVENT))
    assert no["Result"] is False


def test_events_permissions_are_their_own(server):
    iam = client(server, "iam")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["events:PutRule", "events:DescribeRule"],
        "Resource": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/team-*",
    }]}
    key, secret = new_user(iam, "rules-user", policy)
    ev = client(server, "events", key, secret)
    ev.put_rule(Name="team-a", EventPattern=json.dumps(PATTERN))
    assert ev.describe_rule(Name="team-a")["Name"] == "team-a"
    for call in (
        lambda: ev.put_rule(Name="other", EventPattern=json.dumps(PATTERN)),
        lambda: ev.delete_rule(Name="team-a"),
        lambda: ev.list_rules(),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert code(e) == "AccessDeniedException"
        assert "events:" in e.value.response["Error"]["Message"]
    # Secrets Manager permissions are not EventBridge's, nor the other way round.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client(server, "secretsmanager", key, secret).list_secrets()
    assert code(e) == "AccessDeniedException"


def test_calls_are_audited_under_their_own_services(server):
    client(server, "events").put_rule(Name="audited", EventPattern=json.dumps(PATTERN))
    client(server, "events").describe_rule(Name="audited")
    client(server, "iam").create_user(UserName="audited-user")
    db = sqlite3.connect(os.path.join(server.data_dir, "coffer.db"))
    store = [json.loads(b) for (b,) in db.execute("SELECT body FROM audit")]
    sources = {r["eventName"]: r["eventSource"] for r in store}
    assert sources["PutRule"] == "events.amazonaws.com"
    assert sources["CreateUser"] == "iam.amazonaws.com"
    with open(os.path.join(server.data_dir, "audit.log")) as f:
        reads = [json.loads(line)["record"] for line in f]
    describe = [r for r in reads if r["eventName"] == "DescribeRule"]
    assert describe and describe[0]["eventSource"] == "events.amazonaws.com"
    assert describe[0]["readOnly"] is True


def test_a_rule_arn_spelled_another_way_meets_the_same_statements(server):
    """rule/default/NAME is the rule NAME: a Deny on rule/NAME holds for it too."""
    ev = client(server, "events")
    ev.put_rule(Name="guarded", EventPattern=json.dumps(PATTERN))
    arn = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/guarded"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "events:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "events:*", "Resource": arn}]}
    key, secret = new_user(client(server, "iam"), "sneaky-tagger", policy)
    mine = client(server, "events", key, secret)
    for spelled in (arn, f"arn:aws:events:us-east-1:{ACCOUNT}:rule/default/guarded"):
        for call in (lambda: mine.tag_resource(ResourceARN=spelled, Tags=[{"Key": "k", "Value": "v"}]),
                     lambda: mine.list_tags_for_resource(ResourceARN=spelled)):
            with pytest.raises(botocore.exceptions.ClientError) as e:
                call()
            assert code(e) == "AccessDeniedException", spelled
    # Another account's rule ARN names nothing here.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ev.list_tags_for_resource(ResourceARN="arn:aws:events:us-east-1:999999999999:rule/guarded")
    assert code(e) == "ResourceNotFoundException"


def test_a_lower_case_twin_of_a_member_has_no_meaning(server):
    """Authorization and the handler read the same typed request: a `name` beside
    `Name` changes nothing (serde takes `Name`)."""
    import urllib.error
    import urllib.request
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from conftest import AKID, SECRET
    client(server, "events").put_rule(Name="twin", EventPattern=json.dumps(PATTERN))
    body = json.dumps({"Name": "absent", "name": "twin"}).encode()
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSEvents.DescribeRule"})
    SigV4Auth(Credentials(AKID, SECRET), "events", "us-east-1").add_auth(req)
    r = urllib.request.Request(server.endpoint + "/", data=body, headers=dict(req.headers.items()), method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(r, timeout=10)
    answer = json.loads(e.value.read())
    assert answer["__type"] == "ResourceNotFoundException"
    assert "Rule absent does not exist" in answer["message"]
