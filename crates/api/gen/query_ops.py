#!/usr/bin/env python3
"""Generates crates/api/src/{iam,sts}_ops.rs from AWS's published service models.

    python3 crates/api/gen/query_ops.py path/to/iam.service-2.json path/to/sts.service-2.json

The models are botocore's `service-2.json` files; they are not kept in this
repository. Each output file gets one enum variant per operation in the model;
the operations Coffer serves (SERVED below) carry a typed request struct parsed
from the Query protocol's form parameters, the rest are unit variants. The
output is formatted with rustfmt when it is on the PATH.
"""

import hashlib
import json
import os
import re
import subprocess
import sys

SERVED = {
    "iam": """CreateUser GetUser ListUsers DeleteUser TagUser UntagUser PutUserPolicy
        GetUserPolicy DeleteUserPolicy AttachUserPolicy DetachUserPolicy
        ListAttachedUserPolicies ListUserPolicies CreateAccessKey ListAccessKeys
        DeleteAccessKey UpdateAccessKey CreateRole GetRole ListRoles DeleteRole
        UpdateAssumeRolePolicy TagRole UntagRole PutRolePolicy GetRolePolicy
        DeleteRolePolicy AttachRolePolicy DetachRolePolicy ListAttachedRolePolicies
        ListRolePolicies CreatePolicy GetPolicy GetPolicyVersion ListPolicies
        DeletePolicy CreatePolicyVersion ListPolicyVersions DeletePolicyVersion
        CreateOpenIDConnectProvider GetOpenIDConnectProvider ListOpenIDConnectProviders
        DeleteOpenIDConnectProvider AddClientIDToOpenIDConnectProvider
        RemoveClientIDFromOpenIDConnectProvider UpdateOpenIDConnectProviderThumbprint
        TagOpenIDConnectProvider UntagOpenIDConnectProvider
        ListOpenIDConnectProviderTags""".split(),
    "sts": "AssumeRole AssumeRoleWithWebIdentity GetCallerIdentity GetSessionToken".split(),
}

# Members kept out of the audit record: policy documents, and the web identity
# token (a bearer credential until it expires).
SENSITIVE = {"PolicyDocument", "AssumeRolePolicyDocument", "Policy", "WebIdentityToken"}

RUST_KEYWORDS = {"type", "match", "ref", "self", "struct", "fn", "in", "loop", "move", "mod", "use"}


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
    return f"r#{s}" if s in RUST_KEYWORDS else s


def lower_first(name):
    return name[:1].lower() + name[1:]


def kind(shapes, shape_name):
    """The wire kind of a member's shape: str, int, bool, strings, tags or structs."""
    shape = shapes[shape_name]
    t = shape["type"]
    if t in ("string", "timestamp"):
        return "str"
    if t in ("integer", "long"):
        return "int"
    if t == "boolean":
        return "bool"
    if t == "list":
        item = shapes[shape["member"]["shape"]]
        if item["type"] == "string":
            return "strings"
        if item["type"] == "structure":
            if shape_name == "tagListType":
                assert set(item["members"]) == {"Key", "Value"}, shape_name
                return "tags"
            return "structs"
    sys.exit(f"unsupported shape {shape_name} ({t}) in a served operation")


LISTS = ("strings", "tags", "structs")
RUST_TYPE = {
    "str": "String",
    "int": "i64",
    "bool": "bool",
    "strings": "Vec<String>",
    "tags": "Vec<(String, String)>",
    "structs": "Vec<BTreeMap<String, String>>",
}


def rust_type(k, required):
    # An absent optional list is an empty Vec.
    return RUST_TYPE[k] if required or k in LISTS else f"Option<{RUST_TYPE[k]}>"


def read(k, name, required):
    """The expression that reads member `name` of kind `k` from `p`."""
    if k == "str":
        return f'p.required("{name}")?.to_owned()' if required else f'p.get("{name}").map(str::to_owned)'
    if k in ("int", "bool"):
        # A required one was checked by `p.require` first.
        return f'p.{k}("{name}")?' + (".unwrap_or_default()" if required else "")
    return {"strings": f'p.list("{name}")', "tags": f'p.tags("{name}")?', "structs": f'p.structs("{name}")'}[k]


