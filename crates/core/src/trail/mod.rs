//! CloudTrail's `LookupEvents` over Coffer's audit trail: the store's chain of
//! mutations and the read records and refused calls of the audit files (this
//! server's file; in a fleet, every server's copy in the store), newest first,
//! the caller's account only, authorized as `cloudtrail:LookupEvents`.
//!
//! Each lookup reads the trail from its start a batch at a time, filtering as
//! it goes and keeping only the newest page: its memory is a page and a batch,
//! its time grows with the trail that retention keeps (see
//! `audit_retention_secs`), as AWS's own LookupEvents is rate-limited and
//! reaches back 90 days.

mod sources;
pub use sources::{merged, sources, Source};

use crate::audit;
use crate::call::Call;
use crate::context::Caller;
use crate::errors::internal;
use crate::service::Service;
use coffer_api::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The target prefix of CloudTrail's JSON 1.1 operations.
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";
/// `eventSource` of CloudTrail's own records.
pub const SOURCE: &str = "cloudtrail.amazonaws.com";
const KEYS: &[&str] = &[
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupEventsRequest {
    #[serde(default)]
    lookup_attributes: Vec<LookupAttribute>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    event_category: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupAttribute {
    attribute_key: Option<String>,
    attribute_value: Option<String>,
}

fn err(code: ErrorCode, message: &str) -> ApiError {
    ApiError::new(code, message)
}

/// One record as LookupEvents shows it, with what it sorts by.
struct Found {
    at_ms: i64,
    id: String,
    record: Value,
}

impl PartialEq for Found {
    fn eq(&self, o: &Self) -> bool {
        (self.at_ms, &self.id) == (o.at_ms, &o.id)
    }
}
impl Eq for Found {}
impl PartialOrd for Found {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Found {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at_ms, &self.id).cmp(&(o.at_ms, &o.id))
    }
}

impl Service {
    /// Runs one CloudTrail call (`target` without its prefix): LookupEvents.
    pub async fn call_cloudtrail(
        &self,
        caller: &Caller,
        target: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        let result = match target {
            "LookupEvents" => self.lookup_events(caller, body).await,
            _ => Err(ApiError::new(
                ErrorCode::UnknownOperation,
                format!("Coffer serves CloudTrail's LookupEvents only, not {target}."),
            )),
        };
        let name = if target == "LookupEvents" {
            "LookupEvents"
        } else {
            "UnknownOperation"
        };
        let rec = audit::record_from(
            SOURCE,
            caller,
            name,
            self.clock.now_ms(),
            json!({}),
            result.as_ref().err(),
            true,
        );
        self.audit.append(rec).await?;
        result.map(|v| v.to_string().into_bytes())
    }

    async fn lookup_events(&self, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
        let r: LookupEventsRequest = if body.iter().all(u8::is_ascii_whitespace) {
            LookupEventsRequest::default()
        } else {
            serde_json::from_slice(body).map_err(|_| {
                ApiError::new(
                    ErrorCode::SerializationException,
                    "The request body is not a valid LookupEvents request.",
                )
            })?
        };
        let call = Call::new(caller, "LookupEvents");
        self.identity
            .authorize_service(&call, "cloudtrail:LookupEvents", "*", &[])
            .await?;
        let filter = Filter::of(&r)?;
        let limit = usize::try_from(r.max_results.unwrap_or(50)).unwrap_or(50);
        let after = r.next_token.as_deref().map(parse_token).transpose()?;
        let needles = filter.needles(&caller.account_id);
        // The newest `limit + 1` matches so far (the heap's top is the oldest).
        let mut newest = BinaryHeap::new();
        for mut source in self.trail_sources().await? {
            loop {
                let batch = source.next_batch().await.map_err(internal)?;
                if batch.is_empty() {
                    break;
                }
                for raw in batch {
                    if !needles.iter().all(|n| raw.text().contains(n.as_str())) {
                        continue;
                    }
                    let Some(rec) = raw.parse() else { continue };
                    if !filter.keeps(&rec, &caller.account_id) {
                        continue;
                    }
                    let at_ms = time_ms(&rec);
                    let id = rec["eventID"].as_str().unwrap_or_default().to_string();
                    if after
                        .as_ref()
                        .is_none_or(|(t, i)| (at_ms, id.as_str()) < (*t, i.as_str()))
                    {
                        newest.push(Reverse(Found {
                            at_ms,
                            id,
                            record: rec,
                        }));
                        if newest.len() > limit + 1 {
                            newest.pop();
                        }
                    }
                }
            }
        }
        // Ascending by Reverse: newest first.
        let mut found: Vec<Found> = newest.into_sorted_vec().into_iter().map(|r| r.0).collect();
        let more = found.len() > limit;
        found.truncate(limit);
        let mut out = json!({ "Events": found.iter().map(shown).collect::<Vec<_>>() });
        if more {
            let last = found.last().expect("a full page");
            out["NextToken"] = json!(format!("{}:{}", last.at_ms, last.id));
        }
        Ok(out)
    }

    /// The sources of every audit record this server can see.
    async fn trail_sources(&self) -> Result<Vec<Source<'_>>, ApiError> {
        let shared = self.shipper.is_some();
        let file = (!shared).then(|| self.audit.path().to_path_buf());
        sources(&*self.store, shared, file).await.map_err(internal)
    }
}

