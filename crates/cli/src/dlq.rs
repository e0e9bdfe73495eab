//! `coffer events dlq list|redrive`: the event bus's dead letters on a running
//! server (Coffer's own `AWSEvents.ListDeadLetters` / `RedriveDeadLetters`,
//! authorized as `events:ListDeadLetters` / `events:RedriveDeadLetters`),
//! signed like `coffer account create`.

use crate::account::call;
use serde_json::{json, Value};

async fn events(target: &str, body: Value) -> anyhow::Result<Value> {
    let target = format!("AWSEvents.{target}");
    call(
        "events",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ],
        body.to_string(),
    )
    .await
}

/// Every dead letter (of one rule, if named), as a table or JSON lines.
pub async fn list(rule: Option<&str>, json_lines: bool) -> anyhow::Result<String> {
    let mut out = String::new();
    if !json_lines {
        out.push_str("ID\tRULE\tTARGET\tATTEMPTS\tREDRIVE\tERROR\tEVENT ID\n");
    }
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({ "Limit": 100 });
        if let Some(r) = rule {
            body["Rule"] = json!(r);
        }
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let page = events("ListDeadLetters", body).await?;
        for l in page["DeadLetters"].as_array().into_iter().flatten() {
            if json_lines {
                out.push_str(&l.to_string());
                out.push('\n');
            } else {
                let s = |k: &str| {
                    l[k].as_str()
                        .map_or_else(|| l[k].to_string(), str::to_string)
                };
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    s("Id"),
                    s("Rule"),
                    s("TargetId"),
                    s("Attempts"),
                    s("Redrive"),
                    s("Error"),
                    s("EventId")
                ));
            }
        }
        token = page["NextToken"].as_str().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Asks for the letters `ids` (or all) to be delivered again.
pub async fn redrive(ids: &[i64], all: bool) -> anyhow::Result<String> {
    let body = if all {
        json!({ "All": true })
    } else {
        json!({ "Ids": ids })
    };
    let v = events("RedriveDeadLetters", body).await?;
    Ok(format!(
        "{} dead letters will be delivered again\n",
        v["Redriven"].as_u64().unwrap_or(0)
    ))
}
