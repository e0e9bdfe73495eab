//! DescribeSecret, ListSecrets, ListSecretVersionIds, and the filters and paging
//! they share with BatchGetSecretValue.

use super::{metadata, versions_to_stages};
use crate::call::respond;
use crate::errors::internal;
use crate::identity::Grant;
use crate::keyring::display_key_id;
use crate::secrets::Secrets;
use base64::Engine as _;
use coffer_api::types::{
    DescribeSecretResponse, Filter, ListSecretVersionIdsRequest, ListSecretVersionIdsResponse,
    ListSecretsRequest, ListSecretsResponse, SecretIdRequest, SecretListEntry,
    SecretVersionsListEntry, Timestamp,
};
use coffer_api::{validate, ApiError, ErrorCode};
use coffer_store::{
    ListFilter, ListKey, ListPage, ListQuery, ListSort, Narrowing, SecretRow, WordGroup, WordProbe,
};
use std::sync::Arc;

const FILTER_KEYS: &[&str] = &[
    "description",
    "name",
    "tag-key",
    "tag-value",
    "primary-region",
    "owning-service",
    "all",
];

fn bad_token() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidNextToken,
        "The NextToken value is invalid.",
    )
}

/// Splits `items` into the page after `token` and the token for the next page.
/// Tokens are opaque to clients: an offset, base64-encoded.
pub(crate) fn paginate<T>(
    items: Vec<T>,
    token: Option<&str>,
    max: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match token {
        None => 0,
        Some(t) => {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .map_err(|_| bad_token())?;
            let text = String::from_utf8(raw).map_err(|_| bad_token())?;
            let n: usize = text
                .strip_prefix("o:")
                .and_then(|n| n.parse().ok())
                .ok_or_else(bad_token)?;
            if n > items.len() {
                return Err(bad_token());
            }
            n
        }
    };
    let end = (start + max).min(items.len());
    let next = (end < items.len())
        .then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{end}")));
    Ok((items.into_iter().skip(start).take(max).collect(), next))
}

/// A filter value, with its words split once (not once per secret).
struct Wanted {
    text: String,
    words: Vec<String>,
}

impl Wanted {
    fn new(text: String) -> Self {
        let words = coffer_store::words::words(&text);
        Wanted { text, words }
    }
}

/// Does every wanted word start one of `have` (words of a text, see
/// [`coffer_store::words`]), case aside? A value without words matches nothing.
fn words_match(have: &[String], want: &[String]) -> bool {
    !want.is_empty()
        && want
            .iter()
            .all(|w| have.iter().any(|h| h.starts_with(w.as_str())))
}

fn filter_matches(row: &SecretRow, key: &str, v: &Wanted) -> bool {
    use coffer_store::words::words;
    let tags = row.tags.as_deref().unwrap_or_default();
    let value = v.text.as_str();
    match key {
        // AWS: "Matches the beginning of secret names; case-sensitive"; tags alike.
        "name" => row.name.starts_with(value),
        "description" => row
            .description
            .as_deref()
            .is_some_and(|d| words_match(&words(d), &v.words)),
        "tag-key" => tags.iter().any(|(k, _)| k.starts_with(value)),
        "tag-value" => tags.iter().any(|(_, v)| v.starts_with(value)),
        // Only replicated secrets have a primary region (AWS's answer).
        "primary-region" => {
            super::replication::primary_region(row).is_some_and(|p| p.starts_with(value))
        }
        "owning-service" => false,
        // `all`: each word in any of the texts.
        _ => {
            let mut have = words(&row.name);
            have.extend(row.description.as_deref().map(words).unwrap_or_default());
            for (k, t) in tags {
                have.extend(words(k));
                have.extend(words(t));
            }
            words_match(&have, &v.words)
        }
    }
}

