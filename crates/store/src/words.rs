//! The word index behind ListSecrets' filters.
//!
//! AWS's `all` and `description` filters split texts into words — at every
//! character that is not a letter or digit, where a lower-case letter meets an
//! upper-case one and where letters meet digits (`credsDatabase#892` is
//! `creds`, `database`, `892`) — and match when each word of the value starts
//! a word of the text, case aside ([`words`]); `name` and the tag filters are
//! case-sensitive prefixes of the whole text. Each secret's
//! texts and their words are kept lowercased in `secret_words`, so a filter
//! becomes a range lookup (`word >= v AND word < v + U+10FFFF`) giving the
//! secrets that may match; the caller's exact filter then decides. The index
//! answers a superset, never less: a probe is cut at its first character that
//! is not a letter or digit ([`probe_term`]), and every word is indexed.

use crate::{ListQuery, SecretRow, WordGroup};
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

/// Rows a listing's page reads at most before it answers, full or not, with
/// where the next page starts (as AWS's list calls may answer a short or
/// empty page with a NextToken): a filter matching few secrets, or ones far
/// apart in the page's order, costs a page no more than this many rows, and
/// the walk goes on with the next call. Measured on this 2-core machine at
/// 1–2 µs a row read and tested (PostgreSQL, on a slow day): 5,000 rows made
/// pages of 11–15 ms; 2,500 keeps them near 5.
pub const SCAN_BUDGET: usize = 2_500;

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

/// A probe for a filter word, as the index holds terms: lowercased, up to its
/// first character that is not a letter or digit (a word holding `!` or `:`
/// still finds every term it may start), and cut.
pub fn probe_term(value: &str) -> String {
    let lower = value.to_lowercase();
    let head = lower
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("");
    cut(head).to_string()
}

/// A probe for a filter on a whole text (`name`, the tag filters): the
/// value's ASCII head, lowercased and cut. Lowercasing ASCII is the same
/// wherever it stands, so every text starting with the value has an index
/// entry starting with this (a Greek final sigma would not); None when no
/// head is left, as a probe for everything narrows nothing.
pub fn probe_text(value: &str) -> Option<String> {
    let head: String = value
        .chars()
        .take_while(char::is_ascii)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (!head.is_empty()).then(|| cut(&head).to_string())
}

/// ` AND (…)`: the name column starts with one of the prefixes, as ranges the
/// name index answers (names are ASCII, compared bytewise: `C` in PostgreSQL,
/// BINARY in SQLite); empty with no prefix. The values to bind follow,
/// their placeholders numbered from `first` and written by `mark`.
pub fn name_ranges(
    prefixes: &[String],
    column: &str,
    first: usize,
    mark: impl Fn(usize) -> String,
) -> (String, Vec<String>) {
    if prefixes.is_empty() {
        return (String::new(), Vec::new());
    }
    let mut values = Vec::new();
    let ors: Vec<String> = prefixes
        .iter()
        .map(|p| {
            let n = first + values.len();
            values.push(p.clone());
            values.push(format!("{p}{RANGE_END}"));
            format!("({column} >= {} AND {column} < {})", mark(n), mark(n + 1))
        })
        .collect();
    (format!(" AND ({})", ors.join(" OR ")), values)
}

/// ` AND (…)`: the name column starts with none of the prefixes, each
/// written as the two ranges around it, which the name index answers (so a
/// prefix excluding nearly every secret leaves the planner a short read);
/// empty with no prefix. Bound and numbered as [`name_ranges`].
pub fn name_exclusions(
    prefixes: &[String],
    column: &str,
    first: usize,
    mark: impl Fn(usize) -> String,
) -> (String, Vec<String>) {
    let mut values = Vec::new();
    let mut sql = String::new();
    for p in prefixes {
        let n = first + values.len();
        values.push(p.clone());
        values.push(format!("{p}{RANGE_END}"));
        sql.push_str(&format!(
            " AND ({column} < {} OR {column} >= {})",
            mark(n),
            mark(n + 1)
        ));
    }
    (sql, values)
}

