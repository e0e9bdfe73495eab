"""Secret changes reach a webhook: EventBridge rules with API destination
targets, driven with boto3, delivered to a receiver run by the test."""

import hashlib
import hmac
import json
import os
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, BIN, wait_until
from test_access import client

VALUE = "s3cr3t-value-never-in-events"


class Receiver:
    """An HTTP receiver on a fixed port that records what it is sent, or
    answers `status` to everything; it can stop and start again."""

    def __init__(self, port=None, status=200):
        if port is None:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
        self.port, self.status, self.got = port, status, []
        # Requests to /token (an OAuth token endpoint), answered with a token.
        self.tokens_asked = []
        self.token_paths = []
        self.server = None

    def start(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path.split("?")[0] == "/token":
                    outer.tokens_asked.append((headers, body))
                    outer.token_paths.append(self.path)
                    answer = json.dumps({"access_token": f"tok-{len(outer.tokens_asked)}", "expires_in": 3600}).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                outer.got.append((headers, body))
                self.send_response(outer.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self):
        return [json.loads(b) for _, b in self.got]


def destination(ev, name, url):
    conn = ev.create_connection(Name=f"{name}-conn", AuthorizationType="API_KEY", AuthParameters={
        "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "key-123"}})
    dest = ev.create_api_destination(Name=name, ConnectionArn=conn["ConnectionArn"],
                                     InvocationEndpoint=url, HttpMethod="POST")
    return conn["ConnectionArn"], dest["ApiDestinationArn"]


PATTERN = {"source": ["aws.secretsmanager"],
           "detail": {"eventName": ["PutSecretValue"], "name": [{"prefix": "app/"}]}}


def names_and_versions(receiver):
    return [(e["detail"]["name"], e["detail"].get("versionId")) for e in receiver.events()]


def test_a_change_reaches_the_webhook_signed_and_without_its_value(server, sm):
    ev = client(server, "events")
    r = Receiver().start()
    conn_arn, dest_arn = destination(ev, "hook", r.url)
    ev.put_rule(Name="app-changes", EventPattern=json.dumps(PATTERN))
    ev.put_targets(Rule="app-changes", Targets=[{"Id": "hook", "Arn": dest_arn}])
    assert ev.list_targets_by_rule(Rule="app-changes")["Targets"][0]["Arn"] == dest_arn
    sm.create_secret(Name="app/db", SecretString="v1")
    sm.create_secret(Name="other/db", SecretString="v1")
    sm.put_secret_value(SecretId="other/db", SecretString=VALUE)
    put = sm.put_secret_value(SecretId="app/db", SecretString=VALUE)
    headers, body = wait_until("the webhook got the change", lambda: r.got and r.got[0])
    event = json.loads(body)
    assert event["detail"]["name"] == "app/db" and event["detail"]["eventName"] == "PutSecretValue"
    assert event["account"] == ACCOUNT and event["detail-type"] == "AWS API Call via CloudTrail"
    # No value anywhere ("v1" may occur inside the random ARN suffix: look for
    # it as a JSON string).
    assert VALUE not in body and '"v1"' not in json.dumps(event["detail"])
    assert headers["x-api-key"] == "key-123"
    assert headers["coffer-event-id"] == event["id"]
    # The signature checks out under the key in the connection's secret.
    secret_arn = ev.describe_connection(Name="hook-conn")["SecretArn"]
    assert "events!connection/hook-conn/" in secret_arn
    key = json.loads(sm.get_secret_value(SecretId=secret_arn)["SecretString"])["signing_key"]
    t, v1 = (p.split("=", 1)[1] for p in headers["coffer-signature"].split(","))
    want = hmac.new(bytes.fromhex(key), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v1, want)
    assert abs(int(t) - time.time()) < 60
    # The pattern kept other/db out (it changed first, so it would have come first).
    time.sleep(0.5)
    assert [e["detail"]["name"] for e in r.events()] == ["app/db"]
    assert put["VersionId"] == event["detail"].get("versionId", put["VersionId"])
    assert metric(server, 'coffer_event_deliveries_total{sink="api_destination",outcome="delivered"}') >= 1
    r.stop()


def metric(server, name):
    """A counter's value on the server's /metrics (0 if absent)."""
    import urllib.request
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0


def test_a_receiver_that_was_down_gets_everything_in_order(server, sm):
    ev = client(server, "events")
    r = Receiver().start()
    _, dest_arn = destination(ev, "down", r.url)
    ev.put_rule(Name="all-app", EventPattern=json.dumps(PATTERN))
    ev.put_targets(Rule="all-app", Targets=[{"Id": "t", "Arn": dest_arn}])
    sm.create_secret(Name="app/a", SecretString="0")
    sm.put_secret_value(SecretId="app/a", SecretString="1")
    wait_until("the first change arrived", lambda: len(r.got) == 1)
    r.stop()
    versions = [sm.put_secret_value(SecretId="app/a", SecretString=str(i))["VersionId"] for i in range(2, 6)]
    time.sleep(1.5)  # the target is retrying against a closed port
    r2 = Receiver(port=r.port).start()
    wait_until("every missed change arrived", lambda: len(r2.got) >= 4)
    got = [e["detail"]["versionId"] for e in r2.events()]
    assert got == versions, "in order, none lost"
    r2.stop()


def test_a_receiver_that_always_fails_fills_the_dead_letters(server, sm):
    ev = client(server, "events")
    bad = Receiver(status=500).start()
    _, dest_arn = destination(ev, "failing", bad.url)
    ev.put_rule(Name="to-failing", EventPattern=json.dumps(PATTERN))
    ev.put_targets(Rule="to-failing", Targets=[{"Id": "t", "Arn": dest_arn,
                                                 "RetryPolicy": {"MaximumRetryAttempts": 1}}])
    sm.create_secret(Name="app/f", SecretString="0")
    sm.put_secret_value(SecretId="app/f", SecretString="1")
    db = os.path.join(server.data_dir, "coffer.db")

    def letters():
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return c.execute("SELECT target, attempts, error, event FROM dead_letters").fetchall()
        finally:
            c.close()

    got = wait_until("the event went to the dead letters", letters)
    target, attempts, error, event = got[0]
    assert target == f"{ACCOUNT}/us-east-1/to-failing/t"
    assert attempts == 2 and "HTTP 500" in error
    assert json.loads(event)["detail"]["name"] == "app/f"
    assert len(bad.got) == 2, "one try and one retry"
    assert metric(server, 'coffer_event_deliveries_total{sink="api_destination",outcome="dead_lettered"}') >= 1
    assert metric(server, 'coffer_event_deliveries_total{sink="api_destination",outcome="retried"}') >= 2

    # `coffer events dlq` lists them and redrives them once the receiver is well.
    listed = dlq(server, "list", "--json")
    letters_out = [json.loads(line) for line in listed.splitlines()]
    assert [(d["Rule"], d["TargetId"], d["Attempts"]) for d in letters_out] == [("to-failing", "t", 2)]
    assert "dead letters will be delivered again" in dlq(server, "redrive", "--all")
    wait_until("the redriven letter was refused again", lambda: len(bad.got) == 3)
    wait_until("the refused letter stays", lambda: letters() and letters()[0][1] == 3)
    bad.status = 200
    dlq(server, "redrive", "--id", str(letters_out[0]["Id"]))
    wait_until("the redriven letter was delivered", lambda: len(bad.got) == 4)
    assert json.loads(bad.got[3][1])["id"] == json.loads(event)["id"], "the same event, the same id"
    wait_until("the delivered letter is gone", lambda: not letters())
    assert "to-failing" not in dlq(server, "list")
    bad.stop()


def dlq(server, *args):
    p = subprocess.run([BIN, "events", "dlq", *args], env=server.cli_env(), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_dead_letters_are_the_accounts_own_and_need_permission(server):
    iam = client(server, "iam")
    from test_access import new_user
    key, secret = new_user(iam, "no-dlq", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "events:DescribeRule", "Resource": "*"}]})
    env = {**server.cli_env(), "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    p = subprocess.run([BIN, "events", "dlq", "list"], env=env, capture_output=True, text=True)
    assert p.returncode != 0
    assert "AccessDeniedException" in p.stderr and "events:ListDeadLetters" in p.stderr


def test_rotation_reaches_the_webhook_as_service_events(server, sm):
    ev = client(server, "events")
    r = Receiver().start()
    _, dest_arn = destination(ev, "rotations", r.url)
    pattern = {"source": ["aws.secretsmanager"], "detail-type": ["AWS Service Event via CloudTrail"],
               "detail": {"eventName": ["RotationStarted", "RotationSucceeded", "RotationFailed"]}}
    ev.put_rule(Name="rotations", EventPattern=json.dumps(pattern))
    ev.put_targets(Rule="rotations", Targets=[{"Id": "t", "Arn": dest_arn}])
    sm.create_secret(Name="rot/db", SecretString="initial")
    lambda_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:coffer-random-password"
    sm.rotate_secret(SecretId="rot/db", RotationLambdaARN=lambda_arn,
                     RotationRules={"AutomaticallyAfterDays": 30})
    wait_until("the rotation's start and success arrived", lambda: len(r.got) >= 2)
    names = [e["detail"]["eventName"] for e in r.events()]
    assert names == ["RotationStarted", "RotationSucceeded"], names
    done = r.events()[1]
    assert done["detail"]["eventType"] == "AwsServiceEvent"
    assert done["detail"]["additionalEventData"]["SecretId"].startswith(f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:rot/db-")
    new_value = sm.get_secret_value(SecretId="rot/db")["SecretString"]
    assert all(new_value not in body and "initial" not in body for _, body in r.got)
    r.stop()


def test_a_manual_version_during_a_rotation_is_reported_abandoned(server, sm):
    ev = client(server, "events")
    r = Receiver().start()
    _, dest_arn = destination(ev, "abandoned", r.url)
    pattern = {"source": ["aws.secretsmanager"], "detail": {"eventName": ["RotationAbandoned"]}}
    ev.put_rule(Name="abandoned", EventPattern=json.dumps(pattern))
    ev.put_targets(Rule="abandoned", Targets=[{"Id": "t", "Arn": dest_arn}])
    sm.create_secret(Name="abandon/db", SecretString="first")
    # What a rotation function's createSecret step does: a new version, AWSPENDING.
    pending = sm.put_secret_value(SecretId="abandon/db", SecretString="rotating",
                                  VersionStages=["AWSPENDING"])["VersionId"]
    manual = sm.put_secret_value(SecretId="abandon/db", SecretString="by-hand")["VersionId"]
    wait_until("the abandonment arrived", lambda: len(r.got) >= 1)
    e = r.events()[0]
    assert e["detail-type"] == "AWS Service Event via CloudTrail"
    assert e["detail"]["eventType"] == "AwsServiceEvent"
    assert e["detail"]["versionId"] == pending
    stages = sm.describe_secret(SecretId="abandon/db")["VersionIdsToStages"]
    assert stages[manual] == ["AWSCURRENT"]
    assert "AWSPENDING" not in stages.get(pending, []), stages
    assert all("rotating" not in body and "by-hand" not in body for _, body in r.got)
    # CloudTrail records the service's event too, as AWS's trail does.
    found = client(server, "cloudtrail").lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "RotationAbandoned"}])["Events"]
    assert [e["EventName"] for e in found] == ["RotationAbandoned"]
    assert json.loads(found[0]["CloudTrailEvent"])["eventType"] == "AwsServiceEvent"
    by_name = client(server, "cloudtrail").lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": "abandon/db"}])["Events"]
    assert "RotationAbandoned" in [e["EventName"] for e in by_name]
    r.stop()


