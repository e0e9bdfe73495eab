//! The SSRF token: read from the first set variable of the configured list, with
//! `file://PATH` indirection, and compared in constant time (the AWS agent uses
//! plain `==`).

use std::fmt;
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("none of the SSRF token variables is set: {0}")]
    NotSet(String),
    #[error("reading the SSRF token from {0}: {1}")]
    File(String, std::io::Error),
    #[error("the SSRF token is empty")]
    Empty,
}

pub struct SsrfToken(String);

impl SsrfToken {
    pub fn new(value: String) -> Result<Self, TokenError> {
        if value.is_empty() {
            return Err(TokenError::Empty);
        }
        Ok(SsrfToken(value))
    }

    /// Looks the token up through `lookup` (the process environment, in the binary).
    pub fn resolve(
        vars: &[String],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TokenError> {
        let value = vars
            .iter()
            .find_map(|v| lookup(v))
            .ok_or_else(|| TokenError::NotSet(vars.join(", ")))?;
        match value.strip_prefix("file://") {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| TokenError::File(path.to_string(), e))?;
                Self::new(text.trim().to_string())
            }
            None => Self::new(value),
        }
    }

    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.len() == presented.len() && bool::from(self.0.as_bytes().ct_eq(presented))
    }
}

impl fmt::Debug for SsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SsrfToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[&str]) -> Vec<String> {
        v.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn first_set_variable_wins() {
        let env = |k: &str| match k {
            "B" => Some("bee".to_string()),
            "C" => Some("sea".to_string()),
            _ => None,
        };
        let t = SsrfToken::resolve(&vars(&["A", "B", "C"]), env).unwrap();
        assert!(t.matches(b"bee") && !t.matches(b"sea") && !t.matches(b"be"));
        assert!(matches!(
            SsrfToken::resolve(&vars(&["A"]), env),
            Err(TokenError::NotSet(_))
        ));
        assert!(!format!("{t:?}").contains("bee"));
    }

    #[test]
    fn file_indirection() {
        let dir = std::env::temp_dir().join(format!("coffer-token-{}", std::process::id()));
        std::fs::write(&dir, "from-file\n").unwrap();
        let value = format!("file://{}", dir.display());
        let t = SsrfToken::resolve(&vars(&["T"]), |_| Some(value.clone())).unwrap();
        assert!(t.matches(b"from-file"));
        std::fs::remove_file(&dir).unwrap();
        assert!(matches!(
            SsrfToken::resolve(&vars(&["T"]), |_| Some(value.clone())),
            Err(TokenError::File(..))
        ));
    }
}
