use super::*;
use crate::bus::pattern::Pattern;
use serde_json::{json, Value};

fn interest(account: &str, pattern: &str) -> Interest {
    Interest {
        account: account.into(),
        region: "us-east-1".into(),
        enabled: true,
        pattern: Some(Pattern::parse(pattern).unwrap()),
    }
}

fn seen(account: &str, event: Value) -> Seen {
    Seen {
        seq: 1,
        at_ms: 0,
        account_id: account.into(),
        region: "us-east-1".into(),
        event: Some(event),
    }
}

fn event(name: &str, op: &str) -> Value {
    json!({"source": "aws.secretsmanager", "detail-type": "AWS API Call via CloudTrail",
        "resources": [format!("arn:aws:secretsmanager:us-east-1:1:secret:{name}-AbCdEf")],
        "detail": {"eventName": op, "name": name, "tags": [{"k": "team", "v": "ops"}], "n": 5}})
}

/// Patterns of every kind, anchored and not: the index must hand the matcher
/// every target that matches, whatever the pattern.
const PATTERNS: &[&str] = &[
    r#"{"source": ["aws.secretsmanager"]}"#,
    r#"{"detail": {"name": ["prod/db"]}}"#,
    r#"{"detail": {"name": [{"prefix": "prod/"}]}}"#,
    r#"{"detail": {"name": [{"prefix": ""}]}}"#,
    r#"{"detail": {"name": [{"prefix": "pröd/"}, "dev/é"]}}"#,
    r#"{"detail": {"name": [{"suffix": "/db"}]}}"#,
    r#"{"detail": {"name": [{"prefix": {"equals-ignore-case": "PROD/"}}]}}"#,
    r#"{"detail": {"name": ["prod/db", {"wildcard": "dev/*"}]}}"#,
    r#"{"detail": {"eventName": ["PutSecretValue"], "name": [{"anything-but": "prod/db"}]}}"#,
    r#"{"$or": [{"detail": {"name": ["prod/db"]}}, {"detail": {"eventName": ["DeleteSecret"]}}]}"#,
    r#"{"resources": [{"prefix": "arn:aws:secretsmanager:us-east-1:1:secret:dev/"}]}"#,
    r#"{"detail": {"tags": {"v": ["ops"]}}}"#,
    r#"{"detail": {"n": [5]}}"#,
    r#"{"detail": {"n": [{"numeric": [">", 3]}]}}"#,
    r#"{"detail": {"missing": [{"exists": false}], "name": ["dev/é"]}}"#,
    r#"{"source": ["aws.secretsmanager"], "detail": {"eventName": ["PutSecretValue"], "name": [{"prefix": "dev/"}]}}"#,
];

#[test]
fn the_index_leaves_out_no_target_that_matches() {
    let interests: Vec<Interest> = PATTERNS
        .iter()
        .flat_map(|p| [interest("1", p), interest("2", p)])
        .collect();
    let refs: Vec<&Interest> = interests.iter().collect();
    let index = Index::build(&refs);
    for (name, op) in [
        ("prod/db", "PutSecretValue"),
        ("prod/other", "DeleteSecret"),
        ("dev/é", "PutSecretValue"),
        ("pröd/x", "GetSecretValue"),
        ("PROD/db", "PutSecretValue"),
        ("", "CreateSecret"),
    ] {
        for account in ["1", "2", "3"] {
            let e = seen(account, event(name, op));
            let linear: Vec<usize> = (0..refs.len()).filter(|i| refs[*i].wants(&e)).collect();
            let indexed: Vec<usize> = index
                .candidates(&e)
                .into_iter()
                .filter(|i| refs[*i].wants(&e))
                .collect();
            assert_eq!(indexed, linear, "{name} {op} in {account}");
        }
    }
}

/// The bench's shape: a thousand rules on `source` and `eventName` that differ
/// by a name prefix. Each event is matched against the few whose prefix it has.
#[test]
fn a_thousand_rules_narrow_to_those_of_the_name() {
    let interests: Vec<Interest> = (0..1000)
        .map(|i| {
            let prefix = if i < 10 {
                "latency/".to_string()
            } else {
                format!("nomatch-{i}/")
            };
            interest(
                "1",
                &json!({"source": ["aws.secretsmanager"],
                "detail": {"eventName": ["PutSecretValue"], "name": [{"prefix": prefix}]}})
                .to_string(),
            )
        })
        .collect();
    let refs: Vec<&Interest> = interests.iter().collect();
    let index = Index::build(&refs);
    let e = seen("1", event("latency/7", "PutSecretValue"));
    assert_eq!(index.candidates(&e), (0..10).collect::<Vec<_>>());
    assert_eq!(
        index.candidates(&seen("1", event("nomatch-500/a", "PutSecretValue"))),
        [500]
    );
    assert!(index
        .candidates(&seen("1", event("other", "PutSecretValue")))
        .is_empty());
    assert!(index
        .candidates(&seen("9", event("latency/7", "PutSecretValue")))
        .is_empty());
}

#[test]
fn disabled_targets_and_those_without_a_pattern_are_never_candidates() {
    let mut off = interest("1", r#"{"source": ["aws.secretsmanager"]}"#);
    off.enabled = false;
    let mut none = interest("1", r#"{"source": ["aws.secretsmanager"]}"#);
    none.pattern = None;
    let index = Index::build(&[&off, &none]);
    assert!(index
        .candidates(&seen("1", event("a", "PutSecretValue")))
        .is_empty());
}

#[test]
fn anchors_are_the_fields_every_match_needs() {
    let p = Pattern::parse(
        r#"{"source": ["aws.secretsmanager"], "detail": {"name": [{"prefix": "a/"}, "b"],
            "eventName": [{"suffix": "Value"}]}, "$or": [{"account": ["1"]}, {"region": ["x"]}]}"#,
    )
    .unwrap();
    let paths: Vec<Vec<String>> = p.anchors().into_iter().map(|a| a.path).collect();
    assert_eq!(
        paths,
        [
            vec!["source".to_string()],
            vec!["detail".into(), "name".into()]
        ]
    );
}
