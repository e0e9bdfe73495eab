"""`coffer import` and `coffer export` against real servers: a second Coffer plays
the AWS account secrets are brought in from (it speaks the same API), the
destination is driven by the coffer binary with the standard AWS variables, and
boto3 checks what arrived."""

import base64
import json
import os
import subprocess

import boto3
from botocore.config import Config

from conftest import ACCOUNT, AKID, BIN, SECRET, Server

SOURCE_KEY = "AKIASOURCESOURCE0000"
SOURCE_SECRET = "source-secret-access-key"


def server(workdir, name, key=AKID, secret=SECRET):
    return Server(os.path.join(workdir, name), env={
        "COFFER_DEV_ACCESS_KEY_ID": key, "COFFER_DEV_SECRET_ACCESS_KEY": secret,
        "COFFER_DEV_ACCOUNT_ID": ACCOUNT})


def sm(s, key=AKID, secret=SECRET):
    return boto3.client("secretsmanager", endpoint_url=s.endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}))


def coffer_env(dest, workdir, extra_env=None):
    """The destination in the usual AWS variables and a profile `source` for the
    source's credentials."""
    profiles = os.path.join(workdir, "credentials")
    with open(profiles, "w") as f:
        f.write(f"[source]\naws_access_key_id = {SOURCE_KEY}\naws_secret_access_key = {SOURCE_SECRET}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ENDPOINT_URL": dest.endpoint, "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
                "AWS_SHARED_CREDENTIALS_FILE": profiles, "AWS_CONFIG_FILE": "/dev/null",
                **(extra_env or {})})
    return env


def coffer(dest, workdir, *args, extra_env=None):
    """The coffer binary run to its end with `coffer_env`."""
    return subprocess.run([BIN, *args], env=coffer_env(dest, workdir, extra_env),
                          capture_output=True, text=True, timeout=120)


def snapshot(client, name):
    """What a user sees of a secret: metadata, policy, each labelled version's value."""
    d = client.describe_secret(SecretId=name)
    versions = {}
    for vid, labels in d["VersionIdsToStages"].items():
        v = client.get_secret_value(SecretId=name, VersionId=vid)
        versions[vid] = (sorted(labels), v.get("SecretString"), v.get("SecretBinary"))
    policy = client.get_resource_policy(SecretId=name).get("ResourcePolicy")
    return {"description": d.get("Description"), "tags": sorted((t["Key"], t["Value"]) for t in d.get("Tags", [])),
            "policy": json.loads(policy) if policy else None, "versions": versions}


POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "secretsmanager:GetSecretValue",
    "Resource": "*"}]})


def fill(source):
    c = sm(source, SOURCE_KEY, SOURCE_SECRET)
    c.create_secret(Name="app/db", Description="the database", SecretString="v1-pass",
                    Tags=[{"Key": "team", "Value": "payments"}])
    c.put_secret_value(SecretId="app/db", SecretString="v2-pass")
    c.put_secret_value(SecretId="app/db", SecretString="v3-pending", VersionStages=["AWSPENDING"])
    c.put_resource_policy(SecretId="app/db", ResourcePolicy=POLICY)
    c.create_secret(Name="app/cert", SecretBinary=b"\x00\x01binary\xff")
    c.create_secret(Name="other/x", SecretString="not-in-prefix")
    return c