def test_oauth_client_credentials_connections_fetch_and_use_a_token(server, sm):
    import base64
    import urllib.parse
    ev = client(server, "events")
    r = Receiver().start()
    conn = ev.create_connection(Name="oauth", AuthorizationType="OAUTH_CLIENT_CREDENTIALS", AuthParameters={
        "OAuthParameters": {"AuthorizationEndpoint": f"http://127.0.0.1:{r.port}/token", "HttpMethod": "POST",
                            "ClientParameters": {"ClientID": "coffer-client", "ClientSecret": "client-secret-1"}}})
    shown = ev.describe_connection(Name="oauth")
    assert shown["AuthParameters"]["OAuthParameters"]["ClientParameters"] == {"ClientID": "coffer-client"}
    assert "client-secret-1" not in json.dumps(shown, default=str)
    dest = ev.create_api_destination(Name="oauth", ConnectionArn=conn["ConnectionArn"],
                                     InvocationEndpoint=r.url, HttpMethod="POST")
    ev.put_rule(Name="oauth", EventPattern=json.dumps(PATTERN))
    ev.put_targets(Rule="oauth", Targets=[{"Id": "t", "Arn": dest["ApiDestinationArn"]}])
    sm.create_secret(Name="app/oauth", SecretString="0")
    for i in range(2):
        sm.put_secret_value(SecretId="app/oauth", SecretString=str(i))
    wait_until("both changes arrived", lambda: len(r.got) >= 2)
    assert all(h["authorization"] == "Bearer tok-1" for h, _ in r.got), "one token, reused"
    assert len(r.tokens_asked) == 1
    headers, body = r.tokens_asked[0]
    assert urllib.parse.parse_qs(body) == {"grant_type": ["client_credentials"]}
    assert base64.b64decode(headers["authorization"].split()[1]).decode() == "coffer-client:client-secret-1"
    r.stop()


