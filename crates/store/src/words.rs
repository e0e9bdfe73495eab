//! The word index behind ListSecrets' filters.
//!
//! AWS matches a filter value against the start of a name, description or tag
//! (key or value), or against the start of any of its words. Each secret's
//! texts and their words are kept lowercased in `secret_words`, so a filter
//! becomes a range lookup (`word >= v AND word < v + U+10FFFF`) giving the
//! secrets that may match; the caller's exact filter (case and all) then
//! decides. The index answers a superset, never less.

use crate::SecretRow;
use std::collections::BTreeSet;

/// Which text a word came from.
pub const NAME: &str = "n";
pub const DESCRIPTION: &str = "d";
pub const TAG_KEY: &str = "k";
pub const TAG_VALUE: &str = "v";

/// Terms are cut to this many bytes (on a character boundary), and probes too:
/// a cut probe finds a superset, and no index entry grows without bound.
const MAX_TERM: usize = 200;

/// Up to how many index entries a probe narrows the walk to its candidates.
/// Beyond it, at least one secret in `total / CANDIDATES_MAX` matches, so
/// walking the order's index and filtering finds a page sooner than sorting
/// every candidate would.
pub const CANDIDATES_MAX: i64 = 4096;

/// The upper end of a prefix range: after every string starting with the prefix.
pub const RANGE_END: char = '\u{10FFFF}';

fn cut(s: &str) -> &str {
    if s.len() <= MAX_TERM {
        return s;
    }
    let mut end = MAX_TERM;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A probe value as the index holds terms: lowercased and cut.
pub fn probe_term(value: &str) -> String {
    cut(&value.to_lowercase()).to_string()
}

fn add(out: &mut BTreeSet<(&'static str, String)>, field: &'static str, text: &str) {
    let lower = text.to_lowercase();
    out.insert((field, cut(&lower).to_string()));
    for w in lower.split(|c: char| !c.is_alphanumeric()) {
        if !w.is_empty() {
            out.insert((field, cut(w).to_string()));
        }
    }
}

/// Every (field, term) of a secret: each text whole, and each of its words.
pub fn terms(row: &SecretRow) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    add(&mut out, NAME, &row.name);
    if let Some(d) = &row.description {
        add(&mut out, DESCRIPTION, d);
    }
    for (k, v) in row.tags.as_deref().unwrap_or_default() {
        add(&mut out, TAG_KEY, k);
        add(&mut out, TAG_VALUE, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_their_words_lowercased() {
        let mut row = crate::conformance::secret_row("1", "Prod/DB-main");
        row.description = Some("Team database".into());
        row.tags = Some(vec![("Owner".into(), "ops team".into())]);
        let t = terms(&row);
        for want in [
            (NAME, "prod/db-main"),
            (NAME, "prod"),
            (NAME, "db"),
            (NAME, "main"),
            (DESCRIPTION, "team database"),
            (DESCRIPTION, "database"),
            (TAG_KEY, "owner"),
            (TAG_VALUE, "ops team"),
            (TAG_VALUE, "team"),
        ] {
            assert!(
                t.contains(&(want.0, want.1.to_string())),
                "{want:?} in {t:?}"
            );
        }
        let long = "é".repeat(300);
        assert!(probe_term(&long).len() <= MAX_TERM);
        assert!(long.to_lowercase().starts_with(&probe_term(&long)));
    }
}
