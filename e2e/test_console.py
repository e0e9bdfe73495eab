"""The web console in a real browser: Debian's Chromium, headless, driven by
Playwright. Sign-in (with a key pair and with temporary credentials), create,
reveal (audited as that very GetSecretValue), a new version, moving a label,
rotation, the resource policy, deletion and restore; the list's search, sorting
and paging; the theme by keyboard; the session cookie's flags, CSRF, the Origin
check, the strict CSP and no request leaving the server. Screenshots of the main
pages are kept in COFFER_ARTIFACTS (default: e2e/artifacts, which git ignores)."""

import json
import os
import re
import time
import urllib.request

import pytest
from playwright import sync_api as playwright

from conftest import ACCOUNT, AKID, SECRET, wait_until
from test_access import client

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.environ.get("COFFER_ARTIFACTS", os.path.join(os.path.dirname(__file__), "artifacts"))
expect = playwright.expect


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), "test.sh installs Debian's chromium"
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f"console-{name}.png")
    page.screenshot(path=path, full_page=True)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", path


def sign_in(page, endpoint, key=AKID, secret=SECRET, token=None):
    page.goto(endpoint + "/console")
    page.get_by_label("Access key ID").fill(key)
    page.get_by_label("Secret access key").fill(secret)
    if token:
        page.get_by_label("Session token (temporary credentials)").fill(token)
    page.get_by_role("button", name="Sign in").click()


def audit(server, event, mentioning=None):
    """The audit log's records of `event`, those whose parameters name `mentioning`."""
    with open(os.path.join(server.data_dir, "audit.log")) as f:
        records = [json.loads(line)["record"] for line in f]
    return [r for r in records if r["eventName"] == event
            and (mentioning is None or mentioning in json.dumps(r.get("requestParameters")))]


def calling(page, target):
    """Awaits the console's call of `target` made within the `with` block."""
    return page.expect_response(lambda r: r.url.endswith("/console/api/call")
                                and f'"target":"{target}"' in (r.request.post_data or ""))


def current(sm, name):
    return next(v["VersionId"] for v in sm.list_secret_version_ids(SecretId=name)["Versions"]
                if "AWSCURRENT" in v["VersionStages"])


def stages(sm, name):
    return {v["VersionId"]: set(v["VersionStages"])
            for v in sm.list_secret_version_ids(SecretId=name)["Versions"]}


def watch(page, server):
    """Collects the page's script errors, its refused calls, and any request
    to somewhere other than the server."""
    seen = {"errors": [], "failed": [], "foreign": []}
    # A refused call shows as "Failed to load resource"; those are counted by
    # their responses instead.
    page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text
            and seen["errors"].append(m.text))
    page.on("response", lambda r: r.status >= 400 and seen["failed"].append((r.url, r.status)))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: r.url.startswith(server.endpoint) or seen["foreign"].append(r.url))
    return seen


