"""`coffer import aws` at scale: a second Coffer stands in for an AWS account
of 1,000 secrets (descriptions, tags, policies, several labelled versions,
binary values), the import is killed mid-way and rerun to completion, a third
run changes nothing, and after the source changes (tags and descriptions
removed, AWSCURRENT moved, AWSPENDING added and taken off, policies deleted)
a rerun makes each imported secret mirror the source again, leaving the
destination's own secrets alone. Also: without --source-endpoint the source is
AWS itself, never the destination in AWS_ENDPOINT_URL."""

import json
import re
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import ACCOUNT, BIN, wait_until
from test_import_export import SOURCE_KEY, SOURCE_SECRET, coffer, coffer_env, server, sm, snapshot

N = 1000
THREADS = 8
ARGS = ["import", "aws", "--source-region", "us-east-1", "--source-profile", "source"]
SUMMARY = re.compile(r"(\d+) (?:would )?created?, (\d+) (?:would )?updated?, (\d+) unchanged, (\d+) failed")


def name_of(i):
    return f"bulk/{i:04d}"


def value(i, n):
    """The n-th value of secret i: binary on every fifth secret."""
    if i % 5 == 0:
        return {"SecretBinary": bytes([0, n, 255]) + f"bin-{i}".encode()}
    return {"SecretString": f"value {n} of secret {i}"}


def policy(i):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": f"s{i}", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})


class Clients(threading.local):
    """One boto3 client per thread and server (a client's setup is not free, and
    sharing one across threads is not promised to be safe)."""

    def get(self, server, key=None, secret=None):
        cache = self.__dict__.setdefault("clients", {})
        if server.endpoint not in cache:
            cache[server.endpoint] = sm(server, *((key, secret) if key else ()))
        return cache[server.endpoint]


CLIENTS = Clients()


def in_parallel(work, items):
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(work, items))


def fill_one(c, i):
    """Secret i: a description, one or two tags, AWSPREVIOUS and AWSCURRENT; and
    on some AWSPENDING, a custom label on a version of its own, a second label
    on the current version, a resource policy."""
    name = name_of(i)
    tags = [{"Key": "team", "Value": f"t{i % 7}"}] + ([{"Key": "tier", "Value": str(i % 3)}] if i % 2 else [])
    c.create_secret(Name=name, Description=f"secret {i}", Tags=tags, **value(i, 1))
    current = c.put_secret_value(SecretId=name, **value(i, 2))["VersionId"]
    if i % 3 == 0:
        c.put_secret_value(SecretId=name, VersionStages=["AWSPENDING"], **value(i, 3))
    if i % 4 == 0:
        c.put_secret_value(SecretId=name, VersionStages=["blue"], **value(i, 4))
    if i % 7 == 0:
        c.update_secret_version_stage(SecretId=name, VersionStage="green", MoveToVersionId=current)
    if i % 10 == 0:
        c.put_resource_policy(SecretId=name, ResourcePolicy=policy(i))


def holder(c, name, label):
    stages = c.describe_secret(SecretId=name)["VersionIdsToStages"]
    return next(v for v, ls in stages.items() if label in ls)


