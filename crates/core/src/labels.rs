//! How staging labels move, as AWS moves them. Pure functions over (version id,
//! labels) lists; the operations turn the result into a store mutation.
//!
//! - A label lives on one version at a time: attaching it elsewhere detaches it.
//! - When AWSCURRENT moves, the version that had it gets AWSPREVIOUS (taken from
//!   whichever version had that).
//! - A version left with no label is deprecated; it stays listed with
//!   `IncludeDeprecated` until pruned past the version limit.

use coffer_api::ApiError;

pub const CURRENT: &str = "AWSCURRENT";
pub const PREVIOUS: &str = "AWSPREVIOUS";
pub const PENDING: &str = "AWSPENDING";

/// Deprecated versions younger than this are not pruned (AWS's rule; the store
/// keeps the newest `coffer_store::KEEP_VERSIONS` whatever their age).
pub const PRUNE_MIN_AGE_MS: i64 = 86_400_000;
/// At most this many labels on one version.
pub const MAX_LABELS_PER_VERSION: usize = 20;

/// Labels of every version of a secret, oldest version first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap(pub Vec<(String, Vec<String>)>);

impl LabelMap {
    pub fn holder(&self, label: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, ls)| ls.iter().any(|l| l == label))
            .map(|(v, _)| v.as_str())
    }

    pub fn labels_of(&self, version: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, ls)| ls.as_slice())
    }

    fn detach(&mut self, label: &str) {
        for (_, ls) in &mut self.0 {
            ls.retain(|l| l != label);
        }
    }

    fn attach(&mut self, version: &str, label: &str) {
        if let Some((_, ls)) = self.0.iter_mut().find(|(v, _)| v == version) {
            if !ls.iter().any(|l| l == label) {
                ls.push(label.to_string());
            }
        }
    }

    /// Attaches `label` to `version`, detaching it from wherever it was; moving
    /// AWSCURRENT demotes the old holder to AWSPREVIOUS.
    pub fn put(&mut self, version: &str, label: &str) {
        let old = self.holder(label).map(str::to_string);
        if old.as_deref() == Some(version) {
            return;
        }
        self.detach(label);
        self.attach(version, label);
        if label == CURRENT {
            if let Some(old) = old {
                self.detach(PREVIOUS);
                self.attach(&old, PREVIOUS);
            }
        }
    }

    /// Adds a new version (no labels yet) at the end.
    pub fn add_version(&mut self, version: &str) {
        self.0.push((version.to_string(), Vec::new()));
    }

    pub fn remove(&mut self, version: &str, label: &str) {
        if let Some((_, ls)) = self.0.iter_mut().find(|(v, _)| v == version) {
            ls.retain(|l| l != label);
        }
    }

    pub fn check_label_limit(&self) -> Result<(), ApiError> {
        if self
            .0
            .iter()
            .any(|(_, ls)| ls.len() > MAX_LABELS_PER_VERSION)
        {
            return Err(ApiError::new(
                coffer_api::ErrorCode::LimitExceeded,
                "A version can't have more than 20 staging labels attached.",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &[&str])]) -> LabelMap {
        LabelMap(
            entries
                .iter()
                .map(|(v, ls)| {
                    (
                        v.to_string(),
                        ls.iter().map(std::string::ToString::to_string).collect(),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn new_current_demotes_old_to_previous() {
        let mut m = map(&[("v1", &["AWSPREVIOUS"]), ("v2", &["AWSCURRENT"])]);
        m.add_version("v3");
        m.put("v3", CURRENT);
        assert_eq!(
            m,
            map(&[
                ("v1", &[]),
                ("v2", &["AWSPREVIOUS"]),
                ("v3", &["AWSCURRENT"])
            ])
        );
    }

    /// AWS's recorded cycle: AWSPENDING moves with a new put, AWSCURRENT's move
    /// leaves AWSPENDING where it was.
    #[test]
    fn pending_cycle_as_recorded() {
        let mut m = map(&[
            ("v1", &["AWSPREVIOUS"]),
            ("v2", &["AWSCURRENT", "PUT0"]),
            ("v3", &["AWSPENDING", "PUT1"]),
        ]);
        m.put("v3", CURRENT);
        assert_eq!(
            m,
            map(&[
                ("v1", &[]),
                ("v2", &["PUT0", "AWSPREVIOUS"]),
                ("v3", &["AWSPENDING", "PUT1", "AWSCURRENT"])
            ])
        );
        m.add_version("v4");
        m.put("v4", PENDING);
        m.put("v4", "PUT2");
        assert_eq!(m.labels_of("v3").unwrap(), ["PUT1", "AWSCURRENT"]);
        assert_eq!(m.holder(PENDING), Some("v4"));
    }

    #[test]
    fn custom_labels_move_alone() {
        let mut m = map(&[("v1", &["AWSCURRENT"]), ("v2", &["one", "three", "two"])]);
        m.add_version("v3");
        for l in ["four", "one", "two"] {
            m.put("v3", l);
        }
        assert_eq!(
            m,
            map(&[
                ("v1", &["AWSCURRENT"]),
                ("v2", &["three"]),
                ("v3", &["four", "one", "two"])
            ])
        );
    }

    #[test]
    fn putting_a_label_where_it_is_changes_nothing() {
        let mut m = map(&[("v1", &["AWSPREVIOUS"]), ("v2", &["AWSCURRENT"])]);
        m.put("v2", CURRENT);
        assert_eq!(m, map(&[("v1", &["AWSPREVIOUS"]), ("v2", &["AWSCURRENT"])]));
    }
}
