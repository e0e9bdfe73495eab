// Coffer console. Every call goes to /console/api/call, which runs it as the
// signed-in principal through the same authorization and audit as the API.
// The DOM is built with textContent only: nothing a secret, tag or name holds
// is ever parsed as HTML.
"use strict";

const state = { csrf: sessionStorage.getItem("coffer.csrf"), who: JSON.parse(sessionStorage.getItem("coffer.who") || "null") };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k != null) e.append(k instanceof Node ? k : String(k));
  return e;
}

function status(msg, kind) {
  const s = document.getElementById("status");
  s.textContent = msg || "";
  s.className = kind || "";
}

async function post(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.csrf) headers["X-Coffer-Csrf"] = state.csrf;
  const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin" });
  const text = await r.text();
  const data = text ? JSON.parse(text) : {};
  if (!r.ok) {
    const code = data.code || data.__type || "Error";
    const msg = data.message || data.Message || "";
    // Only the console's own refusals end the session here; an AccessDenied
    // naming some assumed-role session does not.
    if (r.status === 403 && /^(The console session|The request's CSRF token)/.test(msg)) signedOut();
    throw new Error(code + (msg ? ": " + msg : ""));
  }
  return data;
}

const sm = (target, body) => post("/console/api/call", { service: "secretsmanager", target, body: body || {} });
const trail = (target, body) => post("/console/api/call", { service: "cloudtrail", target, body: body || {} });

function signedOut() {
  state.csrf = null; state.who = null;
  sessionStorage.removeItem("coffer.csrf"); sessionStorage.removeItem("coffer.who"); sessionStorage.removeItem("coffer.pages");
  location.hash = "#/login";
}

function when(epoch) {
  return epoch ? new Date(epoch * 1000).toISOString().replace(".000Z", "Z") : "";
}

function main(...kids) {
  const m = document.getElementById("main");
  m.replaceChildren(...kids);
  document.getElementById("nav").hidden = !state.csrf;
  document.getElementById("logout").hidden = !state.csrf;
  document.getElementById("who").textContent = state.who ? `${state.who.arn} · ${state.who.region}` : "";
}

// Runs an action, showing its error; `keep` leaves the last message up (a
// page redrawn after an action keeps the action's outcome).
async function guard(fn, keep) {
  try { if (!keep) status(""); await fn(); } catch (e) { status(e.message, "error"); }
}

// ---- sign-in

function loginPage() {
  const f = el("form", { class: "stack", id: "login", onsubmit: (ev) => { ev.preventDefault(); guard(async () => {
    const d = new FormData(f);
    const out = await post("/console/api/login", {
      accessKeyId: d.get("akid").trim(), secretAccessKey: d.get("secret"),
      sessionToken: d.get("token").trim() || null, region: d.get("region").trim() || null });
    state.csrf = out.csrf; state.who = out.identity;
    sessionStorage.setItem("coffer.csrf", out.csrf); sessionStorage.setItem("coffer.who", JSON.stringify(out.identity));
    location.hash = "#/secrets";
  }); } },
    el("h1", {}, "Sign in"),
    el("label", {}, "Access key ID", el("input", { name: "akid", required: true, autocomplete: "username" })),
    el("label", {}, "Secret access key", el("input", { name: "secret", type: "password", required: true, autocomplete: "current-password" })),
    el("label", {}, "Session token (temporary credentials)", el("input", { name: "token" })),
    el("label", {}, "Region", el("input", { name: "region", placeholder: "us-east-1" })),
    el("button", { class: "primary", type: "submit" }, "Sign in"));
  main(f);
}

// ---- the list

const PAGE = 25;

// The NextTokens of one listing's pages (its search, sort and order), kept
// for the tab so that a reload stays on its page: page N is read from the
// token page N-1 ended with, tokens[N].
function pagesOf(listing) {
  const saved = JSON.parse(sessionStorage.getItem("coffer.pages") || "null");
  return saved && saved.listing === listing ? saved.tokens : [null];
}

function listHash(key, value, sort, order, page) {
  return "#/secrets?" + new URLSearchParams({ key, q: value, sort, order, page });
}

async function listPage(params) {
  const q = new URLSearchParams(params);
  const key = q.get("key") || "all", value = q.get("q") || "", sort = q.get("sort") || "name", order = q.get("order") || "asc";
  const listing = JSON.stringify([key, value, sort, order]);
  const tokens = pagesOf(listing);
  let page = Number(q.get("page") || "0");
  // A page whose token is not known here (a link from elsewhere, another
  // listing's page) is shown as what it is: page 1, and the address says so.
  if (!Number.isInteger(page) || page < 0 || (page > 0 && !tokens[page])) {
    page = 0;
    history.replaceState(null, "", listHash(key, value, sort, order, 0));
  }
  const body = { MaxResults: PAGE, SortBy: sort, SortOrder: order };
  if (value) body.Filters = [{ Key: key, Values: [value] }];
  if (page > 0) body.NextToken = tokens[page];
  let out = await sm("ListSecrets", body);
  let list = out.SecretList || [];
  // The server cuts a page short when a sparse filter has it read many
  // secrets; follow on (a few calls at most) so a page shows what it can.
  for (let i = 0; list.length < PAGE && out.NextToken && i < 8; i++) {
    out = await sm("ListSecrets", { ...body, MaxResults: PAGE - list.length, NextToken: out.NextToken });
    list = list.concat(out.SecretList || []);
  }
  // The pages after this one may have moved: forget their tokens.
  tokens.length = page + 1;
  if (out.NextToken) tokens.push(out.NextToken);
  sessionStorage.setItem("coffer.pages", JSON.stringify({ listing, tokens }));
  const go = (h) => { if (location.hash === h) route(); else location.hash = h; };
  const search = el("form", { class: "row", role: "search", onsubmit: (ev) => { ev.preventDefault(); const d = new FormData(search);
      go(listHash(d.get("key"), d.get("q"), d.get("sort"), d.get("order"), 0)); } },
    el("label", {}, "Search ", el("input", { name: "q", value, "aria-label": "Search secrets" })),
    el("select", { name: "key", "aria-label": "Search in" }, ...["all", "name", "description", "tag-key", "tag-value"].map((k) => el("option", { value: k, selected: k === key }, k))),
    el("select", { name: "sort", "aria-label": "Sort by" }, ...["name", "created-date", "last-changed-date", "last-accessed-date"].map((k) => el("option", { value: k, selected: k === sort }, k))),
    el("select", { name: "order", "aria-label": "Order" }, ...["asc", "desc"].map((k) => el("option", { value: k, selected: k === order }, k))),
    el("button", { type: "submit" }, "Search"));
  const rows = list.map((s) => el("tr", {},
    el("td", {}, el("a", { href: "#/secret/" + encodeURIComponent(s.Name) }, s.Name)),
    el("td", {}, s.Description || ""),
    el("td", {}, (s.Tags || []).map((t) => el("span", { class: "label" }, `${t.Key}=${t.Value}`))),
    el("td", {}, when(s.LastChangedDate))));
  main(el("h1", {}, "Secrets"), search,
    el("table", { id: "secrets" }, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Description"), el("th", {}, "Tags"), el("th", {}, "Last changed"))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 4 }, "No secrets.")))),
    el("div", { class: "row" },
      el("button", { type: "button", id: "previous", disabled: page === 0, onclick: () => go(listHash(key, value, sort, order, page - 1)) }, "Previous"),
      el("span", { id: "page" }, `Page ${page + 1}`),
      el("button", { type: "button", id: "next", disabled: !out.NextToken, onclick: () => go(listHash(key, value, sort, order, page + 1)) }, "Next")));
}

// ---- one secret

function section(title, ...kids) { return el("section", { "aria-label": title }, el("h2", {}, title), ...kids); }

function action(label, fn, cls) {
  return el("button", { type: "button", class: cls || "", onclick: () => guard(fn) }, label);
}

async function secretPage(name) {
  const d = await sm("DescribeSecret", { SecretId: name });
  const versions = await sm("ListSecretVersionIds", { SecretId: name, IncludeDeprecated: false });
  const reload = () => route();
  const meta = el("dl", {},
    ...[["ARN", d.ARN], ["Description", d.Description], ["KMS key", d.KmsKeyId || "aws/secretsmanager"], ["Created", when(d.CreatedDate)],
      ["Last changed", when(d.LastChangedDate)], ["Last accessed", when(d.LastAccessedDate)], ["Deleted", when(d.DeletedDate)],
      ["Rotation", d.RotationEnabled ? `every ${d.RotationRules?.AutomaticallyAfterDays || "?"} days via ${d.RotationLambdaARN}` : "off"],
      ["Next rotation", when(d.NextRotationDate)]]
      .filter(([, v]) => v).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const vrows = (versions.Versions || []).map((v) => {
    const cell = el("td", {}, el("span", { class: "muted" }, "hidden"));
    return el("tr", {},
      el("td", {}, el("code", {}, v.VersionId)),
      el("td", {}, (v.VersionStages || []).map((s) => el("span", { class: "label" }, s))),
      el("td", {}, when(v.CreatedDate)), cell,
      el("td", {}, action("Reveal", async () => {
        const got = await sm("GetSecretValue", { SecretId: name, VersionId: v.VersionId });
        cell.replaceChildren(el("pre", { class: "value" }, got.SecretString != null ? got.SecretString : "(binary, " + atob(got.SecretBinary).length + " bytes)"));
      })));
  });
  const value = el("textarea", { id: "new-value", "aria-label": "New value", spellcheck: "false", autocomplete: "off" });
  const labels = new Set((versions.Versions || []).flatMap((v) => v.VersionStages || []));
  const moveLabel = el("input", { id: "move-label", "aria-label": "Label", list: "labels", placeholder: "label" });
  const moveTo = el("select", { id: "move-to", "aria-label": "To version" }, ...(versions.Versions || []).map((v) => el("option", { value: v.VersionId }, v.VersionId)));
  const days = el("input", { id: "rotation-days", type: "number", min: 1, max: 1000, value: d.RotationRules?.AutomaticallyAfterDays || 30, "aria-label": "Rotate every N days" });
  const fn = el("input", { id: "rotation-function", value: d.RotationLambdaARN || "", placeholder: "arn:aws:lambda:REGION:ACCOUNT:function:NAME", "aria-label": "Rotation function ARN", size: 60 });
  const policyText = el("textarea", { id: "policy", "aria-label": "Resource policy", spellcheck: "false" });
  const broad = el("input", { type: "checkbox", id: "policy-broad" });
  // The validation's findings, minus broad access when that is meant.
  const findings = async () => {
    const v = await sm("ValidateResourcePolicy", { SecretId: name, ResourcePolicy: policyText.value });
    return (v.ValidationErrors || []).filter((e) => !(broad.checked && e.CheckName === "BROAD_ACCESS")).map((e) => e.ErrorMessage);
  };
  try { const p = await sm("GetResourcePolicy", { SecretId: name }); policyText.value = p.ResourcePolicy ? JSON.stringify(JSON.parse(p.ResourcePolicy), null, 2) : ""; } catch (e) { policyText.value = ""; }
  const window_ = el("input", { id: "recovery-days", type: "number", min: 7, max: 30, value: 30, "aria-label": "Recovery window in days" });
  const audit = el("tbody", {});
  // The secret's audit records, newest first, 50 a lookup; "Older records"
  // goes on from where the last lookup ended. Calls name a secret by its
  // name or by its ARN (whole or partial): look up by name, which finds all
  // three, and keep those naming this secret (not another whose name begins
  // with this one's and a hyphen).
  const ours = new Set([d.Name, d.ARN, (d.ARN || "").replace(/-[A-Za-z0-9]{6}$/, "")]);
  let auditNext = null;
  const older = el("button", { type: "button", hidden: true, onclick: () => guard(() => records(auditNext)) }, "Older records");
  const records = async (token) => {
    const body = { LookupAttributes: [{ AttributeKey: "ResourceName", AttributeValue: d.Name }], MaxResults: 50 };
    if (token) body.NextToken = token;
    const ev = await trail("LookupEvents", body);
    const rows = (ev.Events || []).filter((e) => (e.Resources || []).some((r) => ours.has(r.ResourceName))).map((e) => {
      const r = JSON.parse(e.CloudTrailEvent || "{}");
      return el("tr", {}, el("td", {}, when(e.EventTime)), el("td", {}, e.EventName), el("td", {}, e.Username || ""), el("td", {}, r.errorCode || "OK"));
    });
    if (token) audit.append(...rows); else audit.replaceChildren(...rows);
    auditNext = ev.NextToken || null;
    older.hidden = !auditNext;
    if (!audit.children.length && !auditNext) audit.replaceChildren(el("tr", {}, el("td", { colspan: 4 }, "No records.")));
  };
  // A link may open another account's secret (one its policy shares): say so
  // before anyone writes a value into it.
  const owner = (d.ARN || "").split(":")[4];
  const page = el("div", {},
    el("h1", {}, d.Name),
    owner && state.who && owner !== state.who.account ? el("p", { class: "warning", role: "alert" }, `This secret belongs to account ${owner}, not yours (${state.who.account}).`) : null,
    section("Details", meta),
    section("Tags", d.Tags && d.Tags.length ? el("div", {}, d.Tags.map((t) => el("span", { class: "label" }, `${t.Key}=${t.Value}`))) : "No tags."),
    section("Versions", el("table", { id: "versions" }, el("thead", {}, el("tr", {}, ...["Version", "Labels", "Created", "Value", ""].map((h) => el("th", {}, h)))), el("tbody", {}, vrows)),
      el("label", {}, "New version (becomes AWSCURRENT)", value),
      el("div", { class: "row" }, action("Save new version", async () => { await sm("PutSecretValue", { SecretId: name, SecretString: value.value, ClientRequestToken: crypto.randomUUID() }); status("New version saved.", "ok"); reload(); }, "primary")),
      el("datalist", { id: "labels" }, [...labels].map((l) => el("option", { value: l }))),
      el("div", { class: "row" }, "Move label ", moveLabel, " to ", moveTo, action("Move", async () => {
        const holder = (versions.Versions || []).find((v) => (v.VersionStages || []).includes(moveLabel.value));
        const body = { SecretId: name, VersionStage: moveLabel.value, MoveToVersionId: moveTo.value };
        if (holder) body.RemoveFromVersionId = holder.VersionId;
        await sm("UpdateSecretVersionStage", body); status("Label moved.", "ok"); reload(); }))),
    section("Rotation", el("div", { class: "row" }, "Every ", days, " days with ", fn),
      el("div", { class: "row" },
        action("Save and rotate now", async () => { await sm("RotateSecret", { SecretId: name, ClientRequestToken: crypto.randomUUID(), RotationLambdaARN: fn.value || undefined, RotationRules: { AutomaticallyAfterDays: Number(days.value) }, RotateImmediately: true }); status("Rotation started.", "ok"); reload(); }, "primary"),
        action("Rotate now", async () => { await sm("RotateSecret", { SecretId: name, ClientRequestToken: crypto.randomUUID() }); status("Rotation started.", "ok"); reload(); }))),
    section("Resource policy", policyText,
      el("label", { class: "row" }, broad, "Allow principals outside this account (cross-account sharing)"),
      el("div", { class: "row" },
        action("Validate", async () => { const bad = await findings();
          status(bad.length ? "Not valid: " + bad.join("; ") : "The policy is valid.", bad.length ? "error" : "ok"); }),
        // Saved only once validated; the server blocks broad access too.
        action("Save policy", async () => { const bad = await findings();
          if (bad.length) { status("Not saved: " + bad.join("; "), "error"); return; }
          await sm("PutResourcePolicy", { SecretId: name, ResourcePolicy: policyText.value, BlockPublicPolicy: !broad.checked }); status("Policy saved.", "ok"); reload(); }, "primary"),
        action("Delete policy", async () => { await sm("DeleteResourcePolicy", { SecretId: name }); status("Policy deleted.", "ok"); reload(); }, "danger"))),
    section("Deletion", d.DeletedDate
      ? el("div", { class: "row" }, `Scheduled for deletion (deleted ${when(d.DeletedDate)}).`, action("Restore", async () => { await sm("RestoreSecret", { SecretId: name }); status("Restored.", "ok"); reload(); }, "primary"))
      : el("div", { class: "row" }, "Recovery window ", window_, " days", action("Schedule deletion", async () => {
          if (!confirm(`Schedule ${name} for deletion?`)) return;
          await sm("DeleteSecret", { SecretId: name, RecoveryWindowInDays: Number(window_.value) }); status("Deletion scheduled.", "ok"); reload(); }, "danger"))),
    // Asked for, not loaded with the page: a lookup reads the retained trail.
    section("Audit", el("div", { class: "row" }, action("Show audit records", () => records(null)), older),
      el("table", { id: "audit" }, el("thead", {}, el("tr", {}, ...["Time", "Event", "Who", "Result"].map((h) => el("th", {}, h)))), audit)));
  main(page);
}

function newPage() {
  const f = el("form", { class: "stack", id: "create", onsubmit: (ev) => { ev.preventDefault(); guard(async () => {
    const d = new FormData(f);
    const tags = String(d.get("tags")).split("\n").map((l) => l.trim()).filter(Boolean).map((l) => { const i = l.indexOf("="); return { Key: i < 0 ? l : l.slice(0, i), Value: i < 0 ? "" : l.slice(i + 1) }; });
    const body = { Name: d.get("name").trim(), SecretString: d.get("value"), ClientRequestToken: crypto.randomUUID() };
    if (d.get("description")) body.Description = d.get("description");
    if (tags.length) body.Tags = tags;
    await sm("CreateSecret", body);
    status("Secret created.", "ok");
    location.hash = "#/secret/" + encodeURIComponent(body.Name);
  }); } },
    el("h1", {}, "New secret"),
    el("label", {}, "Name", el("input", { name: "name", required: true })),
    el("label", {}, "Description", el("input", { name: "description" })),
    el("label", {}, "Value", el("textarea", { name: "value", required: true, spellcheck: "false", autocomplete: "off" })),
    el("label", {}, "Tags (key=value, one per line)", el("textarea", { name: "tags" })),
    el("button", { class: "primary", type: "submit" }, "Create"));
  main(f);
}

async function route() {
  const h = location.hash || "#/secrets";
  if (!state.csrf && h !== "#/login") { location.hash = "#/login"; return; }
  await guard(async () => {
    if (h === "#/login") return loginPage();
    if (h === "#/new") return newPage();
    if (h.startsWith("#/secret/")) return secretPage(decodeURIComponent(h.slice("#/secret/".length)));
    return listPage(h.split("?")[1] || "");
  }, true);
  document.getElementById("main").focus();
}

// The theme chosen here, else the system's; the toggle says which is on.
const isDark = () => document.documentElement.dataset.theme === "dark" || (!document.documentElement.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);

function theme(next) {
  if (next) localStorage.setItem("coffer.theme", next);
  const t = localStorage.getItem("coffer.theme");
  if (t) document.documentElement.dataset.theme = t;
  document.getElementById("theme").setAttribute("aria-pressed", String(isDark()));
}

document.addEventListener("DOMContentLoaded", () => {
  theme();
  document.getElementById("theme").addEventListener("click", () => theme(isDark() ? "light" : "dark"));
  document.getElementById("logout").addEventListener("click", () => guard(async () => { await post("/console/api/logout", {}); signedOut(); }));
  window.addEventListener("hashchange", route);
  route();
});