struct Filter {
    key: Option<(String, String)>,
    start_ms: i64,
    end_ms: i64,
}

impl Filter {
    fn of(r: &LookupEventsRequest) -> Result<Filter, ApiError> {
        if r.event_category.is_some() {
            return Err(err(
                ErrorCode::InvalidEventCategory,
                "Coffer records no Insights events.",
            ));
        }
        if let Some(n) = r.max_results {
            if !(1..=50).contains(&n) {
                return Err(err(
                    ErrorCode::InvalidMaxResults,
                    "MaxResults must be between 1 and 50.",
                ));
            }
        }
        if r.lookup_attributes.len() > 1 {
            return Err(err(
                ErrorCode::InvalidLookupAttributes,
                "You can specify at most one lookup attribute.",
            ));
        }
        let key = match r.lookup_attributes.first() {
            Some(a) => {
                let k = a.attribute_key.clone().unwrap_or_default();
                let v = a.attribute_value.clone().unwrap_or_default();
                if !KEYS.contains(&k.as_str()) || v.is_empty() || v.len() > 2000 {
                    return Err(err(
                        ErrorCode::InvalidLookupAttributes,
                        &format!("The lookup attribute {k} is not valid."),
                    ));
                }
                Some((k, v))
            }
            None => None,
        };
        let ms = |t: Option<f64>| t.map(|s| (s * 1000.0) as i64);
        let (start_ms, end_ms) = (
            ms(r.start_time).unwrap_or(i64::MIN),
            ms(r.end_time).unwrap_or(i64::MAX),
        );
        if start_ms > end_ms {
            return Err(err(
                ErrorCode::InvalidTimeRange,
                "Start time must not be after end time.",
            ));
        }
        Ok(Filter {
            key,
            start_ms,
            end_ms,
        })
    }

    /// Texts every record that `keeps` keeps holds, as serde_json writes them:
    /// the account's id, and the looked-up value where it appears verbatim
    /// (escaping is per character, so a value inside a longer string, as a
    /// name inside an ARN, is still found). Records without them are passed
    /// over unparsed.
    fn needles(&self, account: &str) -> Vec<String> {
        let escaped = |v: &str| {
            let s = serde_json::to_string(v).unwrap_or_default();
            s.get(1..s.len().saturating_sub(1))
                .unwrap_or_default()
                .to_string()
        };
        let mut out = vec![escaped(account)];
        if let Some((k, v)) = &self.key {
            // ReadOnly and ResourceType are derived, not written as given.
            if !matches!(k.as_str(), "ReadOnly" | "ResourceType") {
                out.push(escaped(v));
            }
        }
        out
    }

