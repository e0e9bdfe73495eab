//! The pattern language against the examples of EventBridge's documentation
//! (restated here), and the patterns it refuses.

use super::Pattern;
use serde_json::{json, Value};

fn m(pattern: Value, event: &Value) -> bool {
    Pattern::parse(&pattern.to_string())
        .unwrap_or_else(|e| panic!("{pattern}: {}", e.message()))
        .matches(event)
}

fn ec2_event() -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "111122223333",
        "time": "2017-12-22T18:43:48Z",
        "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": {
            "instance-id": "i-1234567890abcdef0",
            "state": "terminated",
            "c-count": 5,
            "d-count": 7,
            "x-limit": 301.8,
            "source-ip": "10.0.0.123",
            "FileName": "image.PNG",
            "tags": ["blue", "green"],
            "owner": null,
            "note": "",
            "items": [{"kind": "disk", "size": 8}, {"kind": "nic", "size": 1}]
        }
    })
}

#[test]
fn exact_values_and_and_or_between_keys_and_values() {
    let e = ec2_event();
    assert!(m(json!({"source": ["aws.ec2"]}), &e));
    assert!(m(json!({"source": ["aws.s3", "aws.ec2"]}), &e), "any value");
    assert!(
        !m(json!({"source": ["aws.ec2"], "region": ["eu-west-1"]}), &e),
        "every key"
    );
    assert!(!m(json!({"source": ["AWS.EC2"]}), &e), "case-sensitive");
    assert!(!m(json!({"missing": ["x"]}), &e));
    assert!(m(json!({"detail": {"c-count": [5]}}), &e), "numbers");
    assert!(
        m(json!({"detail": {"c-count": [5.0]}}), &e),
        "numbers by value"
    );
    assert!(
        !m(json!({"detail": {"c-count": ["5"]}}), &e),
        "a string is not a number"
    );
    assert!(m(json!({"detail": {"owner": [null]}}), &e), "null");
    assert!(
        !m(json!({"detail": {"missing": [null]}}), &e),
        "missing is not null"
    );
    assert!(m(json!({"detail": {"note": [""]}}), &e), "empty string");
}

#[test]
fn arrays_match_when_any_element_does() {
    let e = ec2_event();
    assert!(m(json!({"detail": {"tags": ["green"]}}), &e));
    assert!(m(
        json!({"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0", "other"]}),
        &e
    ));
    assert!(!m(json!({"detail": {"tags": ["red"]}}), &e));
    // Objects in an array: a nested pattern looks into each.
    assert!(m(json!({"detail": {"items": {"kind": ["nic"]}}}), &e));
    assert!(!m(json!({"detail": {"items": {"kind": ["gpu"]}}}), &e));
}

#[test]
fn prefix_suffix_and_ignoring_case() {
    let e = ec2_event();
    assert!(m(json!({"time": [{"prefix": "2017-12-22"}]}), &e));
    assert!(!m(json!({"time": [{"prefix": "2018"}]}), &e));
    assert!(m(
        json!({"detail-type": [{"prefix": {"equals-ignore-case": "ec2 INSTANCE"}}]}),
        &e
    ));
    assert!(m(json!({"detail": {"FileName": [{"suffix": ".PNG"}]}}), &e));
    assert!(!m(
        json!({"detail": {"FileName": [{"suffix": ".png"}]}}),
        &e
    ));
    assert!(m(
        json!({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}),
        &e
    ));
    assert!(m(
        json!({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}),
        &e
    ));
    assert!(
        !m(json!({"detail": {"c-count": [{"prefix": "5"}]}}), &e),
        "prefix is for strings"
    );
}

#[test]
fn wildcards() {
    let e =
        json!({"arn": "arn:aws:events:us-east-1:123456789012:event-bus/default", "path": "a*b\\c"});
    assert!(m(
        json!({"arn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}),
        &e
    ));
    assert!(m(json!({"arn": [{"wildcard": "*default"}]}), &e));
    assert!(m(json!({"arn": [{"wildcard": "arn*"}]}), &e));
    assert!(!m(
        json!({"arn": [{"wildcard": "arn:aws:events:eu-*"}]}),
        &e
    ));
    assert!(m(json!({"arn": [{"wildcard": "*"}]}), &e));
    assert!(
        m(json!({"path": [{"wildcard": "a\\*b\\\\c"}]}), &e),
        "escaped star and backslash"
    );
    assert!(!m(json!({"path": [{"wildcard": "a\\*c"}]}), &e));
    assert!(
        m(
            json!({"arn": [{"wildcard": "*:*:*:*:*:event-bus/d*t"}]}),
            &e
        ),
        "backtracking"
    );
}

#[test]
fn anything_but_in_every_form() {
    let e = ec2_event();
    let d = |p: Value| m(json!({"detail": p}), &e);
    assert!(d(json!({"state": [{"anything-but": "initializing"}]})));
    assert!(!d(json!({"state": [{"anything-but": "terminated"}]})));
    assert!(!d(
        json!({"state": [{"anything-but": ["stopped", "terminated"]}]})
    ));
    assert!(d(json!({"c-count": [{"anything-but": [100, 200, 300]}]})));
    assert!(!d(json!({"c-count": [{"anything-but": 5}]})));
    assert!(d(json!({"state": [{"anything-but": {"prefix": "init"}}]})));
    assert!(!d(json!({"state": [{"anything-but": {"prefix": "term"}}]})));
    assert!(!d(
        json!({"FileName": [{"anything-but": {"suffix": ".PNG"}}]})
    ));
    assert!(!d(
        json!({"state": [{"anything-but": {"equals-ignore-case": ["STOPPED", "Terminated"]}}]})
    ));
    assert!(d(
        json!({"state": [{"anything-but": {"equals-ignore-case": "running"}}]})
    ));
    assert!(!d(
        json!({"state": [{"anything-but": {"wildcard": "*min*"}}]})
    ));
    assert!(d(
        json!({"state": [{"anything-but": {"wildcard": ["*run*", "stop*"]}}]})
    ));
    assert!(
        !d(json!({"missing": [{"anything-but": "x"}]})),
        "a missing field is not anything"
    );
    // An array field: some element is not excluded.
    assert!(d(json!({"tags": [{"anything-but": "blue"}]})));
    assert!(!d(json!({"tags": [{"anything-but": ["blue", "green"]}]})));
}

#[test]
fn numeric_ranges() {
    let e = ec2_event();
    assert!(m(
        json!({"detail": {
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"numeric": ["=", 3.018e2]}]
        }}),
        &e
    ));
    assert!(!m(
        json!({"detail": {"c-count": [{"numeric": [">", 5]}]}}),
        &e
    ));
    assert!(m(
        json!({"detail": {"c-count": [{"numeric": [">=", 5]}]}}),
        &e
    ));
    assert!(
        m(
            json!({"detail": {"c-count": [{"numeric": ["<=", 10, ">", 4]}]}}),
            &e
        ),
        "either order"
    );
    assert!(
        !m(json!({"detail": {"state": [{"numeric": [">", 0]}]}}), &e),
        "strings are not numbers"
    );
}

