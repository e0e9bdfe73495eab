"""Rotation with an external function: a Lambda-style Python rotator run as an
executable by the coffer binary, calling back with its execution role's temporary
credentials through boto3; a failed step resumed with the same token; and a server
killed between setSecret and finishSecret that completes the rotation on restart."""

import json
import os
import sys
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, AKID, SECRET, Server, raw_call, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
LAMBDA = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:py-rotator"


def start(workdir):
    cfg = os.path.join(workdir, "coffer.toml")
    with open(cfg, "w") as f:
        f.write("rotation_interval_secs = 1\n[rotation_functions.py-rotator]\n")
        f.write(f"command = {json.dumps([sys.executable, os.path.join(HERE, 'rotator.py')])}\n")
        f.write('role = "rotator-exec"\n')
        # The program inherits nothing the server does not name for it.
        f.write('pass_env = ["ROTATOR_LOG", "ROTATOR_FAIL", "ROTATOR_CRASH"]\n')
    env = {
        "COFFER_DEV_ACCESS_KEY_ID": AKID,
        "COFFER_DEV_SECRET_ACCESS_KEY": SECRET,
        "COFFER_DEV_ACCOUNT_ID": ACCOUNT,
        "ROTATOR_LOG": os.path.join(workdir, "rotator.log"),
        "ROTATOR_FAIL": os.path.join(workdir, "fail"),
        "ROTATOR_CRASH": os.path.join(workdir, "crash"),
        # Not passed on: the function must not see it, nor the server's own.
        "LEAK_CANARY": "1",
    }
    return Server(os.path.join(workdir, "data"), extra_args=["--config", cfg], env=env)