/// Checks ListSecrets filters and turns them into the store's page filter:
/// values within a filter are ORed, filters ANDed, a value starting with `!`
/// excludes what it matches.
pub(crate) fn list_filter(filters: &[Filter]) -> Result<Filters, ApiError> {
    if filters.len() > 10 {
        return Err(ApiError::new(
            ErrorCode::Validation,
            "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to 10",
        ));
    }
    let mut checked = Vec::with_capacity(filters.len());
    for f in filters {
        let key = f
            .key
            .as_deref()
            .ok_or_else(|| ApiError::invalid_param("A filter must have a Key."))?;
        validate::one_of(key, "filters.member.key", FILTER_KEYS)?;
        let values = f.values.as_deref().unwrap_or_default();
        if values.is_empty() || values.len() > 10 {
            return Err(ApiError::invalid_param(
                "Each filter must have between 1 and 10 values.",
            ));
        }
        for v in values {
            validate::filter_value(v)?;
        }
        let (neg, pos): (Vec<String>, Vec<String>) =
            values.iter().cloned().partition(|v| v.starts_with('!'));
        let neg = neg
            .into_iter()
            .map(|v| Wanted::new(v[1..].to_string()))
            .collect();
        let pos = pos.into_iter().map(Wanted::new).collect();
        checked.push((key.to_string(), pos, neg));
    }
    let narrow = narrowing(&checked);
    let keep: ListFilter = Arc::new(move |row: &SecretRow| {
        checked.iter().all(|(key, pos, neg): &Checked| {
            let excluded = neg.iter().any(|v| filter_matches(row, key, v));
            let included = pos.is_empty() || pos.iter().any(|v| filter_matches(row, key, v));
            included && !excluded
        })
    });
    Ok(Filters { keep, narrow })
}

/// ListSecrets filters as the store takes them: the exact test, and what
/// narrows the walk (see [`Narrowing`]).
pub(crate) struct Filters {
    pub keep: ListFilter,
    pub narrow: Narrowing,
}

/// What of the filters the store's query can test.
fn narrowing(checked: &[Checked]) -> Narrowing {
    let values = |pos: &[Wanted]| pos.iter().map(|v| v.text.clone()).collect::<Vec<_>>();
    // A `name` filter's values are exact prefixes the store can walk by; its
    // negated values, wherever they are, exact exclusions.
    let name_prefixes = checked
        .iter()
        .find(|(key, pos, _)| key == "name" && !pos.is_empty())
        .map(|(_, pos, _)| values(pos))
        .unwrap_or_default();
    let name_excluded = checked
        .iter()
        .filter(|(key, _, _)| key == "name")
        .flat_map(|(_, _, neg)| values(neg))
        .collect();
    // Tag filters' values are exact prefixes of a key or value; the store
    // finds them in its tags text.
    let tag_prefixes = checked
        .iter()
        .filter(|(key, pos, _)| (key == "tag-key" || key == "tag-value") && !pos.is_empty())
        .map(|(_, pos, _)| values(pos))
        .collect();
    let words = checked
        .iter()
        .filter(|(_, pos, _)| !pos.is_empty())
        .filter_map(|(key, pos, _)| {
            Some(WordGroup {
                fields: text_fields(key)?,
                alternatives: pos.iter().map(|v| v.words.clone()).collect(),
            })
        })
        .collect();
    Narrowing {
        probe: word_probe(checked),
        name_prefixes,
        name_excluded,
        tag_prefixes,
        words,
    }
}

/// The texts a word filter looks in; None for a filter on a whole text.
fn text_fields(key: &str) -> Option<Vec<&'static str>> {
    use coffer_store::words;
    match key {
        "description" => Some(vec![words::DESCRIPTION]),
        "all" => Some(vec![
            words::NAME,
            words::DESCRIPTION,
            words::TAG_KEY,
            words::TAG_VALUE,
        ]),
        _ => None,
    }
}

/// The first filter the word index can narrow the walk with: one with no
/// negated value, on a field the index holds, but not `name` (its prefixes
/// are exact, and the store narrows by the name index instead). Every secret it keeps has a term
/// starting with one of its values (lowercased), so the probe finds a superset
/// and the exact filter decides. For `all`, a secret must match every word of a
/// value; its first word is enough to narrow.
/// One filter: its key, its values, its negated values.
type Checked = (String, Vec<Wanted>, Vec<Wanted>);