/// The two characters whose lowercase holds an ASCII letter though they are
/// not ASCII (U+212A KELVIN SIGN is `k`, U+0130 `İ` is `i` and a combining
/// dot), with what they become: folding them first, then lowercasing ASCII
/// alone, leaves every ASCII run of a text's full lowercase in place.
pub const FOLDED: [(char, char); 2] = [('\u{130}', 'i'), ('\u{212A}', 'k')];

/// The column holding a field's text: tags as one text, serde_json's
/// (alphanumerics are never escaped, so a word of a key or value is found in
/// it as it is).
pub fn field_column(field: &str) -> &'static str {
    match field {
        NAME => "name",
        DESCRIPTION => "description",
        _ => "tags",
    }
}

/// A column's text as a search for `word` needs it: folded as [`FOLDED`]
/// says where the word holds what a fold gives (each fold is a copy of the
/// text, on every row read), then lowercased by the engine's `lower` (which
/// must lowercase ASCII alone).
pub fn folded(column: &str, word: &str, lower: impl Fn(&str) -> String) -> String {
    let mut text = column.to_string();
    for (from, to) in FOLDED {
        if word.contains(to) {
            text = format!("replace({text}, '{from}', '{to}')");
        }
    }
    lower(&text)
}

/// ` AND (…)`: for each group, one alternative's words are each found in one
/// of the group's texts (`text(field, word)`: the engine's expression for
/// that text, see [`folded`]; `contains(text,
/// placeholder)`: its substring test). Only ASCII words are tested (the
/// engines lowercase ASCII alone); a group with an alternative left with no
/// word narrows nothing and is left out. Bound and numbered as
/// [`name_ranges`].
pub fn word_conditions(
    groups: &[WordGroup],
    first: usize,
    mark: impl Fn(usize) -> String,
    text: impl Fn(&str, &str) -> String,
    contains: impl Fn(&str, &str) -> String,
) -> (String, Vec<String>) {
    let mut values = Vec::new();
    let mut sql = String::new();
    for g in groups {
        let alternatives: Vec<Vec<&String>> = g
            .alternatives
            .iter()
            .map(|words| words.iter().filter(|w| w.is_ascii()).collect())
            .collect();
        if alternatives.iter().any(Vec::is_empty) {
            continue;
        }
        let ors: Vec<String> = alternatives
            .iter()
            .map(|words| {
                let ands: Vec<String> = words
                    .iter()
                    .map(|w| {
                        let at = mark(first + values.len());
                        values.push((*w).clone());
                        let mut texts: Vec<String> = g.fields.iter().map(|f| text(f, w)).collect();
                        texts.dedup();
                        let found: Vec<String> = texts.iter().map(|t| contains(t, &at)).collect();
                        format!("({})", found.join(" OR "))
                    })
                    .collect();
                format!("({})", ands.join(" AND "))
            })
            .collect();
        sql.push_str(&format!(" AND ({})", ors.join(" OR ")));
    }
    (sql, values)
}

/// A listing's order in SQL: its direction, the comparison that keeps what
/// comes after a position, and the one that keeps what comes up to a bound.
pub fn order(q: &ListQuery) -> (&'static str, &'static str, &'static str) {
    if q.descending {
        ("DESC", "<", ">=")
    } else {
        ("ASC", ">", "<=")
    }
}

/// The name prefix a walk in name order reads as one index range (so a
/// bound is counted within it): the only one, if there is one.
pub fn walked_range(q: &ListQuery) -> &[String] {
    let prefixes = &q.narrow.name_prefixes;
    if q.sort == crate::ListSort::Name && prefixes.len() == 1 {
        prefixes
    } else {
        &[]
    }
}

/// How an engine writes a narrowing's conditions.
pub struct Dialect {
    /// The table's alias and a dot (`s.`), or nothing.
    pub table: &'static str,
    /// A numbered placeholder (`$3`, `?3`).
    pub mark: fn(usize) -> String,
    /// Whether a text holds a substring (text, placeholder).
    pub contains: fn(&str, &str) -> String,
    /// A text lowercased, ASCII alone (see [`folded`]).
    pub lower: fn(&str) -> String,
}

