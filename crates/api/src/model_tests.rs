//! No silent drops: every member the Secrets Manager model (`models/`, AWS's
//! published `service-2.json` without its documentation) gives a served
//! operation's input is parsed into the typed request, so its handler either
//! honours it or refuses it by name. A member serde skipped would vanish
//! without a word; this walks the model to prove none does.

use crate::sm_ops::{SecretsManagerOperation, Target};
use serde_json::{json, Map, Value};

const MODEL: &str = include_str!("../models/secretsmanager.service-2.json");

/// A value of `shape` that the model allows (within its constraints).
fn sample(shapes: &Map<String, Value>, name: &str) -> Value {
    let shape = &shapes[name];
    match shape["type"].as_str().unwrap_or("") {
        "string" => {
            let min = shape["min"].as_u64().unwrap_or(1).max(1);
            let text = Value::String("a".repeat(usize::try_from(min).unwrap_or(1)));
            shape["enum"]
                .as_array()
                .and_then(|e| e.first())
                .cloned()
                .unwrap_or(text)
        }
        "integer" | "long" => json!(shape["min"].as_i64().unwrap_or(1).max(1)),
        "boolean" => json!(true),
        "timestamp" => json!(1_700_000_000),
        "blob" => json!("eA=="),
        "list" => json!([sample(
            shapes,
            shape["member"]["shape"].as_str().unwrap_or("")
        )]),
        "map" => json!({ "k": sample(shapes, shape["value"]["shape"].as_str().unwrap_or("")) }),
        "structure" => {
            let mut m = Map::new();
            for (k, v) in shape["members"].as_object().into_iter().flatten() {
                m.insert(k.clone(), sample(shapes, v["shape"].as_str().unwrap_or("")));
            }
            Value::Object(m)
        }
        _ => Value::Null,
    }
}

#[test]
fn every_member_of_every_served_operation_reaches_its_handler() {
    let model: Value = serde_json::from_str(MODEL).unwrap();
    let shapes = model["shapes"].as_object().unwrap();
    let mut dropped = Vec::new();
    let mut checked = 0;
    for (name, op) in model["operations"].as_object().unwrap() {
        assert!(
            SecretsManagerOperation::known(name).is_some(),
            "{name} of the model is not an operation Coffer knows"
        );
        let input = op["input"]["shape"].as_str().unwrap_or("");
        for (member, spec) in shapes[input]["members"].as_object().into_iter().flatten() {
            let value = sample(shapes, spec["shape"].as_str().unwrap_or(""));
            let body = json!({ member.as_str(): value }).to_string();
            let Ok(parsed) = SecretsManagerOperation::parse(name, body.as_bytes()) else {
                continue; // refused by name at parse: not silent
            };
            if parsed.target().ok() == Some(Target::Unserved) {
                continue; // the whole operation answers that it is not served
            }
            checked += 1;
            let seen = parsed.audit_parameters();
            if seen.get(crate::query::lower_first(member)).is_none() {
                dropped.push(format!("{name}.{member}"));
            }
        }
    }
    assert!(checked > 50, "only {checked} members checked");
    // The check itself sees a drop: a member no request type has leaves no trace.
    let probe = SecretsManagerOperation::parse(
        "DescribeSecret",
        br#"{"SecretId":"a","NotInTheModel":"x"}"#,
    )
    .unwrap()
    .audit_parameters();
    assert!(probe.get("notInTheModel").is_none() && probe.get("secretId").is_some());
    assert!(
        dropped.is_empty(),
        "members parsed into nothing: {dropped:?}"
    );
}
