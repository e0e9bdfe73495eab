//! IAM wildcards: `*` matches any run of characters, `?` any one character.
//!
//! Evaluation runs on every request, so matching works on the strings in place:
//! no allocation, linear time with one backtrack point (a hostile pattern cannot
//! make it slow).

/// Does `text` match `pattern`?
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    if pattern == "*" {
        return true;
    }
    if !pattern.bytes().any(|b| b == b'*' || b == b'?') {
        return if ignore_case {
            pattern.eq_ignore_ascii_case(text)
                || (!(pattern.is_ascii() && text.is_ascii()) && chars_eq(pattern, text))
        } else {
            pattern == text
        };
    }
    if pattern.is_ascii() && text.is_ascii() {
        return match_units(pattern.as_bytes(), text.as_bytes(), |a, b| {
            a == b || (ignore_case && a.eq_ignore_ascii_case(&b))
        });
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    match_units(&p, &t, |a, b| {
        a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()))
    })
}

trait Unit: Copy {
    fn is_star(self) -> bool;
    fn is_any(self) -> bool;
}

impl Unit for u8 {
    fn is_star(self) -> bool {
        self == b'*'
    }
    fn is_any(self) -> bool {
        self == b'?'
    }
}

impl Unit for char {
    fn is_star(self) -> bool {
        self == '*'
    }
    fn is_any(self) -> bool {
        self == '?'
    }
}

fn match_units<U: Unit>(p: &[U], t: &[U], eq: impl Fn(U, U) -> bool) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi].is_star() {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi].is_any() || eq(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| c.is_star())
}

/// ARN matching as `ArnLike` and the `Resource` element do it: the first five
/// colon-separated parts are matched one by one (so `*` cannot swallow a colon
/// there), the resource part as a whole.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match (split6(pattern), split6(arn)) {
        (Some(p), Some(a)) => p.iter().zip(a).all(|(p, a)| matches(p, a, false)),
        (None, Some(_)) => false,
        _ => matches(pattern, arn, false),
    }
}

/// A pattern classified once, at parse time, so per-request matching skips the
/// scan for wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pat {
    /// `*`: matches anything.
    Any,
    /// No wildcard: plain comparison.
    Exact(String),
    Glob(String),
}

impl Pat {
    pub fn new(p: &str) -> Pat {
        if p == "*" {
            Pat::Any
        } else if p.bytes().any(|b| b == b'*' || b == b'?') {
            Pat::Glob(p.to_string())
        } else {
            Pat::Exact(p.to_string())
        }
    }

    pub fn matches(&self, text: &str, ignore_case: bool) -> bool {
        match self {
            Pat::Any => true,
            Pat::Exact(p) if ignore_case => {
                p.eq_ignore_ascii_case(text)
                    || (!(p.is_ascii() && text.is_ascii()) && chars_eq(p, text))
            }
            Pat::Exact(p) => p == text,
            Pat::Glob(p) => matches(p, text, ignore_case),
        }
    }
}

/// Matches a pattern split at parse time against an ARN split once per request.
pub(crate) fn arn_parts_match(pattern: &[Pat; 6], arn: &[&str; 6]) -> bool {
    pattern.iter().zip(arn).all(|(p, a)| p.matches(a, false))
}

/// Case-insensitive equality beyond ASCII.
fn chars_eq(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// The six parts of an ARN (the last keeps its colons), without allocating.
pub(crate) fn split6(s: &str) -> Option<[&str; 6]> {
    let mut out = [""; 6];
    let mut start = 0;
    let mut n = 0;
    for (i, b) in s.bytes().enumerate() {
        if b == b':' && n < 5 {
            out[n] = &s[start..i];
            n += 1;
            start = i + 1;
        }
    }
    if n < 5 {
        return None;
    }
    out[5] = &s[start..];
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", "", false));
        assert!(matches(
            "secretsmanager:Get*",
            "secretsmanager:GetSecretValue",
            false
        ));
        assert!(matches(
            "secretsmanager:get*",
            "secretsmanager:GetSecretValue",
            true
        ));
        assert!(!matches(
            "secretsmanager:get*",
            "secretsmanager:GetSecretValue",
            false
        ));
        assert!(matches("a?c", "abc", false));
        assert!(!matches("a?c", "ac", false));
        assert!(matches("*Secret*", "GetSecretValue", false));
        assert!(!matches("*Secret", "GetSecretValue", false));
        assert!(matches("a*b*c", "axxbyyc", false));
        assert!(!matches("a*b*c", "axxbyy", false));
        // Non-ASCII text takes the char path.
        assert!(matches("caf?/*", "café/x", false));
        assert!(matches("CAFÉ", "café", true));
    }

    #[test]
    fn arns() {
        let arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:dev/db-AbCdEf";
        assert!(arn_matches("*", arn));
        assert!(arn_matches("arn:aws:secretsmanager:*:*:secret:dev/*", arn));
        assert!(arn_matches(
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:dev/db-??????",
            arn
        ));
        assert!(!arn_matches(
            "arn:aws:secretsmanager:us-west-2:*:secret:*",
            arn
        ));
        assert!(!arn_matches(
            "arn:aws:secretsmanager:*:*:secret:prod/*",
            arn
        ));
        // A star in the account part does not reach into the resource part.
        assert!(!arn_matches("arn:aws:secretsmanager:us-east-1:*", arn));
    }
}
