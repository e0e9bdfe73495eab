//! Pages of a listing: the order's index walked in batches from the page's
//! position, the caller's filter applied to each secret, versions loaded for
//! the page's secrets only.

use super::error::pg_err;
use super::pool::Pool;
use super::rows::{self, SECRET_COLS, VERSION_COLS};
use crate::{
    words, ListFilter, ListKey, ListPage, ListQuery, ListSort, Result, Scope, Secret, SecretRow,
    WordProbe,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

/// Rows a batch reads at most: the first reads one more than the page holds
/// (what the query narrows it to is mostly kept), each further one twice as
/// many as the last (a sparse filter needs few round trips).
const BATCH_MAX: i64 = 8192;

fn sort_sql(sort: ListSort) -> &'static str {
    match sort {
        ListSort::Created => "s.created_ms",
        ListSort::LastChanged => "s.last_changed_ms",
        ListSort::LastAccessed => "COALESCE(s.last_accessed_ms, 0)",
        ListSort::Name => "s.name",
    }
}

pub async fn page(
    pool: &Pool,
    scope: &Scope,
    q: &ListQuery,
    keep: &ListFilter,
) -> Result<ListPage> {
    let conn = pool.get().await?;
    let ids = match &q.narrow.probe {
        Some(p) => few_candidates(&conn, scope, p).await?,
        None => None,
    };
    let sort_names = ids.is_none() && few_names(&conn, scope, q).await?;
    // Candidates and sorted names are few already; a walk is bounded.
    let bound = match q.budget {
        Some(budget) if ids.is_none() && !sort_names => bound(&conn, scope, q, budget).await?,
        _ => None,
    };
    let by = Plan {
        ids: ids.as_ref(),
        sort_names,
        bound: bound.as_ref(),
    };
    let mut matched = walk(&conn, scope, q, keep, &by).await?;
    // Short of a full page, a bounded walk goes on after its bound.
    let resume = bound.filter(|_| matched.len() <= q.limit);
    let more = resume.is_some() || matched.len() > q.limit;
    matched.truncate(q.limit);
    let secrets = with_versions(&conn, matched).await?;
    Ok(ListPage {
        secrets,
        more,
        resume,
    })
}

/// The position of the `budget`-th secret of the walk from the page's
/// position (None when fewer follow): the walk reads no further, so a page
/// costs at most that many rows whatever its filter (one in 100,000 kept, or
/// 480,000 excluded in a row). Read from the order's index alone.
async fn bound(
    conn: &Client,
    scope: &Scope,
    q: &ListQuery,
    budget: usize,
) -> Result<Option<(ListKey, i64)>> {
    let k = sort_sql(q.sort);
    let skip = i64::try_from(budget.max(1) - 1).unwrap_or(i64::MAX);
    let (dir, cmp, _) = words::order(q);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&scope.account_id, &scope.region, &skip];
    let mut position = String::new();
    if let Some(at) = &q.after {
        position = format!(" AND ({k}, s.id) {cmp} ($4, $5)");
        push_position(&mut params, at);
    }
    let (range, values) =
        words::name_ranges(words::walked_range(q), "s.name", params.len() + 1, |i| {
            format!("${i}")
        });
    params.extend(values.iter().map(|x| x as &(dyn ToSql + Sync)));
    let sql = format!(
        "SELECT {k}, s.id FROM secrets s WHERE s.account_id = $1 AND s.region = $2{position}{range}
         ORDER BY {k} {dir}, s.id {dir} OFFSET $3 LIMIT 1"
    );
    let Some(row) = conn.query_opt(&sql, &params).await.map_err(pg_err)? else {
        return Ok(None);
    };
    let key = match q.sort {
        ListSort::Name => ListKey::Text(row.try_get(0).map_err(pg_err)?),
        _ => ListKey::Int(row.try_get(0).map_err(pg_err)?),
    };
    Ok(Some((key, row.try_get(1).map_err(pg_err)?)))
}

/// A position's parameters: its key, then its id.
fn push_position<'a>(params: &mut Vec<&'a (dyn ToSql + Sync)>, (key, id): &'a (ListKey, i64)) {
    match key {
        ListKey::Int(n) => params.push(n),
        ListKey::Text(t) => params.push(t),
    }
    params.push(id);
}

/// The probe's candidates, when fewer than `CANDIDATES_MAX`: the walk then
/// fetches them by id. None: too many to be worth it, walk the order's index.
async fn few_candidates(conn: &Client, scope: &Scope, p: &WordProbe) -> Result<Option<Vec<i64>>> {
    let (sql, extra) = candidates(p);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&scope.account_id, &scope.region];
    params.extend(extra.iter().map(|x| x as &(dyn ToSql + Sync)));
    let rows = conn.query(&sql, &params).await.map_err(pg_err)?;
    if rows.len() as i64 >= words::CANDIDATES_MAX {
        return Ok(None);
    }
    let mut found = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<Vec<i64>, _>>()
        .map_err(pg_err)?;
    found.sort_unstable();
    found.dedup();
    Ok(Some(found))
}

