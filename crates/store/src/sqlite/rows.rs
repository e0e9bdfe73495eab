//! Mapping between SQLite rows and store records.

use crate::{
    words, CredentialRow, IamRow, ListFilter, ListKey, ListPage, ListQuery, ListSort, Secret,
    SecretRow, VersionRow, WordProbe,
};
use rusqlite::{Connection, OptionalExtension, Row};
use std::collections::HashMap;

pub const SECRET_COLS: &str = "id, account_id, region, name, arn, description, kms_key_id, kind, \
     created_ms, last_changed_ms, last_accessed_ms, deleted_ms, purge_after_ms, tags, attrs, revision";

/// Versions a secret carries in memory: those with a label (the partial index
/// `versions_labelled` finds them without reading the rest).
pub const LABELLED: &str = "labels <> '[]'";

pub const VERSION_COLS: &str = "secret_id, version_id, created_ms, last_accessed_ms, labels, \
     value_kind, kms_key_id, wrapped_data_key, ciphertext";

fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

pub fn secret_row(r: &Row<'_>) -> rusqlite::Result<SecretRow> {
    let tags: Option<String> = r.get(13)?;
    let attrs: String = r.get(14)?;
    Ok(SecretRow {
        id: r.get(0)?,
        account_id: r.get(1)?,
        region: r.get(2)?,
        name: r.get(3)?,
        arn: r.get(4)?,
        description: r.get(5)?,
        kms_key_id: r.get(6)?,
        kind: r.get(7)?,
        created_ms: r.get(8)?,
        last_changed_ms: r.get(9)?,
        last_accessed_ms: r.get(10)?,
        deleted_ms: r.get(11)?,
        purge_after_ms: r.get(12)?,
        tags: tags
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(json_err)?,
        attrs: serde_json::from_str(&attrs).map_err(json_err)?,
        revision: r.get(15)?,
    })
}

pub fn version_row(r: &Row<'_>) -> rusqlite::Result<(i64, VersionRow)> {
    let labels: String = r.get(4)?;
    Ok((
        r.get(0)?,
        VersionRow {
            version_id: r.get(1)?,
            created_ms: r.get(2)?,
            last_accessed_ms: r.get(3)?,
            labels: serde_json::from_str(&labels).map_err(json_err)?,
            value_kind: r.get(5)?,
            kms_key_id: r.get(6)?,
            wrapped_data_key: r.get(7)?,
            ciphertext: r.get(8)?,
        },
    ))
}

pub fn tags_json(tags: Option<&Vec<(String, String)>>) -> Option<String> {
    tags.map(|t| serde_json::to_string(t).unwrap_or_else(|_| "[]".into()))
}

pub fn labels_json(labels: &[String]) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "[]".into())
}