def test_console_create_reveal_version_label_rotate_policy_delete(server, browser):
    ctx = browser.new_context(color_scheme="light")
    page = ctx.new_page()
    seen = watch(page, server)
    sm = client(server, "secretsmanager")

    page.goto(server.endpoint + "/console")
    headers = urllib.request.urlopen(server.endpoint + "/console").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "style-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "sign-in")

    sign_in(page, server.endpoint, secret="wrong-secret")
    expect(page.locator("#status")).to_contain_text("not valid")
    refused = audit(server, "ConsoleLogin")
    assert refused and refused[-1]["errorCode"] == "AccessDeniedException"
    assert refused[-1]["userIdentity"]["accessKeyId"] == AKID
    assert "wrong-secret" not in json.dumps(refused)
    sign_in(page, server.endpoint)
    expect(page.get_by_role("heading", name="Secrets")).to_be_visible()
    logins = audit(server, "ConsoleLogin")
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
    expect(page.get_by_role("heading", name="console/db")).to_be_visible()
    expect(page.get_by_role("region", name="Tags")).to_contain_text("team=web")
    assert "first-value" not in page.content(), "values stay hidden until revealed"
    shot(page, "secret")

    # Reveal: the console's own call is audited as the signed-in principal's
    # GetSecretValue. Nothing else has read the secret: there is no such
    # record before the click, and exactly this call's after it.
    assert audit(server, "GetSecretValue", "console/db") == []
    with calling(page, "GetSecretValue") as call:
        page.get_by_role("button", name="Reveal").click()
    expect(page.locator("pre.value")).to_have_text("first-value")
    request_id = call.value.headers["x-amzn-requestid"]
    reads = wait_until("the reveal is audited", lambda: audit(server, "GetSecretValue", "console/db"))
    assert len(reads) == 1, reads
    assert reads[0]["requestID"] == request_id
    assert reads[0]["userAgent"] == page.evaluate("navigator.userAgent")
    assert reads[0]["userIdentity"]["accessKeyId"] == AKID and "errorCode" not in reads[0]
    # The secret's audit section shows that one read.
    page.get_by_role("button", name="Show audit records").click()
    expect(page.locator("#audit tbody tr").filter(has_text="GetSecretValue")).to_have_count(1)
    expect(page.locator("#audit tbody")).to_contain_text("CreateSecret")

    # A new version becomes current.
    v1 = current(sm, "console/db")
    page.get_by_label("New value").fill("second-value")
    page.get_by_role("button", name="Save new version").click()
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    v2 = current(sm, "console/db")
    assert v2 != v1 and stages(sm, "console/db") == {v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}}
    assert sm.get_secret_value(SecretId="console/db")["SecretString"] == "second-value"

    # Move a label: AWSCURRENT back to the first version (a rollback; the
    # server hands AWSPREVIOUS to the version it leaves), then a label of
    # one's own, held by no version yet, onto the second.
    page.get_by_label("Label", exact=True).fill("AWSCURRENT")
    page.get_by_label("To version").select_option(v1)
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator("#status")).to_have_text("Label moved.")
    expect(page.locator("#versions tbody tr").filter(has_text=v1)).to_contain_text("AWSCURRENT")
    assert stages(sm, "console/db") == {v1: {"AWSCURRENT"}, v2: {"AWSPREVIOUS"}}
    assert sm.get_secret_value(SecretId="console/db")["SecretString"] == "first-value"
    page.get_by_label("Label", exact=True).fill("blue")
    page.get_by_label("To version").select_option(v2)
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator("#versions tbody tr").filter(has_text=v2)).to_contain_text("blue")
    assert stages(sm, "console/db") == {v1: {"AWSCURRENT"}, v2: {"AWSPREVIOUS", "blue"}}

    # Rotation with the built-in password rotator: set up and rotated at once,
    # then once more with the plain "Rotate now" (the settings as saved).
    page.get_by_label("Rotation function ARN").fill(
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:coffer-random-password")
    page.get_by_label("Rotate every N days").fill("7")
    with calling(page, "RotateSecret") as call:
        page.get_by_role("button", name="Save and rotate now").click()
    expect(page.locator("#status")).to_have_text("Rotation started.")
    first = call.value.json()["VersionId"]
    wait_until("the first rotation ends", lambda: current(sm, "console/db") == first
               and "AWSPENDING" not in set().union(*stages(sm, "console/db").values()))
    d = sm.describe_secret(SecretId="console/db")
    assert d["RotationEnabled"] is True and d["RotationRules"]["AutomaticallyAfterDays"] == 7
    rotated = sm.get_secret_value(SecretId="console/db")["SecretString"]
    assert rotated not in ("first-value", "second-value")
    page.reload()
    expect(page.get_by_role("region", name="Details")).to_contain_text("every 7 days via")
    with calling(page, "RotateSecret") as call:
        page.get_by_role("button", name="Rotate now", exact=True).click()
    assert json.loads(call.value.request.post_data)["body"].keys() == {"SecretId", "ClientRequestToken"}
    second = call.value.json()["VersionId"]
    assert second != first
    wait_until("the second rotation ends", lambda: current(sm, "console/db") == second)
    assert sm.get_secret_value(SecretId="console/db")["SecretString"] not in ("first-value", "second-value", rotated)
    page.reload()
    expect(page.locator("#versions tbody tr").filter(has_text=second)).to_contain_text("AWSCURRENT")

    # The resource policy: an invalid one is refused with the validation's
    # message, by Validate and by Save alike; a valid one is saved and read
    # back (the page shows the server's copy, laid out); then deleted.
    policy = page.get_by_role("textbox", name="Resource policy")
    status = page.locator("#status")
    public = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
              "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    policy.fill(json.dumps(public))
    page.get_by_role("button", name="Validate").click()
    expect(status).to_have_text("Not valid: The policy grants access to any principal or to principals outside the owning account.")
    page.get_by_role("button", name="Save policy").click()
    expect(status).to_have_text("Not saved: The policy grants access to any principal or to principals outside the owning account.")
    policy.fill('{"Statement": [')
    page.get_by_role("button", name="Validate").click()
    expect(status).to_contain_text("Not valid: ")
    page.get_by_role("button", name="Save policy").click()
    expect(status).to_contain_text("Not saved: ")
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId="console/db")
    own = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
           "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
           "Action": "secretsmanager:DescribeSecret", "Resource": "*"}]}
    policy.fill(json.dumps(own))
    page.get_by_role("button", name="Validate").click()
    expect(status).to_have_text("The policy is valid.")
    page.get_by_role("button", name="Save policy").click()
    expect(status).to_have_text("Policy saved.")
    expect(policy).to_have_value(json.dumps(own, indent=2))
    assert json.loads(sm.get_resource_policy(SecretId="console/db")["ResourcePolicy"]) == own
    page.get_by_role("button", name="Delete policy").click()
    expect(status).to_have_text("Policy deleted.")
    expect(policy).to_have_value("")
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId="console/db")

    # The audit section lists the secret's records whether a call named it by
    # name or by ARN, and not those of another secret whose name begins with
    # its own and a hyphen (which the trail's lookup by name also returns).
    arn = sm.describe_secret(SecretId="console/db")["ARN"]
    sm.tag_resource(SecretId=arn, Tags=[{"Key": "named", "Value": "by-arn"}])
    sm.create_secret(Name="console/db-decoy", SecretString="x", Tags=[{"Key": "k", "Value": "v"}])
    sm.untag_resource(SecretId="console/db-decoy", TagKeys=["k"])
    page.reload()
    page.get_by_role("button", name="Show audit records").click()
    records, older = page.locator("#audit tbody tr"), page.get_by_role("button", name="Older records")
    expect(records.filter(has_text="TagResource")).to_have_count(1)
    # More than a lookup's 50 records by now (each time the page is shown it
    # reads the secret thrice): "Older records" goes back to its creation.
    expect(older).to_be_visible()
    for _ in range(10):
        before = records.count()
        older.click()
        expect(records).not_to_have_count(before)
        if older.is_hidden():
            break
    expect(older).to_be_hidden()
    assert records.count() > 50
    expect(records.filter(has_text="CreateSecret")).to_have_count(1)
    # Root's reads: the console's reveal and this test's four through boto3
    # (the rotations' own are the service's).
    expect(records.filter(has_text="GetSecretValue").filter(has_text="root")).to_have_count(1 + 4)
    expect(records.filter(has_text="RotateSecret")).to_have_count(2)
    # Only the valid policy reached PutResourcePolicy.
    expect(records.filter(has_text="PutResourcePolicy")).to_have_count(1)
    expect(records.filter(has_text="DeleteResourcePolicy")).to_have_count(1)
    expect(records.filter(has_text="UntagResource")).to_have_count(0)

    # Delete, then restore.
    page.on("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Schedule deletion").click()
    expect(status).to_contain_text("Deletion scheduled")
    assert "DeletedDate" in sm.describe_secret(SecretId="console/db")
    page.get_by_role("button", name="Restore").click()
    expect(status).to_contain_text("Restored")
    assert "DeletedDate" not in sm.describe_secret(SecretId="console/db")

    # The theme, by keyboard alone: the page settles with its content
    # focused; Shift+Tab reaches the toggle; Enter makes it dark, Space light
    # again, and the choice outlives a reload.
    expect(page.get_by_role("button", name="Schedule deletion")).to_be_visible()
    expect(page.locator("#main")).to_be_focused()
    toggle = page.locator("#theme")
    background = lambda: page.evaluate("getComputedStyle(document.body).backgroundColor")
    for _ in range(4):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.id") == "theme":
            break
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    assert background() == "rgb(251, 251, 252)"
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert background() == "rgb(21, 23, 27)"
    page.keyboard.press("Space")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    assert background() == "rgb(251, 251, 252)"
    page.keyboard.press("Enter")
    page.reload()
    expect(page.get_by_role("heading", name="console/db")).to_be_visible()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert background() == "rgb(21, 23, 27)"
    shot(page, "secret-dark")

    assert seen["errors"] == [], seen["errors"]
    assert [status for _, status in seen["failed"]] == [403], "only the wrong sign-in failed"
    assert seen["foreign"] == [], seen["foreign"]

    # Without the CSRF header the API refuses, even with the cookie.
    r = page.request.post(server.endpoint + "/console/api/call", data=json.dumps(
        {"service": "secretsmanager", "target": "ListSecrets", "body": {}}),
        headers={"Content-Type": "application/json"})
    assert r.status == 403 and "CSRF" in r.text()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    ctx.close()


