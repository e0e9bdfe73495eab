//! What a target receives: the whole event, a constant `Input`, the part an
//! `InputPath` names, or an `InputTransformer`'s template filled from the
//! event. Paths are JSONPath's dotted subset (`$`, `$.detail.name`, and
//! `$.resources[0]`), which is what EventBridge's examples use.

use coffer_api::events_ops::Target;
use serde_json::Value;

/// The body for `target` from `event`, and whether it is JSON.
pub(crate) fn body(target: &Target, event: &Value, rule_name: &str, rule_arn: &str) -> String {
    if let Some(input) = &target.input {
        return input.clone();
    }
    if let Some(path) = &target.input_path {
        return at(event, path).map_or_else(String::new, |v| v.to_string());
    }
    if let Some(t) = &target.input_transformer {
        let template = t.input_template.as_deref().unwrap_or_default();
        return fill(template, |name| match name {
            "aws.events.rule-name" => Some(Value::String(rule_name.into())),
            "aws.events.rule-arn" => Some(Value::String(rule_arn.into())),
            "aws.events.event" | "aws.events.event.json" => Some(event.clone()),
            "aws.events.event.ingestion-time" => event.get("time").cloned(),
            _ => t.input_paths_map.get(name).and_then(|p| at(event, p)),
        });
    }
    event.to_string()
}

/// The value at a dotted JSONPath, if there is one.
pub(crate) fn at(v: &Value, path: &str) -> Option<Value> {
    let rest = path.strip_prefix('$')?;
    let mut cur = v;
    for part in rest.split('.').skip(1) {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (k, i.strip_suffix(']')?.parse::<usize>().ok()),
            None => (part, None),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur.clone())
}

/// Replaces each `<name>` with its value: inside a JSON string, a string's
/// characters (escaped for JSON); elsewhere, the value's JSON. A name with no
/// value becomes empty inside a string and `null` outside.
fn fill(template: &str, value: impl Fn(&str) -> Option<Value>) -> String {
    // A template that is not JSON is text: strings go in as they are.
    if !template.trim_start().starts_with(['{', '[', '"']) {
        return fill_text(template, value);
    }
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some(end) = rest.find('>') {
                let name = &rest[1..end];
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                {
                    let v = value(name);
                    out.push_str(&render(v, in_string));
                    rest = &rest[end + 1..];
                    continue;
                }
            }
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn fill_text(template: &str, value: impl Fn(&str) -> Option<Value>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let Some(end) = after.find('>') else {
            out.push_str(after);
            rest = "";
            break;
        };
        match value(&after[1..end]) {
            Some(Value::String(s)) => out.push_str(&s),
            Some(v) => out.push_str(&v.to_string()),
            None => {}
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn render(v: Option<Value>, in_string: bool) -> String {
    match (v, in_string) {
        (None, true) => String::new(),
        (None, false) => "null".into(),
        (Some(Value::String(s)), true) => {
            let quoted = Value::String(s).to_string();
            quoted[1..quoted.len() - 1].to_string()
        }
        (Some(v), true) => {
            let quoted = Value::String(v.to_string()).to_string();
            quoted[1..quoted.len() - 1].to_string()
        }
        (Some(v), false) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_api::events_ops::InputTransformer;
    use serde_json::json;

    fn target() -> Target {
        serde_json::from_value(json!({"Id": "t", "Arn": "a"})).unwrap()
    }

    fn event() -> Value {
        json!({"id": "e1", "time": "2026-11-29T10:00:00Z", "resources": ["arn:x"],
               "detail": {"name": "prod/db", "eventName": "PutSecretValue", "quote": "a\"b"}})
    }

    #[test]
    fn the_whole_event_a_constant_or_a_path() {
        let e = event();
        assert_eq!(body(&target(), &e, "r", "arn:r"), e.to_string());
        let mut t = target();
        t.input = Some(r#"{"fixed":true}"#.into());
        assert_eq!(body(&t, &e, "r", "arn:r"), r#"{"fixed":true}"#);
        let mut t = target();
        t.input_path = Some("$.detail".into());
        assert_eq!(body(&t, &e, "r", "arn:r"), e["detail"].to_string());
        assert_eq!(at(&e, "$.resources[0]"), Some(json!("arn:x")));
        assert_eq!(at(&e, "$"), Some(e.clone()));
        assert_eq!(at(&e, "$.missing.deeper"), None);
    }

    #[test]
    fn templates_are_filled_inside_and_outside_strings() {
        let mut t = target();
        t.input_transformer = Some(InputTransformer {
            input_paths_map: [
                ("name".to_string(), "$.detail.name".to_string()),
                ("op".to_string(), "$.detail.eventName".to_string()),
                ("q".to_string(), "$.detail.quote".to_string()),
                ("res".to_string(), "$.resources".to_string()),
            ]
            .into(),
            input_template: Some(
                r#"{"text": "<op> on <name> by rule <aws.events.rule-name>", "q": "<q>", "secret": <name>, "res": <res>, "none": <missing>}"#
                    .into(),
            ),
        });
        let out: Value = serde_json::from_str(&body(&t, &event(), "on-change", "arn:r")).unwrap();
        assert_eq!(out["text"], "PutSecretValue on prod/db by rule on-change");
        assert_eq!(out["q"], "a\"b");
        assert_eq!(out["secret"], "prod/db");
        assert_eq!(out["res"], json!(["arn:x"]));
        assert_eq!(out["none"], Value::Null);
        t.input_transformer.as_mut().unwrap().input_template = Some("Secret <name> changed".into());
        assert_eq!(body(&t, &event(), "r", "a"), "Secret prod/db changed");
    }
}