    fn keeps(&self, rec: &Value, account: &str) -> bool {
        let source = rec["eventSource"].as_str().unwrap_or_default();
        let mine = rec["recipientAccountId"].as_str() == Some(account)
            || rec["userIdentity"]["accountId"].as_str() == Some(account);
        let t = time_ms(rec);
        if !mine || source == "coffer.internal" || t < self.start_ms || t > self.end_ms {
            return false;
        }
        let Some((k, v)) = &self.key else {
            return true;
        };
        match k.as_str() {
            "EventId" => rec["eventID"] == *v,
            "EventName" => rec["eventName"] == *v,
            "EventSource" => source == v,
            "ReadOnly" => {
                rec["readOnly"].as_bool().map(|b| b.to_string()).as_deref() == Some(v.as_str())
            }
            "AccessKeyId" => rec["userIdentity"]["accessKeyId"] == *v,
            "Username" => username(rec).as_deref() == Some(v.as_str()),
            "ResourceName" => resources(rec).iter().any(|(_, n)| same_resource(n, v)),
            "ResourceType" => resources(rec).iter().any(|(t, _)| t == v),
            _ => false,
        }
    }
}

/// A record's `eventTime` in epoch milliseconds (0 if it has none).
pub fn time_ms(rec: &Value) -> i64 {
    rec["eventTime"]
        .as_str()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(0, |t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// CloudTrail's `Username`: the user's name, `root`, or a role session's name.
fn username(rec: &Value) -> Option<String> {
    let id = &rec["userIdentity"];
    if let Some(n) = id["userName"].as_str() {
        return Some(n.to_string());
    }
    let arn = id["arn"].as_str()?;
    if arn.ends_with(":root") {
        return Some("root".into());
    }
    arn.rsplit('/').next().map(str::to_string)
}

/// The name of a secret ARN (`…:secret:NAME-AbCdEf` → NAME).
fn arn_name(arn: &str) -> Option<&str> {
    let rest = arn.split(":secret:").nth(1)?;
    Some(rest.rsplit_once('-').map_or(rest, |(n, _)| n))
}

/// Whether a record's resource `n` is the secret a lookup names `v`: the same
/// text, the full ARN of the name `v`, or the full ARN of the partial ARN `v`
/// (the same with AWS's six-character suffix). `app` is not `app-cache`.
fn same_resource(n: &str, v: &str) -> bool {
    let suffixed = || {
        n.strip_prefix(v)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    n == v || arn_name(n) == Some(v) || (v.contains(":secret:") && suffixed())
}

/// (type, name) of what a record acts on.
fn resources(rec: &Value) -> Vec<(String, String)> {
    let p = &rec["requestParameters"];
    let mut out = Vec::new();
    let source = rec["eventSource"].as_str().unwrap_or_default();
    // A service event names its secret in additionalEventData, as AWS's do.
    let service = rec["additionalEventData"]["SecretId"].as_str();
    let named = ["secretId", "name", "resourceArn", "resourceARN"]
        .iter()
        .filter_map(|k| p[*k].as_str());
    let kind = match source {
        "events.amazonaws.com" => "AWS::Events::Rule",
        "iam.amazonaws.com" => "AWS::IAM::User",
        _ => "AWS::SecretsManager::Secret",
    };
    for v in named.chain(service) {
        out.push((kind.to_string(), v.to_string()));
    }
    out
}

fn shown(f: &Found) -> Value {
    let r = &f.record;
    json!({
        "EventId": r["eventID"],
        "EventName": r["eventName"],
        "ReadOnly": r["readOnly"].as_bool().unwrap_or(false).to_string(),
        "AccessKeyId": r["userIdentity"]["accessKeyId"],
        "EventTime": f.at_ms as f64 / 1000.0,
        "EventSource": r["eventSource"],
        "Username": username(r),
        "Resources": resources(r).iter().map(|(t, n)| json!({"ResourceType": t, "ResourceName": n})).collect::<Vec<_>>(),
        "CloudTrailEvent": r.to_string(),
    })
}

fn parse_token(t: &str) -> Result<(i64, String), ApiError> {
    t.split_once(':')
        .and_then(|(ms, id)| Some((ms.parse().ok()?, id.to_string())))
        .ok_or_else(|| err(ErrorCode::InvalidNextToken, "The NextToken is not valid."))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record a lookup keeps holds the lookup's needles in its text:
    /// passing over records by text never loses one.
    #[test]
    fn kept_records_hold_their_needles() {
        let records = [
            json!({"eventTime": "2026-11-29T10:00:00Z", "eventSource": "secretsmanager.amazonaws.com",
                "eventName": "GetSecretValue", "eventID": "e1", "readOnly": true, "recipientAccountId": "123456789012",
                "userIdentity": {"arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012", "accessKeyId": "AKIAROOT"},
                "requestParameters": {"secretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/\"db\"-AbCdEf"}}),
            json!({"eventTime": "2026-11-29T10:00:01Z", "eventSource": "iam.amazonaws.com",
                "eventName": "AssumeRole", "eventID": "e2", "readOnly": false,
                "userIdentity": {"arn": "arn:aws:sts::123456789012:assumed-role/r/sess-é", "accountId": "123456789012"},
                "requestParameters": {"name": "ünï/cödé"}}),
        ];
        let lookups = [
            ("EventId", "e1"),
            ("EventName", "GetSecretValue"),
            ("EventSource", "iam.amazonaws.com"),
            ("AccessKeyId", "AKIAROOT"),
            ("Username", "root"),
            ("Username", "sess-é"),
            ("ResourceName", "prod/\"db\""),
            ("ResourceName", "ünï/cödé"),
            ("ReadOnly", "true"),
            ("ResourceType", "AWS::SecretsManager::Secret"),
        ];
        let mut kept = 0;
        for (k, v) in lookups {
            let f = Filter {
                key: Some((k.into(), v.into())),
                start_ms: i64::MIN,
                end_ms: i64::MAX,
            };
            for rec in &records {
                if f.keeps(rec, "123456789012") {
                    kept += 1;
                    let text = rec.to_string();
                    for n in f.needles("123456789012") {
                        assert!(text.contains(&n), "{k}={v}: {n} not in {text}");
                    }
                }
            }
        }
        assert_eq!(kept, lookups.len(), "each lookup keeps one record");
    }

    #[test]
    fn names_and_resources_of_records() {
        let rec = json!({"eventTime": "2026-11-29T10:00:00Z", "eventSource": "secretsmanager.amazonaws.com",
            "userIdentity": {"arn": "arn:aws:iam::123456789012:user/dev/ana"},
            "requestParameters": {"secretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"}});
        assert_eq!(username(&rec).as_deref(), Some("ana"));
        assert_eq!(
            arn_name(rec["requestParameters"]["secretId"].as_str().unwrap()),
            Some("prod/db")
        );
        assert_eq!(resources(&rec)[0].0, "AWS::SecretsManager::Secret");
        let service = json!({"additionalEventData": {"SecretId": "arn:aws:secretsmanager:us-east-1:1:secret:a-AbCdEf"}});
        assert_eq!(
            resources(&service)[0].1,
            "arn:aws:secretsmanager:us-east-1:1:secret:a-AbCdEf"
        );
        assert_eq!(time_ms(&rec), 1_795_946_400_000);
        assert!(parse_token("nope").is_err());
        assert_eq!(parse_token("5:abc").unwrap(), (5, "abc".to_string()));
    }

    #[test]
    fn a_resource_name_names_one_secret() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbC123";
        for (v, same) in [
            ("prod/db", true),
            (arn, true),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db",
                true,
            ),
            ("prod", false),
            ("prod/d", false),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod",
                false,
            ),
        ] {
            assert_eq!(same_resource(arn, v), same, "{v}");
        }
        let other = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-cache-XyZ789";
        assert!(!same_resource(other, "prod/db"));
        assert!(!same_resource("prod/db-cache", "prod/db"));
        assert!(same_resource("prod/db", "prod/db"));
    }
}
