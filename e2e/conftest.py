"""Fixtures: a real `coffer` binary in dev mode, and boto3 / aws CLI pointed at it."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config

BIN = os.environ.get("COFFER_BIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "debug", "coffer"
)
AKID = "AKIAE2ETESTE2ETEST00"
SECRET = "e2e-secret-access-key"
ACCOUNT = "210987654321"


# How long a test waits for background work before it fails: far beyond what any of
# it takes, so a slow or loaded machine does not fail a correct product.
PATIENCE = 30


def wait_until(what, check, timeout=PATIENCE, interval=0.05):
    """Polls `check` until it returns something true and returns that; fails the
    test naming `what` was awaited once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting until {what}")
        time.sleep(interval)


def answers_health(endpoint):
    """True when a server answers GET /health with 200 at `endpoint`."""
    try:
        with urllib.request.urlopen(endpoint + "/health", timeout=5) as r:
            return r.status == 200
    except OSError:  # refused, reset, or not listening yet
        return False


def signed_request(endpoint, target, payload, key, secret, region="us-east-1"):
    """(headers, body) of a Secrets Manager JSON 1.1 call to `endpoint`, signed by
    botocore's own SigV4 signer; the caller sends them however it needs to."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = json.dumps(payload).encode()
    req = AWSRequest(method="POST", url=endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"secretsmanager.{target}",
    })
    SigV4Auth(Credentials(key, secret), "secretsmanager", region).add_auth(req)
    return dict(req.headers.items()), body


def raw_call(endpoint, target, payload, key=AKID, secret=SECRET):
    """One signed call, answering (status, JSON body) with every field the server
    sent, including those beyond AWS's model that boto3 drops."""
    headers, body = signed_request(endpoint, target, payload, key, secret)
    req = urllib.request.Request(endpoint + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=PATIENCE) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class Server:
    """A `coffer server --dev` process and the environment its export lines give."""

    def __init__(self, data_dir, extra_args=(), env=None, listen="127.0.0.1:0"):
        self.data_dir = data_dir
        self.log_path = os.path.join(os.path.dirname(data_dir), "server.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "server", "--dev", "--listen", listen, "--data-dir", data_dir, *extra_args],
            stdout=subprocess.PIPE,
            stderr=self.log,
            env={**os.environ, **(env or {})},
            text=True,
        )
        self.exports = {}
        for line in self.proc.stdout:
            if line.startswith("export "):
                key, _, value = line[len("export "):].strip().partition("=")
                self.exports[key] = value
            if line.startswith("export AWS_DEFAULT_REGION="):
                break
        assert "AWS_ENDPOINT_URL" in self.exports, "server printed no endpoint"

    @property
    def endpoint(self):
        return self.exports["AWS_ENDPOINT_URL"]

    def client(self, region=None, **overrides):
        return boto3.client(
            "secretsmanager",
            endpoint_url=self.endpoint,
            region_name=region or self.exports["AWS_REGION"],
            aws_access_key_id=overrides.get("key", self.exports["AWS_ACCESS_KEY_ID"]),
            aws_secret_access_key=overrides.get("secret", self.exports["AWS_SECRET_ACCESS_KEY"]),
            config=Config(retries={"max_attempts": 1}),
        )

    def cli_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(self.exports)
        return env

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="coffer-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def server(workdir):
    s = Server(
        os.path.join(workdir, "data"),
        env={
            "COFFER_DEV_ACCESS_KEY_ID": AKID,
            "COFFER_DEV_SECRET_ACCESS_KEY": SECRET,
            "COFFER_DEV_ACCOUNT_ID": ACCOUNT,
        },
    )
    yield s
    assert s.stop() == 0, "graceful shutdown exits 0"


@pytest.fixture
def sm(server):
    return server.client()