def change_one(c, i):
    """Changes secret i at the source as its number says; whether it changed."""
    name = name_of(i)
    k = i % 25
    if k == 1:
        c.untag_resource(SecretId=name, TagKeys=["team"])
    elif k == 2:
        c.update_secret(SecretId=name, Description=f"changed {i}")
    elif k == 3:
        c.update_secret(SecretId=name, Description="")  # removes it
    elif k == 4:
        c.put_secret_value(SecretId=name, **value(i, 5))  # AWSCURRENT moves, AWSPREVIOUS follows
    elif k == 5:
        # A rotation by hand: a pending version becomes current, then loses AWSPENDING.
        new = c.put_secret_value(SecretId=name, VersionStages=["AWSPENDING"], **value(i, 6))["VersionId"]
        old = holder(c, name, "AWSCURRENT")
        c.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=new,
                                      RemoveFromVersionId=old)
        c.update_secret_version_stage(SecretId=name, VersionStage="AWSPENDING", RemoveFromVersionId=new)
    elif k == 6 and i % 3 == 0:
        c.update_secret_version_stage(SecretId=name, VersionStage="AWSPENDING",
                                      RemoveFromVersionId=holder(c, name, "AWSPENDING"))
    elif k == 7:
        c.put_resource_policy(SecretId=name, ResourcePolicy=policy(i))
    elif k == 8 and i % 4 == 0:
        c.update_secret_version_stage(SecretId=name, VersionStage="blue",
                                      RemoveFromVersionId=holder(c, name, "blue"))
    elif k == 9 and i % 4 == 0:
        c.update_secret_version_stage(SecretId=name, VersionStage="blue", RemoveFromVersionId=holder(c, name, "blue"),
                                      MoveToVersionId=holder(c, name, "AWSCURRENT"))
    elif k == 10:
        c.tag_resource(SecretId=name, Tags=[{"Key": "team", "Value": "moved"}, {"Key": "new", "Value": "tag"}])
    elif i % 20 == 0:
        c.delete_resource_policy(SecretId=name)
    else:
        return False
    return True


def names(c):
    return sorted(s["Name"] for p in c.get_paginator("list_secrets").paginate() for s in p["SecretList"])


def bulk_state(server, names_, values, key=None, secret=None):
    """Every named secret as `snapshot` sees it, plus when it last changed. Version
    values are read once per (secret, version id): a version's value never
    changes, so `values` keeps them from one look to the next."""
    def one(name):
        c = CLIENTS.get(server, key, secret)
        d = c.describe_secret(SecretId=name)
        versions = {}
        for vid, labels in d.get("VersionIdsToStages", {}).items():
            if (name, vid) not in values:
                v = c.get_secret_value(SecretId=name, VersionId=vid)
                values[(name, vid)] = v.get("SecretString", v.get("SecretBinary"))
            versions[vid] = (sorted(labels), values[(name, vid)])
        p = c.get_resource_policy(SecretId=name).get("ResourcePolicy")
        return name, {"description": d.get("Description"), "changed": d.get("LastChangedDate"),
                      "tags": sorted((t["Key"], t["Value"]) for t in d.get("Tags", [])),
                      "policy": json.loads(p) if p else None, "versions": versions}
    return dict(in_parallel(one, names_))


def without_dates(state):
    return {n: {k: v for k, v in s.items() if k != "changed"} for n, s in state.items()}


def summary(run):
    """(created, updated, unchanged, failed) from a run's summary line."""
    assert run.returncode == 0, run.stdout + run.stderr
    m = SUMMARY.search(run.stdout)
    assert m, run.stdout
    return tuple(int(x) for x in m.groups())


