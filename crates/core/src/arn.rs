//! Secret ARNs: building them, and reading a `SecretId` that may be a name, a full
//! ARN or a partial ARN (one without the 6-character suffix).

use rand::Rng;

/// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX`.
pub fn secret_arn(region: &str, account: &str, name: &str, suffix: &str) -> String {
    format!("arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}")
}

/// Six random letters and digits, as AWS appends to every secret ARN.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..6)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A `SecretId` as the caller gave it.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretRef<'a> {
    Name(&'a str),
    /// A secret ARN: its region, account and resource part (a name, with or without
    /// the suffix).
    Arn {
        arn: &'a str,
        region: &'a str,
        account: &'a str,
        resource: &'a str,
    },
}

/// The same secret's ARN in another account and region (where its replica
/// lives); None if `arn` is not a secret's full ARN.
pub fn elsewhere(arn: &str, account: &str, region: &str) -> Option<String> {
    match parse_secret_id(arn) {
        SecretRef::Arn { resource, .. } if !resource.contains(':') => Some(format!(
            "arn:aws:secretsmanager:{region}:{account}:secret:{resource}"
        )),
        _ => None,
    }
}

/// Whether a resource part ends in AWS's `-` and six letters or digits.
pub fn has_suffix(resource: &str) -> bool {
    let b = resource.as_bytes();
    b.len() > 7 && b[b.len() - 7] == b'-' && b[b.len() - 6..].iter().all(u8::is_ascii_alphanumeric)
}

/// Whether `arn` is the full ARN of the secret `name`: its resource part is
/// exactly the name and a suffix.
pub fn names(arn: &str, name: &str) -> bool {
    match parse_secret_id(arn) {
        SecretRef::Arn { resource, .. } => {
            resource.len() == name.len() + 7 && resource.starts_with(name) && has_suffix(resource)
        }
        SecretRef::Name(_) => false,
    }
}

pub fn parse_secret_id(id: &str) -> SecretRef<'_> {
    if let Some(rest) = id.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(6, ':').collect();
        if parts.len() == 6 && parts[1] == "secretsmanager" && parts[4] == "secret" {
            return SecretRef::Arn {
                arn: id,
                region: parts[2],
                account: parts[3],
                resource: parts[5],
            };
        }
    }
    SecretRef::Name(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_arns() {
        assert_eq!(parse_secret_id("prod/db"), SecretRef::Name("prod/db"));
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";
        assert_eq!(
            parse_secret_id(arn),
            SecretRef::Arn {
                arn,
                region: "us-east-1",
                account: "123456789012",
                resource: "prod/db-AbCdEf"
            }
        );
        // Not a secret ARN: treated as a name (and will simply not be found).
        assert_eq!(
            parse_secret_id("arn:aws:s3:::bucket"),
            SecretRef::Name("arn:aws:s3:::bucket")
        );
    }

    #[test]
    fn an_arn_names_its_secret_exactly() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf";
        assert!(names(arn, "app/db"));
        assert!(!names(arn, "app"));
        assert!(!names(
            "arn:aws:secretsmanager:us-east-1:1:secret:x:secret:app/db-AbCdEf",
            "app/db"
        ));
        assert_eq!(
            elsewhere(arn, "210987654321", "eu-west-1").as_deref(),
            Some("arn:aws:secretsmanager:eu-west-1:210987654321:secret:app/db-AbCdEf")
        );
        assert_eq!(elsewhere("app/db", "1", "eu-west-1"), None);
    }

    #[test]
    fn suffixes_are_six_alphanumerics() {
        let s = random_suffix();
        assert_eq!(s.len(), 6);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
