//! Known-answer tests from AWS's published SigV4 examples.

use super::*;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn sig_for(
    input: &CanonicalInput<'_>,
    amz_date: &str,
    scope: &str,
    date: &str,
    region: &str,
    service: &str,
) -> String {
    let creq = canonical_request(input);
    let sts = string_to_sign(amz_date, scope, &creq);
    sign(&signing_key(SECRET.as_bytes(), date, region, service), &sts)
}

/// The `get-vanilla` case of AWS's SigV4 test suite.
#[test]
fn get_vanilla() {
    let signed = vec!["host".to_string(), "x-amz-date".to_string()];
    let headers = [
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
    ];
    let input = CanonicalInput {
        method: "GET",
        path: "/",
        query: "",
        headers: &headers,
        signed_headers: &signed,
        payload_sha256_hex: &sha256_hex(b""),
    };
    assert_eq!(
        canonical_request(&input),
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let sig = sig_for(
        &input,
        "20150830T123600Z",
        "20150830/us-east-1/service/aws4_request",
        "20150830",
        "us-east-1",
        "service",
    );
    assert_eq!(
        sig,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

/// The IAM ListUsers example of the SigV4 documentation.
#[test]
fn iam_list_users_example() {
    let signed: Vec<String> = ["content-type", "host", "x-amz-date"]
        .map(String::from)
        .to_vec();
    let headers = [
        (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("Host", "iam.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
    ];
    let input = CanonicalInput {
        method: "GET",
        path: "/",
        query: "Version=2010-05-08&Action=ListUsers",
        headers: &headers,
        signed_headers: &signed,
        payload_sha256_hex: &sha256_hex(b""),
    };
    let creq = canonical_request(&input);
    assert_eq!(
        sha256_hex(creq.as_bytes()),
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    let sig = sig_for(
        &input,
        "20150830T123600Z",
        "20150830/us-east-1/iam/aws4_request",
        "20150830",
        "us-east-1",
        "iam",
    );
    assert_eq!(
        sig,
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

#[test]
fn header_values_are_trimmed_and_collapsed() {
    let signed = vec!["my-header1".to_string()];
    let headers = [
        ("My-Header1", "  value1   with  spaces "),
        ("my-header1", "b"),
    ];
    let input = CanonicalInput {
        method: "GET",
        path: "/",
        query: "",
        headers: &headers,
        signed_headers: &signed,
        payload_sha256_hex: "x",
    };
    assert!(canonical_request(&input).contains("my-header1:value1 with spaces,b\n"));
}

#[test]
fn query_is_sorted_and_reencoded() {
    let signed = vec!["host".to_string()];
    let headers = [("host", "h")];
    let input = CanonicalInput {
        method: "GET",
        path: "/a b/../c%20d",
        query: "b=2&a=%7e&a=1",
        headers: &headers,
        signed_headers: &signed,
        payload_sha256_hex: "x",
    };
    let creq = canonical_request(&input);
    let lines: Vec<&str> = creq.lines().collect();
    assert_eq!(lines[1], "/c%2520d");
    assert_eq!(lines[2], "a=1&a=~&b=2");
}

/// Beyond the suite's paths: `..` stops at the root, and only a trailing slash on
/// the path as sent leaves one on the canonical path (as AWS's SDKs normalise).
#[test]
fn path_normalisation_edges() {
    let signed = vec!["host".to_string()];
    let headers = [("host", "h")];
    let path_of = |path| {
        let creq = canonical_request(&CanonicalInput {
            method: "GET",
            path,
            query: "",
            headers: &headers,
            signed_headers: &signed,
            payload_sha256_hex: "x",
        });
        creq.lines().nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(path_of(""), "/");
    assert_eq!(path_of("/.."), "/");
    assert_eq!(path_of("/../a"), "/a");
    assert_eq!(path_of("/a/b/.."), "/a");
    assert_eq!(path_of("/a//b/../"), "/a/");
    assert_eq!(path_of("/a/./b//c"), "/a/b/c");
}

#[test]
fn authorization_parses_and_reports_missing_parts() {
    let a = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    )
    .unwrap();
    assert_eq!(a.access_key_id, "AKID");
    assert_eq!(a.scope(), "20150830/us-east-1/secretsmanager/aws4_request");
    assert_eq!(a.signed_headers, vec!["host", "x-amz-date"]);

    let e = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/secretsmanager/aws4_request",
    )
    .unwrap_err();
    match e {
        SigV4Error::Incomplete(m) => assert!(
            m.contains("'Signature'") && m.contains("'SignedHeaders'"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_authorization("Basic abc"),
        Err(SigV4Error::Incomplete(_))
    ));
    assert!(matches!(
        parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=host, Signature=00"),
        Err(SigV4Error::Incomplete(_))
    ));
}

#[test]
fn dates_round_trip() {
    let t = parse_amz_date("20150830T123600Z").unwrap();
    assert_eq!(t, 1_440_938_160);
    assert_eq!(parse::format_amz_date(t), "20150830T123600Z");
    assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
    assert_eq!(parse_amz_date("20151330T123600Z"), None);
    assert_eq!(parse_amz_date("2015083ðT12360Z"), None);
}

#[test]
fn skew_window() {
    let now = 1_440_938_160;
    assert!(check_skew("d", now - 899, now).is_ok());
    assert!(check_skew("d", now + 899, now).is_ok());
    let e = check_skew("20150830T122000Z", now - 960, now).unwrap_err();
    assert!(
        matches!(e, SigV4Error::Invalid(m) if m.starts_with("Signature expired: 20150830T122000Z is now earlier than 20150830T122100Z"))
    );
    assert!(
        matches!(check_skew("d", now + 901, now), Err(SigV4Error::Invalid(m)) if m.starts_with("Signature not yet current"))
    );
}

#[test]
fn signature_comparison() {
    let a = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    assert!(signatures_match(a, a));
    assert!(!signatures_match(a, &a.replace('5', "6")));
    assert!(!signatures_match(a, "5fa0"));
}
