"""TLS with the real binary: `--dev-tls` for the aws CLI, boto3 and `coffer
account create` through AWS_CA_BUNDLE alone, a certificate reloaded on a real
SIGHUP, and normal mode's refusal of plain HTTP on an address other than
loopback. (The agent over HTTPS is in test_agent.py.)"""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess

import boto3
from botocore.config import Config

from conftest import AKID, BIN, PATIENCE, SECRET, Server, wait_until
from test_cli import aws, free_port


DEV_CREDS = {"COFFER_DEV_ACCESS_KEY_ID": AKID, "COFFER_DEV_SECRET_ACCESS_KEY": SECRET}


def dev_tls_server(data):
    return Server(data, extra_args=["--dev-tls"], env=DEV_CREDS)


def boto3_from_env(server, monkeypatch):
    """A Secrets Manager client that, like any AWS tool, finds the endpoint, the
    credentials and the CA bundle in the environment the export lines make."""
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(k)
    for k, v in server.exports.items():
        monkeypatch.setenv(k, v)
    return boto3.session.Session().client("secretsmanager", config=Config(retries={"max_attempts": 1}))


def test_dev_tls_serves_the_aws_cli_and_boto3(workdir, monkeypatch):
    data = os.path.join(workdir, "data")
    server = dev_tls_server(data)
    try:
        endpoint, bundle = server.endpoint, server.exports["AWS_CA_BUNDLE"]
        assert endpoint.startswith("https://127.0.0.1:"), endpoint
        assert bundle == os.path.join(data, "dev-tls", "ca.pem")
        assert stat.S_IMODE(os.stat(os.path.join(data, "dev-tls", "server.key")).st_mode) == 0o600

        out = json.loads(aws(server, "create-secret", "--name", "tls/db", "--secret-string", "s3cr3t").stdout)
        assert out["Name"] == "tls/db"
        got = json.loads(aws(server, "get-secret-value", "--secret-id", "tls/db").stdout)
        assert got["SecretString"] == "s3cr3t"

        sm = boto3_from_env(server, monkeypatch)
        sm.create_secret(Name="tls/boto3", SecretString="b")
        assert sm.get_secret_value(SecretId="tls/boto3")["SecretString"] == "b"
        assert sm.get_secret_value(SecretId="tls/db")["SecretString"] == "s3cr3t"

        # Without the bundle the certificate is not trusted: TLS is real.
        env = server.cli_env()
        del env["AWS_CA_BUNDLE"]
        p = subprocess.run(["aws", "secretsmanager", "list-secrets"], env=env, capture_output=True, text=True)
        assert p.returncode != 0 and "SSL" in p.stderr, p.stderr
        with open(bundle, "rb") as f:
            ca = f.read()
    finally:
        assert server.stop() == 0

    # A restart on the same data directory keeps the CA the clients already trust.
    again = dev_tls_server(data)
    try:
        assert again.exports["AWS_CA_BUNDLE"] == bundle
        with open(bundle, "rb") as f:
            assert f.read() == ca
        assert boto3_from_env(again, monkeypatch).get_secret_value(SecretId="tls/db")["SecretString"] == "s3cr3t"
    finally:
        assert again.stop() == 0


def test_account_create_over_https(workdir, monkeypatch):
    server = dev_tls_server(os.path.join(workdir, "data"))
    try:
        out = subprocess.run([BIN, "account", "create", "team-tls"], env=server.cli_env(),
                             capture_output=True, text=True, timeout=PATIENCE)
        assert out.returncode == 0, out.stderr
        created = dict(line[len("export "):].split("=", 1) for line in out.stdout.splitlines())
        assert len(created["COFFER_ACCOUNT_ID"]) == 12
        # The new root credential works over TLS too: the exports' environment,
        # with the new account's keys.
        boto3_from_env(server, monkeypatch)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", created["AWS_ACCESS_KEY_ID"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", created["AWS_SECRET_ACCESS_KEY"])
        sm = boto3.session.Session().client("secretsmanager", config=Config(retries={"max_attempts": 1}))
        sm.create_secret(Name="team-tls/db", SecretString="b")
        assert sm.list_secrets()["SecretList"][0]["ARN"].split(":")[4] == created["COFFER_ACCOUNT_ID"]

        # Without the bundle the dev CA is not trusted, and the error says so.
        env = server.cli_env()
        del env["AWS_CA_BUNDLE"]
        out = subprocess.run([BIN, "account", "create", "untrusted"], env=env,
                             capture_output=True, text=True, timeout=PATIENCE)
        assert out.returncode != 0
        assert "certificate" in out.stderr and "UnknownIssuer" in out.stderr, out.stderr
    finally:
        assert server.stop() == 0