/// Whether the page's name prefixes (in an order other than by name), or
/// what its excluded prefixes leave (in any order), hold fewer than
/// `NAME_SORT_MAX` secrets, as the planner estimates from its statistics:
/// the database then sorts those from the name index rather than walk the
/// order's index to them (a prefix created late, listed newest first, had
/// 70,000 rows walked past; the planner, taking names to be spread evenly,
/// walks; a prefix excluding all but one secret had every other read). An
/// estimate, not a count: counting read the range once more, as long as
/// sorting it. Off by some, the sort costs proportionally more; it never
/// changes the page.
async fn few_names(conn: &Client, scope: &Scope, q: &ListQuery) -> Result<bool> {
    let n = &q.narrow;
    let by_name = q.sort == ListSort::Name;
    if n.name_excluded.is_empty() && (n.name_prefixes.is_empty() || by_name) {
        return Ok(false);
    }
    let (names, mut values) =
        words::name_ranges(&n.name_prefixes, "s.name", 3, |i| format!("${i}"));
    let (excluded, more) =
        words::name_exclusions(&n.name_excluded, "s.name", 3 + values.len(), |i| {
            format!("${i}")
        });
    values.extend(more);
    let sql = format!(
        "EXPLAIN SELECT 1 FROM secrets s WHERE s.account_id = $1 AND s.region = $2{names}{excluded}"
    );
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&scope.account_id, &scope.region];
    params.extend(values.iter().map(|x| x as &(dyn ToSql + Sync)));
    let rows = conn.query(&sql, &params).await.map_err(pg_err)?;
    let top: Option<String> = rows.first().and_then(|r| r.try_get(0).ok());
    Ok(top
        .as_deref()
        .and_then(estimated_rows)
        .is_some_and(|n| n < words::NAME_SORT_MAX))
}

/// The `rows=N` of a plan's line of text (`… (cost=0.42..1118.42 rows=14800
/// width=4)`).
fn estimated_rows(line: &str) -> Option<i64> {
    let at = line.find(" rows=")? + " rows=".len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// How a page's secrets are found: among a probe's few candidates, or (with
/// `sort_names`) by sorting the few secrets of its name prefixes, else by
/// walking the order's index (up to `bound`, where there is one).
struct Plan<'a> {
    ids: Option<&'a Vec<i64>>,
    sort_names: bool,
    bound: Option<&'a (ListKey, i64)>,
}

/// Walks the order's index from the position in growing batches until one
/// more secret than the page holds is kept (or the walk ends).
async fn walk(
    conn: &Client,
    scope: &Scope,
    q: &ListQuery,
    keep: &ListFilter,
    by: &Plan<'_>,
) -> Result<Vec<SecretRow>> {
    let mut matched = Vec::new();
    let mut after = q.after.clone();
    let mut batch_size = (q.limit as i64 + 1).min(BATCH_MAX);
    loop {
        let (sql, names) = batch_sql(q, by, after.is_some());
        let mut params: Vec<&(dyn ToSql + Sync)> =
            vec![&scope.account_id, &scope.region, &batch_size];
        if let Some(ids) = &by.ids {
            params.push(ids);
        }
        if let Some(at) = &after {
            push_position(&mut params, at);
        }
        if let Some(at) = by.bound {
            push_position(&mut params, at);
        }
        params.extend(names.iter().map(|x| x as &(dyn ToSql + Sync)));
        let batch = conn.query(&sql, &params).await.map_err(pg_err)?;
        let full = batch.len() as i64 == batch_size;
        for r in &batch {
            let row = rows::secret(r)?;
            after = Some((q.sort.key_of(&row), row.id));
            if keep(&row) {
                matched.push(row);
                if matched.len() > q.limit {
                    return Ok(matched);
                }
            }
        }
        if !full {
            return Ok(matched);
        }
        batch_size = (batch_size * 2).min(BATCH_MAX);
    }
}

/// The page's secrets with their labelled versions, in one query.
async fn with_versions(conn: &Client, matched: Vec<SecretRow>) -> Result<Vec<Secret>> {
    let ids: Vec<i64> = matched.iter().map(|r| r.id).collect();
    let sql = format!(
        "SELECT {VERSION_COLS} FROM versions v WHERE v.secret_id = ANY($1) AND v.labels <> '[]'
         ORDER BY v.secret_id, v.seq"
    );
    let vrows = conn.query(&sql, &[&ids]).await.map_err(pg_err)?;
    let mut by_id: std::collections::HashMap<i64, Vec<crate::VersionRow>> =
        std::collections::HashMap::new();
    for r in &vrows {
        let sid: i64 = r.try_get(0).map_err(pg_err)?;
        if let Some(v) = rows::version_at(r, 0)? {
            by_id.entry(sid).or_default().push(v);
        }
    }
    Ok(matched
        .into_iter()
        .map(|row| {
            let versions = by_id.remove(&row.id).unwrap_or_default();
            Secret { row, versions }
        })
        .collect())
}