def test_console_list_searches_sorts_and_pages(server, browser):
    sm = client(server, "secretsmanager")
    # 27 secrets, more than a page of 25, created last name first (so that
    # the creation order is the names' reversed); the even ones described
    # with "whale", the odd ones tagged parity=odd.
    names = [f"page/{i:02}" for i in range(27)]
    for i in reversed(range(27)):
        sm.create_secret(Name=names[i], SecretString="x",
                         Description="a blue whale" if i % 2 == 0 else "a red fox",
                         Tags=[{"Key": "parity", "Value": "even" if i % 2 == 0 else "odd"}])
        time.sleep(0.002)
    ctx = browser.new_context(color_scheme="light")
    page = ctx.new_page()
    seen = watch(page, server)
    sign_in(page, server.endpoint)
    expect(page.get_by_role("heading", name="Secrets")).to_be_visible()

    shown = lambda: page.locator("#secrets tbody tr td:first-child")
    label = page.get_by_text(re.compile(r"^Page \d+$"))
    previous, following = page.get_by_role("button", name="Previous"), page.get_by_role("button", name="Next")

    def search(value="", key="all", sort="name", order="asc"):
        page.get_by_label("Search secrets").fill(value)
        page.get_by_label("Search in").select_option(key)
        page.get_by_label("Sort by").select_option(sort)
        page.get_by_label("Order").select_option(order)
        page.get_by_role("button", name="Search").click()

    def on_page(n, rows):
        expect(shown()).to_have_text(rows)
        expect(label).to_have_text(f"Page {n}")
        (expect(previous).to_be_disabled if n == 1 else expect(previous).to_be_enabled)()

    # By name, ascending: 25, then the last 2; Next and Previous move between
    # them, and a reload stays on the page it shows.
    on_page(1, names[:25])
    expect(following).to_be_enabled()
    shot(page, "list")
    following.click()
    on_page(2, names[25:])
    expect(following).to_be_disabled()
    page.reload()
    on_page(2, names[25:])
    previous.click()
    on_page(1, names[:25])
    following.click()
    on_page(2, names[25:])
    # A page this tab has no token for (a link from elsewhere) shows as what
    # it is, page 1, and the address says so.
    assert page.url.endswith("page=1")
    page.goto(page.url[:-1] + "3")
    on_page(1, names[:25])
    assert page.url.endswith("page=0")

    # Sorting: names descending; by creation, oldest first (the reverse of the
    # names), and paged alike.
    search(order="desc")
    on_page(1, names[::-1][:25])
    search(sort="created-date")
    on_page(1, names[::-1][:25])
    following.click()
    on_page(2, names[::-1][25:])
    search(sort="created-date", order="desc")
    on_page(1, names[:25])

    # Search by name (a prefix), by description (a word), by tag value, and
    # everywhere.
    search("page/1", key="name")
    on_page(1, names[10:20])
    expect(following).to_be_disabled()
    search("whale", key="description")
    on_page(1, names[0::2])
    expect(page.locator("#secrets tbody")).not_to_contain_text("fox")
    search("odd", key="tag-value")
    on_page(1, names[1::2])
    search("fox")
    on_page(1, names[1::2])
    search("nothing-like-this", key="name")
    expect(page.locator("#secrets tbody")).to_have_text("No secrets.")

    assert seen["errors"] == [] and seen["failed"] == [] and seen["foreign"] == [], seen
    ctx.close()


