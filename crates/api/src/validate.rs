//! Model constraints that the server must enforce itself (max, pattern, enum).
//!
//! Messages follow AWS's validation format: `1 validation error detected: Value at
//! 'field' failed to satisfy constraint: ...`. Values are never echoed, since some
//! fields carry secrets.

use crate::error::{ApiError, ErrorCode};
use crate::types::Tag;

fn violation(field: &str, constraint: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Validation,
        format!("1 validation error detected: Value at '{field}' failed to satisfy constraint: {constraint}"),
    )
}

/// A required string member with a length range in characters.
pub fn required<'a>(
    value: Option<&'a str>,
    field: &str,
    min: usize,
    max: usize,
) -> Result<&'a str, ApiError> {
    let v = value.ok_or_else(|| violation(field, "Member must not be null"))?;
    length(v, field, min, max)?;
    Ok(v)
}

/// An optional string member with a length range in characters.
pub fn optional<'a>(
    value: Option<&'a str>,
    field: &str,
    min: usize,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    if let Some(v) = value {
        length(v, field, min, max)?;
    }
    Ok(value)
}

pub fn length(v: &str, field: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = v.chars().count();
    if n < min {
        return Err(violation(
            field,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(violation(
            field,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// A number member with a range.
pub fn range(v: i64, field: &str, min: i64, max: i64) -> Result<(), ApiError> {
    if v < min {
        return Err(violation(
            field,
            &format!("Member must have value greater than or equal to {min}"),
        ));
    }
    if v > max {
        return Err(violation(
            field,
            &format!("Member must have value less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// A member constrained to an enum.
pub fn one_of(v: &str, field: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(violation(
            field,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        ))
    }
}

/// `SecretId`: a name or an ARN, 1–2048 characters.
/// A name is held to the name's characters, as AWS does on every operation.
pub fn secret_id(v: Option<&str>) -> Result<&str, ApiError> {
    let id = required(v, "secretId", 1, 2048)?;
    if !id.starts_with("arn:") && !name_chars(id) {
        return Err(invalid_name());
    }
    Ok(id)
}

fn name_chars(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-!".contains(c))
}

fn invalid_name() -> ApiError {
    ApiError::new(
        ErrorCode::Validation,
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
    )
}

/// `ClientRequestToken` / `VersionId`: 32–64 characters.
pub fn version_id<'a>(v: Option<&'a str>, field: &str) -> Result<Option<&'a str>, ApiError> {
    optional(v, field, 32, 64)
}

/// Secret names: 1–512 characters of letters, digits and `/_+=.@-!`.
pub fn secret_name(v: Option<&str>) -> Result<&str, ApiError> {
    let name = required(v, "name", 1, 512)?;
    if !name_chars(name) {
        return Err(invalid_name());
    }
    Ok(name)
}

/// A secret value's size: 1–65,536 bytes.
pub fn value_size(len: usize, field: &str) -> Result<(), ApiError> {
    if len == 0 {
        return Err(violation(
            field,
            "Member must have length greater than or equal to 1",
        ));
    }
    if len > 65_536 {
        return Err(violation(
            field,
            "Member must have length less than or equal to 65536",
        ));
    }
    Ok(())
}

/// Staging labels: 1–20 labels of 1–256 characters.
pub fn version_stages(stages: &[String]) -> Result<(), ApiError> {
    if stages.is_empty() || stages.len() > 20 {
        return Err(violation(
            "versionStages",
            "Member must have length less than or equal to 20 and greater than or equal to 1",
        ));
    }
    for s in stages {
        length(s, "versionStages.member", 1, 256)?;
    }
    Ok(())
}

/// Tags: keys 1–128 and values 0–256 characters, no `aws:` prefix, at most 50.
pub fn tags(tags: &[Tag]) -> Result<(), ApiError> {
    if tags.len() > 50 {
        return Err(ApiError::invalid_param(
            "The number of tags exceeds the limit of 50.",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for t in tags {
        let key = required(t.key.as_deref(), "tags.member.key", 1, 128)?;
        // Condition keys (`aws:RequestTag/team`) ignore case: two keys that differ
        // only in case would let a policy see one value while the other is stored.
        if !seen.insert(key.to_lowercase()) {
            return Err(ApiError::invalid_param(
                "Duplicate tag keys found. Tag keys are case insensitive.",
            ));
        }
        optional(t.value.as_deref(), "tags.member.value", 0, 256)?;
        tag_key_chars(key)?;
        if let Some(v) = &t.value {
            tag_chars(v, "tags.member.value")?;
        }
    }
    Ok(())
}

pub fn tag_key_chars(key: &str) -> Result<(), ApiError> {
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(ApiError::invalid_param(
            "Invalid tag key: the aws: prefix is reserved for AWS use.",
        ));
    }
    tag_chars(key, "tags.member.key")
}

/// AWS's tag pattern: letters, digits, white space and `_.:/=+-@`.
fn tag_chars(v: &str, field: &str) -> Result<(), ApiError> {
    let ok = v
        .chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(violation(
            field,
            "Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$",
        ))
    }
}

/// List filter values: up to 512 of `[a-zA-Z0-9 :_@/+=.-!]`, an optional leading `!`.
pub fn filter_value(v: &str) -> Result<(), ApiError> {
    length(v, "filters.member.values.member", 0, 512)?;
    let ok = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " :_@/+=.-!".contains(c));
    if ok {
        Ok(())
    } else {
        Err(violation(
            "filters.member.values.member",
            "Member must satisfy regular expression pattern: ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws() {
        for ok in ["a", "Valid/_+=.@-Name", "x!y", &"n".repeat(512)] {
            assert!(secret_name(Some(ok)).is_ok(), "{ok}");
        }
        for bad in ["Inv Name", " Inv Name", " Inv*Name? ", "é"] {
            let e = secret_name(Some(bad)).unwrap_err();
            assert_eq!(e.code, ErrorCode::Validation, "{bad}");
        }
        assert!(secret_name(Some(&"n".repeat(513))).is_err());
        assert!(secret_name(None).is_err());
    }

    #[test]
    fn value_size_limits() {
        assert!(value_size(65_536, "secretString").is_ok());
        assert!(value_size(65_537, "secretString").is_err());
        assert!(value_size(0, "secretString").is_err());
    }

    #[test]
    fn tags_reject_reserved_prefix_and_bad_chars() {
        let t = |k: &str, v: &str| Tag {
            key: Some(k.into()),
            value: Some(v.into()),
        };
        assert!(tags(&[t("Team", "Dev")]).is_ok());
        assert!(tags(&[t("aws:x", "v")]).is_err());
        assert!(tags(&[t("a*b", "v")]).is_err());
        assert!(tags(&[t("", "v")]).is_err());
        assert!(tags(&[t("team", "a"), t("Team", "b")]).is_err());
        let many: Vec<_> = (0..51).map(|i| t(&format!("k{i}"), "v")).collect();
        assert!(tags(&many).is_err());
    }

    #[test]
    fn filter_values() {
        assert!(filter_value("!prod/db").is_ok());
        assert!(filter_value("a*").is_err());
    }
}