def audit(k, field, name, required):
    """The statement that adds a member that was sent to the audit parameters `m`."""
    key = lower_first(name)
    value = {"tags": f"audit_tags(&self.{field})", "structs": f"audit_structs(&self.{field})"}.get(
        k, f"json!(self.{field})"
    )
    if required:
        return f'm.insert("{key}".into(), {value});'
    if k in LISTS:
        return f'if !self.{field}.is_empty() {{ m.insert("{key}".into(), {value}); }}'
    return f'if let Some(v) = &self.{field} {{ m.insert("{key}".into(), json!(v)); }}'


def members(op, shapes):
    """(name, kind, required) of each member of the operation's input, in model order."""
    shape = shapes[op["input"]["shape"]] if "input" in op else {"members": {}}
    required = shape.get("required", [])
    return [(m, kind(shapes, s["shape"]), m in required) for m, s in shape["members"].items()]


def request_struct(service, op, shapes):
    name = f"{op['name']}Request"
    ms = members(op, shapes)
    required = [m for m, _, req in ms if req]
    fields = "".join(f"pub {snake(m)}: {rust_type(k, req)},\n" for m, k, req in ms)
    check = f"p.require(&[{', '.join(json.dumps(m) for m in required)}])?;\n" if required else ""
    reads = "".join(f"{snake(m)}: {read(k, m, req)},\n" for m, k, req in ms)
    audits = "\n".join(audit(k, snake(m), m, req) for m, k, req in ms if m not in SENSITIVE)
    if audits:
        audit_body = f"let mut m = Map::new();\n{audits}\nValue::Object(m)"
    else:
        audit_body = "Value::Object(Map::new())"
    p = "p" if ms else "_p"
    return f"""
/// The request of {service.upper()}'s `{op['name']}` operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct {name} {{
{fields}}}

impl {name} {{
    pub fn parse({p}: &Params) -> Result<Self, ApiError> {{
        {check}Ok(Self {{ {reads} }})
    }}

    /// The members that were sent, as CloudTrail's `requestParameters`.
    pub fn audit_parameters(&self) -> Value {{
        {audit_body}
    }}
}}
"""


def size(ms):
    """Roughly a request's size in bytes on a 64-bit target (a String or Vec is 24)."""
    small = {("int", True): 8, ("int", False): 16, ("bool", True): 1, ("bool", False): 1}
    return sum(small.get((k, req), 24) for _, k, req in ms)


def lints(sizes):
    """The allows the file needs: clippy flags an enum whose largest variant outgrows
    the next by more than 200 bytes."""
    first, second = sorted(sizes + [0, 0], reverse=True)[:2]
    if first - second <= 200:
        return ""
    return (
        "// An operation is parsed once per request and matched on by value; boxing the\n"
        "// large requests would only make every handler's pattern noisier.\n"
        "#![allow(clippy::large_enum_variant)]\n\n"
    )


def imports(kinds):
    """The `use` lines the generated code needs, given the member kinds it reads."""
    query = ["Params"] + [f for k, f in (("structs", "audit_structs"), ("tags", "audit_tags")) if k in kinds]
    json_ = ["json", "Map", "Value"] if kinds - {"tags", "structs"} else ["Map", "Value"]
    lines = [
        "use crate::error::{ApiError, ErrorCode};",
        f"use crate::query::{{{', '.join(query)}}};",
        f"use serde_json::{{{', '.join(json_)}}};",
    ]
    if "structs" in kinds:
        lines.append("use std::collections::BTreeMap;")
    return "\n".join(lines)


def lines(items, indent):
    return "".join(" " * indent + i + "\n" for i in items)