def make_pair(workdir, name):
    """A CA and a server certificate for 127.0.0.1, made by `--dev-tls` in a data
    directory of their own: {"ca", "cert", "key"} file paths."""
    data = os.path.join(workdir, name)
    s = dev_tls_server(data)
    assert s.stop() == 0
    d = os.path.join(data, "dev-tls")
    return {"ca": os.path.join(d, "ca.pem"), "cert": os.path.join(d, "server.pem"), "key": os.path.join(d, "server.key")}


def der_of(pem_file):
    with open(pem_file) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def tls_context(*ca_files):
    ctx = ssl.create_default_context()
    for f in ca_files:
        ctx.load_verify_locations(cafile=f)
    return ctx


def presented(port, ctx):
    """The certificate a new handshake with the server presents (DER)."""
    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


def health(conn):
    conn.request("GET", "/health")
    r = conn.getresponse()
    r.read()
    return r.status


def test_sighup_reloads_the_certificate_without_dropping_connections(workdir):
    one, two = make_pair(workdir, "one"), make_pair(workdir, "two")
    tls_dir = os.path.join(workdir, "tls")
    os.mkdir(tls_dir)
    cert, key = os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem")
    shutil.copy(one["cert"], cert)
    shutil.copy(one["key"], key)
    port = free_port()
    log_path = os.path.join(workdir, "normal.log")
    log = open(log_path, "wb")
    # Normal mode, configured through the environment this time.
    env = {**os.environ, "COFFER_TLS_CERT_FILE": cert, "COFFER_TLS_KEY_FILE": key}
    proc = subprocess.Popen(
        [BIN, "server", "--listen", f"127.0.0.1:{port}", "--data-dir", os.path.join(workdir, "data")],
        stdout=subprocess.DEVNULL, stderr=log, env=env,
    )
    ctx = tls_context(one["ca"], two["ca"])

    def serving():
        assert proc.poll() is None, f"the server exited with status {proc.returncode}"
        try:
            return presented(port, ctx)
        except OSError:
            return None

    try:
        assert wait_until("the server answers over TLS", serving) == der_of(one["cert"])
        open_conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=PATIENCE)
        assert health(open_conn) == 200
        held = open_conn.sock

        shutil.copy(two["cert"], cert)
        shutil.copy(two["key"], key)
        proc.send_signal(signal.SIGHUP)
        wait_until("new handshakes present the new certificate", lambda: serving() == der_of(two["cert"]))
        # The keep-alive connection made before the signal goes on, on its session.
        assert health(open_conn) == 200
        assert open_conn.sock is held
        assert held.getpeercert(binary_form=True) == der_of(one["cert"])

        # A broken key is not taken: the server keeps the pair it has, and says so.
        with open(key, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
        proc.send_signal(signal.SIGHUP)

        def logged_failure():
            with open(log_path) as f:
                return "TLS certificate reload failed" in f.read()

        wait_until("the failed reload is logged", logged_failure)
        assert serving() == der_of(two["cert"])
        assert health(open_conn) == 200
        open_conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log.close()
    with open(log_path) as f:
        text = f.read()
    assert "TLS certificate reloaded" in text
    for pair in (one, two):
        with open(pair["key"]) as f:
            body = "".join(l for l in f.read().splitlines() if not l.startswith("-----"))
        assert body not in text, "key material in the log"


def test_normal_mode_refuses_plain_http_off_loopback(workdir):
    port = free_port()
    args = [BIN, "server", "--listen", f"0.0.0.0:{port}", "--data-dir", os.path.join(workdir, "data")]
    p = subprocess.run(args, capture_output=True, text=True, timeout=PATIENCE)
    assert p.returncode != 0
    assert f"refusing to serve plain HTTP on 0.0.0.0:{port}" in p.stderr, p.stderr
    assert "--tls-cert-file" in p.stderr and "tls_disable" in p.stderr, p.stderr

    # Told explicitly, it serves plain HTTP there (reached here on loopback).
    proc = subprocess.Popen([*args, "--tls-disable"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def answers():
            assert proc.poll() is None, f"the server exited with status {proc.returncode}"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                return health(conn) == 200
            except OSError:
                return False

        wait_until("the server answers on plain HTTP", answers)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_help_lists_the_tls_settings():
    out = subprocess.run([BIN, "server", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for flag in ["--dev-tls", "--tls-cert-file", "--tls-key-file", "--tls-disable",
                 "COFFER_TLS_CERT_FILE", "COFFER_TLS_KEY_FILE", "COFFER_TLS_DISABLE"]:
        assert flag in out.stdout, flag