fn word_probe(checked: &[Checked]) -> Option<WordProbe> {
    use coffer_store::words;
    checked.iter().find_map(|(key, pos, neg)| {
        if !neg.is_empty() || pos.is_empty() {
            return None;
        }
        let fields = match key.as_str() {
            "description" => vec![words::DESCRIPTION],
            "tag-key" => vec![words::TAG_KEY],
            "tag-value" => vec![words::TAG_VALUE],
            "all" => vec![
                words::NAME,
                words::DESCRIPTION,
                words::TAG_KEY,
                words::TAG_VALUE,
            ],
            _ => return None,
        };
        let prefixes: Option<Vec<String>> = pos
            .iter()
            .map(|v| {
                // Every match has a term starting with this: any word of the
                // text (`all`, `description`: the longest, as the rarest
                // guess; `s123x` is `s`, `123`, `x`), or the text itself.
                if key == "all" || key == "description" {
                    let longest = v.words.iter().max_by_key(|w| w.chars().count())?;
                    Some(words::probe_term(longest)).filter(|p| !p.is_empty())
                } else {
                    words::probe_text(&v.text)
                }
            })
            .collect();
        Some(WordProbe {
            fields,
            prefixes: prefixes?,
        })
    })
}

/// A listing's position as an opaque NextToken: the order it belongs to, so a
/// token is refused with another order, and the last (key, id) returned.
#[derive(serde::Serialize, serde::Deserialize)]
struct Position {
    sort: String,
    desc: bool,
    key: ListKey,
    id: i64,
}

