//! AWS's evaluation logic for one request: explicit deny wins; in one account an
//! allow from the identity side or a resource policy naming the principal is enough;
//! across accounts both sides must allow; session policies narrow an assumed role.

use crate::glob;
use crate::parse::{Effect, Patterns, Policy, PrincipalSpec, Statement};
use crate::vars::{escape_text, substitute};
use crate::{Context, Principal};

/// Everything a decision depends on.
pub struct Request<'a> {
    pub principal: &'a Principal,
    pub action: &'a str,
    pub resource: &'a str,
    /// The account that owns the resource.
    pub resource_account: &'a str,
    pub context: &'a Context,
    /// The principal's identity policies (a role's, for an assumed-role session).
    pub identity: &'a [Policy],
    /// Session policies passed to AssumeRole: they can only narrow.
    pub session: &'a [Policy],
    pub resource_policy: Option<&'a Policy>,
    /// The resource policy must allow, whatever the identity side says: a role's
    /// trust policy works this way for sts:AssumeRole.
    pub resource_must_allow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenySource {
    Identity,
    Session,
    Resource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A Deny statement matched.
    ExplicitDeny(DenySource),
    /// Nothing allowed it; the source says which kind of policy was missing.
    ImplicitDeny(DenySource),
}

impl Decision {
    pub fn allowed(self) -> bool {
        self == Decision::Allow
    }

    /// The tail of AWS's AccessDenied message for this decision.
    pub fn reason(self, action: &str) -> String {
        let kind = |s: DenySource| match s {
            DenySource::Identity => "an identity-based policy",
            DenySource::Session => "a session policy",
            DenySource::Resource => "a resource-based policy",
        };
        match self {
            Decision::Allow => String::new(),
            Decision::ExplicitDeny(s) => format!("with an explicit deny in {}", kind(s)),
            Decision::ImplicitDeny(s) => format!(
                "because no {} allows the {action} action",
                kind(s).trim_start_matches("an ").trim_start_matches("a ")
            ),
        }
    }
}

/// How a resource policy's `Principal` matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Named {
    /// The caller's account was named: that delegates to the account's own policies.
    Account,
    /// The role behind an assumed-role session was named.
    Role,
    /// The caller itself (or everyone) was named.
    Direct,
}

pub fn evaluate(req: &Request) -> Decision {
    let ident = outcome(req.identity, req, false);
    let session = outcome(req.session, req, false);
    let resource = req
        .resource_policy
        .map(|p| outcome(std::slice::from_ref(p), req, true))
        .unwrap_or_default();
    if ident.deny {
        return Decision::ExplicitDeny(DenySource::Identity);
    }
    if session.deny {
        return Decision::ExplicitDeny(DenySource::Session);
    }
    if resource.deny {
        return Decision::ExplicitDeny(DenySource::Resource);
    }
    if req.resource_must_allow && resource.allow.is_none() {
        return Decision::ImplicitDeny(DenySource::Resource);
    }
    let narrowed = req.session.is_empty() || session.allow.is_some();
    // The root user holds every permission of its own account.
    let identity_allows = (req.principal.is_root() || ident.allow.is_some()) && narrowed;
    let same_account = req.principal.account == req.resource_account;
    if same_account {
        if identity_allows {
            return Decision::Allow;
        }
        match resource.allow {
            Some(Named::Direct) => return Decision::Allow,
            Some(Named::Role) if narrowed => return Decision::Allow,
            _ => {}
        }
        if !narrowed && (ident.allow.is_some() || resource.allow >= Some(Named::Role)) {
            return Decision::ImplicitDeny(DenySource::Session);
        }
        return Decision::ImplicitDeny(DenySource::Identity);
    }
    match (identity_allows, resource.allow.is_some()) {
        (true, true) => Decision::Allow,
        (true, false) => Decision::ImplicitDeny(DenySource::Resource),
        (false, _) if !narrowed && ident.allow.is_some() => {
            Decision::ImplicitDeny(DenySource::Session)
        }
        (false, _) => Decision::ImplicitDeny(DenySource::Identity),
    }
}

