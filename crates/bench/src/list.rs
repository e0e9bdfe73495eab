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

fn filter(key: FilterNameStringType, value: &str) -> Filter {
    Filter::builder().key(key).values(value).build()
}

/// Prints a Markdown table: p50 of a first page of 100 for each filter and
/// order, of a page deep in the walk, the whole walk, and GetSecretValue.
pub async fn list_latency(c: &sm::Client, get_id: &str, tries: usize) -> anyhow::Result<()> {
    let get = timed(tries, || async {
        c.get_secret_value().secret_id(get_id).send().await?;
        Ok(())
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
    let (asc, desc) = (SortOrderType::Asc, SortOrderType::Desc);
    let cases: Vec<(&str, Option<Filter>, SortByType, SortOrderType)> = vec![
        (
            "ListSecrets, no filter, by created date",
            None,
            SortByType::CreatedDate,
            asc.clone(),
        ),
        (
            "ListSecrets, no filter, by name",
            None,
            SortByType::Name,
            asc.clone(),
        ),
        (
            "ListSecrets, name prefix matching 1 in 100",
            Some(filter(FilterNameStringType::Name, "app/svc-42")),
            SortByType::CreatedDate,
            asc.clone(),
        ),
        // Its matches are the 420,000th secrets on: newest first, 70,000
        // others come before them in the order's index.
        (
            "ListSecrets, the same, newest first",
            Some(filter(FilterNameStringType::Name, "app/svc-42")),
            SortByType::CreatedDate,
            desc,
        ),
        (
            "ListSecrets, tag-value matching 1 in 10",
            Some(filter(FilterNameStringType::TagValue, "team-7")),
            SortByType::CreatedDate,
            asc.clone(),
        ),
        (
            "ListSecrets, description word matching 1 in 1000",
            Some(filter(FilterNameStringType::Description, "s123x")),
            SortByType::CreatedDate,
            asc.clone(),
        ),
        // `12` starts 11 of every 1,000 shard numbers: more secrets than the
        // word index hands over as candidates, so the order is walked.
        (
            "ListSecrets, description word matching 1 in 90",
            Some(filter(FilterNameStringType::Description, "s12x")),
            SortByType::CreatedDate,
            asc.clone(),
        ),
        // Every name but the template's starts with `app`: the walk reads
        // every secret to find one (negations narrow nothing in either store).
        (
            "ListSecrets, a negation excluding all but one secret",
            Some(filter(FilterNameStringType::Name, "!app")),
            SortByType::CreatedDate,
            asc.clone(),
        ),
        (
            "ListSecrets, a name matching nothing",
            Some(filter(FilterNameStringType::Name, "nothing-matches")),
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
                .set_filters(f.clone().map(|f| vec![f]))
        };
        let n = list().send().await?.secret_list().len();
        let d = timed(tries, || async {
            list().send().await?;
            Ok(())
        })
        .await?;
        row(what, n, d);
    }
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