def test_console_acts_as_the_signed_in_principal(server, browser):
    iam = client(server, "iam")
    sm = client(server, "secretsmanager")
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
    ctx = browser.new_context()
    page = ctx.new_page()
    sign_in(page, server.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    expect(page.locator("#who")).to_contain_text("user/reader")
    page.goto(server.endpoint + "/console#/secret/hidden")
    expect(page.get_by_role("heading", name="hidden")).to_be_visible()
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#status")).to_contain_text("AccessDenied")
    page.goto(server.endpoint + "/console#/secret/visible")
    # The page has been redrawn for this secret before its button is pressed.
    expect(page.get_by_role("heading", name="visible")).to_be_visible()
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("pre.value")).to_have_text("ok")
    # Deleting the key ends the console session at its next call.
    iam.delete_access_key(UserName="reader", AccessKeyId=key["AccessKeyId"])
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    ctx.close()


def test_console_temporary_credentials_and_foreign_origins(server, browser):
    iam, sm = client(server, "iam"), client(server, "secretsmanager")
    sm.create_secret(Name="temp/db", SecretString="not-for-the-role")
    iam.create_role(RoleName="ConsoleReader", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}))
    iam.put_role_policy(RoleName="ConsoleReader", PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "secretsmanager:ListSecrets", "secretsmanager:DescribeSecret",
            "secretsmanager:ListSecretVersionIds", "secretsmanager:GetResourcePolicy"]}]}))
    creds = client(server, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/ConsoleReader", RoleSessionName="console-e2e")["Credentials"]
    ctx = browser.new_context()
    page = ctx.new_page()

    # The key pair without its session token, or with another, is refused.
    sign_in(page, server.endpoint, creds["AccessKeyId"], creds["SecretAccessKey"])
    expect(page.locator("#status")).to_contain_text("not valid")
    sign_in(page, server.endpoint, creds["AccessKeyId"], creds["SecretAccessKey"], "x" + creds["SessionToken"])
    expect(page.locator("#status")).to_contain_text("not valid")
    # With it, the console acts as the role's session: it lists, and may
    # not read a value.
    sign_in(page, server.endpoint, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    expect(page.locator("#who")).to_contain_text(f"arn:aws:sts::{ACCOUNT}:assumed-role/ConsoleReader/console-e2e")
    expect(page.locator("#secrets tbody")).to_contain_text("temp/db")
    login = audit(server, "ConsoleLogin")[-1]
    assert "errorCode" not in login and login["userIdentity"]["type"] == "AssumedRole"
    page.get_by_role("link", name="temp/db").click()
    expect(page.get_by_role("heading", name="temp/db")).to_be_visible()
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#status")).to_contain_text("AccessDenied")
    denied = wait_until("the refusal is audited", lambda: audit(server, "GetSecretValue", "temp/db"))
    assert len(denied) == 1 and denied[0]["errorCode"] == "AccessDeniedException"
    assert denied[0]["userIdentity"]["type"] == "AssumedRole"

    # A call carrying the session's cookie and CSRF token, but sent from
    # another origin, is refused; the same call from the console's own origin
    # is answered.
    csrf = page.evaluate("sessionStorage.getItem('coffer.csrf')")
    call = json.dumps({"service": "secretsmanager", "target": "ListSecrets", "body": {}})
    host = server.endpoint.split("://", 1)[1]
    for origin in ("http://evil.example", "null", "http://127.0.0.1:1", f"http://{host}.evil.example"):
        r = page.request.post(server.endpoint + "/console/api/call", data=call, headers={
            "Content-Type": "application/json", "X-Coffer-Csrf": csrf, "Origin": origin})
        assert r.status == 403 and "own page only" in r.text(), (origin, r.status, r.text())
    r = page.request.post(server.endpoint + "/console/api/login", data=json.dumps(
        {"accessKeyId": AKID, "secretAccessKey": SECRET}), headers={
        "Content-Type": "application/json", "Origin": "http://evil.example"})
    assert r.status == 403 and "own page only" in r.text() and "set-cookie" not in r.headers
    # A form post (no JSON) is refused too, whatever its origin.
    r = page.request.post(server.endpoint + "/console/api/call", data=call, headers={
        "Content-Type": "text/plain", "X-Coffer-Csrf": csrf, "Origin": server.endpoint})
    assert r.status == 403 and "own page only" in r.text()
    r = page.request.post(server.endpoint + "/console/api/call", data=call, headers={
        "Content-Type": "application/json", "X-Coffer-Csrf": csrf, "Origin": server.endpoint})
    assert r.status == 200 and "temp/db" in r.text()
    ctx.close()

