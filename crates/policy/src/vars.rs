//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team}`, the escapes
//! `${*}`, `${?}`, `${$}`, and defaults (`${aws:username, 'nobody'}`).

use crate::Context;
use std::borrow::Cow;

/// Substitutes the variables in `s`. `None` if a variable has no value and no
/// default: AWS then treats the element as not matching.
pub fn substitute<'a>(s: &'a str, ctx: &Context) -> Option<Cow<'a, str>> {
    if !s.as_bytes().contains(&b'$') || !s.contains("${") {
        return Some(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Some(Cow::Owned(out));
        };
        let inner = &after[..end];
        out.push_str(&escape_wildcards(piece(inner, ctx)?));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

/// What one variable stands for: `${*}`, `${?}` and `${$}` are those characters
/// (literal, not wildcards, once escaped), anything else a context value or default.
fn piece<'a>(inner: &'a str, ctx: &'a Context) -> Option<&'a str> {
    if matches!(inner, "*" | "?" | "$") {
        return Some(inner);
    }
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => {
            let d = d.trim();
            let d = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\''))?;
            (k.trim(), Some(d))
        }
        None => (inner.trim(), None),
    };
    ctx.first(key).or(default)
}

/// Values substituted into a pattern are literal: a user named `a*` must not match
/// every resource starting with `a`. Their wildcards become private-use characters,
/// and the text matched against gets the same treatment (`escape_text`), so the glob
/// matcher itself needs no notion of escaping.
fn escape_wildcards(s: &str) -> String {
    s.replace('*', "\u{E000}").replace('?', "\u{E001}")
}

/// Pattern and text are compared after `escape_wildcards` has marked literal
/// wildcards in the pattern; the text marks its own the same way.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b == b'*' || b == b'?') {
        Cow::Owned(escape_wildcards(s))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution() {
        let mut ctx = Context::new();
        ctx.set("aws:username", "alice")
            .set("aws:PrincipalTag/team", "dev");
        assert_eq!(
            substitute("arn:aws:iam::1:user/${aws:username}", &ctx).unwrap(),
            "arn:aws:iam::1:user/alice"
        );
        assert_eq!(
            substitute("${aws:principaltag/TEAM}/*", &ctx).unwrap(),
            "dev/*"
        );
        assert_eq!(substitute("${aws:missing}", &ctx), None);
        assert_eq!(substitute("${aws:missing, 'none'}", &ctx).unwrap(), "none");
        assert_eq!(substitute("a${*}b", &ctx).unwrap(), "a\u{E000}b");
    }
}