/// The word-index lookup of a probe, with its parameters after $1 account and
/// $2 region: one `(field, range)` condition per pair, ORed, which the planner
/// answers with one index range scan each. Not DISTINCT: that would read
/// every entry before the LIMIT (500,000 for a common word); the few found
/// are deduplicated by the caller (arrays unnested into a join were
/// estimated at tens of thousands of rows, and scanned the whole table).
fn candidates(p: &WordProbe) -> (String, Vec<String>) {
    let mut params = Vec::new();
    let mut ors = Vec::new();
    for field in &p.fields {
        for prefix in &p.prefixes {
            let n = params.len() + 3;
            ors.push(format!(
                "(w.field = ${n} AND w.word >= ${} AND w.word < ${})",
                n + 1,
                n + 2
            ));
            params.push((*field).to_string());
            params.push(prefix.clone());
            params.push(format!("{prefix}{}", words::RANGE_END));
        }
    }
    let sql = format!(
        "SELECT w.secret_id FROM secret_words w
         WHERE w.account_id = $1 AND w.region = $2 AND ({}) LIMIT {}",
        ors.join(" OR "),
        words::CANDIDATES_MAX
    );
    (sql, params)
}

/// The statement for one batch, and the narrowing's values to bind last.
/// Parameters: $1 account, $2 region, $3 batch size, then (probing) the
/// candidates' ids, then (positioned) the position, then the narrowing's
/// ([`narrowing`]). Ids go in as an array, whose length
/// the planner knows: a join with the word lookup was estimated at tens of
/// thousands of rows and hashed the whole table. Sorting a name prefix's
/// secrets, the order's key is written `key + 0` (a name `name || ''`),
/// which no index answers, so the planner reads the name ranges and sorts
/// them.
fn batch_sql(q: &ListQuery, by: &Plan<'_>, positioned: bool) -> (String, Vec<String>) {
    let k = if by.sort_names && q.sort == ListSort::Name {
        "(s.name || '')".to_string()
    } else if by.sort_names {
        format!("({} + 0)", sort_sql(q.sort))
    } else {
        sort_sql(q.sort).to_string()
    };
    let (dir, cmp, upto) = words::order(q);
    let deleted = if q.include_deleted {
        ""
    } else {
        " AND s.deleted_ms IS NULL"
    };
    let (ids, n) = if by.ids.is_some() {
        (" AND s.id = ANY($4::bigint[])", 4)
    } else {
        ("", 3)
    };
    let (position, n) = if positioned {
        (
            format!(" AND ({k}, s.id) {cmp} (${}, ${})", n + 1, n + 2),
            n + 2,
        )
    } else {
        (String::new(), n)
    };
    // Up to the bound, inclusive.
    let (bounded, n) = if by.bound.is_some() {
        (
            format!(" AND ({k}, s.id) {upto} (${}, ${})", n + 1, n + 2),
            n + 2,
        )
    } else {
        (String::new(), n)
    };
    let ordered = format!("ORDER BY {k} {dir}, s.id {dir}");
    let (narrowed, values) = narrowing(&q.narrow, n + 1);
    let matching = format!(
        "FROM secrets s
         WHERE s.account_id = $1 AND s.region = $2{deleted}{ids}{position}{bounded}{narrowed}"
    );
    let sql = if by.sort_names {
        // The batch's ids sorted from the name index alone (it includes the
        // orders' keys), then their rows: the sort handles narrow tuples.
        let key = sort_sql(q.sort);
        format!(
            "SELECT {SECRET_COLS} FROM secrets s WHERE s.id IN
             (SELECT s.id {matching} {ordered} LIMIT $3)
             ORDER BY {key} {dir}, s.id {dir}"
        )
    } else {
        format!("SELECT {SECRET_COLS} {matching} {ordered} LIMIT $3")
    };
    (sql, values)
}

/// PostgreSQL's conditions. Texts are lowercased under the "C" collation,
/// which lowercases ASCII alone whatever the database's locale (a Turkish one
/// would make `I` a dotless `ı`).
const DIALECT: words::Dialect = words::Dialect {
    table: "s.",
    mark: |i| format!("${i}"),
    contains: |c, p| format!("strpos({c}, {p}) > 0"),
    lower: |t| format!("lower({t} COLLATE \"C\")"),
};

fn narrowing(n: &crate::Narrowing, first: usize) -> (String, Vec<String>) {
    words::narrowing(n, first, &DIALECT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_plan_line_gives_its_estimate() {
        let line = "Index Only Scan using secrets_by_name on secrets s  \
                    (cost=0.42..1118.42 rows=14800 width=4)";
        assert_eq!(super::estimated_rows(line), Some(14_800));
        assert_eq!(super::estimated_rows("Result  (cost=0.00..0.01"), None);
    }
}