pub(crate) fn encode_position(sort: &str, desc: bool, key: ListKey, id: i64) -> String {
    let p = Position {
        sort: sort.to_string(),
        desc,
        key,
        id,
    };
    let json = serde_json::to_vec(&p).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

pub(crate) fn decode_position(
    token: Option<&str>,
    sort: &str,
    desc: bool,
) -> Result<Option<(ListKey, i64)>, ApiError> {
    let Some(t) = token else { return Ok(None) };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .map_err(|_| bad_token())?;
    let p: Position = serde_json::from_slice(&raw).map_err(|_| bad_token())?;
    // The key must be of the order's type (a name, or a time): the store
    // compares it with that column, and a forged token must not reach it.
    let key_fits = matches!(
        (&p.key, sort == "name"),
        (ListKey::Text(_), true) | (ListKey::Int(_), false)
    );
    if p.sort != sort || p.desc != desc || !key_fits {
        return Err(bad_token());
    }
    Ok(Some((p.key, p.id)))
}

/// The token for the page after `page`, if any follows: after its last
/// secret, or where the store stopped reading (a page cut short by the
/// store's budget may hold fewer secrets than asked, even none, as AWS's
/// pages may).
pub(crate) fn next_position(page: &ListPage, q: &ListQuery, sort: &str) -> Option<String> {
    if !page.more {
        return None;
    }
    let (key, id) = if let Some(at) = &page.resume {
        at.clone()
    } else {
        let last = page.secrets.last()?;
        (q.sort.key_of(&last.row), last.row.id)
    };
    Some(encode_position(sort, q.descending, key, id))
}

impl Secrets {
    pub(crate) async fn describe_secret(
        &self,
        g: &Grant<'_>,
        _req: SecretIdRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let s = g.secret()?;
        let mut meta = metadata(&s.row);
        meta.last_accessed_date = self
            .access
            .last_day(s.row.id, None, s.row.last_accessed_ms)
            .map(Timestamp);
        let replication = self.replication_statuses(s).await?;
        let (cross_account_primary, cross_account_replicas) =
            super::replication::cross::describe(&s.row);
        respond(&DescribeSecretResponse {
            meta,
            version_ids_to_stages: versions_to_stages(s),
            replication_status: (!replication.is_empty()).then_some(replication),
            cross_account_primary,
            cross_account_replicas,
        })
    }

    pub(crate) async fn list_secrets(
        &self,
        g: &Grant<'_>,
        req: ListSecretsRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let max = req.max_results.unwrap_or(100);
        validate::range(max, "maxResults", 1, 100)?;
        validate::optional(req.next_token.as_deref(), "nextToken", 1, 4096)?;
        let order = req.sort_order.as_deref().unwrap_or("asc");
        validate::one_of(order, "sortOrder", &["asc", "desc"])?;
        let sort_by = req.sort_by.as_deref().unwrap_or("created-date");
        validate::one_of(
            sort_by,
            "sortBy",
            &[
                "created-date",
                "last-accessed-date",
                "last-changed-date",
                "name",
            ],
        )?;
        let sort = match sort_by {
            "name" => ListSort::Name,
            "last-accessed-date" => ListSort::LastAccessed,
            "last-changed-date" => ListSort::LastChanged,
            _ => ListSort::Created,
        };
        let filters = req.filters.as_deref().unwrap_or_default();
        let filtered = !filters.is_empty();
        let Filters { keep, narrow } = list_filter(filters)?;
        let q = ListQuery {
            narrow,
            budget: filtered.then_some(coffer_store::words::SCAN_BUDGET),
            sort,
            descending: order == "desc",
            after: decode_position(req.next_token.as_deref(), sort_by, order == "desc")?,
            limit: max as usize,
            include_deleted: req.include_planned_deletion.unwrap_or(false),
        };
        let page = self
            .store
            .list_page(&g.caller().scope(), &q, keep)
            .await
            .map_err(internal)?;
        let next_token = next_position(&page, &q, sort_by);
        let page = page.secrets;
        let secret_list = page
            .iter()
            .map(|s| {
                let mut meta = metadata(&s.row);
                meta.last_accessed_date = self
                    .access
                    .last_day(s.row.id, None, s.row.last_accessed_ms)
                    .map(Timestamp);
                SecretListEntry {
                    meta,
                    secret_versions_to_stages: versions_to_stages(s),
                }
            })
            .collect();
        respond(&ListSecretsResponse {
            secret_list,
            next_token,
        })
    }

    pub(crate) async fn list_secret_version_ids(
        &self,
        g: &Grant<'_>,
        req: ListSecretVersionIdsRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let max = req.max_results.unwrap_or(100);
        validate::range(max, "maxResults", 1, 100)?;
        validate::optional(req.next_token.as_deref(), "nextToken", 1, 4096)?;
        let s = g.secret()?;
        let include_deprecated = req.include_deprecated.unwrap_or(false);
        // The secret carries its labelled versions; the others are in the store.
        let all;
        let versions = if include_deprecated {
            all = self.store.all_versions(s.row.id).await.map_err(internal)?;
            &all
        } else {
            &s.versions
        };
        let entries: Vec<SecretVersionsListEntry> = versions
            .iter()
            .filter(|v| include_deprecated || !v.labels.is_empty())
            .map(|v| SecretVersionsListEntry {
                version_id: v.version_id.clone(),
                version_stages: (!v.labels.is_empty()).then(|| v.labels.clone()),
                last_accessed_date: self
                    .access
                    .last_day(s.row.id, Some(&v.version_id), v.last_accessed_ms)
                    .map(Timestamp),
                created_date: Timestamp(v.created_ms),
                kms_key_ids: vec![display_key_id(s.row.kms_key_id.as_deref())],
            })
            .collect();
        let (versions, next_token) = paginate(entries, req.next_token.as_deref(), max as usize)?;
        respond(&ListSecretVersionIdsResponse {
            versions,
            next_token,
            arn: s.row.arn.clone(),
            name: s.row.name.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_tokens() {
        let (p, next) = paginate((0..5).collect(), None, 2).unwrap();
        assert_eq!(p, vec![0, 1]);
        let (p, next) = paginate((0..5).collect(), next.as_deref(), 2).unwrap();
        assert_eq!(p, vec![2, 3]);
        let (p, next) = paginate((0..5).collect(), next.as_deref(), 2).unwrap();
        assert_eq!((p, next), (vec![4], None));
        assert_eq!(
            paginate::<i32>(vec![], Some("garbage!"), 2)
                .unwrap_err()
                .code,
            ErrorCode::InvalidNextToken
        );
    }

    #[test]
    fn a_page_cut_short_goes_on_where_the_store_stopped() {
        let q = ListQuery {
            sort: ListSort::Created,
            descending: true,
            after: None,
            limit: 100,
            include_deleted: false,
            narrow: Narrowing::default(),
            budget: Some(5),
        };
        let page = ListPage {
            secrets: vec![],
            more: true,
            resume: Some((ListKey::Int(42), 7)),
        };
        let token = next_position(&page, &q, "created-date").expect("an empty page goes on");
        let at = decode_position(Some(&token), "created-date", true).unwrap();
        assert_eq!(at, Some((ListKey::Int(42), 7)));
        let last = ListPage {
            more: false,
            ..page
        };
        assert!(next_position(&last, &q, "created-date").is_none());
    }

    #[test]
    fn probes_take_the_rarest_guess() {
        let filter = |key: &str, value: &str| Filter {
            key: Some(key.into()),
            values: Some(vec![value.into()]),
        };
        let f = list_filter(&[filter("description", "s123x")]).unwrap();
        assert_eq!(
            f.narrow.probe.unwrap().prefixes,
            ["123"],
            "the longest word"
        );
        let f = list_filter(&[filter("tag-value", "Team-7")]).unwrap();
        assert_eq!(
            f.narrow.probe.unwrap().prefixes,
            ["team-7"],
            "the whole value"
        );
        assert!(f.narrow.name_prefixes.is_empty());
        assert_eq!(f.narrow.tag_prefixes, [["Team-7"]], "exact, case kept");
        let f = list_filter(&[
            filter("tag-key", "!x"),
            filter("tag-key", "a"),
            filter("tag-value", "b"),
        ])
        .unwrap();
        assert_eq!(
            f.narrow.tag_prefixes,
            [["a"], ["b"]],
            "each positive filter"
        );
        let f = list_filter(&[filter("name", "!x"), filter("name", "App/")]).unwrap();
        assert_eq!(
            f.narrow.name_prefixes,
            ["App/"],
            "exact, from a positive filter"
        );
        assert!(f.narrow.probe.is_none(), "names narrow by the name index");
        assert_eq!(f.narrow.name_excluded, ["x"], "negations exclude");
        let f = list_filter(&[Filter {
            key: Some("all".into()),
            values: Some(vec!["Prod db".into(), "!x".into(), "s12x".into()]),
        }])
        .unwrap();
        assert_eq!(f.narrow.words.len(), 1);
        assert_eq!(f.narrow.words[0].fields.len(), 4, "every text");
        assert_eq!(
            f.narrow.words[0].alternatives,
            [vec!["prod", "db"], vec!["s", "12", "x"]],
            "each positive value's words, lowercased"
        );
        assert!(
            f.narrow.name_excluded.is_empty(),
            "an `all` negation is no name's"
        );
        let f = list_filter(&[filter("all", "/")]).unwrap();
        assert!(f.narrow.probe.is_none(), "no word: nothing to narrow with");
    }

    #[test]
    fn word_matching() {
        let w = |v: &str| coffer_store::words::words(v);
        let words_match = |text: &str, want: &[String]| words_match(&w(text), want);
        assert!(words_match("prod/db/main", &w("prod")));
        assert!(words_match("prod/db/main", &w("Prod db")));
        assert!(words_match("prod/db/main", &w("prod/d")));
        assert!(words_match("credsDatabase#892", &w("DATA 89")));
        assert!(words_match("Team database", &w("DATA")));
        assert!(words_match("MyApplication", &w("app")));
        assert!(words_match("an secret", &w("a secret")));
        assert!(!words_match("prod", &w("rod")));
        assert!(!words_match("asecret", &w("a secret")));
        assert!(
            !words_match("prod", &w("/")),
            "a value without words matches nothing"
        );
    }
}
