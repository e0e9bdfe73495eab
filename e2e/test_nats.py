"""Rule targets on NATS: a core subscriber on the machine's NATS server gets
each matching change; a subject a JetStream stream captures keeps it."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import uuid

from conftest import ACCOUNT, AKID, SECRET, Server, wait_until
from test_access import client

NATS = ("127.0.0.1", 4222)


class Nats:
    """Just enough of the NATS client protocol for a test."""

    def __init__(self, addr=NATS, ca=None):
        self.s = socket.create_connection(addr, timeout=10)
        self.buf = b""
        assert self.line().startswith(b"INFO")
        if ca:
            # The protocol's upgrade: TLS right after the plain INFO.
            self.s = ssl.create_default_context(cafile=ca).wrap_socket(self.s, server_hostname=addr[0])
        self.send(b'CONNECT {"verbose":false,"headers":true}\r\nPING\r\n')
        assert self.line() == b"PONG"

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.s.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def next_msg(self):
        """(headers, payload) of the next message, skipping PINGs."""
        while True:
            line = self.line()
            if line == b"PING":
                self.send(b"PONG\r\n")
            elif line.startswith(b"HMSG"):
                f = line.split()
                data = self.read(int(f[-1]))
                return data[: int(f[-2])].decode(), data[int(f[-2]):].decode()
            elif line.startswith(b"MSG"):
                return "", self.read(int(line.split()[-1])).decode()

    def request(self, subject, payload):
        inbox = f"_INBOX.test.{uuid.uuid4().hex}"
        body = json.dumps(payload).encode()
        self.send(f"SUB {inbox} 9\r\nPUB {subject} {inbox} {len(body)}\r\n".encode() + body + b"\r\n")
        _, reply = self.next_msg()
        self.send(f"UNSUB 9\r\n".encode())
        return json.loads(reply)


def nats_server(workdir):
    return Server(os.path.join(workdir, "data"), ["--nats-url", "nats://127.0.0.1:4222"], env={
        "COFFER_DEV_ACCESS_KEY_ID": AKID, "COFFER_DEV_SECRET_ACCESS_KEY": SECRET, "COFFER_DEV_ACCOUNT_ID": ACCOUNT})


def test_changes_reach_a_nats_subscriber_and_a_jetstream_stream(workdir):
    srv = nats_server(workdir)
    try:
        sm, ev = srv.client(), client(srv, "events")
        tag = uuid.uuid4().hex[:8]
        core, stored = f"coffer.test.{tag}.core", f"coffer.test.{tag}.stored"
        sub = Nats()
        sub.send(f"SUB {core} 1\r\nPING\r\n".encode())
        assert sub.line() == b"PONG"
        js = Nats()
        stream = f"COFFER_TEST_{tag}"
        created = js.request(f"$JS.API.STREAM.CREATE.{stream}", {"name": stream, "subjects": [stored]})
        assert "error" not in created, created
        pattern = {"source": ["aws.secretsmanager"], "detail": {"eventName": ["PutSecretValue"]}}
        ev.put_rule(Name="to-nats", EventPattern=json.dumps(pattern))
        ev.put_targets(Rule="to-nats", Targets=[
            {"Id": "core", "Arn": f"nats:{core}"},
            {"Id": "stored", "Arn": f"nats:{stored}", "InputPath": "$.detail"},
        ])
        sm.create_secret(Name="nats/db", SecretString="v1")
        sm.put_secret_value(SecretId="nats/db", SecretString="not-in-any-event")
        headers, payload = sub.next_msg()
        event = json.loads(payload)
        assert event["detail"]["name"] == "nats/db" and "not-in-any-event" not in payload
        assert f"Coffer-Event-Id: {event['id']}" in headers
        info = wait_until("the stream kept the event",
                          lambda: (i := js.request(f"$JS.API.STREAM.INFO.{stream}", {}))["state"]["messages"] and i)
        assert info["state"]["messages"] == 1
        msg = js.request(f"$JS.API.STREAM.MSG.GET.{stream}", {"seq": 1})["message"]
        import base64
        detail = json.loads(base64.b64decode(msg["data"]))
        assert detail["name"] == "nats/db" and detail["eventName"] == "PutSecretValue"
        js.request(f"$JS.API.STREAM.DELETE.{stream}", {})
    finally:
        assert srv.stop() == 0


def test_nats_targets_need_a_nats_and_a_valid_subject(server):
    ev = client(server, "events")
    ev.put_rule(Name="r", EventPattern=json.dumps({"source": ["aws.secretsmanager"]}))
    import botocore.exceptions
    import pytest
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ev.put_targets(Rule="r", Targets=[{"Id": "n", "Arn": "nats:coffer.x"}])
    assert "no NATS" in e.value.response["Error"]["Message"]


def make_tls_files(d):
    """A CA and a certificate for 127.0.0.1 it signed, made with openssl."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "1", "-extfile", "ext.cnf", "-out", "server.pem")
    return [os.path.join(d, f) for f in ("ca.pem", "server.pem", "server.key")]


def test_events_reach_a_nats_that_requires_tls(workdir):
    ca, cert, key = make_tls_files(workdir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nats = subprocess.Popen([shutil.which("nats-server"), "-a", "127.0.0.1", "-p", str(port),
                             "--tls", "--tlscert", cert, "--tlskey", key],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = None
    try:
        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until("the TLS NATS server listens", listening)
        srv = Server(os.path.join(workdir, "data"),
                     ["--nats-url", f"tls://127.0.0.1:{port}", "--events-ca-file", ca],
                     env={"COFFER_DEV_ACCESS_KEY_ID": AKID, "COFFER_DEV_SECRET_ACCESS_KEY": SECRET,
                          "COFFER_DEV_ACCOUNT_ID": ACCOUNT})
        sub = Nats(("127.0.0.1", port), ca=ca)
        sub.send(b"SUB coffer.tls 1\r\nPING\r\n")
        assert sub.line() == b"PONG"
        ev = client(srv, "events")
        ev.put_rule(Name="to-tls-nats", EventPattern=json.dumps({"source": ["aws.secretsmanager"]}))
        ev.put_targets(Rule="to-tls-nats", Targets=[{"Id": "t", "Arn": "nats:coffer.tls"}])
        srv.client().create_secret(Name="tls/db", SecretString="v1")
        _, payload = sub.next_msg()
        assert json.loads(payload)["detail"]["name"] == "tls/db"
    finally:
        if srv:
            assert srv.stop() == 0
        nats.terminate()
        nats.wait(timeout=10)