/// One secret by a unique column, with its versions.
pub fn load_one(
    conn: &Connection,
    where_sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<Option<Secret>> {
    let sql = format!("SELECT {SECRET_COLS} FROM secrets WHERE {where_sql}");
    let row = conn
        .prepare_cached(&sql)?
        .query_row(params, secret_row)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let sql = format!(
        "SELECT {VERSION_COLS} FROM versions WHERE secret_id = ?1 AND {LABELLED} ORDER BY seq"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let versions = stmt
        .query_map([row.id], version_row)?
        .map(|r| r.map(|(_, v)| v))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(Secret { row, versions }))
}

/// Every secret of a scope with its versions, in name order.
pub fn load_scope(conn: &Connection, account: &str, region: &str) -> rusqlite::Result<Vec<Secret>> {
    let sql = format!(
        "SELECT {SECRET_COLS} FROM secrets WHERE account_id = ?1 AND region = ?2 ORDER BY name"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map([account, region], secret_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let sql = format!(
        "SELECT {} FROM versions v JOIN secrets s ON s.id = v.secret_id \
         WHERE s.account_id = ?1 AND s.region = ?2 AND v.{LABELLED} ORDER BY v.secret_id, v.seq",
        VERSION_COLS
            .split(", ")
            .map(|c| format!("v.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut by_secret: HashMap<i64, Vec<VersionRow>> = HashMap::new();
    for r in conn
        .prepare_cached(&sql)?
        .query_map([account, region], version_row)?
    {
        let (sid, v) = r?;
        by_secret.entry(sid).or_default().push(v);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let versions = by_secret.remove(&row.id).unwrap_or_default();
            Secret { row, versions }
        })
        .collect())
}

pub fn credential(r: &rusqlite::Row<'_>) -> rusqlite::Result<CredentialRow> {
    Ok(CredentialRow {
        access_key_id: r.get(0)?,
        account_id: r.get(1)?,
        principal_arn: r.get(2)?,
        wrapped_secret: r.get(3)?,
        status: r.get(4)?,
        created_ms: r.get(5)?,
    })
}

pub fn iam(r: &rusqlite::Row<'_>) -> rusqlite::Result<IamRow> {
    Ok(IamRow {
        account_id: r.get(0)?,
        kind: r.get(1)?,
        name: r.get(2)?,
        body: r.get(3)?,
        revision: r.get(4)?,
    })
}

/// The expression a listing order sorts by; each has an index (schema v3).
pub fn sort_sql(sort: ListSort) -> &'static str {
    match sort {
        ListSort::Created => "created_ms",
        ListSort::LastChanged => "last_changed_ms",
        ListSort::LastAccessed => "COALESCE(last_accessed_ms, 0)",
        ListSort::Name => "name",
    }
}

/// Whether the probe's index entries number fewer than `CANDIDATES_MAX`.
fn few_candidates(
    conn: &Connection,
    account: &str,
    region: &str,
    p: &WordProbe,
) -> rusqlite::Result<bool> {
    let mut params: Vec<Box<dyn rusqlite::ToSql>> =
        vec![Box::new(account.to_string()), Box::new(region.to_string())];
    let sub = probe_subquery(p, &mut params);
    let n = params.len() + 1;
    let sql = format!("SELECT count(*) FROM ({sub} LIMIT ?{n})");
    params.push(Box::new(words::CANDIDATES_MAX));
    let count: i64 = conn
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?;
    Ok(count < words::CANDIDATES_MAX)
}

/// Whether the name prefixes (in an order other than by name), or what the
/// excluded prefixes leave (in any order), hold fewer than `NAME_SORT_MAX`
/// secrets: sorting those beats walking the order's index to them (see the
/// PostgreSQL store's `few_names`).
fn few_names(
    conn: &Connection,
    account: &str,
    region: &str,
    q: &ListQuery,
) -> rusqlite::Result<bool> {
    let n = &q.narrow;
    if n.name_excluded.is_empty() && (n.name_prefixes.is_empty() || q.sort == ListSort::Name) {
        return Ok(false);
    }
    let mark = |i: usize| format!("?{i}");
    let (names, mut values) = words::name_ranges(&n.name_prefixes, "name", 3, mark);
    let (excluded, more) = words::name_exclusions(&n.name_excluded, "name", 3 + values.len(), mark);
    values.extend(more);
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM secrets WHERE account_id = ?1 AND region = ?2{names}{excluded} LIMIT {})",
        words::NAME_SORT_MAX
    );
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&account, &region];
    params.extend(values.iter().map(|v| v as &dyn rusqlite::ToSql));
    let count: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params.as_slice(), |r| r.get(0))?;
    Ok(count < words::NAME_SORT_MAX)
}

/// The ids of the secrets a probe finds in the word index; its prefixes
/// become parameters (after `params`' account and region, `?1` and `?2`).
fn probe_subquery(p: &WordProbe, params: &mut Vec<Box<dyn rusqlite::ToSql>>) -> String {
    let known = [
        words::NAME,
        words::DESCRIPTION,
        words::TAG_KEY,
        words::TAG_VALUE,
    ];
    let fields: Vec<&str> = p
        .fields
        .iter()
        .copied()
        .filter(|f| known.contains(f))
        .collect();
    let mut ranges = Vec::new();
    for prefix in &p.prefixes {
        let n = params.len();
        ranges.push(format!("(word >= ?{} AND word < ?{})", n + 1, n + 2));
        params.push(Box::new(prefix.clone()));
        params.push(Box::new(format!("{prefix}{}", words::RANGE_END)));
    }
    format!(
        "SELECT secret_id FROM secret_words WHERE account_id = ?1 AND region = ?2 \
           AND field IN ('{}') AND ({})",
        fields.join("', '"),
        ranges.join(" OR ")
    )
}

