"""A black-box sweep: correctly signed requests with mutated bodies for every
operation of the Secrets Manager model (wrong types, huge strings and lists, deep
nesting, invalid UTF-8, truncated JSON, unknown fields, twins). Every answer must
be a 4xx AWS error with a `__type` (or a success), never a 5xx or a dropped
connection, and the server must stay up and consistent; an over-size body gets
its 413 while the client is still sending."""

import json
import socket
import urllib.error
import urllib.request
from urllib.parse import urlparse

from botocore.session import get_session

from conftest import AKID, PATIENCE, SECRET

MODEL = get_session().get_service_model("secretsmanager")


def signed_bytes(endpoint, target, body):
    """Headers for `body` (any bytes), signed by botocore's SigV4 signer."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="POST", url=endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"secretsmanager.{target}",
    })
    SigV4Auth(Credentials(AKID, SECRET), "secretsmanager", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def send(endpoint, target, body):
    """(status, parsed JSON body or None) of one signed call with raw bytes."""
    req = urllib.request.Request(endpoint + "/", data=body, method="POST",
                                 headers=signed_bytes(endpoint, target, body))
    try:
        with urllib.request.urlopen(req, timeout=PATIENCE) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, None


def wrong_value(shape):
    """A value of the wrong JSON type for a member of `shape`."""
    return {"string": 12345, "integer": "twelve", "long": "x", "boolean": "yes",
            "list": {"not": "a list"}, "map": ["not", "a", "map"],
            "structure": "not a structure", "blob": 42, "timestamp": "not a date"
            }.get(shape.type_name, None)


def huge_value(shape):
    return {"string": "x" * 100_000, "list": ["x"] * 10_000, "integer": 2**62,
            "long": 2**62, "blob": "QUJD" * 30_000}.get(shape.type_name, "x" * 100_000)


def mutations(op):
    """Bodies for one operation: each member wrong, each member huge, and
    whole-body breakage."""
    members = op.input_shape.members if op.input_shape else {}
    bodies = []
    for name, shape in members.items():
        bodies.append(json.dumps({name: wrong_value(shape)}).encode())
        bodies.append(json.dumps({name: huge_value(shape)}).encode())
        bodies.append(json.dumps({name: None}).encode())
        # A lower-case twin and a duplicate member.
        bodies.append(json.dumps({name: "a", name[0].lower() + name[1:]: "b"}).encode())
        bodies.append(f'{{"{name}": "a", "{name}": "b"}}'.encode())
    deep = "[" * 5000 + "]" * 5000
    bodies += [
        b"", b"{", b"[]", b"null", b"\"str\"", b"12", b"{\"a\":", b"\xff\xfe\xfd",
        b"{\"SecretId\": \"\xff\xfe\"}", deep.encode(), json.dumps({"Unknown": 1}).encode(),
        json.dumps({"SecretId": {"nested": deep}}).encode()[:200_000],
    ]
    return bodies


def test_every_operation_survives_mutated_bodies(server):
    endpoint = server.endpoint
    sm = server.client()
    sm.create_secret(Name="sweep/keep", SecretString="kept-value")
    failures = []
    count = 0
    for name in MODEL.operation_names:
        for body in mutations(MODEL.operation_model(name)):
            count += 1
            try:
                status, answer = send(endpoint, name, body)
            except (ConnectionError, urllib.error.URLError, socket.timeout) as e:
                failures.append((name, body[:80], f"no answer: {e}"))
                continue
            ok = status == 200 or (400 <= status < 500 and isinstance(answer, dict)
                                   and answer.get("__type"))
            if not ok:
                failures.append((name, body[:80], status, answer))
    assert count > 400, count
    print(f"{count} mutated requests")
    assert not failures, f"{len(failures)} bad answers, e.g. {failures[:5]}"
    # Still up, and what was there is still there.
    assert sm.get_secret_value(SecretId="sweep/keep")["SecretString"] == "kept-value"


def test_an_oversize_body_is_refused_while_still_sending(server):
    url = urlparse(server.endpoint)
    declared = 64 * 1024 * 1024
    head = (f"POST / HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/x-amz-json-1.1\r\n"
            f"X-Amz-Target: secretsmanager.ListSecrets\r\nContent-Length: {declared}\r\n\r\n")
    with socket.create_connection((url.hostname, url.port), timeout=PATIENCE) as s:
        s.sendall(head.encode())
        s.sendall(b"{" + b" " * 65536)  # a little of it, then wait for the answer
        answer = s.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "RequestEntityTooLargeException" in answer, answer


def query(endpoint, service, params):
    """(status, body text) of one signed Query-protocol call with `params`."""
    from urllib.parse import urlencode

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = urlencode(params).encode()
    req = AWSRequest(method="POST", url=endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(AKID, SECRET), service, "us-east-1").add_auth(req)
    http = urllib.request.Request(endpoint + "/", data=body, method="POST",
                                  headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(http, timeout=PATIENCE) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def test_every_iam_and_sts_operation_survives_mutated_parameters(server):
    failures, count = [], 0
    for service, version in (("iam", "2010-05-08"), ("sts", "2011-06-15")):
        model = get_session().get_service_model(service)
        for name in model.operation_names:
            op = model.operation_model(name)
            members = op.input_shape.members if op.input_shape else {}
            variants = [{}]
            for m, shape in members.items():
                bad = {"integer": "twelve", "long": "x", "boolean": "maybe"}.get(shape.type_name, "x" * 5000)
                variants.append({m: bad})
                variants.append({m + ".member.1": "\x00\xff" * 100})
            for v in variants:
                count += 1
                status, text = query(server.endpoint, service, {"Action": name, "Version": version, **v})
                if not (status == 200 or (400 <= status < 500 and "<Code>" in text)):
                    failures.append((service, name, v and list(v)[0], status, text[:200]))
    assert count > 500, count
    assert not failures, f"{len(failures)} bad answers, e.g. {failures[:5]}"
    assert server.client().list_secrets() is not None