/// The conditions of a narrowing (name ranges and exclusions, tag needles,
/// words), each ` AND (…)`, with their values numbered from `first`.
pub fn narrowing(n: &crate::Narrowing, first: usize, d: &Dialect) -> (String, Vec<String>) {
    let (name, tags) = (format!("{}name", d.table), format!("{}tags", d.table));
    let (names, mut values) = name_ranges(&n.name_prefixes, &name, first, d.mark);
    let (excluded, more) = name_exclusions(&n.name_excluded, &name, first + values.len(), d.mark);
    values.extend(more);
    let (tagged, more) = tag_conditions(
        &n.tag_prefixes,
        &tags,
        first + values.len(),
        d.mark,
        d.contains,
    );
    values.extend(more);
    let text = |field: &str, word: &str| {
        folded(
            &format!("{}{}", d.table, field_column(field)),
            word,
            d.lower,
        )
    };
    let (found, more) = word_conditions(&n.words, first + values.len(), d.mark, text, d.contains);
    values.extend(more);
    (format!("{names}{excluded}{tagged}{found}"), values)
}

/// Up to how many secrets a name prefix holds for a page in another order to
/// be sorted from the name index (the database reads each and keeps the page's
/// worth: 1–2 µs a secret on this machine, so 5–10 ms at most). Beyond it the
/// order's index is walked and filtered, within the page's budget of rows.
pub const NAME_SORT_MAX: i64 = 5_000;

/// ` AND (…)`: for each group, the tags text (a secret's tags as serde_json
/// writes them, `[["key","value"],…]`) holds one of its needles
/// ([`tag_needle`]); `contains(column, placeholder)` is the engine's
/// substring test. Empty with no group. The values to bind follow, numbered
/// from `first` and written by `mark`.
pub fn tag_conditions(
    groups: &[Vec<String>],
    column: &str,
    first: usize,
    mark: impl Fn(usize) -> String,
    contains: impl Fn(&str, &str) -> String,
) -> (String, Vec<String>) {
    let mut values = Vec::new();
    let mut ands = Vec::new();
    for group in groups {
        let ors: Vec<String> = group
            .iter()
            .map(|prefix| {
                let n = first + values.len();
                values.push(tag_needle(prefix));
                contains(column, &mark(n))
            })
            .collect();
        ands.push(format!("({})", ors.join(" OR ")));
    }
    if ands.is_empty() {
        return (String::new(), values);
    }
    (format!(" AND {}", ands.join(" AND ")), values)
}

/// What the tags text of a secret with a tag key or value starting with
/// `prefix` holds: the JSON string's opening quote and the prefix as
/// serde_json escapes it (its closing quote cut off). Exact on case, so the
/// engine drops rows the filter would, without sending them over.
pub fn tag_needle(prefix: &str) -> String {
    let quoted = serde_json::to_string(prefix).unwrap_or_default();
    quoted[..quoted.len() - 1].to_string()
}

