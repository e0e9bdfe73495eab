"""Coffer against real AWS's recorded answers.

Each test replays one scenario of LocalStack's Secrets Manager snapshot suite
(`tests/aws/services/secretsmanager/test_secretsmanager.py`, recorded against real
AWS; the recordings are in the snapshot file named below) with boto3 against a
fresh `coffer server --dev`, and compares every recorded response as a whole:
botocore's parsed response (for errors `e.response`: `Error` Code+Message and the
modelled top-level members such as `Message`), with its HTTP status, after both
sides are normalised the way LocalStack's snapshot transformers normalise them:

- account/region/partition in ARNs, the secret's name and its 6-character ARN
  suffix become `111111111111` / `<region>` / `<partition>` / `<SecretId-Nidx>` /
  `<ArnPart-Nidx>`;
- timestamps become "datetime", bytes become their repr (`b'...'`), JSON strings
  are parsed;
- version ids become `<id:N>`, numbered on both sides by first appearance, so
  the comparison checks that the same ids appear in the same places;
- `VersionStages` are sorted and `Versions` ordered by creation, as LocalStack
  sorts them before recording (so their order is not compared; every other list
  order is).

A difference fails the test with every differing path of every response of the
scenario: a failure here is a difference from AWS, a bug.

The lambda-rotation scenarios use Coffer's built-in `coffer-random-password`
function in place of LocalStack's Lambda (no real Lambda here), and the replay
itself makes the one GetSecretValue(AWSCURRENT) read that the Lambda's
createSecret step makes, so access dates are comparable.

The last section turns LocalStack's AWS-validated scenarios that recorded no
snapshot (only the date they were validated, in the `.validation.json` beside the
snapshot) into the same assertions LocalStack makes.
"""

import datetime
import json
import os
import re
import subprocess
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT, BIN, raw_call, wait_until

# A copy of the reference recordings, kept with the tests (LocalStack's snapshot
# file, recorded against real AWS).
RECORDED = os.environ.get(
    "COFFER_AWS_RECORDED",
    os.path.join(os.path.dirname(__file__), "recorded", "secretsmanager.snapshot.json"),
)
PREFIX = "tests/aws/services/secretsmanager/test_secretsmanager.py::TestSecretsManager::"

with open(RECORDED) as f:
    SNAPSHOT = json.load(f)

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
RECORDED_ID_RE = re.compile(r"<(?:version_uuid|uuid):\d+>|<version-id>")
BUILTIN_ROTATOR = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:coffer-random-password"
INVALID_NAME = ("Invalid name. Must be a valid name containing alphanumeric characters, "
                "or any of the following: -/_+=.@!")


def short():
    return uuid.uuid4().hex[:8]


# --------------------------------------------------------------------------------
# Normalising and comparing


def canonical(entries, id_re):
    """`entries` [(name, value)] with every id matched by `id_re` renamed `<id:N>` by
    first appearance (dicts walked in sorted key order, ids as keys by number),
    VersionStages sorted and Versions ordered by their id's number."""
    ids = {}

    def num(token):
        if token not in ids:
            ids[token] = len(ids) + 1
        return ids[token]

    def sub(s):
        return id_re.sub(lambda m: f"<id:{num(m.group(0))}>", s)

    def known(k):
        return isinstance(k, str) and id_re.fullmatch(k) and k in ids

    def walk(v, key=None):
        if isinstance(v, dict):
            plain = sorted(k for k in v if not (isinstance(k, str) and id_re.fullmatch(k)))
            idkeys = [k for k in v if k not in plain]
            first = len(ids) + 1
            idkeys = [k for _, k in sorted(
                ((ids[k] if known(k) else first + i), k) for i, k in enumerate(idkeys))]
            out = {}
            for k in plain:
                out[k] = walk(v[k], k)
            for k in idkeys:
                out[sub(k)] = walk(v[k], k)
            return out
        if isinstance(v, list):
            items = list(v)
            if key == "VersionStages" and all(isinstance(x, str) for x in items):
                items = sorted(items)
            if key == "Versions":
                first = len(ids) + 1

                def order(ie):
                    i, e = ie
                    vid = e.get("VersionId") if isinstance(e, dict) else None
                    return ids[vid] if vid in ids else first + i
                items = [e for _, e in sorted(enumerate(items), key=order)]
            return [walk(x) for x in items]
        if isinstance(v, str):
            return sub(v)
        return v

    return [(n, walk(v)) for n, v in entries]


def diff(aws, coffer, path):
    """Every path where `coffer` differs from `aws`."""
    if isinstance(aws, dict) and isinstance(coffer, dict):
        out = []
        for k in sorted(set(aws) | set(coffer), key=str):
            if k not in coffer:
                out.append(f"{path}.{k}: missing from Coffer (AWS: {aws[k]!r})")
            elif k not in aws:
                out.append(f"{path}.{k}: not in AWS's answer (Coffer: {coffer[k]!r})")
            else:
                out += diff(aws[k], coffer[k], f"{path}.{k}")
        return out
    if isinstance(aws, list) and isinstance(coffer, list) and len(aws) == len(coffer):
        out = []
        for i, (a, c) in enumerate(zip(aws, coffer)):
            out += diff(a, c, f"{path}[{i}]")
        return out
    if aws != coffer:
        return [f"{path}: AWS {aws!r} / Coffer {coffer!r}"]
    return []


class Replay:
    """One recorded scenario replayed against Coffer: `call` runs an operation and
    keeps its answer (or its error response) under the recorded match name; leaving
    the `with` block compares them all with the recording."""

    def __init__(self, server, key, sm=None):
        self.key = PREFIX + key
        self.recorded = SNAPSHOT[self.key]["recorded-content"]
        self.server = server
        self.sm = sm or server.client()
        region = server.exports["AWS_REGION"]
        self.subs = [(f"arn:aws:secretsmanager:{region}:{ACCOUNT}:",
                      "arn:<partition>:secretsmanager:<region>:111111111111:")]
        self.got = {}
        self.status = {}
        self.notes = []

    # -- recording what Coffer answers

    def secret(self, name, arn, idx=0, name_placeholder=True):
        """Names the secret `name` (ARN `arn`) as the recording does."""
        self.subs.append(("".join(arn.rpartition("-")[-2:]), f"<ArnPart-{idx}idx>"))
        if name_placeholder:
            self.subs.append((name, f"<SecretId-{idx}idx>"))

    def call(self, match, op, **kw):
        try:
            r = getattr(self.sm, op)(**kw)
        except ClientError as e:
            r = e.response
        if match:
            self.put(match, r)
        return r

    def error_text(self, match, op, **kw):
        """The ClientError's text (the recording keeps `str(e)` for some errors)."""
        try:
            r = getattr(self.sm, op)(**kw)
        except ClientError as e:
            self.put(match, str(e))
            return e.response
        self.put(match, r)
        return r

    def put(self, match, value):
        assert match in self.recorded, f"{match} is not a recorded response of {self.key}"
        assert match not in self.got, f"{match} replayed twice"
        self.got[match] = value

    def expect(self, ok, what):
        """An AWS-validated assertion of the scenario beyond its recorded bodies."""
        if not ok:
            self.notes.append(what)

    # -- comparing

    def _norm(self, v, recorded, key=None):
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if k == "ResponseMetadata":
                    if isinstance(recorded, dict) and "ResponseMetadata" in recorded:
                        out[k] = {"HTTPHeaders": {}, "HTTPStatusCode": x.get("HTTPStatusCode")}
                    continue
                sub = recorded.get(k) if isinstance(recorded, dict) else None
                out[k] = self._norm(x, sub, k)
            return out
        if isinstance(v, list):
            return [self._norm(x, None, key) for x in v]
        if isinstance(v, datetime.datetime):
            return "datetime"
        if isinstance(v, (bytes, bytearray)):
            return str(bytes(v))
        if isinstance(v, str):
            if key == "RotationLambdaARN" and v.startswith("arn:"):
                return "<lambda-arn:1>"
            for old, new in self.subs:
                v = v.replace(old, new)
            if v.startswith("{"):
                try:
                    return json.loads(v)
                except ValueError:
                    pass
            return v
        return v

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        problems = []
        if exc is not None:
            problems.append(f"the replay stopped: {kind.__name__}: {exc}")
        names = [n for n in self.recorded if n in self.got]
        missing = [n for n in self.recorded if n not in self.got]
        if missing:
            problems.append(f"not replayed: {missing}")
        rec = canonical([(n, self.recorded[n]) for n in names], RECORDED_ID_RE)
        act = canonical([(n, self._norm(self.got[n], self.recorded[n])) for n in names], UUID_RE)
        for (n, r), (_, a) in zip(rec, act):
            problems += diff(r, a, n)
        problems += [f"assertion: {n}" for n in self.notes]
        assert not problems, f"{self.key}: Coffer differs from AWS:\n  " + "\n  ".join(problems)
        return False