def test_oauth_http_parameters_reach_the_token_request(server, sm):
    """A connection's OAuthHttpParameters (an audience, a scope, a tenant header,
    as identity providers ask for them) go with its token request; values marked
    secret stay out of DescribeConnection."""
    import urllib.parse
    ev = client(server, "events")
    r = Receiver().start()
    conn = ev.create_connection(Name="idp", AuthorizationType="OAUTH_CLIENT_CREDENTIALS", AuthParameters={
        "OAuthParameters": {
            "AuthorizationEndpoint": f"http://127.0.0.1:{r.port}/token", "HttpMethod": "POST",
            "ClientParameters": {"ClientID": "c", "ClientSecret": "s"},
            "OAuthHttpParameters": {
                "HeaderParameters": [{"Key": "X-Tenant", "Value": "acme", "IsValueSecret": False}],
                "QueryStringParameters": [{"Key": "scope", "Value": "events write", "IsValueSecret": False}],
                "BodyParameters": [{"Key": "audience", "Value": "https://api.example/&x", "IsValueSecret": True}],
            }}})
    shown = ev.describe_connection(Name="idp")["AuthParameters"]["OAuthParameters"]["OAuthHttpParameters"]
    assert shown["HeaderParameters"] == [{"Key": "X-Tenant", "Value": "acme", "IsValueSecret": False}]
    assert shown["BodyParameters"] == [{"Key": "audience", "IsValueSecret": True}]
    dest = ev.create_api_destination(Name="idp", ConnectionArn=conn["ConnectionArn"],
                                     InvocationEndpoint=r.url, HttpMethod="POST")
    ev.put_rule(Name="idp", EventPattern=json.dumps(PATTERN))
    ev.put_targets(Rule="idp", Targets=[{"Id": "t", "Arn": dest["ApiDestinationArn"]}])
    sm.create_secret(Name="app/idp", SecretString="0")
    sm.put_secret_value(SecretId="app/idp", SecretString="1")
    wait_until("the change arrived", lambda: len(r.got) >= 1)
    headers, body = r.tokens_asked[0]
    assert headers["x-tenant"] == "acme"
    assert urllib.parse.parse_qs(body) == {"grant_type": ["client_credentials"],
                                           "audience": ["https://api.example/&x"]}
    path = r.token_paths[0]
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(path).query) == {"scope": ["events write"]}
    # Refused: the client's own Authorization header, a control character in a key.
    for bad in [{"HeaderParameters": [{"Key": "Authorization", "Value": "x"}]},
                {"BodyParameters": [{"Key": "a\nb", "Value": "x"}]}]:
        with pytest.raises(ClientError) as e:
            ev.create_connection(Name="bad", AuthorizationType="OAUTH_CLIENT_CREDENTIALS", AuthParameters={
                "OAuthParameters": {
                    "AuthorizationEndpoint": f"http://127.0.0.1:{r.port}/token", "HttpMethod": "POST",
                    "ClientParameters": {"ClientID": "c", "ClientSecret": "s"}, "OAuthHttpParameters": bad}})
        assert e.value.response["Error"]["Code"] == "ValidationException"
    r.stop()