#[test]
fn exists_and_cidr() {
    let e = ec2_event();
    assert!(m(json!({"detail": {"state": [{"exists": true}]}}), &e));
    assert!(!m(json!({"detail": {"state": [{"exists": false}]}}), &e));
    assert!(m(json!({"detail": {"missing": [{"exists": false}]}}), &e));
    assert!(!m(json!({"detail": {"missing": [{"exists": true}]}}), &e));
    assert!(
        !m(json!({"detail": [{"exists": true}]}), &e),
        "leaves only, not objects"
    );
    assert!(m(
        json!({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}),
        &e
    ));
    assert!(!m(
        json!({"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}),
        &e
    ));
    assert!(m(
        json!({"ip": [{"cidr": "2001:db8::/32"}]}),
        &json!({"ip": "2001:db8::1"})
    ));
    assert!(!m(
        json!({"ip": [{"cidr": "2001:db8::/32"}]}),
        &json!({"ip": "10.0.0.1"})
    ));
}

#[test]
fn or_at_any_level() {
    let e = ec2_event();
    let p = json!({"detail": {"$or": [
        {"c-count": [{"numeric": [">", 10]}]},
        {"d-count": [{"numeric": ["<", 10]}]}
    ]}});
    assert!(m(p, &e));
    let p = json!({"source": ["aws.ec2"], "$or": [
        {"region": ["eu-west-1"]},
        {"detail": {"state": ["running"]}}
    ]});
    assert!(!m(p, &e));
}

/// The pattern a team would put to hear of its secrets' changes.
#[test]
fn secrets_manager_changes() {
    let e = json!({
        "version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.secretsmanager", "account": "123456789012",
        "time": "2026-11-29T10:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"eventSource": "secretsmanager.amazonaws.com", "eventName": "PutSecretValue",
                   "requestParameters": {"secretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"}}
    });
    let p = json!({
        "source": ["aws.secretsmanager"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventName": ["PutSecretValue", "UpdateSecret"],
                   "requestParameters": {"secretId": [{"wildcard": "*:secret:prod/*"}]}}
    });
    assert!(m(p, &e));
}

#[test]
fn patterns_that_are_refused() {
    for bad in [
        r"[]",
        r"{",
        r"{}",
        r#"{"source": "aws.ec2"}"#,
        r#"{"source": []}"#,
        r#"{"detail": {}}"#,
        r#"{"a": [["x"]]}"#,
        r#"{"a": [{"contains": "x"}]}"#,
        r#"{"a": [{"prefix": 1}]}"#,
        r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#,
        r#"{"a": [{"wildcard": "a**b"}]}"#,
        r#"{"a": [{"wildcard": "a\\b"}]}"#,
        r#"{"a": [{"numeric": [">", "x"]}]}"#,
        r#"{"a": [{"numeric": [">", 5, "<", 1]}]}"#,
        r#"{"a": [{"numeric": [">", 1, ">", 2]}]}"#,
        r#"{"a": [{"numeric": ["=", 1, "<", 2]}]}"#,
        r#"{"a": [{"numeric": ["<", 6e9]}]}"#,
        r#"{"a": [{"exists": "yes"}]}"#,
        r#"{"a": [{"cidr": "10.0.0.0"}]}"#,
        r#"{"a": [{"cidr": "10.0.0.0/33"}]}"#,
        r#"{"a": [{"anything-but": [true]}]}"#,
        r#"{"a": [{"anything-but": ["x", 1]}]}"#,
        r#"{"a": [{"anything-but": {"contains": "x"}}]}"#,
        r#"{"$or": [{"a": ["x"]}]}"#,
        r#"{"$or": {"a": ["x"]}}"#,
    ] {
        let e = Pattern::parse(bad).expect_err(bad);
        assert!(
            e.message()
                .starts_with("Event pattern is not valid. Reason: "),
            "{bad}"
        );
    }
}
