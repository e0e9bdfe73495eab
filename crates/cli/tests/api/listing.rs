//! ListSecrets (filters, negation, sorting, paging) and BatchGetSecretValue.

use crate::common::*;
use aws_sdk_secretsmanager as sm;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SortOrderType, Tag};

fn filter(key: FilterNameStringType, values: &[&str]) -> Filter {
    let mut f = Filter::builder().key(key);
    for v in values {
        f = f.values(*v);
    }
    f.build()
}

async fn names(
    req: sm::operation::list_secrets::builders::ListSecretsFluentBuilder,
) -> Vec<String> {
    req.send()
        .await
        .unwrap()
        .secret_list()
        .iter()
        .map(|s| s.name().unwrap().to_string())
        .collect()
}

async fn seed(c: &sm::Client) {
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    c.create_secret()
        .name("prod/db")
        .description("Main database")
        .secret_string("a")
        .tags(tag("Team", "Dev"))
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("prod/api")
        .description("partner API key")
        .secret_string("b")
        .tags(tag("Team", "Ops"))
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("dev/db")
        .secret_string("c")
        .tags(tag("Env", "dev"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn filters_and_negation() {
    let srv = TestServer::start().await;
    let c = srv.client();
    seed(&c).await;
    use FilterNameStringType as K;
    assert_eq!(
        names(c.list_secrets().filters(filter(K::Name, &["prod"]))).await,
        ["prod/db", "prod/api"]
    );
    assert_eq!(
        names(c.list_secrets().filters(filter(K::Name, &["!prod"]))).await,
        ["dev/db"]
    );
    assert_eq!(
        names(c.list_secrets().filters(filter(K::TagKey, &["Team"]))).await,
        ["prod/db", "prod/api"]
    );
    assert_eq!(
        names(c.list_secrets().filters(filter(K::TagValue, &["Dev"]))).await,
        ["prod/db"]
    );
    assert_eq!(
        names(c.list_secrets().filters(filter(K::Description, &["main"]))).await,
        ["prod/db"]
    );
    assert_eq!(
        names(
            c.list_secrets()
                .filters(filter(K::Name, &["prod"]))
                .filters(filter(K::TagValue, &["Ops"]))
        )
        .await,
        ["prod/api"]
    );
    assert_eq!(
        names(c.list_secrets().filters(filter(K::All, &["partner"]))).await,
        ["prod/api"]
    );
    let (code, _) = err(c
        .list_secrets()
        .filters(filter(K::Name, &["bad*"]))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ValidationException");
    srv.stop().await;
}

#[tokio::test]
async fn sorting_and_paging() {
    let srv = TestServer::start().await;
    let c = srv.client();
    seed(&c).await;
    assert_eq!(
        names(c.list_secrets().sort_order(SortOrderType::Desc)).await,
        ["dev/db", "prod/api", "prod/db"]
    );
    assert_eq!(
        names(c.list_secrets().sort_by(sm::types::SortByType::Name)).await,
        ["dev/db", "prod/api", "prod/db"]
    );
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = c
            .list_secrets()
            .max_results(2)
            .set_next_token(next.clone())
            .send()
            .await
            .unwrap();
        seen.extend(
            out.secret_list()
                .iter()
                .map(|s| s.name().unwrap().to_string()),
        );
        next = out.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["prod/db", "prod/api", "dev/db"]);
    let (code, _) = err(c
        .list_secrets()
        .next_token("not-a-token")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidNextTokenException");
    let (code, _) = err(c.list_secrets().max_results(101).send().await.unwrap_err());
    assert_eq!(code, "ValidationException");
    srv.stop().await;
}

#[tokio::test]
async fn batch_get_by_ids_reports_each_failure() {
    let srv = TestServer::start().await;
    let c = srv.client();
    seed(&c).await;
    c.delete_secret().secret_id("dev/db").send().await.unwrap();
    let out = c
        .batch_get_secret_value()
        .secret_id_list("prod/db")
        .secret_id_list("missing")
        .secret_id_list("dev/db")
        .send()
        .await
        .unwrap();
    let values: Vec<_> = out
        .secret_values()
        .iter()
        .map(|v| (v.name().unwrap(), v.secret_string().unwrap()))
        .collect();
    assert_eq!(values, vec![("prod/db", "a")]);
    let errors: Vec<_> = out
        .errors()
        .iter()
        .map(|e| (e.secret_id().unwrap(), e.error_code().unwrap()))
        .collect();
    assert_eq!(
        errors,
        vec![
            ("missing", "ResourceNotFoundException"),
            ("dev/db", "InvalidRequestException")
        ]
    );
    let (code, _) = err(c.batch_get_secret_value().send().await.unwrap_err());
    assert_eq!(code, "InvalidParameterException");
    let (code, _) = err(c
        .batch_get_secret_value()
        .secret_id_list("a")
        .filters(filter(FilterNameStringType::Name, &["a"]))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidParameterException");
    srv.stop().await;
}

#[tokio::test]
async fn batch_get_by_filter_pages() {
    let srv = TestServer::start().await;
    let c = srv.client();
    for i in 0..25 {
        c.create_secret()
            .name(format!("app/s{i:02}"))
            .secret_string(format!("v{i}"))
            .send()
            .await
            .unwrap();
    }
    c.create_secret()
        .name("other")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = c
            .batch_get_secret_value()
            .filters(filter(FilterNameStringType::Name, &["app/"]))
            .max_results(20)
            .set_next_token(next.clone())
            .send()
            .await
            .unwrap();
        assert!(out.secret_values().len() <= 20);
        got.extend(
            out.secret_values()
                .iter()
                .map(|v| v.secret_string().unwrap().to_string()),
        );
        next = out.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    assert_eq!(got.len(), 25);
    assert!(got.contains(&"v0".to_string()) && got.contains(&"v24".to_string()));
    srv.stop().await;
}

/// Tokens are positions, not offsets: a secret created mid-walk before the
/// position neither repeats nor hides one; a token is refused for another
/// order than the one it came from.
#[tokio::test]
async fn tokens_stay_exact_while_secrets_are_created() {
    let srv = TestServer::start().await;
    let c = srv.client();
    for n in ["b1", "b2", "b3", "b4", "b5"] {
        c.create_secret()
            .name(n)
            .secret_string("x")
            .send()
            .await
            .unwrap();
    }
    let by_name = || {
        c.list_secrets()
            .sort_by(sm::types::SortByType::Name)
            .max_results(2)
    };
    let first = by_name().send().await.unwrap();
    let mut seen: Vec<String> = first
        .secret_list()
        .iter()
        .map(|s| s.name().unwrap().to_string())
        .collect();
    // Sorts before the walk's position: with offsets, b2 would come again.
    c.create_secret()
        .name("a0")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let mut next = first.next_token().map(str::to_string);
    while let Some(t) = next {
        let out = by_name().next_token(&t).send().await.unwrap();
        seen.extend(
            out.secret_list()
                .iter()
                .map(|s| s.name().unwrap().to_string()),
        );
        next = out.next_token().map(str::to_string);
    }
    assert_eq!(seen, ["b1", "b2", "b3", "b4", "b5"]);

    let token = first.next_token().unwrap();
    let (code, _) = err(c
        .list_secrets()
        .sort_by(sm::types::SortByType::CreatedDate)
        .next_token(token)
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidNextTokenException");
    srv.stop().await;
}

/// A NextToken is the caller's to forge: one whose key does not fit its
/// order is refused as invalid (it reached PostgreSQL as a mistyped parameter
/// and answered InternalServiceError), on both stores.
#[tokio::test]
async fn forged_tokens_are_invalid_not_server_errors() {
    use base64::Engine as _;
    let forge = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let url = coffer_store::postgres::testing::fresh_database().await;
    for pg in [false, true] {
        let srv = TestServer::start_with(|o| {
            if pg {
                o.database_url = Some(url.clone());
            }
        })
        .await;
        let c = srv.client();
        c.create_secret()
            .name("x")
            .secret_string("v")
            .send()
            .await
            .unwrap();
        for (sort, json) in [
            (
                sm::types::SortByType::CreatedDate,
                r#"{"sort":"created-date","desc":false,"key":{"Text":"zzz"},"id":1}"#,
            ),
            (
                sm::types::SortByType::Name,
                r#"{"sort":"name","desc":false,"key":{"Int":5},"id":1}"#,
            ),
        ] {
            let (code, _) = err(c
                .list_secrets()
                .sort_by(sort)
                .next_token(forge(json))
                .send()
                .await
                .unwrap_err());
            assert_eq!(code, "InvalidNextTokenException", "postgres: {pg}, {json}");
        }
        srv.stop().await;
    }
    coffer_store::postgres::testing::drop_database(&url).await;
}