/// The words AWS's ListSecrets filters see in a text, lowercased.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev: Option<char> = None;
    for c in text.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev = None;
            continue;
        }
        let boundary = prev.is_some_and(|p| {
            (p.is_lowercase() && c.is_uppercase()) || (p.is_numeric() != c.is_numeric())
        });
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev = Some(c);
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn add(out: &mut BTreeSet<(&'static str, String)>, field: &'static str, text: &str) {
    let lower = text.to_lowercase();
    out.insert((field, cut(&lower).to_string()));
    for w in words(text) {
        out.insert((field, cut(&w).to_string()));
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
        assert_eq!(
            words("MyApp/prod-DB_main.v2+x=y@z q"),
            ["my", "app", "prod", "db", "main", "v", "2", "x", "y", "z", "q"]
        );
        assert_eq!(words("credsDatabase#892"), ["creds", "database", "892"]);
        assert_eq!(probe_term("Db!x"), "db");
        let long = "é".repeat(300);
        assert!(probe_term(&long).len() <= MAX_TERM);
        assert!(long.to_lowercase().starts_with(&probe_term(&long)));
        // Whole-text probes keep punctuation (the text is indexed whole) and
        // stop before anything whose lowercase may depend on what follows.
        assert_eq!(probe_text("App/Svc-42").as_deref(), Some("app/svc-42"));
        assert_eq!(probe_text("dbΣx").as_deref(), Some("db"));
        assert_eq!(probe_text("Σx"), None);
        let text = "ΑΣ".to_string() + "Α";
        assert!(!text.to_lowercase().starts_with(&"ΑΣ".to_lowercase()));
    }

    #[test]
    fn tag_needles_are_found_in_the_stored_text() {
        for (key, value) in [
            ("team", "team-7"),
            ("q\"uote", "back\\slash"),
            ("ünï", "line\nbreak\u{1}"),
        ] {
            let text = serde_json::to_string(&vec![(key, value)]).unwrap();
            let (first, most): (String, String) = (
                key.chars().take(1).collect(),
                value.chars().take(value.chars().count() - 1).collect(),
            );
            for prefix in [key, value, &first, &most] {
                assert!(text.contains(&tag_needle(prefix)), "{prefix:?} in {text}");
            }
        }
        let text = serde_json::to_string(&vec![("team", "team-7")]).unwrap();
        assert!(
            !text.contains(&tag_needle("eam")),
            "only at a string's start"
        );
        assert!(!text.contains(&tag_needle("Team")), "case-sensitive");
        let (sql, values) = tag_conditions(
            &[vec!["a".into(), "b".into()], vec!["c".into()]],
            "tags",
            3,
            |n| format!("${n}"),
            |c, p| format!("strpos({c}, {p}) > 0"),
        );
        assert_eq!(
            sql,
            " AND (strpos(tags, $3) > 0 OR strpos(tags, $4) > 0) AND (strpos(tags, $5) > 0)"
        );
        assert_eq!(values, ["\"a", "\"b", "\"c"]);
    }

    #[test]
    fn folding_covers_every_capital_that_lowercases_to_ascii() {
        let odd: Vec<char> = (0..=0x10_FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|c| !c.is_ascii() && c.to_lowercase().any(|l| l.is_ascii()))
            .collect();
        let listed: Vec<char> = FOLDED.iter().map(|(c, _)| *c).collect();
        assert_eq!(odd, listed);
        for (c, to) in FOLDED {
            assert!(c.to_lowercase().any(|l| l == to));
        }
        let (sql, values) = word_conditions(
            &[WordGroup {
                fields: vec![NAME, TAG_KEY, TAG_VALUE],
                alternatives: vec![vec!["a".into(), "é".into()], vec!["b".into()]],
            }],
            2,
            |n| format!("${n}"),
            |f, w| folded(field_column(f), w, |t| format!("lower({t})")),
            |c, p| format!("{c}~{p}"),
        );
        assert_eq!(
            sql,
            " AND (((lower(name)~$2 OR lower(tags)~$2)) OR ((lower(name)~$3 OR lower(tags)~$3)))"
        );
        let kelvin = folded("d", "ok", str::to_string);
        assert_eq!(
            kelvin, "replace(d, '\u{212A}', 'k')",
            "folds what the word needs"
        );
        assert_eq!(values, ["a", "b"], "non-ASCII words are not tested");
    }

    #[test]
    fn name_ranges_number_their_placeholders() {
        let (sql, values) =
            name_ranges(&["a/".into(), "b".into()], "s.name", 4, |n| format!("${n}"));
        assert_eq!(
            sql,
            " AND ((s.name >= $4 AND s.name < $5) OR (s.name >= $6 AND s.name < $7))"
        );
        assert_eq!(values, ["a/", "a/\u{10FFFF}", "b", "b\u{10FFFF}"]);
        assert_eq!(name_ranges(&[], "name", 1, |n| n.to_string()).0, "");
    }
}