def test_import_from_an_aws_api_server_is_faithful_idempotent_and_resumable(workdir):
    source = server(workdir, "source", SOURCE_KEY, SOURCE_SECRET)
    dest = server(workdir, "dest")
    try:
        src = fill(source)
        args = ["import", "aws", "--source-endpoint", source.endpoint, "--source-region", "us-east-1",
                "--source-profile", "source"]
        dry = coffer(dest, workdir, *args, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "3 would create, 0 would update, 0 unchanged, 0 failed" in dry.stdout
        assert sm(dest).list_secrets()["SecretList"] == [], "a dry run writes nothing"

        only = coffer(dest, workdir, *args, "--prefix", "app/")
        assert only.returncode == 0, only.stderr
        assert "2 created, 0 updated, 0 unchanged, 0 failed" in only.stdout
        assert sorted(s["Name"] for s in sm(dest).list_secrets()["SecretList"]) == ["app/cert", "app/db"]
        for name in ["app/db", "app/cert"]:
            assert snapshot(sm(dest), name) == snapshot(src, name), name
        assert "v1-pass" not in only.stdout + only.stderr

        again = coffer(dest, workdir, *args, "--prefix", "app/")
        assert "0 created, 0 updated, 2 unchanged, 0 failed" in again.stdout, again.stdout

        # The source moves on; the rerun brings exactly the difference, and
        # picks up the secret the first run left out.
        src.put_secret_value(SecretId="app/db", SecretString="v4-pass")
        src.tag_resource(SecretId="app/db", Tags=[{"Key": "tier", "Value": "1"}])
        full = coffer(dest, workdir, *args)
        assert "1 created, 1 updated, 1 unchanged, 0 failed" in full.stdout, full.stdout
        for name in ["app/db", "app/cert", "other/x"]:
            assert snapshot(sm(dest), name) == snapshot(src, name), name
    finally:
        assert source.stop() == 0 and dest.stop() == 0


def test_export_bundle_is_sealed_and_imports_back(workdir):
    source = server(workdir, "source", SOURCE_KEY, SOURCE_SECRET)
    dest = server(workdir, "dest")
    try:
        src = fill(source)
        out = os.path.join(workdir, "all.bundle")
        env = {"COFFER_BUNDLE_PASSPHRASE": "a long bundle passphrase"}
        as_source = {"AWS_ACCESS_KEY_ID": SOURCE_KEY, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}
        short = coffer(source, workdir, "export", "--out", out,
                       extra_env={**as_source, "COFFER_BUNDLE_PASSPHRASE": "short"})
        assert short.returncode != 0 and "12 characters" in short.stderr
        done = coffer(source, workdir, "export", "--out", out, extra_env={**as_source, **env})
        assert done.returncode == 0, done.stderr
        assert "3 secrets written" in done.stdout
        assert oct(os.stat(out).st_mode & 0o777) == "0o600"
        raw = open(out, "rb").read()
        for clear in [b"v2-pass", b"v3-pending", b"not-in-prefix", base64.b64encode(b"\x00\x01binary\xff")]:
            assert clear not in raw
        again = coffer(source, workdir, "export", "--out", out, extra_env={**as_source, **env})
        assert again.returncode != 0 and "exists" in again.stderr

        wrong = coffer(dest, workdir, "import", "bundle", out,
                       extra_env={"COFFER_BUNDLE_PASSPHRASE": "not the passphrase!"})
        assert wrong.returncode != 0 and "does not open" in wrong.stderr
        back = coffer(dest, workdir, "import", "bundle", out, extra_env=env)
        assert back.returncode == 0, back.stderr
        assert "3 created" in back.stdout
        for name in ["app/db", "app/cert", "other/x"]:
            assert snapshot(sm(dest), name) == snapshot(src, name), name

        plain = os.path.join(workdir, "all.json")
        p = coffer(source, workdir, "export", "--out", plain, "--plaintext", extra_env=as_source)
        assert p.returncode == 0 and "(plaintext)" in p.stdout
        assert json.load(open(plain))["format"] == "coffer-export-v1"
    finally:
        assert source.stop() == 0 and dest.stop() == 0


def test_dotenv_and_vault_kv_files(workdir):
    dest = server(workdir, "dest")
    try:
        env_file = os.path.join(workdir, ".env")
        with open(env_file, "w") as f:
            f.write('# app settings\nexport DB_PASSWORD="s3cr3t\\nline2"\nAPI_KEY=abc123 # rotated monthly\n')
        r = coffer(dest, workdir, "import", "dotenv", env_file, "--name-prefix", "myapp/")
        assert r.returncode == 0, r.stderr
        assert "2 created" in r.stdout
        c = sm(dest)
        assert c.get_secret_value(SecretId="myapp/DB_PASSWORD")["SecretString"] == "s3cr3t\nline2"
        assert c.get_secret_value(SecretId="myapp/API_KEY")["SecretString"] == "abc123"
        same = coffer(dest, workdir, "import", "dotenv", env_file, "--name-prefix", "myapp/")
        assert "0 created, 0 updated, 2 unchanged" in same.stdout
        with open(env_file, "w") as f:
            f.write("API_KEY=def456\n")
        changed = coffer(dest, workdir, "import", "dotenv", env_file, "--name-prefix", "myapp/")
        assert "0 created, 1 updated" in changed.stdout
        assert c.get_secret_value(SecretId="myapp/API_KEY")["SecretString"] == "def456"
        assert len(c.list_secret_version_ids(SecretId="myapp/API_KEY")["Versions"]) == 2

        kv = os.path.join(workdir, "kv.json")
        with open(kv, "w") as f:
            json.dump({"request_id": "1", "lease_id": "", "data": {
                "data": {"username": "svc", "password": "pw"}, "metadata": {"version": 4}}}, f)
        missing = coffer(dest, workdir, "import", "vault-kv", kv)
        assert missing.returncode != 0 and "--name" in missing.stderr
        r = coffer(dest, workdir, "import", "vault-kv", kv, "--name", "vault/db")
        assert r.returncode == 0, r.stderr
        assert json.loads(c.get_secret_value(SecretId="vault/db")["SecretString"]) == {
            "username": "svc", "password": "pw"}
    finally:
        assert dest.stop() == 0
