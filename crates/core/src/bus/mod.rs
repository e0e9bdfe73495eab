//! The account's default event bus, EventBridge-compatible: rules that match
//! change events by pattern (`pattern`), managed through the `AWSEvents.*`
//! operations (`rules`).
//!
//! Every call takes the path IAM's take: parse the typed operation, refuse
//! what is not served, check the bus, authorize `events:ACTION` on the rule's
//! ARN, run, audit as `events.amazonaws.com`.

mod connections;
mod dead;
mod deliver;
mod index;
mod input;
mod matcher;
mod nats;
mod oauth_params;
pub mod pattern;
mod rules;
pub(crate) mod store;
mod targets;

use crate::audit::Audited;
use crate::call::Call;
use crate::context::Caller;
use crate::service::Service;
use coffer_api::events_ops::{self, EventsOperation, EventsTarget};
use coffer_api::{ApiError, ErrorCode};
use serde_json::Value;

/// `eventSource` of EventBridge's audit records.
pub const SOURCE: &str = "events.amazonaws.com";

/// Checks a CA bundle for API destinations (`events_ca_file`) at start-up.
pub fn check_ca_file(path: &std::path::Path) -> Result<(), String> {
    crate::http::Webhooks::new(Some(path)).map(|_| ())
}

/// Checks `nats_url` at start-up.
pub fn check_nats_url(url: &str) -> Result<(), String> {
    nats::check_url(url)
}

/// The ARN of a rule on the default bus.
pub fn rule_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:events:{region}:{account}:rule/{name}")
}

impl Service {
    /// Parses and runs one EventBridge call (`target` without `AWSEvents.`);
    /// the answer is the JSON body.
    pub async fn call_events(
        &self,
        caller: &Caller,
        target: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        let (audited, result) = match EventsOperation::parse(target, body) {
            Ok(op) => {
                let call =
                    Call::with_params(caller, op.name(), op.audit_parameters()).audited_as(SOURCE);
                let r = self.run_events(&call, op).await;
                if call.audited() {
                    return r.map(|v| v.to_string().into_bytes());
                }
                let a = Audited {
                    source: SOURCE,
                    name: call.name,
                    read_only: events_ops::is_read_only(call.name),
                    params: call.params,
                };
                (a, r)
            }
            Err(e) => {
                let a = Audited {
                    source: SOURCE,
                    name: events_ops::known(target).unwrap_or("UnknownOperation"),
                    params: Value::Object(serde_json::Map::default()),
                    read_only: false,
                };
                (a, Err(e))
            }
        };
        let now = self.clock.now_ms();
        let answer = self.audit.settle(caller, now, audited, result).await?;
        Ok(answer.to_string().into_bytes())
    }

    async fn run_events(&self, call: &Call<'_>, op: EventsOperation) -> Result<Value, ApiError> {
        let caller = call.caller;
        if let Some(bus) = op.event_bus() {
            default_bus(bus, &caller.region, &caller.account_id)?;
        }
        let resource = match op.target() {
            EventsTarget::Rule(name) => rule_arn(&caller.region, &caller.account_id, name),
            // Authorized as the rule it names, in its canonical form: a
            // `rule/default/NAME` spelling must meet the statements about
            // `rule/NAME`, since the handler acts on that rule.
            EventsTarget::Arn(arn) => rules::name_in_arn(arn, &caller.region, &caller.account_id)
                .map_or_else(
                    || arn.to_string(),
                    |name| rule_arn(&caller.region, &caller.account_id, &name),
                ),
            EventsTarget::Connection(name) => {
                self.entity_arn::<connections::ConnectionDoc>(
                    caller,
                    store::CONNECTION,
                    "connection",
                    name,
                    |d| d.arn.clone(),
                )
                .await?
            }
            EventsTarget::ApiDestination(name) => {
                self.entity_arn::<connections::DestinationDoc>(
                    caller,
                    store::DESTINATION,
                    "api-destination",
                    name,
                    |d| d.arn.clone(),
                )
                .await?
            }
            EventsTarget::Account => "*".to_string(),
        };
        let keys = self.events_keys(caller, &op).await?;
        self.identity
            .authorize_events(call, &resource, &keys)
            .await?;
        self.dispatch_events(call, op).await
    }

    /// The ARN to authorize for a connection or API destination: its own
    /// (with its id) when it exists, else `…:KIND/NAME` (one to create).
    async fn entity_arn<T: store::Entity>(
        &self,
        caller: &Caller,
        kind: &str,
        what: &str,
        name: &str,
        arn: impl Fn(&T) -> String,
    ) -> Result<String, ApiError> {
        Ok(match self.load_entity::<T>(caller, kind, name).await? {
            Some((d, _)) => arn(&d),
            None => format!(
                "arn:aws:events:{}:{}:{what}/{name}",
                caller.region, caller.account_id
            ),
        })
    }

    /// The request's tag condition keys, and the tags of the rule it names.
    async fn events_keys(
        &self,
        caller: &Caller,
        op: &EventsOperation,
    ) -> Result<Vec<(String, Vec<String>)>, ApiError> {
        let (tag_keys, tags) = op.request_tags();
        let mut keys = Vec::new();
        if !tag_keys.is_empty() {
            keys.push(("aws:TagKeys".to_string(), tag_keys));
        }
        for (k, v) in tags {
            keys.push((format!("aws:RequestTag/{k}"), vec![v]));
        }
        let name = match op.target() {
            EventsTarget::Rule(n) => Some(n.to_string()),
            EventsTarget::Arn(arn) => rules::name_in_arn(arn, &caller.region, &caller.account_id),
            EventsTarget::Account
            | EventsTarget::Connection(_)
            | EventsTarget::ApiDestination(_) => None,
        };
        if let Some(name) = name {
            if let Some((rule, _)) = self.load_rule(caller, &name).await? {
                for (k, v) in rule.tags {
                    keys.push((format!("aws:ResourceTag/{k}"), vec![v]));
                }
            }
        }
        Ok(keys)
    }
}

/// Only the default bus exists: by name, or by its ARN in the caller's account
/// and region.
fn default_bus(bus: &str, region: &str, account: &str) -> Result<(), ApiError> {
    let arn = format!("arn:aws:events:{region}:{account}:event-bus/default");
    if bus == "default" || bus == arn {
        return Ok(());
    }
    let name = bus.rsplit('/').next().unwrap_or(bus);
    Err(ApiError::new(
        ErrorCode::ResourceNotFound,
        format!("Event bus {name} does not exist."),
    ))
}