/// One page of a listing: walks the order's index from the position after
/// `q.after`, keeps what `keep` accepts, and stops one past the page (to know
/// whether more follow). Only the page's secrets get their versions loaded.
pub fn load_page(
    conn: &Connection,
    account: &str,
    region: &str,
    q: &ListQuery,
    keep: &ListFilter,
) -> rusqlite::Result<ListPage> {
    let mut params: Vec<Box<dyn rusqlite::ToSql>> =
        vec![Box::new(account.to_string()), Box::new(region.to_string())];
    let probe = match &q.narrow.probe {
        Some(p) if few_candidates(conn, account, region, p)? => Some(p),
        _ => None,
    };
    // `+key` is no index's: the planner reads the name ranges and sorts them.
    let sort_names = probe.is_none() && few_names(conn, account, region, q)?;
    let k = if sort_names {
        format!("+{}", sort_sql(q.sort))
    } else {
        sort_sql(q.sort).to_string()
    };
    let (dir, cmp, upto) = words::order(q);
    let deleted = if q.include_deleted {
        ""
    } else {
        " AND deleted_ms IS NULL"
    };
    let mut after = String::new();
    if let Some((key, id)) = &q.after {
        after = format!(" AND ({k}, id) {cmp} (?3, ?4)");
        match key {
            ListKey::Int(n) => params.push(Box::new(*n)),
            ListKey::Text(t) => params.push(Box::new(t.clone())),
        }
        params.push(Box::new(*id));
    }
    // Candidates and sorted names are few already; a walk is bounded.
    let bound = match q.budget {
        Some(budget) if probe.is_none() && !sort_names => bound(conn, account, region, q, budget)?,
        _ => None,
    };
    let mut bounded = String::new();
    if let Some((key, id)) = &bound {
        let n = params.len();
        bounded = format!(" AND ({k}, id) {upto} (?{}, ?{})", n + 1, n + 2);
        params.push(key_param(key));
        params.push(Box::new(*id));
    }
    let probe = match probe {
        Some(p) => format!(" AND id IN ({})", probe_subquery(p, &mut params)),
        None => String::new(),
    };
    // A walk in another order than the name's reads that order's index, never
    // a name range: the budget bounds the first, not the second.
    let unindexed = !sort_names && q.sort != crate::ListSort::Name;
    let (mut narrowed, values) = narrowing(&q.narrow, params.len() + 1, unindexed);
    if sort_names {
        // Ids first: with the order's index out of play, the planner took the
        // account's index and filtered every row rather than read the name
        // ranges (several ranges, as an exclusion makes, are an OR).
        narrowed = format!(
            " AND id IN (SELECT id FROM secrets WHERE account_id = ?1 AND region = ?2{narrowed})"
        );
    }
    params.extend(
        values
            .into_iter()
            .map(|v| Box::new(v) as Box<dyn rusqlite::ToSql>),
    );
    let sql = format!(
        "SELECT {SECRET_COLS} FROM secrets WHERE account_id = ?1 AND region = ?2{deleted}{after}{bounded}{probe}{narrowed} \
         ORDER BY {k} {dir}, id {dir}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut matched = Vec::new();
    // SQLite steps the statement lazily: rows past the page are never read.
    while let Some(r) = rows.next()? {
        let row = secret_row(r)?;
        if keep(&row) {
            matched.push(row);
            if matched.len() > q.limit {
                break;
            }
        }
    }
    // Short of a full page, a bounded walk goes on after its bound.
    let resume = bound.filter(|_| matched.len() <= q.limit);
    let more = resume.is_some() || matched.len() > q.limit;
    matched.truncate(q.limit);
    let sql = format!(
        "SELECT {VERSION_COLS} FROM versions WHERE secret_id = ?1 AND {LABELLED} ORDER BY seq"
    );
    let mut versions = conn.prepare_cached(&sql)?;
    let secrets = matched
        .into_iter()
        .map(|row| {
            let vs = versions
                .query_map([row.id], version_row)?
                .map(|r| r.map(|(_, v)| v))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Secret { row, versions: vs })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ListPage {
        secrets,
        more,
        resume,
    })
}

fn key_param(key: &ListKey) -> Box<dyn rusqlite::ToSql> {
    match key {
        ListKey::Int(n) => Box::new(*n),
        ListKey::Text(t) => Box::new(t.clone()),
    }
}

/// The position of the `budget`-th secret of the walk from the page's
/// position (None when fewer follow): the walk reads no further, so a page
/// costs at most that many rows whatever its filter (see the PostgreSQL
/// store's `bound`).
fn bound(
    conn: &Connection,
    account: &str,
    region: &str,
    q: &ListQuery,
    budget: usize,
) -> rusqlite::Result<Option<(ListKey, i64)>> {
    let k = sort_sql(q.sort);
    let (dir, cmp, _) = words::order(q);
    let mut params: Vec<Box<dyn rusqlite::ToSql>> = vec![
        Box::new(account.to_string()),
        Box::new(region.to_string()),
        Box::new(i64::try_from(budget.max(1) - 1).unwrap_or(i64::MAX)),
    ];
    let mut position = String::new();
    if let Some((key, id)) = &q.after {
        position = format!(" AND ({k}, id) {cmp} (?4, ?5)");
        params.push(key_param(key));
        params.push(Box::new(*id));
    }
    let (range, values) =
        words::name_ranges(words::walked_range(q), "name", params.len() + 1, |n| {
            format!("?{n}")
        });
    params.extend(
        values
            .into_iter()
            .map(|v| Box::new(v) as Box<dyn rusqlite::ToSql>),
    );
    let sql = format!(
        "SELECT {k}, id FROM secrets WHERE account_id = ?1 AND region = ?2{position}{range} \
         ORDER BY {k} {dir}, id {dir} LIMIT 1 OFFSET ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let Some(r) = rows.next()? else {
        return Ok(None);
    };
    let key = match q.sort {
        ListSort::Name => ListKey::Text(r.get(0)?),
        _ => ListKey::Int(r.get(0)?),
    };
    Ok(Some((key, r.get(1)?)))
}

/// One version by id, labelled or not.
pub fn load_version(
    conn: &Connection,
    secret_id: i64,
    version_id: &str,
) -> rusqlite::Result<Option<VersionRow>> {
    let sql =
        format!("SELECT {VERSION_COLS} FROM versions WHERE secret_id = ?1 AND version_id = ?2");
    conn.prepare_cached(&sql)?
        .query_row(rusqlite::params![secret_id, version_id], version_row)
        .optional()
        .map(|v| v.map(|(_, v)| v))
}

/// Every version of a secret, oldest first.
pub fn load_versions(conn: &Connection, secret_id: i64) -> rusqlite::Result<Vec<VersionRow>> {
    let sql = format!("SELECT {VERSION_COLS} FROM versions WHERE secret_id = ?1 ORDER BY seq");
    conn.prepare_cached(&sql)?
        .query_map([secret_id], version_row)?
        .map(|r| r.map(|(_, v)| v))
        .collect()
}

/// SQLite's conditions; its `lower` lowercases ASCII alone.
const DIALECT: words::Dialect = words::Dialect {
    table: "",
    mark: |i| format!("?{i}"),
    contains: |c, p| format!("instr({c}, {p}) > 0"),
    lower: |t| format!("lower({t})"),
};

/// The same, with the columns written `+name` (and so on): SQLite then uses
/// no index for these conditions, whatever its estimates.
const UNINDEXED: words::Dialect = words::Dialect {
    table: "+",
    ..DIALECT
};

fn narrowing(n: &crate::Narrowing, first: usize, unindexed: bool) -> (String, Vec<String>) {
    words::narrowing(n, first, if unindexed { &UNINDEXED } else { &DIALECT })
}
