//! GetRandomPassword's generator, also used by rotators.

use coffer_api::ApiError;
use rand::seq::SliceRandom;
use rand::Rng;

/// AWS's punctuation set.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

#[derive(Debug, Clone)]
// The flags are GetRandomPassword's own request members, one for one.
#[allow(clippy::struct_excessive_bools)]
pub struct PasswordSpec {
    pub length: usize,
    pub exclude_characters: String,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub include_space: bool,
    pub require_each_included_type: bool,
}

impl Default for PasswordSpec {
    fn default() -> Self {
        PasswordSpec {
            length: 32,
            exclude_characters: String::new(),
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            include_space: false,
            require_each_included_type: true,
        }
    }
}

/// A password drawn uniformly from the allowed characters with the OS's CSPRNG;
/// when each type is required, one character of each type is placed at random.
pub fn generate(spec: &PasswordSpec) -> Result<String, ApiError> {
    let keep = |set: &str| -> Vec<char> {
        set.chars()
            .filter(|c| !spec.exclude_characters.contains(*c))
            .collect()
    };
    let mut classes: Vec<Vec<char>> = Vec::new();
    if !spec.exclude_lowercase {
        classes.push(keep("abcdefghijklmnopqrstuvwxyz"));
    }
    if !spec.exclude_uppercase {
        classes.push(keep("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
    }
    if !spec.exclude_numbers {
        classes.push(keep("0123456789"));
    }
    if !spec.exclude_punctuation {
        classes.push(keep(PUNCTUATION));
    }
    if spec.include_space {
        classes.push(keep(" "));
    }
    classes.retain(|c| !c.is_empty());
    let all: Vec<char> = classes.iter().flatten().copied().collect();
    if all.is_empty() {
        return Err(ApiError::invalid_param(
            "The password can't be generated: every character type is excluded.",
        ));
    }
    if spec.require_each_included_type && spec.length < classes.len() {
        return Err(ApiError::invalid_param(
            "The password length is too short to include one character of each included type.",
        ));
    }
    let mut rng = rand::rngs::OsRng;
    let mut out: Vec<char> = Vec::with_capacity(spec.length);
    if spec.require_each_included_type {
        for class in &classes {
            out.push(class[rng.gen_range(0..class.len())]);
        }
    }
    while out.len() < spec.length {
        out.push(all[rng.gen_range(0..all.len())]);
    }
    out.shuffle(&mut rng);
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_32_with_every_type() {
        for _ in 0..50 {
            let p = generate(&PasswordSpec::default()).unwrap();
            assert_eq!(p.chars().count(), 32);
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| PUNCTUATION.contains(c)));
            assert!(!p.contains(' '));
        }
    }

    #[test]
    fn exclusions_hold() {
        let spec = PasswordSpec {
            length: 200,
            exclude_characters: "abc123".into(),
            exclude_punctuation: true,
            exclude_uppercase: true,
            include_space: true,
            ..Default::default()
        };
        let p = generate(&spec).unwrap();
        assert!(p.chars().all(
            |c| (c.is_ascii_lowercase() || c.is_ascii_digit() || c == ' ') && !"abc123".contains(c)
        ));
        assert!(p.contains(' '));
    }

    #[test]
    fn impossible_specs_are_refused() {
        let none = PasswordSpec {
            exclude_lowercase: true,
            exclude_uppercase: true,
            exclude_numbers: true,
            exclude_punctuation: true,
            ..Default::default()
        };
        assert!(generate(&none).is_err());
        let short = PasswordSpec {
            length: 3,
            ..Default::default()
        };
        assert!(generate(&short).is_err());
        let short_ok = PasswordSpec {
            length: 3,
            require_each_included_type: false,
            ..Default::default()
        };
        assert_eq!(generate(&short_ok).unwrap().len(), 3);
    }
}
