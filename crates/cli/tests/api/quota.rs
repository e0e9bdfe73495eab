//! Request quotas through the real SDK: one principal over its read rate gets
//! ThrottlingException while another principal of the same account, and the same
//! principal's writes, go on; it recovers once its bucket refills.

use crate::access::user;
use crate::common::*;

#[tokio::test]
async fn a_key_over_its_read_quota_is_throttled_and_others_are_not() {
    let srv = TestServer::start_with(|o| {
        o.http.quotas = coffer_server::QuotaConfig {
            reads_per_second: 3.0,
            writes_per_second: 0.0,
            iam_per_second: 0.0,
        };
    })
    .await;
    let root = srv.client();
    root.create_secret()
        .name("q")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}"#;
    let (akid, key) = user(srv.running().addr, "other", &[], policy).await;

    let mut ok = 0;
    let mut throttled = Vec::new();
    for _ in 0..20 {
        match root.get_secret_value().secret_id("q").send().await {
            Ok(_) => ok += 1,
            Err(e) => throttled.push(err(e)),
        }
    }
    assert!((3..=6).contains(&ok), "{ok} reads passed a 3/s quota");
    assert!(!throttled.is_empty());
    for (code, msg) in &throttled {
        assert_eq!(
            (code.as_str(), msg.as_str()),
            ("ThrottlingException", "Rate exceeded")
        );
    }

    let (_, _, metrics) =
        crate::raw::request(srv.running().addr, "GET", "/metrics", &[], b"").await;
    assert!(
        metrics.contains("coffer_throttled_total{family=\"read\"}"),
        "throttled calls are counted: {metrics}"
    );

    let other = client_for(&srv.endpoint(), "us-east-1", &akid, &key);
    other
        .get_secret_value()
        .secret_id("q")
        .send()
        .await
        .unwrap();
    root.put_secret_value()
        .secret_id("q")
        .secret_string("w")
        .send()
        .await
        .expect("writes have their own quota");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let v = root.get_secret_value().secret_id("q").send().await.unwrap();
    assert_eq!(v.secret_string(), Some("w"));
    srv.stop().await;
}
