"""Delivery in a fleet: two servers on one PostgreSQL database deliver each
change once, whichever server it went through, and the survivor takes over
delivery when the one delivering is killed."""

import json
import os
import subprocess
import uuid

import pytest

from conftest import ACCOUNT, AKID, SECRET, Server, wait_until
from test_access import client
from test_delivery import PATTERN, Receiver, destination

ADMIN = os.environ.get("COFFER_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def database():
    name = f"coffer_e2e_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", "-q", ADMIN, "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    yield ADMIN.rsplit("/", 1)[0] + "/" + name
    subprocess.run(["psql", "-q", ADMIN, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


def member(workdir, name, url):
    env = {"COFFER_DEV_ACCESS_KEY_ID": AKID, "COFFER_DEV_SECRET_ACCESS_KEY": SECRET,
           "COFFER_DEV_ACCOUNT_ID": ACCOUNT, "COFFER_ROOT_KEY": "11" * 32}
    return Server(os.path.join(workdir, name, "data"), ["--database-url", url, "--root-key", "env"], env=env)


def test_each_change_is_delivered_once_across_the_fleet(workdir, database):
    os.makedirs(os.path.join(workdir, "a"))
    os.makedirs(os.path.join(workdir, "b"))
    a, b = member(workdir, "a", database), member(workdir, "b", database)
    r = Receiver().start()
    try:
        ev = client(a, "events")
        _, dest_arn = destination(ev, "fleet", r.url)
        ev.put_rule(Name="fleet", EventPattern=json.dumps(PATTERN))
        ev.put_targets(Rule="fleet", Targets=[{"Id": "t", "Arn": dest_arn}])
        sa, sb = a.client(), b.client()
        sa.create_secret(Name="app/fleet", SecretString="0")
        versions = []
        for i in range(10):
            c = sa if i % 2 else sb
            versions.append(c.put_secret_value(SecretId="app/fleet", SecretString=str(i))["VersionId"])
        wait_until("every change arrived", lambda: len(r.got) >= 10)
        import time
        time.sleep(2)  # a second deliverer would have sent its copies by now
        got = [e["detail"]["versionId"] for e in r.events()]
        assert got == versions, "each once, in order, whichever server took the write"

        # A started first, so A leads the fleet's background work and delivers:
        # killed, B takes over delivery within its lead check.
        a.proc.kill()
        a.proc.wait()
        more = [sb.put_secret_value(SecretId="app/fleet", SecretString=f"m{i}")["VersionId"] for i in range(5)]
        wait_until("the survivor delivered the later changes", lambda: len(r.got) >= 15)
        assert [e["detail"]["versionId"] for e in r.events()][10:15] == more
    finally:
        r.stop()
        for s in (a, b):
            if s.proc.poll() is None:
                s.stop()
            else:
                s.log.close()


def test_the_trail_is_read_across_the_fleet(workdir, database):
    """A read through A is found by LookupEvents through B (the servers' audit
    lines are shipped into the store), and `coffer audit export` of the
    database streams both servers' records, oldest first."""
    from conftest import BIN
    os.makedirs(os.path.join(workdir, "a"))
    os.makedirs(os.path.join(workdir, "b"))
    a, b = member(workdir, "a", database), member(workdir, "b", database)
    try:
        a.client().create_secret(Name="trail/fleet", SecretString="fleet-value")
        a.client().get_secret_value(SecretId="trail/fleet")
        b.client().describe_secret(SecretId="trail/fleet")
        ct = client(b, "cloudtrail")

        def names():
            events = ct.lookup_events(LookupAttributes=[
                {"AttributeKey": "ResourceName", "AttributeValue": "trail/fleet"}])["Events"]
            return [e["EventName"] for e in events]
        wait_until("A's read is in B's lookup", lambda: "GetSecretValue" in names())
        wait_until("B's own read too", lambda: "DescribeSecret" in names())
        assert names().index("DescribeSecret") < names().index("GetSecretValue") < names().index("CreateSecret"), \
            "newest first"
        p = subprocess.run([BIN, "audit", "export", "--database-url", database], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        exported = [json.loads(line)["eventName"] for line in p.stdout.splitlines()]
        mine = [n for n in exported if n in ("CreateSecret", "GetSecretValue", "DescribeSecret")]
        assert mine == ["CreateSecret", "GetSecretValue", "DescribeSecret"], exported
        assert "fleet-value" not in p.stdout
    finally:
        for s in (a, b):
            s.stop()


def console_post(server, path, body, cookie=None, csrf=None):
    """(status, JSON body, Set-Cookie) of a console API call."""
    import urllib.error
    import urllib.request
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    if csrf:
        headers["X-Coffer-Csrf"] = csrf
    req = urllib.request.Request(server.endpoint + path, data=json.dumps(body).encode(), headers=headers,
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}"), r.headers.get("Set-Cookie")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), None


def test_console_sessions_span_the_fleet(workdir, database):
    """A console session started through A serves calls through B (behind a
    load balancer, no stickiness needed), still asks for its CSRF token
    there, and a sign-out through B ends it on A at once."""
    os.makedirs(os.path.join(workdir, "a"))
    os.makedirs(os.path.join(workdir, "b"))
    a, b = member(workdir, "a", database), member(workdir, "b", database)
    try:
        a.client().create_secret(Name="console/fleet", SecretString="v")
        status, out, set_cookie = console_post(
            a, "/console/api/login", {"accessKeyId": AKID, "secretAccessKey": SECRET})
        assert status == 200, out
        cookie, csrf = set_cookie.split(";")[0], out["csrf"]
        listing = {"service": "secretsmanager", "target": "ListSecrets", "body": {}}
        status, out, _ = console_post(b, "/console/api/call", listing, cookie, csrf)
        assert status == 200, out
        assert [s["Name"] for s in out["SecretList"]] == ["console/fleet"]
        status, _, _ = console_post(b, "/console/api/call", listing, cookie, "wrong-" + csrf)
        assert status == 403, "the CSRF token is checked on every server"
        status, _, gone = console_post(b, "/console/api/logout", {}, cookie, csrf)
        assert status == 200 and "Max-Age=0" in gone
        status, out, _ = console_post(a, "/console/api/call", listing, cookie, csrf)
        assert status == 403 and "ended" in json.dumps(out), out
    finally:
        for s in (a, b):
            s.stop()
