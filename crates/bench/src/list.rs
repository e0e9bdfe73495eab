//! `coffer-bench list-latency`: how long ListSecrets pages take in a large
//! account, against GetSecretValue in the same run as the reference.

use aws_sdk_secretsmanager as sm;
use sm::types::{Filter, FilterNameStringType, SortByType, SortOrderType};
use std::time::{Duration, Instant};

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn timed<F: std::future::Future<Output = anyhow::Result<()>>>(
    tries: usize,
    mut f: impl FnMut() -> F,
) -> anyhow::Result<Duration> {
    let mut took = Vec::with_capacity(tries);
    for _ in 0..tries {
        let t = Instant::now();
        f().await?;
        took.push(t.elapsed());
    }
    Ok(p50(took))
}

/// An SDK error with its code and message (`?` alone says "service error").
fn shown<E: std::error::Error + Send + Sync + 'static>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{}", sm::error::DisplayErrorContext(e))
}

fn filter(key: FilterNameStringType, value: &str) -> Filter {
    Filter::builder().key(key).values(value).build()
}

/// Prints a Markdown table: p50 of a first page of 100 for each filter and
/// order, of a page deep in the walk, the whole walk, and GetSecretValue.
/// `fresh`: the names of secrets made through the API and not read since the
/// server started, each read once from the store (the copies filled into the
/// database cannot be: their values are sealed to the template's identity).
pub async fn list_latency(
    c: &sm::Client,
    get_id: &str,
    tries: usize,
    fresh: &[String],
) -> anyhow::Result<()> {
    let get = timed(tries, || async {
        c.get_secret_value()
            .secret_id(get_id)
            .send()
            .await
            .map_err(shown)?;
        Ok(())
    })
    .await?;
    let mut next = fresh.iter();
    let spread = timed(fresh.len(), || {
        let id = next.next().cloned().unwrap_or_default();
        async move {
            c.get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(shown)?;
            Ok(())
        }
    })
    .await?;
    println!("| what | secrets on the page | p50 | × GetSecretValue |\n|---|---|---|---|");
    let row = |what: &str, n: usize, d: Duration| {
        println!(
            "| {what} | {n} | {:.2} ms | {:.1} |",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / get.as_secs_f64()
        );
    };
    row("GetSecretValue (reference)", 1, get);
    row(
        &format!(
            "GetSecretValue, {} secrets once each (from the store, not the cache)",
            fresh.len()
        ),
        1,
        spread,
    );
    let (asc, desc) = (SortOrderType::Asc, SortOrderType::Desc);
    let cases: Vec<(&str, Vec<Filter>, SortByType, SortOrderType)> = vec![
        (
            "ListSecrets, no filter, by created date",
            vec![],
            SortByType::CreatedDate,
            asc.clone(),
        ),
        (
            "ListSecrets, no filter, by name",
            vec![],
            SortByType::Name,
            asc.clone(),
        ),
        (
            "ListSecrets, name prefix matching 1 in 100",
            vec![filter(FilterNameStringType::Name, "app/svc-42")],
            SortByType::CreatedDate,
            asc.clone(),
        ),
        // Its matches are the 420,000th secrets on: newest first, 70,000
        // others come before them in the order's index.
        (
            "ListSecrets, the same, newest first",
            vec![filter(FilterNameStringType::Name, "app/svc-42")],
            SortByType::CreatedDate,
            desc,
        ),
        (
            "ListSecrets, tag-value matching 1 in 10",
            vec![filter(FilterNameStringType::TagValue, "team-7")],
            SortByType::CreatedDate,
            asc.clone(),
        ),
        (
            "ListSecrets, description word matching 1 in 1000",
            vec![filter(FilterNameStringType::Description, "s123x")],
            SortByType::CreatedDate,
            asc.clone(),
        ),
        // `12` starts 11 of every 1,000 shard numbers: more secrets than the
        // word index hands over as candidates, so the order is walked.
        (
            "ListSecrets, description word matching 1 in 90",
            vec![filter(FilterNameStringType::Description, "s12x")],
            SortByType::CreatedDate,
            asc.clone(),
        ),
        // Every name but the template's starts with `app`: the walk reads
        // every secret to find one (negations narrow nothing in either store).
        (
            "ListSecrets, a negation excluding all but one secret",
            vec![filter(FilterNameStringType::Name, "!app")],
            SortByType::CreatedDate,
            asc.clone(),
        ),
        (
            "ListSecrets, `all` word matching 1 in 1000",
            vec![filter(FilterNameStringType::All, "s123x")],
            SortByType::CreatedDate,
            asc.clone(),
        ),
        (
            "ListSecrets, tag-key, by name",
            vec![filter(FilterNameStringType::TagKey, "team")],
            SortByType::Name,
            asc.clone(),
        ),
        (
            "ListSecrets, tag-value matching 1 in 10, by last changed, newest first",
            vec![filter(FilterNameStringType::TagValue, "team-7")],
            SortByType::LastChangedDate,
            SortOrderType::Desc,
        ),
        // Filters are ANDed: 1 in 9 names, 1 in 90 descriptions.
        (
            "ListSecrets, name prefix and description word together (1 in 810)",
            vec![
                filter(FilterNameStringType::Name, "app/svc-4"),
                filter(FilterNameStringType::Description, "s12x"),
            ],
            SortByType::CreatedDate,
            asc.clone(),
        ),
        (
            "ListSecrets, a name matching nothing",
            vec![filter(FilterNameStringType::Name, "nothing-matches")],
            SortByType::CreatedDate,
            asc,
        ),
    ];
    for (what, f, sort, order) in cases {
        let list = || {
            c.list_secrets()
                .max_results(100)
                .sort_by(sort.clone())
                .sort_order(order.clone())
                .set_filters((!f.is_empty()).then(|| f.clone()))
        };
        let n = list().send().await.map_err(shown)?.secret_list().len();
        let d = timed(tries, || async {
            list().send().await.map_err(shown)?;
            Ok(())
        })
        .await?;
        row(what, n, d);
    }
    // Its pages hold 20 at most, values and all: the secrets made through the
    // API, whose values open (the filled copies' are sealed to the template).
    let batch = || {
        c.batch_get_secret_value()
            .max_results(20)
            .filters(filter(FilterNameStringType::Name, "app/read-1"))
    };
    let n = batch().send().await.map_err(shown)?.secret_values().len();
    let d = timed(tries, || async {
        batch().send().await.map_err(shown)?;
        Ok(())
    })
    .await?;
    row(
        "BatchGetSecretValue, name prefix `app/read-1` (111 secrets, 20 a page)",
        n,
        d,
    );
    let started = Instant::now();
    let (mut pages, mut secrets, mut next, mut deep) = (0, 0, None::<String>, Vec::new());
    loop {
        let t = Instant::now();
        let out = c
            .list_secrets()
            .max_results(100)
            .set_next_token(next.clone())
            .send()
            .await?;
        if pages > 10 {
            deep.push(t.elapsed());
        }
        pages += 1;
        secrets += out.secret_list().len();
        next = out.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    let walk = started.elapsed();
    if !deep.is_empty() {
        row(
            "ListSecrets, a page deep in the walk (11th on)",
            100,
            p50(deep),
        );
    }
    println!(
        "\nWalking every page: {secrets} secrets in {pages} pages, {:.1} s.",
        walk.as_secs_f64()
    );
    filtered_walks(c, get).await
}

/// Every page of a filtered listing, walked to its end: what a page costs
/// at worst, where what the filter keeps lies far apart in the order.
async fn filtered_walks(c: &sm::Client, get: Duration) -> anyhow::Result<()> {
    println!(
        "\nFiltered walks, every page (pages of 100; a page may hold fewer when the store \
         stopped at its budget of rows read):\n\n\
         | filter, order | secrets | pages | p50 page | p99 page (× GetSecretValue) | slowest page | walk |\n\
         |---|---|---|---|---|---|---|"
    );
    let walks = [
        // Excludes app/svc-1, -10…19, -100…199, … and -100000…199999: the
        // last 100,000 in a row of the created order.
        (
            "name `!app/svc-1`, by created date",
            filter(FilterNameStringType::Name, "!app/svc-1"),
        ),
        (
            "description `s12x` (1 in 90), by created date",
            filter(FilterNameStringType::Description, "s12x"),
        ),
        (
            "description `s123x` (1 in 1000), by created date",
            filter(FilterNameStringType::Description, "s123x"),
        ),
    ];
    for (what, f) in walks {
        let (mut took, mut secrets, mut next) = (Vec::new(), 0, None::<String>);
        let started = Instant::now();
        loop {
            let t = Instant::now();
            let out = c
                .list_secrets()
                .max_results(100)
                .sort_by(SortByType::CreatedDate)
                .filters(f.clone())
                .set_next_token(next.clone())
                .send()
                .await?;
            took.push(t.elapsed());
            secrets += out.secret_list().len();
            next = out.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        let walk = started.elapsed();
        let pages = took.len();
        took.sort();
        let at = |q: usize| took[(took.len() - 1) * q / 100].as_secs_f64() * 1e3;
        let (mid, p99, slowest) = (at(50), at(99), at(100));
        println!(
            "| {what} | {secrets} | {pages} | {mid:.2} ms | {p99:.2} ms ({:.0}×) | {slowest:.2} ms | {:.1} s |",
            p99 / (get.as_secs_f64() * 1e3),
            walk.as_secs_f64()
        );
    }
    Ok(())
}
