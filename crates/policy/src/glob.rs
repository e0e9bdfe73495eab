//! IAM wildcards: `*` matches any run of characters, `?` any one character.

/// Does `text` match `pattern`? Linear-time with one backtrack point, so a
/// hostile pattern cannot make evaluation slow.
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if ignore_case {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || eq(p[pi], t[ti])) {
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
    p[pi..].iter().all(|&c| c == '*')
}

/// ARN matching as `ArnLike` and the `Resource` element do it: the first five
/// colon-separated parts are matched one by one (so `*` cannot swallow a colon
/// there), the resource part as a whole.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pp: Vec<&str> = pattern.splitn(6, ':').collect();
    let ap: Vec<&str> = arn.splitn(6, ':').collect();
    if ap.len() != 6 {
        return matches(pattern, arn, false);
    }
    if pp.len() != 6 {
        return false;
    }
    pp.iter().zip(&ap).all(|(p, a)| matches(p, a, false))
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
