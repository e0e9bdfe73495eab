//! Pages of a listing: the order's index walked in batches from the page's
//! position, the caller's filter applied to each secret, versions loaded for
//! the page's secrets only.

use super::error::pg_err;
use super::pool::Pool;
use super::rows::{self, SECRET_COLS, VERSION_COLS};
use crate::{ListFilter, ListKey, ListPage, ListQuery, ListSort, Result, Scope, Secret, SecretRow};
use tokio_postgres::types::ToSql;

/// Rows read per round trip while looking for a page's secrets.
const BATCH: i64 = 256;

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
    let mut matched: Vec<SecretRow> = Vec::new();
    let mut after = q.after.clone();
    loop {
        let sql = batch_sql(q, after.is_some());
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&scope.account_id, &scope.region, &BATCH];
        let (int_key, text_key, id);
        if let Some((k, i)) = &after {
            id = *i;
            match k {
                ListKey::Int(n) => {
                    int_key = *n;
                    params.push(&int_key);
                }
                ListKey::Text(t) => {
                    text_key = t.clone();
                    params.push(&text_key);
                }
            }
            params.push(&id);
        }
        let batch = conn.query(&sql, &params).await.map_err(pg_err)?;
        let full = batch.len() as i64 == BATCH;
        for r in &batch {
            let row = rows::secret(r)?;
            after = Some((q.sort.key_of(&row), row.id));
            if keep(&row) {
                matched.push(row);
                if matched.len() > q.limit {
                    break;
                }
            }
        }
        if matched.len() > q.limit || !full {
            break;
        }
    }
    let more = matched.len() > q.limit;
    matched.truncate(q.limit);
    let ids: Vec<i64> = matched.iter().map(|r| r.id).collect();
    let sql = format!(
        "SELECT {VERSION_COLS} FROM versions v WHERE v.secret_id = ANY($1) ORDER BY v.secret_id, v.seq"
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
    let secrets = matched
        .into_iter()
        .map(|row| {
            let versions = by_id.remove(&row.id).unwrap_or_default();
            Secret { row, versions }
        })
        .collect();
    Ok(ListPage { secrets, more })
}

/// The statement for one batch; `$4`, `$5` are the position when there is one.
fn batch_sql(q: &ListQuery, positioned: bool) -> String {
    let (k, dir, cmp) = (
        sort_sql(q.sort),
        if q.descending { "DESC" } else { "ASC" },
        if q.descending { "<" } else { ">" },
    );
    let deleted = if q.include_deleted {
        ""
    } else {
        " AND s.deleted_ms IS NULL"
    };
    let position = if positioned {
        format!(" AND ({k}, s.id) {cmp} ($4, $5)")
    } else {
        String::new()
    };
    format!(
        "SELECT {SECRET_COLS} FROM secrets s WHERE s.account_id = $1 AND s.region = $2{deleted}{position}
         ORDER BY {k} {dir}, s.id {dir} LIMIT $3"
    )
}
