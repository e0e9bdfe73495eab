"""Fixtures: a real `coffer` binary in dev mode, and boto3 / aws CLI pointed at it."""

import os
import shutil
import signal
import subprocess
import tempfile

import boto3
import pytest
from botocore.config import Config

BIN = os.environ.get("COFFER_BIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "debug", "coffer"
)
AKID = "AKIAE2ETESTE2ETEST00"
SECRET = "e2e-secret-access-key"
ACCOUNT = "210987654321"


class Server:
    """A `coffer server --dev` process and the environment its export lines give."""

    def __init__(self, data_dir, extra_args=(), env=None):
        self.data_dir = data_dir
        self.log_path = os.path.join(os.path.dirname(data_dir), "server.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "server", "--dev", "--listen", "127.0.0.1:0", "--data-dir", data_dir, *extra_args],
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