#[derive(Default)]
struct Outcome {
    deny: bool,
    /// For identity policies any `Some` means allowed.
    allow: Option<Named>,
}

fn outcome(policies: &[Policy], req: &Request, resource_based: bool) -> Outcome {
    let mut out = Outcome::default();
    if policies.is_empty() {
        return out;
    }
    // Once per request, not once per pattern: evaluation runs on every call.
    let text = escape_text(req.resource);
    let target = Target {
        parts: glob::split6(&text),
        text: &text,
    };
    for st in policies.iter().flat_map(|p| &p.statements) {
        let named = if resource_based {
            match principal_match(st, req.principal) {
                Some(n) => n,
                None => continue,
            }
        } else {
            Named::Direct
        };
        if !statement_applies(st, req, &target) {
            continue;
        }
        match st.effect {
            Effect::Deny => out.deny = true,
            Effect::Allow => out.allow = out.allow.max(Some(named)),
        }
    }
    out
}

/// Action, resource and conditions: everything but the principal.
/// The resource as matching needs it: wildcards escaped, split into ARN parts.
struct Target<'a> {
    text: &'a str,
    parts: Option<[&'a str; 6]>,
}

fn statement_applies(st: &Statement, req: &Request, target: &Target) -> bool {
    let action_hit = st.action.pats.iter().any(|a| a.matches(req.action, true));
    if action_hit == st.action.negated {
        return false;
    }
    if let Some(res) = &st.resource {
        if !resource_hit(res, target, req.context) {
            return false;
        }
    }
    st.conditions.iter().all(|c| c.holds(req.context))
}

fn resource_hit(res: &Patterns, target: &Target, ctx: &Context) -> bool {
    let hit =
        res.values
            .iter()
            .zip(&res.arn_parts)
            .any(|(p, parts)| match (parts, &target.parts) {
                (Some(pp), Some(tp)) => glob::arn_parts_match(pp, tp),
                _ => match substitute(p, ctx) {
                    Some(p) => glob::arn_matches(&p, target.text),
                    None => false,
                },
            });
    hit != res.negated
}

/// Whether a statement names the caller. A web identity is allowed only where
/// it is named as itself, under `Federated` (`*` and accounts name IAM
/// principals, who sign their requests); a Deny naming everyone covers it
/// too, so guardrails written with `"Principal": "*"` still hold.
fn principal_match(st: &Statement, who: &Principal) -> Option<Named> {
    let (negated, spec) = st.principal.as_ref()?;
    let deny = matches!(st.effect, Effect::Deny);
    let federated = who.is_federated();
    let named = match spec {
        PrincipalSpec::Any => (deny || !federated).then_some(Named::Direct),
        PrincipalSpec::Named(entries) => entries
            .iter()
            .flat_map(|(kind, values)| values.iter().map(move |v| (kind, v)))
            .filter_map(|(kind, v)| name_matches(kind, v, who, deny))
            .max(),
    };
    match (negated, named) {
        (false, n) => n,
        (true, Some(_)) => None,
        // `NotPrincipal` in an Allow would name every web identity it does
        // not list: none is allowed that way.
        (true, None) if federated && !deny => None,
        (true, None) => Some(Named::Direct),
    }
}

fn name_matches(kind: &str, value: &str, who: &Principal, deny: bool) -> Option<Named> {
    if who.is_federated() {
        let named =
            (kind == "Federated" && value == who.arn) || (deny && kind == "AWS" && value == "*");
        return named.then_some(Named::Direct);
    }
    if kind != "AWS" {
        return (value == who.arn).then_some(Named::Direct);
    }
    if value == "*" || value == who.arn {
        return Some(Named::Direct);
    }
    if who.role_arn.as_deref() == Some(value) {
        return Some(Named::Role);
    }
    let account = value
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.strip_suffix(":root"))
        .unwrap_or(value);
    (account == who.account).then_some(Named::Account)
}
