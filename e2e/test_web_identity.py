"""Kubernetes workload identity: IAM OIDC providers and STS
AssumeRoleWithWebIdentity, driven as the AWS SDKs do it (AWS_WEB_IDENTITY_TOKEN_FILE
and AWS_ROLE_ARN, an unsigned STS call), with tokens signed by a test key (RS256)
the way a cluster signs its service account tokens."""

import base64
import hashlib
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

import boto3
import pytest
import rsa
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT, AKID, SECRET, Server
from test_tls import der_of, make_pair

ISSUER = "https://oidc.cluster.test/id/C0FFEE"
HOST = ISSUER.removeprefix("https://")
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
SA = "system:serviceaccount:payments:api"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n):
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Signer:
    """An issuer's RSA key: signs tokens and publishes its JWKS."""

    def __init__(self, kid):
        self.kid = kid
        self.public, self.private = rsa.newkeys(2048)

    def jwks(self):
        return {"keys": [{"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
                          "n": uint(self.public.n), "e": uint(self.public.e)}]}

    def token(self, iss=ISSUER, sub=SA, aud="sts.amazonaws.com", exp_in=3600, **extra):
        header = b64(json.dumps({"alg": "RS256", "kid": self.kid, "typ": "JWT"}).encode())
        now = int(time.time())
        claims = {"iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + exp_in, **extra}
        body = b64(json.dumps(claims).encode())
        sig = rsa.sign(f"{header}.{body}".encode(), self.private, "SHA-256")
        return f"{header}.{body}.{b64(sig)}"


@pytest.fixture(scope="module")
def signer():
    return Signer("key-1")


def admin(server, service):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=AKID, aws_secret_access_key=SECRET,
                        config=Config(retries={"max_attempts": 1}))


def unsigned_sts(server):
    return boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))


def start(workdir, jwks_files=None, ca_file=None):
    cfg = os.path.join(workdir, "coffer.toml")
    with open(cfg, "w") as f:
        if ca_file:
            f.write(f'oidc_ca_file = "{ca_file}"\n')
        f.write("[oidc_jwks_files]\n")
        for issuer, path in (jwks_files or {}).items():
            f.write(f'"{issuer}" = "{path}"\n')
    return Server(os.path.join(workdir, "data"), extra_args=["--config", cfg], env={
        "COFFER_DEV_ACCESS_KEY_ID": AKID, "COFFER_DEV_SECRET_ACCESS_KEY": SECRET,
        "COFFER_DEV_ACCOUNT_ID": ACCOUNT})


def start_with_jwks_file(workdir, signer):
    """A server that reads ISSUER's keys from a file (a private cluster's)."""
    jwks = os.path.join(workdir, "cluster.jwks")
    with open(jwks, "w") as f:
        json.dump(signer.jwks(), f)
    return start(workdir, {ISSUER: jwks})


def trust(provider_arn, host, sub=SA):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host}:sub": sub, f"{host}:aud": "sts.amazonaws.com"}}}]})


def role_reading(server, name, provider_arn, host, secret_arn):
    iam = admin(server, "iam")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(provider_arn, host))
    iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn}]}))
    return role["Role"]["Arn"]


SDK_READ = """
import boto3, sys
sm = boto3.client("secretsmanager", region_name="us-east-1")
print(sm.get_secret_value(SecretId=sys.argv[1])["SecretString"])
print(boto3.client("sts", region_name="us-east-1").get_caller_identity()["Arn"])
"""