def generate(path, out_dir):
    with open(path, "rb") as f:
        raw = f.read()
    model = json.loads(raw)
    meta = model["metadata"]
    service = meta["endpointPrefix"]
    enum = service.capitalize() + "Operation"
    served_enum = service.capitalize() + "Served"
    served = SERVED[service]
    ops = model["operations"]
    missing = [s for s in served if s not in ops]
    assert not missing, f"served operations not in the model: {missing}"
    names = list(ops)
    served_set = set(served)
    kinds = {k for n in served for _, k, _ in members(ops[n], model["shapes"])}

    def variant(n):
        return f"{n}({n}Request)" if n in served_set else n

    def pattern(n):
        return f"Self::{n}(_)" if n in served_set else f"Self::{n}"

    def parse_arm(n):
        return f'"{n}" => Self::{n}({n}Request::parse(p)?),' if n in served_set else f'"{n}" => Self::{n},'

    header = f"""//! {meta['serviceFullName']}'s operations (API version {meta['apiVersion']}), typed.
//!
//! GENERATED by `crates/api/gen/query_ops.py` from the published model
//! `{os.path.basename(path)}` (uid `{meta['uid']}`, {len(names)} operations,
//! sha256 `{hashlib.sha256(raw).hexdigest()[:16]}`). Do not edit: change the generator and re-run it.
"""
    sizes = [size(members(ops[n], model["shapes"])) for n in served]
    code = f"""{header}
{lints(sizes)}{imports(kinds)}

/// The model's `apiVersion`.
pub const API_VERSION: &str = "{meta['apiVersion']}";

/// The XML namespace of this API's responses.
pub const XML_NAMESPACE: &str = "{meta['xmlNamespace']}";

/// Every operation in the model, in model order.
pub const NAMES: &[&str] = &[{', '.join(map(json.dumps, names))}];

/// The operations Coffer serves.
pub const SERVED: &[&str] = &[{', '.join(map(json.dumps, served))}];

/// AWS's answer to an action this API does not have.
pub fn unknown_action(action: &str) -> ApiError {{
    ApiError::new(
        ErrorCode::UnknownOperation,
        format!("Could not find operation {{action}} for version {{API_VERSION}}"),
    )
}}

/// Every operation of the model; the served ones carry their parsed request.
#[derive(Debug, Clone, PartialEq)]
pub enum {enum} {{
{lines((f"{variant(n)}," for n in names), 4)}}}

impl {enum} {{
    /// The operation named by `Action`, with its members parsed if it is served.
    pub fn parse(p: &Params) -> Result<Self, ApiError> {{
        let action = p.action()?;
        Ok(match action {{
{lines(map(parse_arm, names), 12)}            _ => return Err(unknown_action(action)),
        }})
    }}

    pub fn name(&self) -> &'static str {{
        match self {{
{lines((f'{pattern(n)} => "{n}",' for n in names), 12)}        }}
    }}

    /// Whether Coffer serves this operation (it carries a request).
    pub fn served(&self) -> bool {{
        matches!(self, {' | '.join(pattern(n) for n in served)})
    }}

    /// Whether the operation only reads (the audit record's `readOnly`).
    pub fn read_only(&self) -> bool {{
        crate::query::read_only(self.name())
    }}

    /// The members that were sent, as CloudTrail's `requestParameters`; `{{}}` for
    /// an operation that is not served.
    pub fn audit_parameters(&self) -> Value {{
        match self {{
{lines((f"Self::{n}(r) => r.audit_parameters()," for n in served), 12)}            _ => Value::Object(Map::new()),
        }}
    }}

    /// The served operation, or the name of one that is not served. Handlers
    /// match on [`{served_enum}`], which has no unserved variants, so their match
    /// needs no catch-all and a newly served operation without a handler does
    /// not compile.
    pub fn into_served(self) -> Result<{served_enum}, &'static str> {{
        match self {{
{lines((f"Self::{n}(r) => Ok({served_enum}::{n}(r))," for n in served), 12)}            other => Err(other.name()),
        }}
    }}
}}

/// The operations Coffer serves, with their requests.
#[derive(Debug, Clone, PartialEq)]
pub enum {served_enum} {{
{lines((f"{n}({n}Request)," for n in served), 4)}}}
"""
    code += "".join(request_struct(service, ops[n], model["shapes"]) for n in served)
    out = os.path.join(out_dir, f"{service}_ops.rs")
    with open(out, "w") as f:
        f.write(code)
    try:
        subprocess.run(["rustfmt", "--edition", "2021", out], check=True)
    except FileNotFoundError:
        print("rustfmt not found; run cargo fmt", file=sys.stderr)
    print(f"{out}: {len(names)} operations, {len(served)} served")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    for model_path in sys.argv[1:]:
        generate(model_path, os.path.normpath(out_dir))
