"""The plain aws CLI, as the README's quick start uses it, and the binary's modes."""

import json
import os
import hashlib
import signal
import socket
import stat
import subprocess

import boto3
import botocore.exceptions
from botocore.config import Config

from conftest import BIN, Server, answers_health, signed_request, wait_until


def aws(server, *args, check=True):
    p = subprocess.run(["aws", "secretsmanager", *args, "--output", "json"], env=server.cli_env(), capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_quick_start(server):
    out = json.loads(aws(server, "create-secret", "--name", "demo/db", "--secret-string", '{"password":"s3cr3t"}').stdout)
    assert out["Name"] == "demo/db"
    got = json.loads(aws(server, "get-secret-value", "--secret-id", "demo/db").stdout)
    assert json.loads(got["SecretString"]) == {"password": "s3cr3t"}
    aws(server, "put-secret-value", "--secret-id", "demo/db", "--secret-string", "v2")
    listed = json.loads(aws(server, "list-secrets").stdout)
    assert [s["Name"] for s in listed["SecretList"]] == ["demo/db"]
    versions = json.loads(aws(server, "list-secret-version-ids", "--secret-id", "demo/db").stdout)
    assert len(versions["Versions"]) == 2
    aws(server, "delete-secret", "--secret-id", "demo/db", "--force-delete-without-recovery")
    p = aws(server, "describe-secret", "--secret-id", "demo/db", check=False)
    assert p.returncode != 0 and "ResourceNotFoundException" in p.stderr


def test_cli_error_message(server):
    p = aws(server, "get-secret-value", "--secret-id", "missing", check=False)
    assert p.returncode != 0
    assert "ResourceNotFoundException" in p.stderr and "can't find the specified secret" in p.stderr


def test_dev_credentials_survive_restart(workdir):
    data = os.path.join(workdir, "data")
    first = Server(data)
    first.client().create_secret(Name="persist", SecretString="v")
    assert first.stop() == 0
    second = Server(data)
    try:
        assert second.exports["AWS_ACCESS_KEY_ID"] == first.exports["AWS_ACCESS_KEY_ID"]
        assert second.exports["AWS_SECRET_ACCESS_KEY"] == first.exports["AWS_SECRET_ACCESS_KEY"]
        assert second.client().get_secret_value(SecretId="persist")["SecretString"] == "v"
    finally:
        assert second.stop() == 0


def read_head(f):
    """Reads one response head from the file `f`: (status, {lower-cased name: value})."""
    status_line = f.readline()
    assert status_line, "the connection closed before an answer"
    status = int(status_line.split()[1])
    headers = {}
    while (line := f.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def refuses_connections(host, port):
    """True once nothing listens on the port any more."""
    try:
        socket.create_connection((host, port), timeout=5).close()
        return False
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # queued as the listener closed; the next try is refused
        return False


def test_sigterm_drains_in_flight_requests(server):
    """A request in flight when SIGTERM arrives gets its complete answer, new
    connections are refused from the moment shutdown begins, and the process exits 0.

    The request is held in flight deterministically: its headers go first with
    `Expect: 100-continue`, and the server's `100 Continue` proves it has parsed them
    and its handler is reading the body; the body is sent only once the signal has
    been delivered and the listener is seen closed."""
    sm = server.client()
    sm.create_secret(Name="drain", SecretString="drained-value")
    host_port = server.endpoint.removeprefix("http://")
    host, port = host_port.rsplit(":", 1)
    port = int(port)
    headers, body = signed_request(server.endpoint, "GetSecretValue", {"SecretId": "drain"},
                                   server.exports["AWS_ACCESS_KEY_ID"],
                                   server.exports["AWS_SECRET_ACCESS_KEY"],
                                   server.exports["AWS_REGION"])
    headers = {k: v for k, v in headers.items() if k.lower() != "host"}
    head = f"POST / HTTP/1.1\r\nHost: {host_port}\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"

    conn = socket.create_connection((host, port), timeout=30)
    replies = conn.makefile("rb")
    conn.sendall(head.encode())
    status, _ = read_head(replies)
    assert status == 100, f"the server asks for the body once the request is in its handler, got {status}"

    server.proc.send_signal(signal.SIGTERM)
    wait_until("the listener closes after SIGTERM", lambda: refuses_connections(host, port))
    assert server.proc.poll() is None, "the server waits for the request in flight"
    try:
        server.client().list_secrets()
        raise AssertionError("a new request after shutdown began must be refused")
    except botocore.exceptions.EndpointConnectionError:
        pass

    conn.sendall(body)
    status, resp_headers = read_head(replies)
    payload = replies.read(int(resp_headers["content-length"]))
    assert status == 200, payload
    got = json.loads(payload)
    assert (got["Name"], got["SecretString"]) == ("drain", "drained-value"), got
    assert got["VersionStages"] == ["AWSCURRENT"], got
    # Draining, the server closes the connection after the answer instead of keeping it alive.
    assert resp_headers.get("connection", "").lower() == "close", resp_headers
    assert replies.read(1) == b"", "the connection is closed after the answer"
    conn.close()

    assert server.proc.wait(timeout=30) == 0, "graceful shutdown exits 0"
    with open(server.log_path) as f:
        log = f.read()
    assert "stopped cleanly" in log
    assert "drain timeout reached" not in log, "the drain ended with the request, not on the timeout"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def serving(proc, endpoint):
    """True once `proc` answers at `endpoint`; fails at once if it has exited."""
    assert proc.poll() is None, f"the server exited with status {proc.returncode}"
    return answers_health(endpoint)


def test_normal_mode_with_config_file(workdir):
    data = os.path.join(workdir, "prod-data")
    port = free_port()
    cfg = os.path.join(workdir, "coffer.toml")
    with open(cfg, "w") as f:
        f.write(f'listen = "127.0.0.1:{port}"\ndata_dir = "{data}"\nregions = ["eu-central-1"]\naccount_id = "111122223333"\nlog_format = "json"\n')
    log = open(os.path.join(workdir, "normal.log"), "wb")
    # COFFER_* variables override the file.
    env = {**os.environ, "COFFER_LOG_LEVEL": "debug"}
    proc = subprocess.Popen([BIN, "server", "--config", cfg], stdout=subprocess.PIPE, stderr=log, env=env)
    try:
        cred_file = os.path.join(data, "root-credentials")
        endpoint = f"http://127.0.0.1:{port}"
        # The credential is written before the listener opens: once the server
        # answers, the file is complete.
        wait_until(f"the server answers on {endpoint}", lambda: serving(proc, endpoint))
        assert stat.S_IMODE(os.stat(cred_file).st_mode) == 0o600
        creds = dict(line.split(" ", 1)[1].strip().split("=", 1) for line in open(cred_file) if line.startswith("export "))
        assert creds["COFFER_ACCOUNT_ID"] == "111122223333"

        def client(region):
            return boto3.client(
                "secretsmanager",
                endpoint_url=f"http://127.0.0.1:{port}",
                region_name=region,
                aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                config=Config(retries={"max_attempts": 1}),
            )

        arn = client("eu-central-1").create_secret(Name="normal", SecretString="v")["ARN"]
        assert ":eu-central-1:111122223333:" in arn
        try:
            client("us-east-1").list_secrets()
            raise AssertionError("a region not configured must be refused")
        except Exception as e:  # botocore.exceptions.ClientError
            assert "InvalidSignatureException" in str(e)
        key_file = os.path.join(data, "root.key")
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log.close()
    # The root credential is never logged.
    with open(os.path.join(workdir, "normal.log")) as f:
        text = f.read()
    assert creds["AWS_SECRET_ACCESS_KEY"] not in text
    json.loads(text.splitlines()[0])  # JSON logs in normal mode

    # The operator files the credential away; a restart must not mint a new one.
    os.remove(cred_file)
    proc = subprocess.Popen([BIN, "server", "--config", cfg], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        # Start-up decides about the credential before it opens the listener: once
        # the restarted server answers, a new file would already be there.
        wait_until("the restarted server answers", lambda: serving(proc, endpoint))
        assert not os.path.exists(cred_file)
        assert client("eu-central-1").get_secret_value(SecretId="normal")["SecretString"] == "v"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_audit_verify_command(workdir):
    data = os.path.join(workdir, "data")
    s = Server(data)
    c = s.client()
    c.create_secret(Name="a", SecretString="v")
    c.get_secret_value(SecretId="a")
    assert s.stop() == 0
    out = subprocess.run([BIN, "audit", "verify", "--data-dir", data], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "hash chain intact" in out.stdout
    assert "warning" not in out.stderr, "every link is keyed"

    # Another root key did not write these chains: it is refused before any
    # chain is read (the store records its root key's fingerprint).
    other = subprocess.run(
        [BIN, "audit", "verify", "--data-dir", data, "--root-key", "env"],
        capture_output=True, text=True, env={**os.environ, "COFFER_ROOT_KEY": "ab" * 32},
    )
    assert other.returncode != 0 and "different root key" in other.stderr, other.stderr

    # Whoever can write the file but lacks the root key rewrites a record and
    # re-chains it with plain SHA-256: the keyed chain does not accept it.
    log = os.path.join(data, "audit.log")
    raw = [l.rstrip("\n") for l in open(log) if l.strip()]
    lines = [json.loads(l) for l in raw]
    # The forger serialises exactly as the server does (else the test proves nothing).
    assert raw[-1].split('"record":', 1)[1][:-1] == json.dumps(lines[-1]["record"], separators=(",", ":"))
    lines[-1]["record"]["sourceIPAddress"] = "203.0.113.9"
    prev = lines[0]["prev"] if len(lines) == 1 else lines[-2]["hash"]
    body = json.dumps(lines[-1]["record"], separators=(",", ":"))
    lines[-1]["hash"] = hashlib.sha256((prev + "\n" + body).encode()).hexdigest()
    with open(log, "w") as f:
        for l in lines:
            f.write(json.dumps({"prev": l["prev"], "hash": l["hash"], "record": l["record"]}, separators=(",", ":")) + "\n")
    forged = subprocess.run([BIN, "audit", "verify", "--data-dir", data], capture_output=True, text=True)
    assert forged.returncode != 0 and "hash chain broken" in forged.stderr, forged.stderr
    # Only an explicit --allow-unkeyed (chains from before keys) takes an unkeyed
    # head, and then says so.
    # (The file holds the one read, so the forged chain is all unkeyed.)
    assert len(lines) == 1, lines
    legacy = subprocess.run([BIN, "audit", "verify", "--data-dir", data, "--allow-unkeyed"],
                            capture_output=True, text=True)
    assert legacy.returncode == 0 and "without a key" in legacy.stderr, legacy.stderr


def test_audit_verify_detects_a_cut_file(workdir):
    """A keyed chain cannot show that its newest lines were cut off; the file's
    signed head, kept in the store, names its last line on disk, so verify
    refuses a file that lost it."""
    data = os.path.join(workdir, "data")
    s = Server(data)
    c = s.client()
    c.create_secret(Name="a", SecretString="v")
    c.create_secret(Name="b", SecretString="v")
    for _ in range(3):
        c.get_secret_value(SecretId="a")
    assert s.stop() == 0
    ok = subprocess.run([BIN, "audit", "verify", "--data-dir", data], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "holds the line its signed head names" in ok.stdout
    assert "holds the record its signed head names" in ok.stdout
    log = os.path.join(data, "audit.log")
    with open(log) as f:
        lines = f.readlines()
    assert len(lines) >= 3, lines
    with open(log, "w") as f:
        f.writelines(lines[:-2])
    cut = subprocess.run([BIN, "audit", "verify", "--data-dir", data], capture_output=True, text=True)
    assert cut.returncode != 0 and "was cut" in cut.stderr, (cut.stdout, cut.stderr)
    # Put back whole, it verifies again.
    with open(log, "w") as f:
        f.writelines(lines)
    again = subprocess.run([BIN, "audit", "verify", "--data-dir", data], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr

    # The store's newest mutation record deleted (its chain still links up): the
    # head kept beside the audit file names it.
    import sqlite3
    db = sqlite3.connect(os.path.join(data, "coffer.db"))
    db.execute("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
    db.commit()
    db.close()
    cut = subprocess.run([BIN, "audit", "verify", "--data-dir", data], capture_output=True, text=True)
    assert cut.returncode != 0 and "was cut" in cut.stderr, (cut.stdout, cut.stderr)


def test_help_explains():
    out = subprocess.run([BIN, "server", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for flag in ["--dev", "--listen", "--data-dir", "--config", "--dev-access-key-id", "COFFER_DEV_ACCOUNT_ID"]:
        assert flag in out.stdout, flag


def test_metrics_and_health(server, sm):
    import urllib.request

    sm.create_secret(Name="m", SecretString="v")
    sm.get_secret_value(SecretId="m")
    with urllib.request.urlopen(server.endpoint + "/metrics") as r:
        text = r.read().decode()
    assert 'coffer_requests_total{operation="GetSecretValue",status="200",code="OK"}' in text
    assert "coffer_request_duration_seconds" in text
    with urllib.request.urlopen(server.endpoint + "/health") as r:
        assert r.status == 200


def test_not_yet_implemented_operations_say_so(server):
    """Every Secrets Manager operation is served; of IAM, only what Coffer's
    model serves, and the rest says so."""
    from botocore.exceptions import ClientError
    from test_access import client

    try:
        client(server, "iam").list_saml_providers()
        raise AssertionError("ListSAMLProviders is not implemented yet")
    except ClientError as e:
        assert "not implemented" in e.response["Error"]["Message"]


def test_root_key_from_environment(workdir):
    key = "11" * 32
    data = os.path.join(workdir, "envkey")
    s = Server(data, extra_args=["--root-key", "env"], env={"COFFER_ROOT_KEY": key})
    s.client().create_secret(Name="k", SecretString="v")
    assert s.stop() == 0
    assert not os.path.exists(os.path.join(data, "root.key"))
    # Another key cannot open what this one sealed: the server refuses to start.
    p = subprocess.run(
        [BIN, "server", "--dev", "--listen", "127.0.0.1:0", "--data-dir", data, "--root-key", "env"],
        env={**os.environ, "COFFER_ROOT_KEY": "22" * 32},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode != 0
    assert "AWS_ENDPOINT_URL" not in p.stdout
    # The right key still works.
    again = Server(data, extra_args=["--root-key", "env"], env={"COFFER_ROOT_KEY": key})
    assert again.client().get_secret_value(SecretId="k")["SecretString"] == "v"
    assert again.stop() == 0


def test_shell_completions_load_in_bash_and_name_the_subcommands(workdir):
    for shell, marker in [("bash", "complete -F"), ("zsh", "#compdef coffer"), ("fish", "complete -c coffer")]:
        out = subprocess.run([BIN, "completions", shell], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert marker in out.stdout, shell
        assert "server" in out.stdout and "agent" in out.stdout
    script = os.path.join(workdir, "coffer.bash")
    with open(script, "w") as f:
        f.write(subprocess.run([BIN, "completions", "bash"], capture_output=True, text=True).stdout)
    # Bash sources it and completes `coffer ke` to `key`.
    probe = f"""source {script}
COMP_WORDS=(coffer ke); COMP_CWORD=1; COMP_LINE="coffer ke"; COMP_POINT=${{#COMP_LINE}}
_coffer coffer ke coffer; printf '%s\\n' "${{COMPREPLY[@]}}" """
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "key" in out.stdout.split(), out.stdout
    bad = subprocess.run([BIN, "completions", "tcsh"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "possible values" in bad.stderr