def clients(server):
    kw = dict(endpoint_url=server.endpoint, region_name="us-east-1",
              aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    return boto3.client("secretsmanager", **kw), boto3.client("iam", **kw)


def current(sm, name):
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    return next(v for v, s in stages.items() if "AWSCURRENT" in s), stages


def wait_current(sm, name, token, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        # Done when the token is current and no longer pending (the outcome recorded).
        if current(sm, name)[1].get(token) == ["AWSCURRENT"]:
            return
        time.sleep(0.1)
    raise AssertionError(f"{token} never became current: {current(sm, name)[1]}")


def failed_step(server, name):
    """The step the last attempt failed at, while its rotation is still pending: the
    server's CofferRotationFailure, beyond AWS's model, so only the raw answer has it."""
    status, body = raw_call(server.endpoint, "DescribeSecret", {"SecretId": name})
    assert status == 200, body
    return (body.get("CofferRotationFailure") or {}).get("Step")


def wait_failed_at(server, name, step):
    """Waits until the attempt has ended and its failure at `step` is recorded."""
    wait_until(f"the rotation of {name} is recorded as failed at {step} "
               f"(now: {failed_step(server, name)!r})",
               lambda: failed_step(server, name) == step)


def steps(workdir, token):
    with open(os.path.join(workdir, "rotator.log")) as f:
        return [line.split()[0] for line in f if line.split()[1] == token]


def test_external_function_failure_resume_and_crash(workdir):
    server = start(workdir)
    try:
        sm, iam = clients(server)
        trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "secretsmanager.amazonaws.com"},
                                "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName="rotator-exec", AssumeRolePolicyDocument=json.dumps(trust))
        allow = {"Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}
        iam.put_role_policy(RoleName="rotator-exec", PolicyName="rotate", PolicyDocument=json.dumps(allow))
        sm.create_secret(Name="ext/app", SecretString="v0")

        t1 = "11111111-1111-4111-8111-111111111111"
        sm.rotate_secret(SecretId="ext/app", RotationLambdaARN=LAMBDA, ClientRequestToken=t1,
                         RotationRules={"AutomaticallyAfterDays": 7})
        wait_current(sm, "ext/app", t1)
        assert steps(workdir, t1) == ["createSecret", "setSecret", "testSecret", "finishSecret"]
        with open(os.path.join(workdir, "rotator.log")) as f:
            assert all(line.split()[2] == "ASIA" for line in f), "execution-role session credentials"
        # The program's environment: its own AWS settings, PATH and what pass_env
        # names; not the server's variables (the dev root credential among them).
        with open(os.path.join(workdir, "rotator.log.env")) as f:
            seen = set(f.read().split())
        assert "ROTATOR_LOG" in seen and "AWS_SESSION_TOKEN" in seen, seen
        leaked = {v for v in seen if v == "LEAK_CANARY" or v.startswith("COFFER_")}
        assert not leaked, f"the server's environment reached the function: {leaked}"
        assert sm.get_secret_value(SecretId="ext/app")["SecretString"] == "v0+"

        # testSecret fails once: AWSCURRENT stays, the pending version waits.
        open(os.path.join(workdir, "fail.testSecret"), "w").close()
        t2 = "22222222-2222-4222-8222-222222222222"
        sm.rotate_secret(SecretId="ext/app", ClientRequestToken=t2)
        wait_failed_at(server, "ext/app", "testSecret")
        assert steps(workdir, t2) == ["createSecret", "setSecret", "testSecret"]
        cur, stages = current(sm, "ext/app")
        assert cur == t1 and stages[t2] == ["AWSPENDING"]
        assert sm.get_secret_value(SecretId="ext/app")["SecretString"] == "v0+"
        # The next attempt is refused as AWS does, and resumes the same token.
        with pytest.raises(ClientError) as e:
            sm.rotate_secret(SecretId="ext/app", ClientRequestToken="33333333-3333-4333-8333-333333333333")
        assert e.value.response["Error"]["Message"] == \
            "A previous rotation isn't complete. That rotation will be reattempted."
        wait_current(sm, "ext/app", t2)
        assert steps(workdir, t2).count("createSecret") == 2

        # The server dies in finishSecret; the restart completes the rotation.
        open(os.path.join(workdir, "crash"), "w").close()
        t4 = "44444444-4444-4444-8444-444444444444"
        sm.rotate_secret(SecretId="ext/app", ClientRequestToken=t4)
        server.proc.wait(timeout=30)
        server.log.close()
    finally:
        if server.proc.poll() is None:
            server.stop()
    server = start(workdir)
    try:
        sm, _ = clients(server)
        wait_current(sm, "ext/app", t4)
        assert steps(workdir, t4).count("finishSecret") == 2
        _, stages = current(sm, "ext/app")
        assert stages[t4] == ["AWSCURRENT"] and stages[t2] == ["AWSPREVIOUS"]
        assert sm.get_secret_value(SecretId="ext/app")["SecretString"] == "v0+++"
        d = sm.describe_secret(SecretId="ext/app")
        assert d["RotationEnabled"] and "NextRotationDate" in d and "LastRotatedDate" in d
    finally:
        assert server.stop() == 0


def test_function_behind_the_lambda_invoke_api(workdir):
    """The same rotator behind a Lambda-compatible endpoint, with credentials of its
    own (an IAM user), completing all four steps; a failed step is reported by the
    X-Amz-Function-Error header and leaves AWSCURRENT alone."""
    import subprocess

    lambda_env = os.path.join(workdir, "lambda-env.json")
    env = {**os.environ, "LAMBDA_ENV": lambda_env, "PYTHONPATH": HERE,
           "ROTATOR_LOG": os.path.join(workdir, "rotator.log"),
           "ROTATOR_FAIL": os.path.join(workdir, "fail")}
    lam = subprocess.Popen([sys.executable, os.path.join(HERE, "lambda_server.py")],
                           stdout=subprocess.PIPE, env=env, text=True)
    server = None
    try:
        port = int(lam.stdout.readline())
        cfg = os.path.join(workdir, "coffer.toml")
        with open(cfg, "w") as f:
            f.write(f'rotation_interval_secs = 1\n[rotation_functions.http-rotator]\nurl = "http://127.0.0.1:{port}"\n')
        server = Server(os.path.join(workdir, "data"), extra_args=["--config", cfg],
                        env={"COFFER_DEV_ACCESS_KEY_ID": AKID, "COFFER_DEV_SECRET_ACCESS_KEY": SECRET,
                             "COFFER_DEV_ACCOUNT_ID": ACCOUNT})
        sm, iam = clients(server)
        iam.create_user(UserName="lambda-fn")
        allow = {"Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="lambda-fn", PolicyName="rotate", PolicyDocument=json.dumps(allow))
        key = iam.create_access_key(UserName="lambda-fn")["AccessKey"]
        with open(lambda_env, "w") as f:
            json.dump({"AWS_ENDPOINT_URL": server.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                       "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}, f)
        sm.create_secret(Name="http/app", SecretString="h0")
        lambda_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:http-rotator"
        t1 = "55555555-5555-4555-8555-555555555555"
        sm.rotate_secret(SecretId="http/app", RotationLambdaARN=lambda_arn, ClientRequestToken=t1,
                         RotationRules={"ScheduleExpression": "rate(10 days)"})
        wait_current(sm, "http/app", t1)
        assert steps(workdir, t1) == ["createSecret", "setSecret", "testSecret", "finishSecret"]
        assert sm.get_secret_value(SecretId="http/app")["SecretString"] == "h0+"
        open(os.path.join(workdir, "fail.setSecret"), "w").close()
        t2 = "66666666-6666-4666-8666-666666666666"
        sm.rotate_secret(SecretId="http/app", ClientRequestToken=t2)
        wait_failed_at(server, "http/app", "setSecret")
        assert steps(workdir, t2) == ["createSecret", "setSecret"]
        assert current(sm, "http/app")[0] == t1, "a failed step leaves AWSCURRENT alone"
    finally:
        lam.kill()
        if server and server.proc.poll() is None:
            assert server.stop() == 0


def test_function_behind_an_https_endpoint_signed_with_sigv4(workdir):
    """The Invoke calls go over TLS (the endpoint's certificate checked against the
    function's CA file) and carry a SigV4 signature for `lambda` that the endpoint
    checks, as the real Invoke API does. A function whose secret key is wrong is
    refused by the endpoint, and one that does not trust the endpoint's CA never
    reaches it: their rotations fail at createSecret and the function never runs."""
    import subprocess

    dev = {"COFFER_DEV_ACCESS_KEY_ID": AKID, "COFFER_DEV_SECRET_ACCESS_KEY": SECRET,
           "COFFER_DEV_ACCOUNT_ID": ACCOUNT}
    maker = Server(os.path.join(workdir, "tls"), extra_args=["--dev-tls"], env=dev)
    assert maker.stop() == 0
    certs = os.path.join(workdir, "tls", "dev-tls")
    lambda_env = os.path.join(workdir, "lambda-env.json")
    sig_log = os.path.join(workdir, "sigv4.log")
    env = {**os.environ, "LAMBDA_ENV": lambda_env, "PYTHONPATH": HERE,
           "ROTATOR_LOG": os.path.join(workdir, "rotator.log"),
           "ROTATOR_FAIL": os.path.join(workdir, "fail"),
           "LAMBDA_TLS_CERT": os.path.join(certs, "server.pem"),
           "LAMBDA_TLS_KEY": os.path.join(certs, "server.key"),
           "LAMBDA_SIGV4": "AKIAINVOKER000000001:invoker-secret", "LAMBDA_SIGV4_LOG": sig_log}
    lam = subprocess.Popen([sys.executable, os.path.join(HERE, "lambda_server.py")],
                           stdout=subprocess.PIPE, env=env, text=True)
    server = None
    try:
        port = int(lam.stdout.readline())
        cfg = os.path.join(workdir, "coffer.toml")
        with open(cfg, "w") as f:
            f.write("rotation_interval_secs = 1\n")
            for name, secret_var, ca in [("tls-rotator", "INVOKE_SECRET", True),
                                         ("forged", "WRONG_SECRET", True),
                                         ("untrusting", "INVOKE_SECRET", False)]:
                f.write(f'[rotation_functions.{name}]\nurl = "https://127.0.0.1:{port}"\n'
                        f'access_key_id = "AKIAINVOKER000000001"\nsecret_access_key_env = "{secret_var}"\n')
                if ca:
                    f.write(f'ca_file = "{os.path.join(certs, "ca.pem")}"\n')
        server = Server(os.path.join(workdir, "data"), extra_args=["--config", cfg],
                        env={**dev, "INVOKE_SECRET": "invoker-secret", "WRONG_SECRET": "not-it"})
        sm, iam = clients(server)
        iam.create_user(UserName="lambda-fn")
        allow = {"Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="lambda-fn", PolicyName="rotate", PolicyDocument=json.dumps(allow))
        key = iam.create_access_key(UserName="lambda-fn")["AccessKey"]
        with open(lambda_env, "w") as f:
            json.dump({"AWS_ENDPOINT_URL": server.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                       "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}, f)
        fn = lambda name: f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"

        sm.create_secret(Name="tls/app", SecretString="t0")
        t1 = "77777777-7777-4777-8777-777777777777"
        sm.rotate_secret(SecretId="tls/app", RotationLambdaARN=fn("tls-rotator"), ClientRequestToken=t1)
        wait_current(sm, "tls/app", t1)
        assert steps(workdir, t1) == ["createSecret", "setSecret", "testSecret", "finishSecret"]
        assert sm.get_secret_value(SecretId="tls/app")["SecretString"] == "t0+"
        with open(sig_log) as f:
            assert f.read().split() == ["verified"] * 4, "each step's call was signed and checked"

        for name, token, why in [("forged", "88888888-8888-4888-8888-888888888888", "answered 403"),
                                 ("untrusting", "99999999-9999-4999-8999-999999999999", "TLS")]:
            sm.create_secret(Name=f"{name}/app", SecretString="x")
            sm.rotate_secret(SecretId=f"{name}/app", RotationLambdaARN=fn(name), ClientRequestToken=token)
            wait_failed_at(server, f"{name}/app", "createSecret")
            _, body = raw_call(server.endpoint, "DescribeSecret", {"SecretId": f"{name}/app"})
            assert why in body["CofferRotationFailure"]["Message"], body
            assert steps(workdir, token) == [], f"{name}: the function never ran"
            assert current(sm, f"{name}/app")[0] != token
        with open(sig_log) as f:
            assert len(f.read().split()) == 4, "no refused call was counted as checked"
    finally:
        lam.kill()
        if server and server.proc.poll() is None:
            assert server.stop() == 0


def test_rotating_a_json_secret_keeps_its_keys_in_order(server, sm):
    # Applications and diffs read these documents; rotation changes the password only.
    value = '{"username": "app", "password": "old", "host": "db", "port": 5432, "engine": "postgres"}'
    sm.create_secret(Name="json/db", SecretString=value)
    out = sm.rotate_secret(SecretId="json/db", RotationLambdaARN=(
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:coffer-random-password"),
        RotateImmediately=True)
    wait_current(sm, "json/db", out["VersionId"])
    rotated = json.loads(sm.get_secret_value(SecretId="json/db")["SecretString"])
    assert list(rotated) == ["username", "password", "host", "port", "engine"]
    assert rotated["password"] != "old" and rotated["port"] == 5432
