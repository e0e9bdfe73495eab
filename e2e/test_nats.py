"""Rule targets on NATS: a core subscriber on the machine's NATS server gets
each matching change; a subject a JetStream stream captures keeps it."""

import json
import os
import socket
import uuid

from conftest import ACCOUNT, AKID, SECRET, Server, wait_until
from test_access import client

NATS = ("127.0.0.1", 4222)


class Nats:
    """Just enough of the NATS client protocol for a test."""

    def __init__(self):
        self.s = socket.create_connection(NATS, timeout=10)
        self.buf = b""
        assert self.line().startswith(b"INFO")
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
