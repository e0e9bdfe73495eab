"""The web console in a real browser: Debian's Chromium, headless, driven by
Playwright. Sign-in, create, reveal (audited as GetSecretValue), a new version,
rotation, deletion and restore; the session cookie's flags, CSRF, the strict CSP
and no request leaving the server. Screenshots of the main pages are kept in
COFFER_ARTIFACTS (default: e2e/artifacts)."""

import json
import os
import urllib.request

import boto3
import pytest
from botocore.config import Config
from playwright import sync_api as playwright

from conftest import ACCOUNT, AKID, SECRET

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.environ.get("COFFER_ARTIFACTS", os.path.join(os.path.dirname(__file__), "artifacts"))


@pytest.fixture
def browser():
    assert os.path.exists(CHROMIUM), "test.sh installs Debian's chromium"
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, f"console-{name}.png"), full_page=True)


def sign_in(page, endpoint, key=AKID, secret=SECRET):
    page.goto(endpoint + "/console")
    page.get_by_label("Access key ID").fill(key)
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_role("button", name="Sign in").click()


def test_console_create_reveal_version_rotate_delete(server, browser):
    errors, foreign = [], []
    ctx = browser.new_context()
    page = ctx.new_page()
    failed_calls = []
    # A refused call shows as "Failed to load resource"; those are counted by
    # their responses instead.
    page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text and errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and failed_calls.append((r.request.post_data, r.status)))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: r.url.startswith(server.endpoint) or foreign.append(r.url))

    page.goto(server.endpoint + "/console")
    headers = urllib.request.urlopen(server.endpoint + "/console").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    shot(page, "sign-in")

    sign_in(page, server.endpoint, secret="wrong-secret")
    playwright.expect(page.locator("#status")).to_contain_text("not valid")
    with open(os.path.join(server.data_dir, "audit.log")) as f:
        refused = [json.loads(l)["record"] for l in f if "ConsoleLogin" in l]
    assert refused and refused[-1]["errorCode"] == "AccessDeniedException"
    assert refused[-1]["userIdentity"]["accessKeyId"] == AKID
    assert "wrong-secret" not in json.dumps(refused)
    sign_in(page, server.endpoint)
    playwright.expect(page.get_by_role("heading", name="Secrets")).to_be_visible()
    with open(os.path.join(server.data_dir, "audit.log")) as f:
        logins = [json.loads(l)["record"] for l in f if "ConsoleLogin" in l]
    assert "errorCode" not in logins[-1] and logins[-1]["userIdentity"]["type"] == "Root"
    cookie = [c for c in ctx.cookies() if c["name"] == "coffer_console"][0]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"

    # Create through the form.
    page.get_by_role("link", name="New secret").click()
    page.get_by_label("Name", exact=True).fill("console/db")
    page.get_by_label("Description").fill("made in the console")
    page.get_by_label("Value", exact=True).fill("first-value")
    page.get_by_label("Tags (key=value, one per line)").fill("team=web")
    page.get_by_role("button", name="Create").click()
    playwright.expect(page.get_by_role("heading", name="console/db")).to_be_visible()
    assert "first-value" not in page.content(), "values stay hidden until revealed"
    shot(page, "secret")

    # Reveal, audited as the signed-in principal's GetSecretValue.
    page.get_by_role("button", name="Reveal").click()
    playwright.expect(page.locator("pre.value")).to_have_text("first-value")

    # A new version becomes current.
    page.get_by_label("New value").fill("second-value")
    page.get_by_role("button", name="Save new version").click()
    playwright.expect(page.locator("#versions tbody tr")).to_have_count(2)
    sm = boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id=AKID, aws_secret_access_key=SECRET, config=Config(retries={"max_attempts": 1}))
    assert sm.get_secret_value(SecretId="console/db")["SecretString"] == "second-value"

    # Rotation with the built-in password rotator, now.
    page.get_by_label("Rotation function ARN").fill(
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:coffer-random-password")
    page.get_by_role("button", name="Save and rotate now").click()
    playwright.expect(page.locator("#status")).to_contain_text("Rotation started")
    d = sm.describe_secret(SecretId="console/db")
    assert d["RotationEnabled"] is True

    # The audit section lists the reveal.
    page.reload()
    page.get_by_role("button", name="Show audit records").click()
    playwright.expect(page.locator("#audit")).to_contain_text("GetSecretValue")

    # The list, searched by tag value.
    page.get_by_role("link", name="Secrets").click()
    page.get_by_label("Search secrets").fill("web")
    page.get_by_label("Search in").select_option("tag-value")
    page.get_by_role("button", name="Search").click()
    playwright.expect(page.locator("#secrets tbody")).to_contain_text("console/db")
    shot(page, "list")

    # Delete, then restore.
    page.get_by_role("link", name="console/db").click()
    page.on("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Schedule deletion").click()
    playwright.expect(page.locator("#status")).to_contain_text("Deletion scheduled")
    assert "DeletedDate" in sm.describe_secret(SecretId="console/db")
    page.get_by_role("button", name="Restore").click()
    playwright.expect(page.locator("#status")).to_contain_text("Restored")
    assert "DeletedDate" not in sm.describe_secret(SecretId="console/db")

    # The page has settled (redrawn, its content focused); then the theme
    # switches by keyboard.
    playwright.expect(page.get_by_role("button", name="Schedule deletion")).to_be_visible()
    playwright.expect(page.locator("#main")).to_be_focused()
    page.get_by_role("button", name="Switch between light and dark theme").press("Enter")
    assert page.evaluate("document.documentElement.dataset.theme") in ("dark", "light")
    shot(page, "theme")

    assert errors == [], errors
    assert [status for _, status in failed_calls] == [403], "only the wrong sign-in failed"
    assert foreign == [], foreign

    # Without the CSRF header the API refuses, even with the cookie.
    r = page.request.post(server.endpoint + "/console/api/call", data=json.dumps(
        {"service": "secretsmanager", "target": "ListSecrets", "body": {}}),
        headers={"Content-Type": "application/json"})
    assert r.status == 403 and "CSRF" in r.text()

    page.get_by_role("button", name="Sign out").click()
    playwright.expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    ctx.close()


def test_console_acts_as_the_signed_in_principal(server, browser):
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    sm = boto3.client("secretsmanager", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    sm.create_secret(Name="visible", SecretString="ok")
    sm.create_secret(Name="hidden", SecretString="no")
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["secretsmanager:ListSecrets", "secretsmanager:DescribeSecret",
                                           "secretsmanager:ListSecretVersionIds", "secretsmanager:GetResourcePolicy"], "Resource": "*"},
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
             "Resource": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:visible-*"}]}))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    page = browser.new_context().new_page()
    sign_in(page, server.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    playwright.expect(page.locator("#who")).to_contain_text("user/reader")
    page.goto(server.endpoint + "/console#/secret/hidden")
    playwright.expect(page.get_by_role("heading", name="hidden")).to_be_visible()
    page.get_by_role("button", name="Reveal").click()
    playwright.expect(page.locator("#status")).to_contain_text("AccessDenied")
    page.goto(server.endpoint + "/console#/secret/visible")
    # The page has been redrawn for this secret before its button is pressed.
    playwright.expect(page.get_by_role("heading", name="visible")).to_be_visible()
    page.get_by_role("button", name="Reveal").click()
    playwright.expect(page.locator("pre.value")).to_have_text("ok")
    # Deleting the key ends the console session at its next call.
    iam.delete_access_key(UserName="reader", AccessKeyId=key["AccessKeyId"])
    page.reload()
    playwright.expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