def wait_listed(sm, name):
    def listed():
        pages = sm.get_paginator("list_secrets").paginate().build_full_result()
        return name in {s["Name"] for s in pages.get("SecretList", [])}
    wait_until(f"{name} is listed", listed)


def wait_gone(sm, secret_id):
    def gone():
        try:
            sm.describe_secret(SecretId=secret_id)
        except ClientError as e:
            return e.response["Error"]["Code"] == "ResourceNotFoundException"
        return False
    wait_until(f"{secret_id} is deleted", gone)


def wait_rotated(sm, name, version_id):
    """Until the rotation has finished: as in AWS, finishSecret moves AWSCURRENT
    first, and the service then takes AWSPENDING off and records the date."""
    def rotated():
        d = sm.describe_secret(SecretId=name)
        stages = d.get("VersionIdsToStages", {})
        pending = any("AWSPENDING" in ls for ls in stages.values())
        return "AWSCURRENT" in stages.get(version_id, []) and not pending and "LastRotatedDate" in d
    wait_until(f"the rotation of {name} to {version_id} finished", rotated)


# --------------------------------------------------------------------------------
# Recorded scenarios


CREATE_AND_UPDATE = [
    ("test_create_and_update_secret[s-c64bdc03]", "s-c64bdc03", True, True),
    ("test_create_and_update_secret[s-c64bdc03-True]", "s-c64bdc03", True, True),
    ("test_create_and_update_secret[s-4b175f02-True]", "s-4b175f02", True, True),
    ("test_create_and_update_secret[Valid/_+=.@-Name]", "Valid/_+=.@-Name", False, True),
    ("test_create_and_update_secret[Valid/_+=.@-Name-True]", "Valid/_+=.@-Name", False, True),
    ("test_create_and_update_secret[Valid/_+=.@-Name-a1b2]", "Valid/_+=.@-Name-a1b2", False, True),
    ("test_create_and_update_secret[Valid/_+=.@-Name-a1b2-True]", "Valid/_+=.@-Name-a1b2", False, True),
    ("test_create_and_update_secret[Valid/_+=.@-Name-a1b2c3-]", "Valid/_+=.@-Name-a1b2c3-", False, True),
    ("test_create_and_update_secret[Valid/_+=.@-Name-a1b2c3--True]", "Valid/_+=.@-Name-a1b2c3-", False, True),
    # A partial ARN whose name ends in -XXXXXX reads as a full ARN: AWS finds nothing.
    ("test_create_and_update_secret[Invalid/_+=.@-Name-a1b2c3-False]", "Invalid/_+=.@-Name-a1b2c3", False, False),
]


def param_id(key):
    return key.split("[", 1)[1][:-1]


@pytest.mark.parametrize("key, name, placeholder, partial_arn_found", CREATE_AND_UPDATE,
                         ids=[param_id(c[0]) for c in CREATE_AND_UPDATE])
