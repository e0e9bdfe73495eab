"""The `coffer agent` binary in front of a real coffer server, configured only
through the standard AWS environment (AWS_ENDPOINT_URL and friends) and a config
file in the AWS agent's flat format; over plain HTTP and over HTTPS
(`--dev-tls`, the CA from AWS_CA_BUNDLE or `[coffer] ca_bundle`)."""

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request

from conftest import BIN, wait_until


def http(port, path, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        req.add_header("X-Aws-Parameters-Secrets-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def start_agent(server, workdir, config_text, token="e2e-ssrf-token", env=None, name="agent"):
    """Starts the agent binary with the server's export lines (or `env`) for its
    environment; its config and log are NAME.toml and NAME.log in `workdir`."""
    cfg = os.path.join(workdir, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(config_text)
    env = dict(env if env is not None else server.cli_env())
    env["AWS_TOKEN"] = token
    proc = subprocess.Popen(
        [BIN, "agent", "--config", cfg, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=open(os.path.join(workdir, f"{name}.log"), "wb"),
        env=env,
        text=True,
    )
    line = proc.stdout.readline()
    assert "listening on http://127.0.0.1:" in line, line
    return proc, int(line.rsplit(":", 1)[1])


def test_agent_binary_drop_in(server, sm, workdir):
    sm.create_secret(Name="agent/db", SecretString='{"password":"pw"}')
    proc, port = start_agent(server, workdir, 'ttl_seconds = "60"\ncache_size = "100"\nmax_conn = "50"\n')
    try:
        assert http(port, "/ping") == (200, "healthy")
        status, body = http(port, "/secretsmanager/get?secretId=agent/db", "e2e-ssrf-token")
        assert status == 200, body
        assert json.loads(body)["SecretString"] == '{"password":"pw"}'
        assert http(port, "/v1/agent/db", "wrong")[0] == 403
        status, body = http(port, "/v1/nope", "e2e-ssrf-token")
        assert status == 400 and json.loads(body)["__type"] == "ResourceNotFoundException"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_agent_refuses_bad_config_and_bad_credentials(server, workdir):
    cfg = os.path.join(workdir, "bad.toml")
    with open(cfg, "w") as f:
        f.write("ttl_seconds = 99999\n")
    p = subprocess.run([BIN, "agent", "--config", cfg], env={**server.cli_env(), "AWS_TOKEN": "t"}, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "ttl_seconds" in p.stderr
    # No SSRF token in the environment: refuse to start.
    env = {k: v for k, v in server.cli_env().items() if k not in ("AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN")}
    p = subprocess.run([BIN, "agent", "--port", "0"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "SSRF token" in p.stderr
    # Credentials the server does not know: validate_credentials stops the start.
    env = {**server.cli_env(), "AWS_TOKEN": "t", "AWS_SECRET_ACCESS_KEY": "wrong"}
    p = subprocess.run([BIN, "agent", "--port", "0"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "InvalidSignatureException" in p.stderr


def test_agent_binary_assumes_a_role(server, sm, workdir):
    """The agent binary, on the account root's credentials, reads a secret through
    an IAM role assumed from the server's STS (per request, with roleArn)."""
    import boto3
    from conftest import ACCOUNT

    sm.create_secret(Name="roles/db", SecretString="via-role")
    sm.create_secret(Name="other/db", SecretString="not-for-the-role")
    iam = boto3.client(
        "iam", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id=server.exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=server.exports["AWS_SECRET_ACCESS_KEY"],
    )
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                            "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName="AgentReader", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {"Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                             "Resource": "arn:aws:secretsmanager:*:*:secret:roles/*"}]}
    iam.put_role_policy(RoleName="AgentReader", PolicyName="read", PolicyDocument=json.dumps(policy))
    proc, port = start_agent(server, workdir, "max_roles = 3\n")
    try:
        status, body = http(port, f"/secretsmanager/get?secretId=roles/db&roleArn={arn}", "e2e-ssrf-token")
        assert status == 200, body
        assert json.loads(body)["SecretString"] == "via-role"
        status, body = http(port, f"/secretsmanager/get?secretId=other/db&roleArn={arn}", "e2e-ssrf-token")
        assert status == 400 and json.loads(body)["__type"] == "AccessDeniedException", body
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def stop_agent(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_agent_binary_over_https(workdir, monkeypatch):
    """`coffer server --dev --dev-tls`, then the agent binary with the exports:
    AWS_CA_BUNDLE makes it trust the dev CA for its reads and for the change
    stream (a change arrives long before the hour-long TTL); `[coffer] ca_bundle`
    does the same without the variable; with neither it refuses to start."""
    from test_tls import boto3_from_env, dev_tls_server

    server = dev_tls_server(os.path.join(workdir, "data"))
    try:
        assert server.endpoint.startswith("https://"), server.endpoint
        bundle = server.exports["AWS_CA_BUNDLE"]
        sm = boto3_from_env(server, monkeypatch)
        sm.create_secret(Name="agent/tls", SecretString="v1")

        proc, port = start_agent(server, workdir, 'ttl_seconds = "3600"\n')
        try:
            status, body = http(port, "/v1/agent/tls", "e2e-ssrf-token")
            assert status == 200, body
            assert json.loads(body)["SecretString"] == "v1"
            sm.put_secret_value(SecretId="agent/tls", SecretString="v2")
            wait_until("the change is pushed to the agent over https",
                       lambda: json.loads(http(port, "/v1/agent/tls", "e2e-ssrf-token")[1]).get("SecretString") == "v2")
        finally:
            stop_agent(proc)

        without = {k: v for k, v in server.cli_env().items() if k != "AWS_CA_BUNDLE"}
        proc, port = start_agent(server, workdir, f'[coffer]\nca_bundle = "{bundle}"\n', env=without, name="agent-config")
        try:
            status, body = http(port, "/v1/agent/tls", "e2e-ssrf-token")
            assert status == 200 and json.loads(body)["SecretString"] == "v2", body
        finally:
            stop_agent(proc)

        # Without the CA the server's certificate is not trusted: the credential
        # check at start cannot reach it, and says why.
        p = subprocess.run([BIN, "agent", "--port", "0"], env={**without, "AWS_TOKEN": "t"},
                           capture_output=True, text=True, timeout=60)
        assert p.returncode != 0, p.stderr
        assert "certificate" in p.stderr and "UnknownIssuer" in p.stderr, p.stderr
    finally:
        assert server.stop() == 0


def test_agent_answers_one_key_of_a_json_secret(server, sm, workdir):
    sm.create_secret(Name="agent/json", SecretString='{"user":"svc","port":5432}')
    sm.create_secret(Name="agent/plain", SecretString="not json")
    proc, port = start_agent(server, workdir, 'ttl_seconds = "60"\n')
    try:
        assert http(port, "/secretsmanager/get?secretId=agent/json&jsonKey=user", "e2e-ssrf-token") == (200, "svc")
        assert http(port, "/v1/agent/json?jsonKey=port", "e2e-ssrf-token") == (200, "5432")
        status, body = http(port, "/v1/agent/json?jsonKey=nope", "e2e-ssrf-token")
        assert status == 404 and "nope" in body
        assert http(port, "/v1/agent/plain?jsonKey=user", "e2e-ssrf-token")[0] == 400
        assert http(port, "/v1/agent/json?jsonKey=user", "wrong")[0] == 403
    finally:
        stop_agent(proc)


CHILD = """
import os, signal, sys, time
print(os.environ.get("DB_PASSWORD"), os.environ.get("DB_USER"), os.environ.get("API_TOKEN"), flush=True)
signal.signal(signal.SIGTERM, lambda *a: (print("got TERM", flush=True), sys.exit(7)))
time.sleep(float(sys.argv[1]))
"""


def test_agent_exec_puts_secrets_in_the_environment_and_restarts_on_change(server, sm, workdir):
    sm.create_secret(Name="exec/db", SecretString='{"username":"svc","password":"pw-1"}')
    sm.create_secret(Name="exec/api", SecretString='{"API_TOKEN":"tok"}')
    child = os.path.join(workdir, "child.py")
    with open(child, "w") as f:
        f.write(CHILD)
    env = server.cli_env()
    out = subprocess.run([BIN, "agent", "exec", "--env", "DB_PASSWORD=exec/db#password",
                          "--env", "DB_USER=exec/db#username", "--env-from", "exec/api",
                          "--", "python3", child, "0"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["pw-1", "svc", "tok"]
    assert "pw-1" not in out.stderr

    # A rotated password restarts the program with the new value, whether the
    # change is pushed (--watch) or polled; SIGTERM to the agent reaches the
    # program, whose status the agent exits with.
    for n, follow in enumerate([["--watch"], ["--refresh-secs", "1"]]):
        log = os.path.join(workdir, f"exec-{n}.out")
        before, after = f"pw-{2 * n + 1}", f"pw-{2 * n + 2}"
        sm.put_secret_value(SecretId="exec/db", SecretString=json.dumps({"username": "svc", "password": before}))
        proc = subprocess.Popen([BIN, "agent", "exec", *follow, "--env", "DB_PASSWORD=exec/db#password",
                                 "--", "python3", child, "60"], env=env, stdout=open(log, "w"),
                                stderr=subprocess.PIPE, text=True)
        wait_until("the program started", lambda: before in open(log).read())
        sm.put_secret_value(SecretId="exec/db", SecretString=json.dumps({"username": "svc", "password": after}))
        wait_until("the program restarted with the new value", lambda: after in open(log).read())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 7
        assert open(log).read().split("\n")[:3] == [f"{before} None None", "got TERM", f"{after} None None"]

    bad = subprocess.run([BIN, "agent", "exec", "--env", "X=exec/missing", "--", "true"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "exec/missing" in bad.stderr


def test_agent_renders_certificates_as_the_acm_capability_does(server, sm, workdir):
    """A Workload Credentials Provider config with [capabilities.acm]: the
    certificate (a Coffer secret in ExportCertificate's JSON) is written with its
    chain appended, the key with its own mode, and the refresh command runs once
    when they change. [logging] log_to_file and [coffer] http_address are obeyed."""
    cert = {"Certificate": "-----BEGIN CERTIFICATE-----\nLEAF1\n-----END CERTIFICATE-----",
            "CertificateChain": "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
            "PrivateKey": "-----BEGIN PRIVATE KEY-----\nKEY1\n-----END PRIVATE KEY-----\n"}
    sm.create_secret(Name="tls/web", SecretString=json.dumps(cert))
    d = os.path.realpath(workdir)
    marker = os.path.join(d, "reloaded")
    cfg = f"""[logging]
log_to_file = true
[capabilities.secrets_manager.cache]
ttl_seconds = 300
[capabilities.acm]
enabled = true
[[capabilities.acm.certificates]]
secret_id = "tls/web"
certificate_path = "{d}/web.crt"
private_key_path = "{d}/web.key"
refresh_command = "/usr/bin/touch {marker}"
key_permission = {{ mode = "0640" }}
[coffer]
http_address = "0.0.0.0"
"""
    path = os.path.join(workdir, "wcp.toml")
    with open(path, "w") as f:
        f.write(cfg)
    env = dict(server.cli_env(), AWS_TOKEN="e2e-ssrf-token")
    proc = subprocess.Popen([BIN, "agent", "--config", path, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True, cwd=workdir)
    try:
        line = proc.stdout.readline()
        assert "listening on http://0.0.0.0:" in line, line
        port = int(line.rsplit(":", 1)[1])
        assert http(port, "/v1/tls/web?jsonKey=Certificate", "e2e-ssrf-token")[0] == 200
        wait_until("the certificate is rendered", lambda: os.path.exists(f"{d}/web.key"))
        wait_until("the chain follows the certificate",
                   lambda: open(f"{d}/web.crt").read() == cert["Certificate"] + "\n" + cert["CertificateChain"])
        assert open(f"{d}/web.key").read() == cert["PrivateKey"]
        assert oct(os.stat(f"{d}/web.key").st_mode & 0o777) == "0o640"
        assert oct(os.stat(f"{d}/web.crt").st_mode & 0o777) == "0o600"
        assert not os.path.exists(marker), "nothing to reload on the first render"
        renewed = dict(cert, Certificate=cert["Certificate"].replace("LEAF1", "LEAF2"),
                       PrivateKey=cert["PrivateKey"].replace("KEY1", "KEY2"))
        sm.put_secret_value(SecretId="tls/web", SecretString=json.dumps(renewed))
        wait_until("the renewed certificate is rendered", lambda: "KEY2" in open(f"{d}/web.key").read())
        wait_until("the refresh command ran", lambda: os.path.exists(marker))
        assert "LEAF2" in open(f"{d}/web.crt").read()
        log = os.path.join(workdir, "logs", "secrets_manager_agent.log")
        assert os.path.exists(log) and "secret file written" in open(log).read()
        assert "KEY2" not in open(log).read()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0

    bad = os.path.join(workdir, "acm-arn.toml")
    with open(bad, "w") as f:
        f.write(cfg.replace('secret_id = "tls/web"', 'certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"\nrole_arn = "arn:aws:iam::123456789012:role/r"'))
    p = subprocess.run([BIN, "agent", "--config", bad], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "secret_id" in p.stderr


def test_agent_follows_a_credentials_file_whose_keys_are_rotated(server, sm, workdir):
    """`credentials_file_path`: the agent signs with the file's keys, and when
    another process rotates them (new key written, old key deleted) it goes on
    reading with the new ones, without a restart."""
    import boto3

    for name in ("creds/a", "creds/b"):
        sm.create_secret(Name=name, SecretString=f"value-of-{name}")
    iam = boto3.client(
        "iam", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id=server.exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=server.exports["AWS_SECRET_ACCESS_KEY"],
    )
    iam.create_user(UserName="agent-host")
    iam.put_user_policy(UserName="agent-host", PolicyName="read", PolicyDocument=json.dumps({
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                       "Resource": "*"}]}))
    path = os.path.join(workdir, "credentials")

    def write_keys(key):
        # As a credentials helper would: a new file renamed over the old one.
        with open(path + ".tmp", "w") as f:
            f.write(f"[default]\naws_access_key_id = {key['AccessKeyId']}\n"
                    f"aws_secret_access_key = {key['SecretAccessKey']}\n")
        os.replace(path + ".tmp", path)

    first = iam.create_access_key(UserName="agent-host")["AccessKey"]
    write_keys(first)
    env = {k: v for k, v in server.cli_env().items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
    env["AWS_CONFIG_FILE"] = "/dev/null"
    proc, port = start_agent(server, workdir, f'credentials_file_path = "{path}"\n', env=env)
    try:
        status, body = http(port, "/v1/creds/a", "e2e-ssrf-token")
        assert status == 200 and json.loads(body)["SecretString"] == "value-of-creds/a", body
        second = iam.create_access_key(UserName="agent-host")["AccessKey"]
        write_keys(second)
        iam.delete_access_key(UserName="agent-host", AccessKeyId=first["AccessKeyId"])
        # The SDK asks its provider again when its answer (30 s) runs out; the
        # provider then finds the file changed. creds/b is not cached, so it is
        # read upstream, signed with whatever keys the agent holds by then.
        wait_until("the agent reads with the rotated keys",
                   lambda: http(port, "/v1/creds/b", "e2e-ssrf-token")[0] == 200, timeout=90,
                   interval=1)
        log = open(os.path.join(workdir, "agent.log")).read()
        assert second["SecretAccessKey"] not in log and first["SecretAccessKey"] not in log
    finally:
        stop_agent(proc)