def kill_mid_way(source, dest, workdir):
    """Starts an import, SIGKILLs it once the destination holds some of the
    secrets, and answers how many it had then."""
    args = [BIN, *ARGS, "--source-endpoint", source.endpoint]
    run = subprocess.Popen(args, env=coffer_env(dest, workdir), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    d = sm(dest)
    try:
        wait_until("the first run has written 100 secrets, or ended",
                   lambda: run.poll() is not None or len(d.list_secrets(
                       MaxResults=100, Filters=[{"Key": "name", "Values": ["bulk/"]}])["SecretList"]) >= 100,
                   interval=0.01)
        run.send_signal(signal.SIGKILL)
        out, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == -signal.SIGKILL, f"the run ended before it was killed: {out}{err}"
    return len([n for n in names(d) if n.startswith("bulk/")])


def test_import_of_1000_secrets_survives_a_kill_and_mirrors_later_changes(workdir):
    source = server(workdir, "source", SOURCE_KEY, SOURCE_SECRET)
    dest = server(workdir, "dest")
    timings = {}
    try:
        started = time.monotonic()
        in_parallel(lambda i: fill_one(CLIENTS.get(source, SOURCE_KEY, SOURCE_SECRET), i), range(N))
        bulk = [name_of(i) for i in range(N)]
        # The destination's own secret, which no import may touch.
        d = sm(dest)
        d.create_secret(Name="own/db", Description="the destination's", SecretString="own",
                        Tags=[{"Key": "mine", "Value": "yes"}])
        own = snapshot(d, "own/db")
        timings["fill"] = time.monotonic() - started
        src_values, dest_values = {}, {}
        src = without_dates(bulk_state(source, bulk, src_values, SOURCE_KEY, SOURCE_SECRET))
        assert sum(len(s["versions"]) for s in src.values()) > 2.5 * N, "several versions each"

        started = time.monotonic()
        had = kill_mid_way(source, dest, workdir)
        assert 100 <= had < N, f"killed mid-way: {had} of {N} secrets written"
        timings["killed run"] = time.monotonic() - started

        started = time.monotonic()
        args = [*ARGS, "--source-endpoint", source.endpoint]
        created, updated, unchanged, failed = summary(coffer(dest, workdir, *args))
        timings["resumed run"] = time.monotonic() - started
        # What the killed run finished is left alone; what it was in the middle
        # of is finished; the rest is created.
        assert (created, failed) == (N - had, 0)
        assert updated + unchanged == had and unchanged >= had - 20, (updated, unchanged)
        assert names(d) == sorted(bulk + ["own/db"])
        after = bulk_state(dest, bulk, dest_values)
        assert without_dates(after) == src

        started = time.monotonic()
        assert summary(coffer(dest, workdir, *args)) == (0, 0, N, 0)
        timings["rerun"] = time.monotonic() - started
        assert bulk_state(dest, bulk, dest_values) == after, "a rerun changes nothing"

        # The source moves on; the destination drifts on two imported secrets
        # (a tag and a label of its own).
        changed = {name_of(i) for i, c in zip(range(N), in_parallel(
            lambda i: change_one(CLIENTS.get(source, SOURCE_KEY, SOURCE_SECRET), i), range(N))) if c}
        d.tag_resource(SecretId=name_of(11), Tags=[{"Key": "local", "Value": "drift"}])
        d.put_secret_value(SecretId=name_of(12), SecretString="local", VersionStages=["LOCAL"])
        changed |= {name_of(11), name_of(12)}
        assert len(changed) > 100
        src = without_dates(bulk_state(source, bulk, src_values, SOURCE_KEY, SOURCE_SECRET))
        assert src != without_dates(after)

        before = bulk_state(dest, bulk, dest_values)
        assert summary(coffer(dest, workdir, *args, "--dry-run")) == (0, len(changed), N - len(changed), 0)
        assert bulk_state(dest, bulk, dest_values) == before, "a dry run writes nothing"

        started = time.monotonic()
        assert summary(coffer(dest, workdir, *args)) == (0, len(changed), N - len(changed), 0)
        timings["run after changes"] = time.monotonic() - started
        assert without_dates(bulk_state(dest, bulk, dest_values)) == src
        assert names(d) == sorted(bulk + ["own/db"])
        assert snapshot(d, "own/db") == own
        assert summary(coffer(dest, workdir, *args)) == (0, 0, N, 0)
    finally:
        print(", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        assert source.stop() == 0 and dest.stop() == 0


def test_without_source_endpoint_the_source_is_aws_not_the_destination(workdir):
    """AWS_ENDPOINT_URL names the destination; an import with no --source-endpoint
    reads AWS's own endpoint for the region (which this sandbox cannot reach, so
    it fails), never the destination: copying Coffer onto itself would succeed
    with every secret `unchanged`."""
    dest = server(workdir, "dest")
    try:
        d = sm(dest)
        d.create_secret(Name="app/db", Description="kept", SecretString="v1",
                        Tags=[{"Key": "team", "Value": "payments"}])
        d.put_resource_policy(SecretId="app/db", ResourcePolicy=policy(1))
        before = snapshot(d, "app/db")
        for extra in [[], ["--source-profile", "source"]]:
            run = coffer(dest, workdir, "import", "aws", "--source-region", "us-east-1", *extra)
            assert run.returncode != 0, run.stdout
            assert "unchanged" not in run.stdout
            assert "reading the source (AWS Secrets Manager in us-east-1)" in run.stderr, run.stderr
        assert names(d) == ["app/db"]
        assert snapshot(d, "app/db") == before
    finally:
        assert dest.stop() == 0