def test_create_and_update_secret(server, key, name, placeholder, partial_arn_found):
    with Replay(server, key) as r:
        c = r.call("create_secret_rs_1", "create_secret", Name=name, SecretString="my_secret",
                   Description="Testing secret creation.")
        arn = c["ARN"]
        r.secret(name, arn, 0, placeholder)
        r.expect(len(arn.rpartition("-")[-1]) == 6, "the ARN ends in a 6-character suffix")
        r.call("get_secret_value_rs_1", "get_secret_value", SecretId=name)
        r.call("describe_secret_rs_1", "describe_secret", SecretId=name)
        r.call("get_secret_value_rs_2", "get_secret_value", SecretId=arn)
        r.call("get_secret_value_rs_3" if partial_arn_found else "resource_not_found_dict_1",
               "get_secret_value", SecretId=arn[:-7])
        r.call("put_secret_value_rs_1", "put_secret_value", SecretId=name, SecretString="new_secret")
        r.call("get_secret_value_rs_4", "get_secret_value", SecretId=name)
        r.call("update_secret_res_1", "update_secret", SecretId=arn, SecretString="test123", Description="d1")
        r.call("delete_secret_res_1", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


def test_secret_restore(server):
    with Replay(server, "test_secret_restore") as r:
        name = f"s-{short()}"
        c = r.call(None, "create_secret", Name=name, SecretString="my_secret", Description="test description")
        r.secret(name, c["ARN"])
        r.call("delete_secret_res", "delete_secret", SecretId=name)
        r.call("restore_secret_res", "restore_secret", SecretId=name)


def test_secret_not_found(server):
    with Replay(server, "test_secret_not_found") as r:
        r.call("get_secret_value_not_found_ex", "get_secret_value", SecretId=f"s-{short()}")
        r.call("list_secret_version_ids_not_found_ex", "list_secret_version_ids", SecretId=f"s-{short()}")


def test_secret_version_not_found(server):
    with Replay(server, "test_secret_version_not_found") as r:
        name = f"s-{short()}"
        r.call(None, "create_secret", Name=name)
        version_id = str(uuid.uuid4())
        r.error_text("get_secret_value_no_version_ex", "get_secret_value", SecretId=name)
        r.error_text("get_secret_value_version_not_found_ex", "get_secret_value", SecretId=name,
                     VersionId=version_id)
        r.error_text("get_secret_value_stage_not_found_ex", "get_secret_value", SecretId=name,
                     VersionStage="AWSPENDING")


def list_all(sm, key):
    """The 2022 `_snapshot(s)` recordings listed with one ListSecrets call (their
    answers carry ResponseMetadata), the 2024 ones with the paginator."""
    if key.endswith(("_snapshot", "_snapshots")):
        return sm.list_secrets()
    return sm.get_paginator("list_secrets").paginate().build_full_result()


@pytest.mark.parametrize("key", [
    "test_call_lists_secrets_multiple_times",
    "test_call_lists_secrets_multiple_times_snapshots",
])
def test_call_lists_secrets_multiple_times(server, key):
    with Replay(server, key) as r:
        name = f"s-{short()}"
        c = r.call("create_secret_rs_1", "create_secret", Name=name, SecretString="my_secret",
                   Description="testing creation of secrets")
        r.secret(name, c["ARN"])
        wait_listed(r.sm, name)
        for i in range(3):
            r.put(f"list_secrets_res_{i}", list_all(r.sm, key))
        r.call("delete_secret_res_1", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


@pytest.mark.parametrize("key", ["test_create_multi_secrets", "test_create_multi_secrets_snapshot"])
def test_create_multi_secrets(server, key):
    with Replay(server, key) as r:
        u = short()
        # Created in the reverse of their names' order: AWS lists by creation date.
        names = [f"zz{u}", f"mm{u}", f"aa{u}"]
        for i, name in enumerate(names):
            c = r.call(None, "create_secret", Name=name, SecretString=f"my_secret_{name}",
                       Description="Testing secrets creation.")
            r.secret(name, c["ARN"], i)
            wait_listed(r.sm, name)
        r.put("list_secrets_res", list_all(r.sm, key))
        for i, name in enumerate(names):
            r.call(f"delete_secret_res{i}", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


def test_put_secret_value_with_version_stages(server):
    with Replay(server, "test_put_secret_value_with_version_stages") as r:
        name = f"s-{short()}"
        c = r.call("create_secret_rs_0", "create_secret", Name=name, SecretString="secret_string_v0")
        r.secret(name, c["ARN"])
        r.call("get_secret_value_res_0", "get_secret_value", SecretId=name)
        stages = ["SAMPLESTAGE1", "SAMPLESTAGE0"]
        r.call("put_secret_value_res_1", "put_secret_value", SecretId=name, SecretString="secret_string_v1",
               VersionStages=stages, ClientRequestToken=str(uuid.uuid4()))
        r.call("get_secret_value_res_1", "get_secret_value", SecretId=name)
        r.call("put_secret_value_res_2", "put_secret_value", SecretId=name, SecretString="secret_string_v2",
               VersionStages=stages, ClientRequestToken=str(uuid.uuid4()))
        r.call("get_secret_value_res_2", "get_secret_value", SecretId=name)
        r.call("put_secret_value_res_3", "put_secret_value", SecretId=name, SecretString="secret_string_v3",
               VersionStages=["AWSPENDING"], ClientRequestToken=str(uuid.uuid4()))
        r.call("get_secret_value_res_3", "get_secret_value", SecretId=name)
        r.call("put_secret_value_res_4", "put_secret_value", SecretId=name, SecretString="secret_string_v4",
               ClientRequestToken=str(uuid.uuid4()))
        r.call("get_secret_value_res_4", "get_secret_value", SecretId=name)
        r.call("delete_secret_res_1", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


@pytest.mark.parametrize("name", ["Inv Name", " Inv Name", " Inv*Name? ", " Inv *?!]Name\\-"])
def test_invalid_secret_name(server, name):
    key = "test_invalid_secret_name[" + name.replace("\\", "\\\\") + "]"
    policy = ('{\n"Version":"2012-10-17",\n"Statement":[{\n"Effect":"Allow",\n"Principal":{\n'
              '"AWS":"arn:aws:iam::123456789012:root"\n},\n"Action":"secretsmanager:GetSecretValue",\n'
              '"Resource":"*"\n}]\n}')
    with Replay(server, key) as r:
        r.call("ex_log_1", "create_secret", Name=name, SecretString="MySecretString")
        r.call("ex_log_2", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)
        r.call("ex_log_3", "describe_secret", SecretId=name)
        r.call("ex_log_4", "get_secret_value", SecretId=name)
        r.call("ex_log_5", "list_secret_version_ids", SecretId=name, IncludeDeprecated=True)
        r.call("ex_log_6", "put_secret_value", SecretId=name, SecretString="MySecretString")
        r.call("ex_log_7", "tag_resource", SecretId=name, Tags=[{"Key": "FirstTag", "Value": "SomeValue"}])
        r.call("ex_log_8", "untag_resource", SecretId=name, TagKeys=["FirstTag"])
        r.call("ex_log_9", "update_secret", SecretId=name, Description="MyNewDescription")
        r.call("ex_log_10", "validate_resource_policy", SecretId=name, ResourcePolicy=policy)


def test_update_secret_description(server):
    with Replay(server, "test_update_secret_description") as r:
        name = f"s-{short()}"
        c = r.call("create_secret_rs_0", "create_secret", Name=name, SecretString="MySecretString")
        r.secret(name, c["ARN"])
        r.call("describe_secret_res_0", "describe_secret", SecretId=name)
        r.call("update_secret_res_0", "update_secret", SecretId=name, Description="MyDescription")
        r.call("describe_secret_res_1", "describe_secret", SecretId=name)
        r.call("update_secret_res_1", "update_secret", SecretId=name, SecretString="MyNewSecretString",
               Description="MyNewDescription")
        r.call("describe_secret_res_2", "describe_secret", SecretId=name)
        r.call("update_secret_res_2", "update_secret", SecretId=name, SecretString="MyNewSecretString" * 2)
        r.call("describe_secret_res_3", "describe_secret", SecretId=name)
        r.call("update_secret_res_3", "update_secret", SecretId=name)
        r.call("describe_secret_res_4", "describe_secret", SecretId=name)
        r.call("delete_secret_res_0", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


def test_update_secret_version_stages_return_type(server):
    with Replay(server, "test_update_secret_version_stages_return_type") as r:
        name = f"s-{short()}"
        c = r.call("create_secret_rs_0", "create_secret", Name=name, SecretString="Something1")
        r.secret(name, c["ARN"])
        p = r.call("put_secret_value_res_0", "put_secret_value", SecretId=name, SecretString="Something2",
                   VersionStages=["AWSPENDING"])
        r.expect(p.get("VersionId") != c["VersionId"], "the put made a new version")
        r.call("update_secret_version_stage_res_0", "update_secret_version_stage", SecretId=name,
               RemoveFromVersionId=c["VersionId"], MoveToVersionId=p["VersionId"], VersionStage="AWSCURRENT")
        r.call("delete_secret_res_0", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


def test_update_secret_version_stages_current_previous(server):
    with Replay(server, "test_update_secret_version_stages_current_previous") as r:
        name = f"s-{short()}"
        c = r.call("create_secret_rs_0", "create_secret", Name=name, SecretString="secret_string_v0")
        r.secret(name, c["ARN"])
        wait_listed(r.sm, name)
        r.call("list_secret_version_ids_res_0", "list_secret_version_ids", SecretId=name)
        r.call("update_secret_res_0", "update_secret", SecretId=name, SecretString="secret_string_v1")
        r.call("list_secret_version_ids_res_1", "list_secret_version_ids", SecretId=name)
        r.call("delete_secret_res_0", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


def test_update_secret_version_stages_current_pending(server):
    with Replay(server, "test_update_secret_version_stages_current_pending") as r:
        name = f"s-{short()}"
        c = r.call("create_secret_rs_0", "create_secret", Name=name, SecretString="Something1")
        r.secret(name, c["ARN"])
        p = r.call("put_secret_value_res_0", "put_secret_value", SecretId=name, SecretString="Something2",
                   VersionStages=["AWSPENDING"])
        r.call("list_secret_version_ids_res_0", "list_secret_version_ids", SecretId=name)
        r.call("update_secret_version_stage_res_0", "update_secret_version_stage", SecretId=name,
               RemoveFromVersionId=c["VersionId"], MoveToVersionId=p["VersionId"], VersionStage="AWSCURRENT")
        r.call("list_secret_version_ids_res_1", "list_secret_version_ids", SecretId=name)
        r.call("put_secret_value_res_1", "put_secret_value", SecretId=name, SecretString="SS3")
        r.call("list_secret_version_ids_res_2", "list_secret_version_ids", SecretId=name)
        r.call("delete_secret_res_0", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


def test_update_secret_version_stages_current_pending_cycle(server):
    with Replay(server, "test_update_secret_version_stages_current_pending_cycle") as r:
        name = f"s-{short()}"
        c = r.call("create_secret_rs_0", "create_secret", Name=name, SecretString="S1")
        r.secret(name, c["ARN"])
        vid_0 = c["VersionId"]
        p = r.call("put_secret_value_res_0", "put_secret_value", SecretId=name, SecretString="S2",
                   VersionStages=["AWSPENDING"])
        vid_1 = p["VersionId"]
        r.call("list_secret_version_ids_res_0", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_0", "get_secret_value", SecretId=name)
        r.call("update_secret_version_stage_res_0", "update_secret_version_stage", SecretId=name,
               RemoveFromVersionId=vid_0, MoveToVersionId=vid_1, VersionStage="AWSCURRENT")
        r.call("list_secret_version_ids_res_1", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_1", "get_secret_value", SecretId=name)
        p = r.call("put_secret_value_res_1", "put_secret_value", SecretId=name, SecretString="S3",
                   VersionStages=["AWSPENDING"])
        vid_2 = p["VersionId"]
        r.call("list_secret_version_ids_res_2", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_2", "get_secret_value", SecretId=name)
        r.call("put_secret_value_res_2", "update_secret_version_stage", SecretId=name,
               RemoveFromVersionId=vid_1, MoveToVersionId=vid_2, VersionStage="AWSCURRENT")
        r.call("list_secret_version_ids_res_3", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_3", "get_secret_value", SecretId=name)
        r.call("delete_secret_res_0", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


def test_update_secret_version_stages_current_pending_cycle_custom_stages_1(server):
    with Replay(server, "test_update_secret_version_stages_current_pending_cycle_custom_stages_1") as r:
        name = f"s-{short()}"
        c = r.call("create_secret_rs_0", "create_secret", Name=name, SecretString="S1")
        r.secret(name, c["ARN"])
        vid_0 = c["VersionId"]
        p = r.call("put_secret_value_res_0", "put_secret_value", SecretId=name, SecretString="S2",
                   VersionStages=["AWSSOMETHING", "AWSPENDING", "PUT1"])
        vid_1 = p["VersionId"]
        r.call("list_secret_version_ids_res_0", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_0", "get_secret_value", SecretId=name)
        r.call("update_secret_version_stage_res_0", "update_secret_version_stage", SecretId=name,
               RemoveFromVersionId=vid_0, MoveToVersionId=vid_1, VersionStage="AWSCURRENT")
        r.call("list_secret_version_ids_res_1", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_1", "get_secret_value", SecretId=name)
        p = r.call("put_secret_value_res_1", "put_secret_value", SecretId=name, SecretString="S3",
                   VersionStages=["AWSPENDING", "PUT2"])
        vid_2 = p["VersionId"]
        r.call("list_secret_version_ids_res_2", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_2", "get_secret_value", SecretId=name)
        r.call("update_secret_version_stage_res_1", "update_secret_version_stage", SecretId=name,
               RemoveFromVersionId=vid_1, MoveToVersionId=vid_2, VersionStage="AWSCURRENT")
        r.call("list_secret_version_ids_res_3", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_3", "get_secret_value", SecretId=name)
        r.call("delete_secret_res_0", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


def test_update_secret_version_stages_current_pending_cycle_custom_stages_2(server):
    with Replay(server, "test_update_secret_version_stages_current_pending_cycle_custom_stages_2") as r:
        name = f"s-{short()}"
        c = r.call("create_secret_rs_0", "create_secret", Name=name, SecretString="SS")
        r.secret(name, c["ARN"])
        p = r.call("put_secret_value_res_0", "put_secret_value", SecretId=name, SecretString="S1",
                   VersionStages=["AWSCURRENT", "PUT0"])
        vid_0 = p["VersionId"]
        r.call("list_secret_version_ids_res_0", "list_secret_version_ids", SecretId=name)
        p = r.call("put_secret_value_res_1", "put_secret_value", SecretId=name, SecretString="S2",
                   VersionStages=["AWSPENDING", "PUT1"])
        vid_1 = p["VersionId"]
        r.call("list_secret_version_ids_res_1", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_0", "get_secret_value", SecretId=name)
        r.call("update_secret_version_stage_res_0", "update_secret_version_stage", SecretId=name,
               RemoveFromVersionId=vid_0, MoveToVersionId=vid_1, VersionStage="AWSCURRENT")
        r.call("list_secret_version_ids_res_2", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_1", "get_secret_value", SecretId=name)
        p = r.call("put_secret_value_res_2", "put_secret_value", SecretId=name, SecretString="S3",
                   VersionStages=["AWSPENDING", "PUT2"])
        vid_2 = p["VersionId"]
        r.call("list_secret_version_ids_res_3", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_2", "get_secret_value", SecretId=name)
        r.call("update_secret_version_stage_res_1", "update_secret_version_stage", SecretId=name,
               RemoveFromVersionId=vid_1, MoveToVersionId=vid_2, VersionStage="AWSCURRENT")
        r.call("list_secret_version_ids_res_4", "list_secret_version_ids", SecretId=name)
        r.call("get_secret_value_res_3", "get_secret_value", SecretId=name)
        r.call("delete_secret_res_0", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


def test_update_secret_version_stages_current_pending_cycle_custom_stages_3(server):
    with Replay(server, "test_update_secret_version_stages_current_pending_cycle_custom_stages_3") as r:
        name = f"s-{short()}"
        c = r.call("create_secret_rs", "create_secret", Name=name, SecretString="SS")
        r.secret(name, c["ARN"])
        v1 = c["VersionId"]
        p = r.call("put_secret_value_res_0", "put_secret_value", SecretId=name, SecretString="S1",
                   VersionStages=["PENDING"])
        v2 = p["VersionId"]
        lst = r.call("list_secret_version_ids_rs", "list_secret_version_ids", SecretId=name)
        r.expect(len(lst.get("Versions", [])) == 2, "two versions are listed")
        r.call("get_secret_value_v1_rs", "get_secret_value", SecretId=name, VersionId=v1)
        r.call("get_secret_value_v2_rs", "get_secret_value", SecretId=name, VersionId=v2)
        r.call("update_secret_version_stage_res_1", "update_secret_version_stage", SecretId=name,
               RemoveFromVersionId=v1, MoveToVersionId=v2, VersionStage="AWSCURRENT")
        r.call("get_secret_value_v1_rs_1", "get_secret_value", SecretId=name, VersionId=v1)
        r.call("get_secret_value_v2_rs_1", "get_secret_value", SecretId=name, VersionId=v2)
        r.call("update_secret_version_stage_res_2", "update_secret_version_stage", SecretId=name,
               RemoveFromVersionId=v2, VersionStage="PENDING")
        r.call("get_secret_value_v1_rs_2", "get_secret_value", SecretId=name, VersionId=v1)
        r.call("get_secret_value_v2_rs_2", "get_secret_value", SecretId=name, VersionId=v2)
        r.call("delete_secret_res_0", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


@pytest.mark.parametrize("key, second", [
    ("test_non_versioning_version_stages_replacement", ["one", "two", "three", "four"]),
    ("test_non_versioning_version_stages_no_replacement", ["one", "two", "four"]),
], ids=["replacement", "no_replacement"])
def test_non_versioning_version_stages(server, key, second):
    with Replay(server, key) as r:
        name = f"s-{short()}"
        c = r.call("create_secret_rs_0", "create_secret", Name=name, SecretString="S0")
        r.secret(name, c["ARN"])
        r.call("put_secret_value_res_0", "put_secret_value", SecretId=name, SecretString="S1",
               VersionStages=["one", "two", "three"])
        r.call("list_secret_version_ids_res_0", "list_secret_version_ids", SecretId=name)
        r.call("put_secret_value_res_1", "put_secret_value", SecretId=name, SecretString="S2",
               VersionStages=second)
        r.call("list_secret_version_ids_res_1", "list_secret_version_ids", SecretId=name)
        r.call("delete_secret_res_0", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


def test_deprecated_secret_version_stage(server):
    with Replay(server, "test_deprecated_secret_version_stage") as r:
        name = f"s-{short()}"
        c = r.call("create_secret", "create_secret", Name=name, SecretString="original", Description="My secret")
        r.secret(name, c["ARN"])
        wait_listed(r.sm, name)
        r.call("list_secret_version_ids", "list_secret_version_ids", SecretId=name)
        r.call("put_secret_value_1", "put_secret_value", SecretId=name, SecretString="update1")
        r.call("list_secret_version_ids_1", "list_secret_version_ids", SecretId=name)
        r.call("put_secret_value_2", "put_secret_value", SecretId=name, SecretString="update2")
        r.call("list_secret_version_ids_2", "list_secret_version_ids", SecretId=name)
        r.call("list_secret_version_ids_3", "list_secret_version_ids", SecretId=name, IncludeDeprecated=True)
        r.call("put_secret_value_3", "put_secret_value", SecretId=name, SecretString="update3")
        r.call("list_secret_version_ids_4", "list_secret_version_ids", SecretId=name)
        r.call("list_secret_version_ids_5", "list_secret_version_ids", SecretId=name, IncludeDeprecated=True)


def test_secret_exists_snapshots(server):
    with Replay(server, "test_secret_exists_snapshots") as r:
        name = f"s-{short()}"
        description = "Snapshot testing secret already exists."
        c = r.call(None, "create_secret", Name=name, SecretString=f"my_secret_{name}", Description=description)
        wait_listed(r.sm, name)
        r.secret(name, c["ARN"])
        r.call("ex_log", "create_secret", Name=name, SecretString=f"my_secret_{name}", Description=description)
        r.call("delete_secret_res", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


@pytest.mark.parametrize("operation", ["CreateSecret", "UpdateSecret", "RotateSecret", "PutSecretValue"])
def test_no_client_request_token(server, operation):
    # Raw JSON without the ClientRequestToken the SDKs always add; the secret does
    # not exist (AWS checks the token first).
    with Replay(server, f"test_no_client_request_token[{operation}]") as r:
        params = {"SecretString": "thisisthesecret", "Description": "My secret string"}
        params["Name" if operation == "CreateSecret" else "SecretId"] = short()
        status, body = raw_call(server.endpoint, operation, params)
        r.put("no-client-request-exc", {"Error": body, "Metadata": {"StatusCode": status}})


def test_create_secret_version_from_empty_secret(server):
    with Replay(server, "test_create_secret_version_from_empty_secret") as r:
        name = f"test-version-{short()}"
        c = r.call("create-empty-secret", "create_secret", Name=name, Description="")
        arn = c["ARN"]
        r.subs += [(arn.rpartition(":")[-1], "<secret-version:1>"), (name, "<name:1>")]
        r.call("describe-secret", "describe_secret", SecretId=arn)
        r.call("put-secret-value", "put_secret_value", SecretId=arn, SecretString="example-string-to-protect")


def rotation_secret(r):
    name = f"s-{short()}"
    c = r.call(None, "create_secret", Name=name, SecretString="my_secret",
               Description="testing rotation of secrets")
    r.secret(name, c["ARN"])
    return name, c["VersionId"]


def lambda_reads(r, name):
    """What the Lambda's createSecret step reads (the built-in rotator stands in for
    the Lambda and reads through no API)."""
    r.sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")


@pytest.mark.parametrize("immediately", [True, None])
def test_rotate_secret_with_lambda_success(server, immediately):
    # The recorded scenario rotates with a real Lambda; Coffer's built-in
    # coffer-random-password function stands in for it.
    with Replay(server, f"test_rotate_secret_with_lambda_success[{immediately}]") as r:
        name, initial = rotation_secret(r)
        config = {"RotationRules": {"AutomaticallyAfterDays": 1}, "RotationLambdaARN": BUILTIN_ROTATOR}
        if immediately:
            config["RotateImmediately"] = immediately
        lambda_reads(r, name)
        rot = r.call("rotate_secret_immediately", "rotate_secret", SecretId=name, **config)
        wait_rotated(r.sm, name, rot["VersionId"])
        d = r.call("describe_secret_rotated", "describe_secret", SecretId=name)
        r.call("list_secret_versions_rotated_1", "list_secret_version_ids", SecretId=name)
        stages = d.get("VersionIdsToStages", {})
        r.expect(stages.get(initial) == ["AWSPREVIOUS"], f"the first version is AWSPREVIOUS only: {stages}")
        r.expect(stages.get(rot["VersionId"]) == ["AWSCURRENT"], f"the new version is AWSCURRENT only: {stages}")


def test_rotate_secret_multiple_times_with_lambda_success(server):
    # As above: the built-in rotator stands in for the Lambda.
    with Replay(server, "test_rotate_secret_multiple_times_with_lambda_success") as r:
        name, initial = rotation_secret(r)
        runs = {1: {"RotationRules": {"AutomaticallyAfterDays": 1}, "RotateImmediately": True,
                    "RotationLambdaARN": BUILTIN_ROTATOR}, 2: {}}
        for i in (1, 2):
            lambda_reads(r, name)
            rot = r.call(f"rotate_secret_immediately_{i}", "rotate_secret", SecretId=name, **runs[i])
            wait_rotated(r.sm, name, rot["VersionId"])
            d = r.call(f"describe_secret_rotated_{i}", "describe_secret", SecretId=name)
            r.call(f"list_secret_versions_rotated_1_{i}", "list_secret_version_ids", SecretId=name)
            stages = d.get("VersionIdsToStages", {})
            r.expect(stages.get(initial) == ["AWSPREVIOUS"], f"run {i}: the old version is AWSPREVIOUS: {stages}")
            r.expect(stages.get(rot["VersionId"]) == ["AWSCURRENT"], f"run {i}: the new one is AWSCURRENT: {stages}")
            initial = r.sm.get_secret_value(SecretId=name)["VersionId"]


def test_rotate_secret_invalid_lambda_arn(server):
    with Replay(server, "test_rotate_secret_invalid_lambda_arn") as r:
        name = f"s-{short()}"
        c = r.call("create_secret", "create_secret", Name=name, SecretString="init")
        r.secret(name, c["ARN"])
        invalid = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:rotate_secret_invalid_lambda_arn"
        r.call("rotate_secret_invalid_arn_exc", "rotate_secret", SecretId=name,
               RotationRules={"AutomaticallyAfterDays": 1}, RotationLambdaARN=invalid)
        d = r.call("describe_secret", "describe_secret", SecretId=name)
        for k in ("RotationEnabled", "RotationRules", "RotationLambdaARN"):
            r.expect(k not in d, f"{k} is absent after the refused RotateSecret")


def test_first_rotate_secret_with_missing_lambda_arn(server):
    with Replay(server, "test_first_rotate_secret_with_missing_lambda_arn") as r:
        name = f"s-{short()}"
        c = r.call("create_secret", "create_secret", Name=name, SecretString="init")
        r.secret(name, c["ARN"])
        r.call("rotate_secret_no_arn_exc", "rotate_secret", SecretId=name,
               RotationRules={"AutomaticallyAfterDays": 1})
        r.call("describe_secret", "describe_secret", SecretId=name)


RESOURCE_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}


def test_resource_policy(server):
    with Replay(server, "test_resource_policy") as r:
        name = f"s-{short()}"
        c = r.call(None, "create_secret", Name=name, SecretString="my_secret",
                   Description="testing creation of secrets")
        r.secret(name, c["ARN"])
        r.call("put_resource_policy", "put_resource_policy", SecretId=name,
               ResourcePolicy=json.dumps(RESOURCE_POLICY))
        got = r.call("get_resource_policy", "get_resource_policy", SecretId=name)
        policy = json.loads(got.get("ResourcePolicy", "{}"))
        r.expect(policy.get("Statement") == RESOURCE_POLICY["Statement"], "the policy reads back as put")
        d = r.call(None, "delete_resource_policy", SecretId=name)
        r.expect(d["ResponseMetadata"]["HTTPStatusCode"] == 200, "DeleteResourcePolicy answers 200")


def test_secret_tags(server):
    with Replay(server, "test_secret_tags") as r:
        name = short()
        c = r.call("create_secret", "create_secret", Name=name)
        r.secret(name, c["ARN"])
        arn = c["ARN"]
        r.call("describe_secret", "describe_secret", SecretId=arn)
        r.call("tag_resource_1", "tag_resource", SecretId=arn, Tags=[{"Key": "tag1", "Value": "value1"}])
        r.call("describe_secret_1", "describe_secret", SecretId=arn)
        r.call("tag_resource_2", "tag_resource", SecretId=arn, Tags=[{"Key": "tag2", "Value": "value2"}])
        r.call("describe_secret_2", "describe_secret", SecretId=arn)
        r.call("untag_resource_1", "untag_resource", SecretId=arn, TagKeys=["tag1"])
        r.call("describe_secret_3", "describe_secret", SecretId=arn)
        r.call("untag_resource_2", "untag_resource", SecretId=arn, TagKeys=["tag2"])
        r.call("describe_secret_4", "describe_secret", SecretId=arn)
        r.call(None, "tag_resource", SecretId=arn,
               Tags=[{"Key": "tag3", "Value": "value3"}, {"Key": "tag4", "Value": "value4"}])
        r.call("describe_secret_5", "describe_secret", SecretId=arn)
        r.call(None, "untag_resource", SecretId=arn, TagKeys=["tag3", "tag4"])
        r.call("describe_secret_6", "describe_secret", SecretId=arn)


def test_tag_untag_resource_on_deleted_secret(server):
    with Replay(server, "test_tag_untag_resource_on_deleted_secret") as r:
        name = short()
        c = r.call("create_secret", "create_secret", Name=name, SecretString="test-secret-value",
                   Tags=[{"Key": "initial-tag", "Value": "initial-value"}])
        r.secret(name, c["ARN"])
        arn = c["ARN"]
        r.call("delete_secret", "delete_secret", SecretId=arn)
        r.call("tag_deleted_secret_error", "tag_resource", SecretId=arn,
               Tags=[{"Key": "new-tag", "Value": "new-value"}])
        r.call("untag_deleted_secret_error", "untag_resource", SecretId=arn, TagKeys=["initial-tag"])


def test_get_secret_value_errors(server):
    with Replay(server, "test_get_secret_value_errors") as r:
        name = short()
        c = r.call(None, "create_secret", Name=name, SecretString="test")
        r.secret(name, c["ARN"])
        r.call("error_get_secret_value_non_existing", "get_secret_value", SecretId=c["ARN"],
               VersionStage="AWSPREVIOUS")
        r.call("mismatch_version_id_and_stage", "get_secret_value", SecretId=name,
               VersionId=c["VersionId"], VersionStage="AWSPREVIOUS")


def test_get_secret_value(server):
    with Replay(server, "test_get_secret_value") as r:
        name = short()
        c = r.call(None, "create_secret", Name=name, SecretBinary="footest")
        r.secret(name, c["ARN"])
        r.call("secret_value_response", "get_secret_value", SecretId=c["ARN"])
        # Plain HTTP: the value stays base64, the date an epoch number.
        status, body = raw_call(server.endpoint, "GetSecretValue", {"SecretId": name})
        if isinstance(body.get("CreatedDate"), (int, float)):
            body["CreatedDate"] = "datetime"
        r.expect(status == 200, f"the plain HTTP read answers 200 (got {status})")
        r.put("secret_value_http_response", body)


def test_force_delete_deleted_secret(server):
    with Replay(server, "test_force_delete_deleted_secret") as r:
        name = f"s-{short()}"
        c = r.call("create_secret_response", "create_secret", Name=name, SecretString=f"secretstr-{short()}")
        r.secret(name, c["ARN"])
        arn = c["ARN"]
        r.call("delete_secret_response", "delete_secret", SecretId=arn)
        r.call("describe_secret_response", "describe_secret", SecretId=arn)
        r.call("force_delete_secret_response", "delete_secret", SecretId=arn, ForceDeleteWithoutRecovery=True)
        wait_gone(r.sm, arn)


CHANGE_VALUE = [
    ("test_change_secret_value_after_creation[footest-updated1]", b"footest", b"updated1"),
    ("test_change_secret_value_after_creation[tops3cret-updated2]", b"tops3cret", b"updated2"),
    ("test_change_secret_value_after_creation[\\x00\\x01\\x02\\xff-\\xfe\\xfd]", b"\x00\x01\x02\xff", b"\xfe\xfd"),
]


@pytest.mark.parametrize("key, put_binary, update_binary", CHANGE_VALUE,
                         ids=[param_id(c[0]) for c in CHANGE_VALUE])
def test_change_secret_value_after_creation(server, key, put_binary, update_binary):
    with Replay(server, key) as r:
        name = f"test-secret-{short()}"
        c = r.call(None, "create_secret", Name=name, SecretBinary=b"initial")
        r.secret(name, c["ARN"])
        r.call("put_secret_value_secret_response", "get_secret_value", SecretId=name)
        r.call(None, "put_secret_value", SecretId=name, SecretBinary=put_binary)
        r.call("put_secret_binary_response_updated", "get_secret_value", SecretId=name)
        r.call(None, "update_secret", SecretId=name, SecretBinary=update_binary)
        r.call("update_secret_binary_response_updated", "get_secret_value", SecretId=name)


def test_can_recreate_delete_secret(server):
    with Replay(server, "test_can_recreate_delete_secret") as r:
        name = f"s-{short()}"
        value = f"secretstr-{short()}"
        c = r.call("create_secret_res_0", "create_secret", Name=name, SecretString=value)
        r.secret(name, c["ARN"], 0)
        r.call("delete_res_1", "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)
        wait_gone(r.sm, name)
        c = r.call("create_secret_res_1", "create_secret", Name=name, SecretString=value)
        r.secret(name, c["ARN"], 1)
        r.call(None, "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)


def test_exp_raised_on_creation_of_secret_scheduled_for_deletion(server):
    with Replay(server, "test_exp_raised_on_creation_of_secret_scheduled_for_deletion") as r:
        name = f"s-{short()}"
        value = f"secretstr-{short()}"
        c = r.call(None, "create_secret", Name=name, SecretString=value)
        r.secret(name, c["ARN"])
        r.call("delete_res", "delete_secret", SecretId=name, RecoveryWindowInDays=7)
        r.call("invalid_req_ex", "create_secret", Name=name, SecretString=value)


def test_every_recorded_scenario_is_replayed():
    """Each recorded scenario has a test above (the lambda ones through the built-in)."""
    here = open(__file__).read()
    for key in SNAPSHOT:
        assert key.startswith(PREFIX), key
        name = key[len(PREFIX):].split("[")[0]
        assert f"def {name}(" in here or f'"{name}' in here, f"{key} is not replayed"


# --------------------------------------------------------------------------------
# AWS-validated scenarios without a recorded body: LocalStack's own assertions


class Checks:
    def __init__(self, scenario):
        self.scenario = scenario
        self.failed = []

    def __call__(self, ok, what):
        if not ok:
            self.failed.append(what)

    def done(self):
        assert not self.failed, f"{self.scenario}: Coffer differs from AWS:\n  " + "\n  ".join(self.failed)


def test_delete_non_existent_secret_returns_as_if_secret_exists(sm):
    check = Checks("test_delete_non_existent_secret_returns_as_if_secret_exists")
    name = f"s-{short()}"
    try:
        r = sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    except ClientError as e:
        check(False, f"DeleteSecret(ForceDeleteWithoutRecovery) of a missing secret: AWS answers "
                     f"Name, ARN, DeletionDate; Coffer: {e.response['Error']}")
    else:
        check(r.get("Name") == name, f"Name is the id given: {r.get('Name')!r}")
        check(r.get("ARN") is not None, "an ARN is given")
        check(r.get("DeletionDate") is not None, "a DeletionDate is given")
    check.done()


def test_last_accessed_date(sm):
    check = Checks("test_last_accessed_date")
    name = f"s-{short()}"
    sm.create_secret(Name=name, SecretString="MySecretValue")
    check("LastAccessedDate" not in sm.describe_secret(SecretId=name), "no LastAccessedDate before a read")
    sm.get_secret_value(SecretId=name)
    d0 = sm.describe_secret(SecretId=name)
    check("LastAccessedDate" in d0, "LastAccessedDate right after the first read")
    sm.get_secret_value(SecretId=name)
    d1 = sm.describe_secret(SecretId=name)
    check("LastAccessedDate" in d1, "LastAccessedDate right after the second read")
    if "LastAccessedDate" in d0 and "LastAccessedDate" in d1:
        check(isinstance(d0["LastAccessedDate"], datetime.datetime), "LastAccessedDate is a timestamp")
        check(d0["LastAccessedDate"] == d1["LastAccessedDate"], "the same day both times")
    check.done()


def test_last_updated_date(sm):
    check = Checks("test_last_updated_date")
    name = f"s-{short()}"
    sm.create_secret(Name=name, SecretString="MySecretValue")
    created = sm.describe_secret(SecretId=name)["LastChangedDate"]
    got = sm.get_secret_value(SecretId=name)
    check(abs(created.timestamp() - got["CreatedDate"].timestamp()) <= max(1, created.timestamp()),
          "CreatedDate of the version is close to LastChangedDate")
    check(abs(sm.describe_secret(SecretId=name)["LastChangedDate"].timestamp() - created.timestamp()) < 1,
          "a read does not change LastChangedDate")
    sm.update_secret(SecretId=name, SecretString="MyNewSecretValue")
    last = sm.describe_secret(SecretId=name)["LastChangedDate"]
    check(created < last, "UpdateSecret moves LastChangedDate")
    sm.update_secret(SecretId=name, SecretString="MyNewSecretValue")
    again = sm.describe_secret(SecretId=name)["LastChangedDate"]
    check(last < again, "UpdateSecret with the same value moves LastChangedDate again")
    check.done()


def test_list_secrets_filtering(sm):
    check = Checks("test_list_secrets_filtering")
    n = short()
    s1, s2, s3, s4 = f"testing1/one-{n}", f"/testing2/two-{n}", f"testing3/three-{n}", f"/testing4/four-{n}"
    sm.create_secret(Name=s1, SecretString="secret", Description="a secret")
    sm.create_secret(Name=s2, SecretString="secret", Description="an secret")
    sm.create_secret(Name=s3, SecretString="secret", Description="asecret")
    sm.create_secret(Name=s4, SecretString="secret", Description="thesecret")
    every = {s1, s2, s3, s4}
    cases = [
        ([{"Key": "name", "Values": ["/"]}], {s2, s4}),
        ([{"Key": "name", "Values": ["!/"]}], {s1, s3}),
        ([{"Key": "name", "Values": ["testing1 one"]}], set()),
        ([{"Key": "description", "Values": ["a"]}], {s1, s2, s3}),
        ([{"Key": "description", "Values": ["!a"]}], {s4}),
        ([{"Key": "description", "Values": ["a secret"]}], {s1, s2}),
        ([{"Key": "description", "Values": ["a"]}, {"Key": "name", "Values": ["secret"]}], set()),
        ([{"Key": "description", "Values": ["a"]}, {"Key": "name", "Values": ["an"]}], set()),
        ([{"Key": "description", "Values": ["!c"]}], every),
    ]
    for filters, want in cases:
        try:
            got = {s["Name"] for s in sm.list_secrets(Filters=filters)["SecretList"]} & every
        except ClientError as e:
            check(False, f"Filters={filters}: AWS lists {sorted(want)}; Coffer: {e.response['Error']}")
            continue
        check(got == want, f"Filters={filters}: AWS lists {sorted(want)}; Coffer {sorted(got)}")
    check.done()


def test_get_random_exclude_characters_and_symbols(sm):
    p = sm.get_random_password(PasswordLength=120, ExcludeCharacters="xyzDje@?!.")["RandomPassword"]
    assert len(p) == 120
    assert not set(p) & set("xyzDje@?!.")


def test_secret_exists(sm):
    check = Checks("test_secret_exists")
    name = f"s-{short()}"
    description = "Testing secret already exists."
    rs = sm.create_secret(Name=name, SecretString=f"my_secret_{name}", Description=description)
    check(len(rs["ARN"].rpartition("-")[-1]) == 6, "6-character ARN suffix")
    listed = sm.get_paginator("list_secrets").paginate().build_full_result()
    check([s["ARN"] for s in listed["SecretList"] if s["Name"] == name] == [rs["ARN"]], "listed once")
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name=name, SecretString=f"my_secret_{name}", Description=description)
    check(e.value.response["Error"]["Code"] == "ResourceExistsException", "ResourceExistsException")
    check(e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, "HTTP 400")
    check(e.value.response["Error"]["Message"] == f"The operation failed because the secret {name} already exists.",
          "the message names the secret")
    check.done()


def second_account(server):
    out = subprocess.run([BIN, "account", "create", "second"], env=server.cli_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    b = dict(line[len("export "):].split("=", 1) for line in out.stdout.splitlines()
             if line.startswith("export "))
    kw = dict(endpoint_url=server.endpoint, region_name="us-east-1",
              aws_access_key_id=b["AWS_ACCESS_KEY_ID"], aws_secret_access_key=b["AWS_SECRET_ACCESS_KEY"],
              config=Config(retries={"max_attempts": 1}))
    return boto3.client("secretsmanager", **kw), boto3.client("sts", **kw)


def test_cross_account_access(server, sm):
    check = Checks("TestSecretsManagerMultiAccounts::test_cross_account_access")
    other, other_sts = second_account(server)
    principal = other_sts.get_caller_identity()["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": principal}, "Action": ["secretsmanager:*"], "Resource": "*"}]}
    arn = sm.create_secret(Name=f"test-secret-{short()}", SecretString="secret")["ARN"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(policy))

    def attempt(what, f, **kw):
        try:
            return f(**kw)
        except ClientError as e:
            check(False, f"{what}: AWS allows it; Coffer: {e.response['Error']}")
            return None

    d = attempt("DescribeSecret from the other account", other.describe_secret, SecretId=arn)
    check(d is None or d["ARN"] == arn, "DescribeSecret answers the ARN")
    default_key = ("You can't access a secret from a different AWS account if you encrypt the secret "
                   "with the default KMS service key.")
    for op, kw in (("get_secret_value", {}), ("put_secret_value", {"SecretString": "new-secret"})):
        try:
            getattr(other, op)(SecretId=arn, **kw)
            check(False, f"{op} from the other account under the default key: AWS refuses, Coffer allowed it")
        except ClientError as e:
            err = e.response["Error"]
            check((err["Code"], err["Message"]) == ("InvalidRequestException", default_key),
                  f"{op} from the other account under the default key: AWS InvalidRequestException "
                  f"{default_key!r}; Coffer {err}")
    policy["Statement"][0]["Sid"] = "AllowCrossAccount"
    attempt("PutResourcePolicy from the other account", other.put_resource_policy,
            SecretId=arn, ResourcePolicy=json.dumps(policy))
    got = attempt("GetResourcePolicy from the other account", other.get_resource_policy, SecretId=arn)
    if got:
        check(json.loads(got["ResourcePolicy"])["Statement"][0].get("Sid") == "AllowCrossAccount",
              "the other account's policy was stored")
    got = attempt("ListSecretVersionIds from the other account", other.list_secret_version_ids, SecretId=arn)
    check(got is None or len(got["Versions"]) == 1, "one version listed")
    check(other.list_secrets()["SecretList"] == [], "the other account lists none of the first's secrets")
    attempt("TagResource from the other account", other.tag_resource,
            SecretId=arn, Tags=[{"Key": "tag1", "Value": "value1"}])
    check(sm.describe_secret(SecretId=arn).get("Tags") == [{"Key": "tag1", "Value": "value1"}],
          "the owner sees the tag the other account set")
    attempt("UntagResource from the other account", other.untag_resource, SecretId=arn, TagKeys=["tag1"])
    check(sm.describe_secret(SecretId=arn).get("Tags", []) == [], "the owner sees it removed")
    attempt("DeleteSecret from the other account", other.delete_secret, SecretId=arn,
            ForceDeleteWithoutRecovery=True)
    check.done()


def test_cross_account_access_non_default_key(server, sm):
    check = Checks("TestSecretsManagerMultiAccounts::test_cross_account_access_non_default_key")
    other, other_sts = second_account(server)
    kw = dict(endpoint_url=server.endpoint, region_name="us-east-1",
              aws_access_key_id=server.exports["AWS_ACCESS_KEY_ID"],
              aws_secret_access_key=server.exports["AWS_SECRET_ACCESS_KEY"])
    kms, sts = boto3.client("kms", **kw), boto3.client("sts", **kw)
    me = sts.get_caller_identity()
    theirs = other_sts.get_caller_identity()["Arn"]
    key_policy = {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{me['Account']}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow administration of the key", "Effect": "Allow", "Principal": {"AWS": me["Arn"]},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": theirs},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
         "Resource": "*"}]}
    key = kms.create_key(Description="test-key", Policy=json.dumps(key_policy))["KeyMetadata"]["Arn"]
    arn = sm.create_secret(Name=f"test-secret-{short()}", SecretString="secret", KmsKeyId=key)["ARN"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": theirs}, "Action": ["secretsmanager:*"], "Resource": "*"}]}))

    def attempt(what, f, **kw):
        try:
            return f(**kw)
        except ClientError as e:
            check(False, f"{what}: AWS allows it; Coffer: {e.response['Error']}")
            return None

    got = attempt("GetSecretValue from the other account", other.get_secret_value, SecretId=arn)
    check(got is None or got["SecretString"] == "secret", "the other account reads the value")
    attempt("PutSecretValue from the other account", other.put_secret_value, SecretId=arn,
            SecretString="new-secret")
    got = attempt("GetSecretValue from the other account", other.get_secret_value, SecretId=arn)
    check(got is None or got["SecretString"] == "new-secret", "the other account reads its new value")
    attempt("DeleteSecret(ForceDeleteWithoutRecovery=False, RecoveryWindowInDays=7) from the other account",
            other.delete_secret, SecretId=arn, ForceDeleteWithoutRecovery=False, RecoveryWindowInDays=7)
    check(sm.describe_secret(SecretId=arn).get("DeletedDate") is not None, "the owner sees DeletedDate")
    attempt("RestoreSecret from the other account", other.restore_secret, SecretId=arn)
    check(sm.describe_secret(SecretId=arn).get("DeletedDate") is None, "the owner sees it restored")
    check.done()