def sdk_env(server, token_file, role_arn):
    """The environment an EKS pod's SDK sees: a token file and a role, no keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ENDPOINT_URL": server.endpoint, "AWS_WEB_IDENTITY_TOKEN_FILE": token_file,
                "AWS_ROLE_ARN": role_arn, "AWS_ROLE_SESSION_NAME": "pod-7f9c",
                "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    return env


def error(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e["Message"]


def test_a_service_account_token_reads_a_secret_through_the_sdk(workdir, signer):
    server = start_with_jwks_file(workdir, signer)
    try:
        iam = admin(server, "iam")
        created = iam.create_open_id_connect_provider(Url=ISSUER, ClientIDList=["sts.amazonaws.com"])
        assert created["OpenIDConnectProviderArn"] == PROVIDER_ARN
        got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER_ARN)
        assert got["Url"] == HOST and got["ClientIDList"] == ["sts.amazonaws.com"]
        assert got["ThumbprintList"] == [] and "CreateDate" in got
        listed = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        assert listed == [{"Arn": PROVIDER_ARN}]
        with pytest.raises(ClientError) as e:
            iam.create_open_id_connect_provider(Url=ISSUER, ClientIDList=["x"])
        assert error(e) == ("EntityAlreadyExists", f"Provider with url {ISSUER} already exists.")
        with pytest.raises(ClientError) as e:
            iam.create_open_id_connect_provider(Url="oidc.cluster.test", ClientIDList=["x"])
        assert error(e) == ("ValidationError", "Invalid Open ID Connect Provider URL")

        sm = admin(server, "secretsmanager")
        arn = sm.create_secret(Name="payments/db", SecretString="s3cr3t-db-password")["ARN"]
        role_arn = role_reading(server, "payments-api", PROVIDER_ARN, HOST, arn)

        token_file = os.path.join(workdir, "token")
        with open(token_file, "w") as f:
            f.write(signer.token())
        out = subprocess.run([sys.executable, "-c", SDK_READ, "payments/db"],
                             env=sdk_env(server, token_file, role_arn),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        value, who = out.stdout.split()
        assert value == "s3cr3t-db-password"
        assert who == f"arn:aws:sts::{ACCOUNT}:assumed-role/payments-api/pod-7f9c"

        # The same pod with a token for another audience, or an expired one: the
        # SDK's web-identity provider gets the refusal and reads nothing.
        for bad, code in [(signer.token(aud="someone-else"), "InvalidIdentityToken"),
                          (signer.token(exp_in=-400), "ExpiredTokenException")]:
            with open(token_file, "w") as f:
                f.write(bad)
            out = subprocess.run([sys.executable, "-c", SDK_READ, "payments/db"],
                                 env=sdk_env(server, token_file, role_arn),
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode != 0 and code in out.stderr, out.stderr
            assert "s3cr3t-db-password" not in out.stdout

        # The answer carries what AWS's does.
        sts = unsigned_sts(server)
        r = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="s1",
                                              WebIdentityToken=signer.token())
        assert r["SubjectFromWebIdentityToken"] == SA
        assert r["Provider"] == PROVIDER_ARN and r["Audience"] == "sts.amazonaws.com"
        assert r["AssumedRoleUser"]["Arn"].endswith(":assumed-role/payments-api/s1")
        assert r["Credentials"]["AccessKeyId"].startswith("ASIA")

        # The session is the role's: nothing beyond its policy.
        creds = r["Credentials"]
        as_role = boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name="us-east-1",
                               aws_access_key_id=creds["AccessKeyId"],
                               aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"])
        with pytest.raises(ClientError) as e:
            as_role.create_secret(Name="not-mine", SecretString="x")
        assert error(e)[0] == "AccessDeniedException"

        # Audited as the web identity, in the role's account, without the token.
        with open(os.path.join(workdir, "data", "audit.log")) as f:
            lines = [json.loads(l)["record"] for l in f if "AssumeRoleWithWebIdentity" in l]
        ok = [r for r in lines if "errorCode" not in r]
        assert ok and all(r["userIdentity"]["type"] == "WebIdentityUser" for r in ok)
        assert ok[0]["userIdentity"]["userName"] == SA
        assert ok[0]["userIdentity"]["identityProvider"] == PROVIDER_ARN
        assert ok[0]["recipientAccountId"] == ACCOUNT
        assert "webIdentityToken" not in json.dumps(lines)
        assert signer.token().split(".")[0] not in open(os.path.join(workdir, "data", "audit.log")).read()
    finally:
        assert server.stop() == 0


def test_tokens_are_verified_and_the_trust_policy_decides(workdir, signer):
    server = start_with_jwks_file(workdir, signer)
    try:
        admin(server, "iam").create_open_id_connect_provider(
            Url=ISSUER, ClientIDList=["sts.amazonaws.com"])
        arn = admin(server, "secretsmanager").create_secret(Name="t", SecretString="v")["ARN"]
        role_arn = role_reading(server, "api", PROVIDER_ARN, HOST, arn)
        sts = unsigned_sts(server)

        def assume(token, role=role_arn):
            with pytest.raises(ClientError) as e:
                sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1",
                                                  WebIdentityToken=token)
            return error(e)

        assert assume(signer.token(sub="system:serviceaccount:payments:other")) == (
            "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        assert assume(signer.token(aud="someone-else")) == (
            "InvalidIdentityToken", "Incorrect token audience")
        code, msg = assume(signer.token(exp_in=-400))
        assert code == "ExpiredTokenException" and msg.startswith("Token expired: current date/time")
        assert assume(Signer("key-1").token())[0] == "InvalidIdentityToken", "another key, same kid"
        assert assume(signer.token(iss="https://evil.example")) == (
            "InvalidIdentityToken", "No OpenIDConnect provider found in your account for https://evil.example")
        assert assume(signer.token(nbf=int(time.time()) + 3600))[0] == "InvalidIdentityToken"
        assert assume("not-a-jwt")[0] == "InvalidIdentityToken"
        header, body, sig = signer.token().split(".")
        none = b64(json.dumps({"alg": "none"}).encode())
        assert assume(f"{none}.{body}.")[0] == "InvalidIdentityToken", "alg none"
        assert assume(signer.token(), role=f"arn:aws:iam::{ACCOUNT}:role/nope")[0] == "AccessDenied"
        # A role trusting the account (AWS principals) is not a web identity's.
        iam = admin(server, "iam")
        iam.create_role(RoleName="account-trust", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"]}]}))
        assert assume(signer.token(), role=f"arn:aws:iam::{ACCOUNT}:role/account-trust")[0] == "AccessDenied"
        # Removing the audience from the provider refuses its tokens at once.
        iam.remove_client_id_from_open_id_connect_provider(
            OpenIDConnectProviderArn=PROVIDER_ARN, ClientID="sts.amazonaws.com")
        assert assume(signer.token())[1] == "Incorrect token audience"
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER_ARN)
        assert assume(signer.token())[1].startswith("No OpenIDConnect provider found")
        with pytest.raises(ClientError) as e:
            iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER_ARN)
        assert error(e) == ("NoSuchEntity", f"OpenId connect Provider {PROVIDER_ARN} cannot be found.")

        # Unsigned, nothing else is served.
        req = urllib.request.Request(server.endpoint + "/", method="POST",
                                     data=b"Action=GetCallerIdentity&Version=2011-06-15",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 403 and b"MissingAuthenticationToken" in e.value.read()
    finally:
        assert server.stop() == 0


class Issuer(http.server.BaseHTTPRequestHandler):
    """An OIDC issuer's discovery document and JWKS over HTTPS; counts fetches."""
    jwks = {}
    fetches = 0

    def do_GET(self):
        base = f"https://127.0.0.1:{self.server.server_address[1]}"
        if self.path == "/.well-known/openid-configuration":
            body = {"issuer": base, "jwks_uri": base + "/openid/v1/jwks"}
        elif self.path == "/openid/v1/jwks":
            type(self).fetches += 1
            body = type(self).jwks
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve_issuer(pair):
    """An HTTPS issuer on a free port with `pair`'s certificate: (httpd, URL)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Issuer)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pair["cert"], pair["key"])
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"https://127.0.0.1:{httpd.server_address[1]}"


def test_keys_are_fetched_from_the_issuer_and_followed_through_rotation(workdir, signer):
    pair = make_pair(workdir, "issuer-tls")
    httpd, issuer = serve_issuer(pair)
    host = issuer.removeprefix("https://")
    provider_arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"
    Issuer.jwks = signer.jwks()
    server = start(workdir, ca_file=pair["ca"])
    try:
        admin(server, "iam").create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"])
        arn = admin(server, "secretsmanager").create_secret(Name="f", SecretString="v")["ARN"]
        role_arn = role_reading(server, "fetcher", provider_arn, host, arn)
        sts = unsigned_sts(server)
        for _ in range(3):
            sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="s1",
                                              WebIdentityToken=signer.token(iss=issuer))
        assert Issuer.fetches == 1, "keys are kept between calls"
        # The issuer rotates its key: a token with the new kid fetches again.
        rotated = Signer("key-2")
        Issuer.jwks = rotated.jwks()
        time.sleep(10.5)
        sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="s1",
                                          WebIdentityToken=rotated.token(iss=issuer))
        assert Issuer.fetches == 2
    finally:
        assert server.stop() == 0
        httpd.shutdown()


def test_an_issuer_no_trusted_ca_signed_is_trusted_by_its_thumbprint(workdir, signer):
    """Without `oidc_ca_file`, the issuer's certificate is trusted only through
    the provider's thumbprint (SHA-1 of a certificate it presents), as in AWS:
    a wrong one fetches nothing, the right one (after
    UpdateOpenIDConnectProviderThumbprint) lets the token in."""
    pair = make_pair(workdir, "pinned-tls")
    httpd, issuer = serve_issuer(pair)
    host = issuer.removeprefix("https://")
    provider_arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"
    Issuer.jwks = signer.jwks()
    server = start(workdir)
    try:
        iam = admin(server, "iam")
        iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"],
                                            ThumbprintList=["0" * 40])
        arn = admin(server, "secretsmanager").create_secret(Name="p", SecretString="v")["ARN"]
        role_arn = role_reading(server, "pinned", provider_arn, host, arn)
        sts = unsigned_sts(server)

        def assume():
            return sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="s1",
                                                     WebIdentityToken=signer.token(iss=issuer))
        with pytest.raises(ClientError) as e:
            assume()
        assert error(e)[1].startswith("Couldn't retrieve verification key"), error(e)
        right = hashlib.sha1(der_of(pair["cert"])).hexdigest().upper()
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=provider_arn,
                                                       ThumbprintList=[right])
        time.sleep(10.5)  # a failed fetch is not retried sooner
        assert assume()["AssumedRoleUser"]["Arn"].endswith("/pinned/s1")
    finally:
        assert server.stop() == 0
        httpd.shutdown()


def test_session_tags_from_the_token_need_tag_session_and_reach_policies(workdir, signer):
    server = start_with_jwks_file(workdir, signer)
    try:
        iam = admin(server, "iam")
        iam.create_open_id_connect_provider(Url=ISSUER, ClientIDList=["sts.amazonaws.com"])
        sm_admin = admin(server, "secretsmanager")
        sm_admin.create_secret(Name="web/config", SecretString="w", Tags=[{"Key": "team", "Value": "web"}])
        sm_admin.create_secret(Name="ops/config", SecretString="o", Tags=[{"Key": "team", "Value": "ops"}])
        read_own_team = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue", "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}}]})
        statement = {"Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN},
                     "Action": ["sts:AssumeRoleWithWebIdentity"]}
        iam.create_role(RoleName="untagged", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
        tagging = dict(statement, Action=["sts:AssumeRoleWithWebIdentity", "sts:TagSession"])
        iam.create_role(RoleName="tagged", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [tagging]}))
        iam.put_role_policy(RoleName="tagged", PolicyName="team", PolicyDocument=read_own_team)
        token = signer.token(**{"https://aws.amazon.com/tags": {"principal_tags": {"team": ["web"]}}})
        sts = unsigned_sts(server)
        with pytest.raises(ClientError) as e:
            sts.assume_role_with_web_identity(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/untagged",
                                              RoleSessionName="s1", WebIdentityToken=token)
        assert error(e)[0] == "AccessDenied", "tags need sts:TagSession"
        r = sts.assume_role_with_web_identity(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/tagged",
                                              RoleSessionName="s1", WebIdentityToken=token)
        c = r["Credentials"]
        as_role = boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name="us-east-1",
                               aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                               aws_session_token=c["SessionToken"])
        assert as_role.get_secret_value(SecretId="web/config")["SecretString"] == "w"
        with pytest.raises(ClientError) as e:
            as_role.get_secret_value(SecretId="ops/config")
        assert error(e)[0] == "AccessDeniedException"
    finally:
        assert server.stop() == 0
