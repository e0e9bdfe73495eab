//! Authentication errors carry AWS's codes and statuses.

use crate::common::*;
use crate::raw::{post, signed};
use std::time::{Duration, SystemTime};

const BODY: &[u8] = b"{}";

#[tokio::test]
async fn signature_failures_use_aws_codes() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let now = SystemTime::now();

    let ok = post(
        addr,
        &signed(addr, "ListSecrets", BODY, AKID, SECRET, "us-east-1", now),
        BODY,
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);

    let unsigned = vec![
        ("host".to_string(), addr.to_string()),
        (
            "x-amz-target".to_string(),
            "secretsmanager.ListSecrets".to_string(),
        ),
    ];
    let r = post(addr, &unsigned, BODY).await;
    assert_eq!(
        (r.status, r.error_type()),
        (400, "MissingAuthenticationTokenException")
    );

    let r = post(
        addr,
        &signed(
            addr,
            "ListSecrets",
            BODY,
            AKID,
            "wrong-secret",
            "us-east-1",
            now,
        ),
        BODY,
    )
    .await;
    assert_eq!(
        (r.status, r.error_type()),
        (400, "InvalidSignatureException")
    );
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .starts_with("The request signature we calculated does not match"));

    let r = post(
        addr,
        &signed(
            addr,
            "ListSecrets",
            BODY,
            "AKIAUNKNOWNUNKNOWN00",
            SECRET,
            "us-east-1",
            now,
        ),
        BODY,
    )
    .await;
    assert_eq!(
        (r.status, r.error_type()),
        (400, "UnrecognizedClientException")
    );
    assert_eq!(
        r.body["message"],
        "The security token included in the request is invalid."
    );

    let old = now - Duration::from_mins(16);
    let r = post(
        addr,
        &signed(addr, "ListSecrets", BODY, AKID, SECRET, "us-east-1", old),
        BODY,
    )
    .await;
    assert_eq!(
        (r.status, r.error_type()),
        (400, "InvalidSignatureException")
    );
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired:"),
        "{:?}",
        r.body
    );
    let future = now + Duration::from_mins(16);
    let r = post(
        addr,
        &signed(addr, "ListSecrets", BODY, AKID, SECRET, "us-east-1", future),
        BODY,
    )
    .await;
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature not yet current:"),
        "{:?}",
        r.body
    );
    // Within the window is fine.
    let skewed = now - Duration::from_mins(10);
    assert_eq!(
        post(
            addr,
            &signed(addr, "ListSecrets", BODY, AKID, SECRET, "us-east-1", skewed),
            BODY
        )
        .await
        .status,
        200
    );

    let mut bad = signed(addr, "ListSecrets", BODY, AKID, SECRET, "us-east-1", now);
    for (k, v) in &mut bad {
        if k == "authorization" {
            *v = v.split(", Signature=").next().unwrap().to_string();
        }
    }
    let r = post(addr, &bad, BODY).await;
    assert_eq!(
        (r.status, r.error_type()),
        (400, "IncompleteSignatureException")
    );

    // A body changed after signing.
    let headers = signed(addr, "ListSecrets", BODY, AKID, SECRET, "us-east-1", now);
    let r = post(addr, &headers, br#"{"MaxResults":1}"#).await;
    assert_eq!(r.error_type(), "InvalidSignatureException");
    srv.stop().await;
}

#[tokio::test]
async fn protocol_errors() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let now = SystemTime::now();
    let r = post(
        addr,
        &signed(
            addr,
            "NoSuchOperation",
            BODY,
            AKID,
            SECRET,
            "us-east-1",
            now,
        ),
        BODY,
    )
    .await;
    assert_eq!(
        (r.status, r.error_type()),
        (400, "UnknownOperationException")
    );

    let body = b"{not json";
    let r = post(
        addr,
        &signed(addr, "ListSecrets", body, AKID, SECRET, "us-east-1", now),
        body,
    )
    .await;
    assert_eq!((r.status, r.error_type()), (400, "SerializationException"));

    let body = br#"{"SecretId": 5}"#;
    let r = post(
        addr,
        &signed(addr, "GetSecretValue", body, AKID, SECRET, "us-east-1", now),
        body,
    )
    .await;
    assert_eq!((r.status, r.error_type()), (400, "SerializationException"));

    // Oversized bodies are refused before they are read.
    let big = vec![b' '; 300 * 1024];
    let r = post(
        addr,
        &signed(addr, "ListSecrets", &big, AKID, SECRET, "us-east-1", now),
        &big,
    )
    .await;
    assert_eq!(
        (r.status, r.error_type()),
        (413, "RequestEntityTooLargeException")
    );

    // A raw request without a ClientRequestToken: AWS's error, not a made-up token.
    let body = br#"{"Name":"raw","SecretString":"v"}"#;
    let r = post(
        addr,
        &signed(addr, "CreateSecret", body, AKID, SECRET, "us-east-1", now),
        body,
    )
    .await;
    assert_eq!((r.status, r.error_type()), (400, "InvalidRequestException"));
    assert_eq!(
        r.body["Message"],
        "You must provide a ClientRequestToken value. We recommend a UUID-type value."
    );

    // The change stream is authenticated like every API call.
    let (status, _, body) =
        crate::raw::request(addr, "GET", coffer_server::EVENTS_PATH, &[], b"").await;
    assert_eq!(status, 400);
    assert!(
        body.contains("MissingAuthenticationTokenException"),
        "{body}"
    );

    // A region that is not a region.
    let r = post(
        addr,
        &signed(addr, "ListSecrets", BODY, AKID, SECRET, "not_a_region", now),
        BODY,
    )
    .await;
    assert_eq!(r.error_type(), "InvalidSignatureException");
    srv.stop().await;
}
