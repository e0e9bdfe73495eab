//! The EventBridge operations Coffer serves (`AWSEvents.*`, JSON 1.1, model
//! `events/2015-10-07`): rules on the account's default bus, their tags, and
//! TestEventPattern. Parsed and checked against the model's constraints here;
//! every other operation of the model is known by name and refused clearly.

use crate::error::{ApiError, ErrorCode};
pub use crate::events_types::*;
use crate::validate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every operation of the model (metrics and logs name nothing else).
pub const NAMES: &[&str] = &[
    "ActivateEventSource",
    "CancelReplay",
    "CreateApiDestination",
    "CreateArchive",
    "CreateConnection",
    "CreateEndpoint",
    "CreateEventBus",
    "CreatePartnerEventSource",
    "DeactivateEventSource",
    "DeauthorizeConnection",
    "DeleteApiDestination",
    "DeleteArchive",
    "DeleteConnection",
    "DeleteEndpoint",
    "DeleteEventBus",
    "DeletePartnerEventSource",
    "DeleteRule",
    "DescribeApiDestination",
    "DescribeArchive",
    "DescribeConnection",
    "DescribeEndpoint",
    "DescribeEventBus",
    "DescribeEventSource",
    "DescribePartnerEventSource",
    "DescribeReplay",
    "DescribeRule",
    "DisableRule",
    "EnableRule",
    "ListApiDestinations",
    "ListArchives",
    "ListConnections",
    "ListEndpoints",
    "ListEventBuses",
    "ListEventSources",
    "ListPartnerEventSourceAccounts",
    "ListPartnerEventSources",
    "ListReplays",
    "ListRuleNamesByTarget",
    "ListRules",
    "ListTagsForResource",
    "ListTargetsByRule",
    "PutEvents",
    "PutPartnerEvents",
    "PutPermission",
    "PutRule",
    "PutTargets",
    "RemovePermission",
    "RemoveTargets",
    "StartReplay",
    "TagResource",
    "TestEventPattern",
    "UntagResource",
    "UpdateApiDestination",
    "UpdateArchive",
    "UpdateConnection",
    "UpdateEndpoint",
    "UpdateEventBus",
];

/// Coffer's own operations on the bus (its dead letters), authorized as
/// `events:ACTION` like the model's.
pub const COFFER_NAMES: &[&str] = &["ListDeadLetters", "RedriveDeadLetters"];

/// The model's (or Coffer's) name for `name`, if it has such an operation.
pub fn known(name: &str) -> Option<&'static str> {
    NAMES
        .iter()
        .chain(COFFER_NAMES)
        .find(|n| **n == name)
        .copied()
}

/// Whether the operation only reads.
pub fn is_read_only(name: &str) -> bool {
    name.starts_with("Describe") || name.starts_with("List") || name == "TestEventPattern"
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRuleRequest {
    pub name: Option<String>,
    pub schedule_expression: Option<String>,
    pub event_pattern: Option<String>,
    pub state: Option<String>,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub event_bus_name: Option<String>,
}

/// DescribeRule, EnableRule, DisableRule, ListTargetsByRule: a rule by name.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleRequest {
    pub name: Option<String>,
    pub event_bus_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRuleRequest {
    pub name: Option<String>,
    pub event_bus_name: Option<String>,
    pub force: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRulesRequest {
    pub name_prefix: Option<String>,
    pub event_bus_name: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TestEventPatternRequest {
    pub event_pattern: Option<String>,
    pub event: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TagResourceRequest {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
    #[serde(rename = "Tags", default)]
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UntagResourceRequest {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
    #[serde(rename = "TagKeys", default)]
    pub tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ResourceRequest {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
}

/// One served EventBridge request, typed and checked.
#[derive(Debug, Clone)]
pub enum EventsOperation {
    PutRule(PutRuleRequest),
    DescribeRule(RuleRequest),
    ListRules(ListRulesRequest),
    EnableRule(RuleRequest),
    DisableRule(RuleRequest),
    DeleteRule(DeleteRuleRequest),
    TestEventPattern(TestEventPatternRequest),
    TagResource(TagResourceRequest),
    UntagResource(UntagResourceRequest),
    ListTagsForResource(ResourceRequest),
    PutTargets(PutTargetsRequest),
    RemoveTargets(RemoveTargetsRequest),
    ListTargetsByRule(ListTargetsByRuleRequest),
    CreateConnection(Box<CreateConnectionRequest>),
    DescribeConnection(NameRequest),
    DeleteConnection(NameRequest),
    ListConnections(ListConnectionsRequest),
    CreateApiDestination(CreateApiDestinationRequest),
    DescribeApiDestination(NameRequest),
    DeleteApiDestination(NameRequest),
    ListApiDestinations(ListApiDestinationsRequest),
    ListDeadLetters(ListDeadLettersRequest),
    RedriveDeadLetters(RedriveDeadLettersRequest),
}

/// What an operation acts on, for authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsTarget<'a> {
    /// A rule of the default bus, by name.
    Rule(&'a str),
    /// A resource by ARN (tagging).
    Arn(&'a str),
    /// A connection, by name.
    Connection(&'a str),
    /// An API destination, by name.
    ApiDestination(&'a str),
    /// The account (`*`).
    Account,
}

impl EventsOperation {
    /// Parses a served operation (`name` is the target without `AWSEvents.`).
    pub fn parse(name: &str, body: &[u8]) -> Result<Self, ApiError> {
        let op = match name {
            "PutRule" => Self::PutRule(crate::sm_ops::from_body(body)?),
            "DescribeRule" => Self::DescribeRule(crate::sm_ops::from_body(body)?),
            "ListRules" => Self::ListRules(crate::sm_ops::from_body(body)?),
            "EnableRule" => Self::EnableRule(crate::sm_ops::from_body(body)?),
            "DisableRule" => Self::DisableRule(crate::sm_ops::from_body(body)?),
            "DeleteRule" => Self::DeleteRule(crate::sm_ops::from_body(body)?),
            "TestEventPattern" => Self::TestEventPattern(crate::sm_ops::from_body(body)?),
            "TagResource" => Self::TagResource(crate::sm_ops::from_body(body)?),
            "UntagResource" => Self::UntagResource(crate::sm_ops::from_body(body)?),
            "ListTagsForResource" => Self::ListTagsForResource(crate::sm_ops::from_body(body)?),
            "PutTargets" => Self::PutTargets(crate::sm_ops::from_body(body)?),
            "RemoveTargets" => Self::RemoveTargets(crate::sm_ops::from_body(body)?),
            "ListTargetsByRule" => Self::ListTargetsByRule(crate::sm_ops::from_body(body)?),
            "CreateConnection" => Self::CreateConnection(Box::new(crate::sm_ops::from_body(body)?)),
            "DescribeConnection" => Self::DescribeConnection(crate::sm_ops::from_body(body)?),
            "DeleteConnection" => Self::DeleteConnection(crate::sm_ops::from_body(body)?),
            "ListConnections" => Self::ListConnections(crate::sm_ops::from_body(body)?),
            "CreateApiDestination" => Self::CreateApiDestination(crate::sm_ops::from_body(body)?),
            "DescribeApiDestination" => {
                Self::DescribeApiDestination(crate::sm_ops::from_body(body)?)
            }
            "DeleteApiDestination" => Self::DeleteApiDestination(crate::sm_ops::from_body(body)?),
            "ListApiDestinations" => Self::ListApiDestinations(crate::sm_ops::from_body(body)?),
            "ListDeadLetters" => Self::ListDeadLetters(crate::sm_ops::from_body(body)?),
            "RedriveDeadLetters" => Self::RedriveDeadLetters(crate::sm_ops::from_body(body)?),
            other if known(other).is_some() => {
                return Err(ApiError::new(
                    ErrorCode::UnknownOperation,
                    format!("Coffer's event bus does not serve {other} yet."),
                ))
            }
            _ => return Err(ApiError::new(ErrorCode::UnknownOperation, "")),
        };
        op.validate()?;
        Ok(op)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::PutRule(_) => "PutRule",
            Self::DescribeRule(_) => "DescribeRule",
            Self::ListRules(_) => "ListRules",
            Self::EnableRule(_) => "EnableRule",
            Self::DisableRule(_) => "DisableRule",
            Self::DeleteRule(_) => "DeleteRule",
            Self::TestEventPattern(_) => "TestEventPattern",
            Self::TagResource(_) => "TagResource",
            Self::UntagResource(_) => "UntagResource",
            Self::ListTagsForResource(_) => "ListTagsForResource",
            Self::PutTargets(_) => "PutTargets",
            Self::RemoveTargets(_) => "RemoveTargets",
            Self::ListTargetsByRule(_) => "ListTargetsByRule",
            Self::CreateConnection(_) => "CreateConnection",
            Self::DescribeConnection(_) => "DescribeConnection",
            Self::DeleteConnection(_) => "DeleteConnection",
            Self::ListConnections(_) => "ListConnections",
            Self::CreateApiDestination(_) => "CreateApiDestination",
            Self::DescribeApiDestination(_) => "DescribeApiDestination",
            Self::DeleteApiDestination(_) => "DeleteApiDestination",
            Self::ListApiDestinations(_) => "ListApiDestinations",
            Self::ListDeadLetters(_) => "ListDeadLetters",
            Self::RedriveDeadLetters(_) => "RedriveDeadLetters",
        }
    }

    pub fn target(&self) -> EventsTarget<'_> {
        fn name(n: Option<&String>) -> &str {
            n.map_or("", String::as_str)
        }
        match self {
            Self::PutRule(r) => EventsTarget::Rule(name(r.name.as_ref())),
            Self::DescribeRule(r) | Self::EnableRule(r) | Self::DisableRule(r) => {
                EventsTarget::Rule(name(r.name.as_ref()))
            }
            Self::DeleteRule(r) => EventsTarget::Rule(name(r.name.as_ref())),
            Self::TagResource(r) => EventsTarget::Arn(name(r.resource_arn.as_ref())),
            Self::UntagResource(r) => EventsTarget::Arn(name(r.resource_arn.as_ref())),
            Self::ListTagsForResource(r) => EventsTarget::Arn(name(r.resource_arn.as_ref())),
            Self::PutTargets(r) => EventsTarget::Rule(name(r.rule.as_ref())),
            Self::RemoveTargets(r) => EventsTarget::Rule(name(r.rule.as_ref())),
            Self::ListTargetsByRule(r) => EventsTarget::Rule(name(r.rule.as_ref())),
            Self::CreateConnection(r) => EventsTarget::Connection(name(r.name.as_ref())),
            Self::DescribeConnection(r) | Self::DeleteConnection(r) => {
                EventsTarget::Connection(name(r.name.as_ref()))
            }
            Self::CreateApiDestination(r) => EventsTarget::ApiDestination(name(r.name.as_ref())),
            Self::DescribeApiDestination(r) | Self::DeleteApiDestination(r) => {
                EventsTarget::ApiDestination(name(r.name.as_ref()))
            }
            Self::ListRules(_)
            | Self::TestEventPattern(_)
            | Self::ListConnections(_)
            | Self::ListApiDestinations(_)
            | Self::ListDeadLetters(_)
            | Self::RedriveDeadLetters(_) => EventsTarget::Account,
        }
    }

    /// The event bus the request names (None: the default one).
    pub fn event_bus(&self) -> Option<&str> {
        match self {
            Self::PutRule(r) => r.event_bus_name.as_deref(),
            Self::DescribeRule(r) | Self::EnableRule(r) | Self::DisableRule(r) => {
                r.event_bus_name.as_deref()
            }
            Self::DeleteRule(r) => r.event_bus_name.as_deref(),
            Self::ListRules(r) => r.event_bus_name.as_deref(),
            Self::PutTargets(r) => r.event_bus_name.as_deref(),
            Self::RemoveTargets(r) => r.event_bus_name.as_deref(),
            Self::ListTargetsByRule(r) => r.event_bus_name.as_deref(),
            _ => None,
        }
    }

    /// Tag keys and tags the request sets (`aws:TagKeys`, `aws:RequestTag/…`).
    pub fn request_tags(&self) -> (Vec<String>, Vec<(String, String)>) {
        let tags = match self {
            Self::PutRule(r) => &r.tags[..],
            Self::TagResource(r) => r.tags.as_deref().unwrap_or_default(),
            Self::UntagResource(r) => {
                return (r.tag_keys.clone().unwrap_or_default(), Vec::new());
            }
            _ => return (Vec::new(), Vec::new()),
        };
        (
            tags.iter().map(|t| t.key.clone()).collect(),
            tags.iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
        )
    }

    /// CloudTrail's `requestParameters`: the request with camelCase names; the
    /// test event is left out (it is the caller's data, not a parameter).
    pub fn audit_parameters(&self) -> Value {
        let v = match self {
            Self::PutRule(r) => serde_json::to_value(r),
            Self::DescribeRule(r) | Self::EnableRule(r) | Self::DisableRule(r) => {
                serde_json::to_value(r)
            }
            Self::DeleteRule(r) => serde_json::to_value(r),
            Self::ListRules(r) => serde_json::to_value(r),
            Self::TestEventPattern(r) => serde_json::to_value(TestEventPatternRequest {
                event_pattern: r.event_pattern.clone(),
                event: None,
            }),
            Self::TagResource(r) => serde_json::to_value(r),
            Self::UntagResource(r) => serde_json::to_value(r),
            Self::ListTagsForResource(r) => serde_json::to_value(r),
            Self::PutTargets(r) => serde_json::to_value(r),
            Self::RemoveTargets(r) => serde_json::to_value(r),
            Self::ListTargetsByRule(r) => serde_json::to_value(r),
            Self::CreateConnection(r) => serde_json::to_value(r),
            Self::DescribeConnection(r)
            | Self::DeleteConnection(r)
            | Self::DescribeApiDestination(r)
            | Self::DeleteApiDestination(r) => serde_json::to_value(r),
            Self::ListConnections(r) => serde_json::to_value(r),
            Self::CreateApiDestination(r) => serde_json::to_value(r),
            Self::ListApiDestinations(r) => serde_json::to_value(r),
            Self::ListDeadLetters(r) => serde_json::to_value(r),
            Self::RedriveDeadLetters(r) => serde_json::to_value(r),
        };
        crate::sm_ops::camel_case(v.unwrap_or_default())
    }

    fn validate(&self) -> Result<(), ApiError> {
        match self {
            Self::PutRule(r) => {
                rule_name(r.name.as_deref())?;
                validate::optional(
                    r.schedule_expression.as_deref(),
                    "scheduleExpression",
                    0,
                    256,
                )?;
                validate::optional(r.event_pattern.as_deref(), "eventPattern", 0, 4096)?;
                if let Some(s) = &r.state {
                    validate::one_of(
                        s,
                        "state",
                        &[
                            "ENABLED",
                            "DISABLED",
                            "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
                        ],
                    )?;
                }
                validate::optional(r.description.as_deref(), "description", 0, 512)?;
                validate::optional(r.role_arn.as_deref(), "roleArn", 1, 1600)?;
                tags(&r.tags)?;
                bus(r.event_bus_name.as_deref())
            }
            Self::DescribeRule(r) | Self::EnableRule(r) | Self::DisableRule(r) => {
                rule_name(r.name.as_deref())?;
                bus(r.event_bus_name.as_deref())
            }
            Self::DeleteRule(r) => {
                rule_name(r.name.as_deref())?;
                bus(r.event_bus_name.as_deref())
            }
            Self::ListRules(r) => {
                if let Some(p) = &r.name_prefix {
                    name_chars(p, "namePrefix")?;
                }
                validate::optional(r.next_token.as_deref(), "nextToken", 1, 2048)?;
                if let Some(l) = r.limit {
                    validate::range(l, "limit", 1, 100)?;
                }
                bus(r.event_bus_name.as_deref())
            }
            Self::TestEventPattern(r) => {
                validate::required(r.event_pattern.as_deref(), "eventPattern", 0, 4096)?;
                validate::required(r.event.as_deref(), "event", 0, usize::MAX).map(|_| ())
            }
            Self::TagResource(r) => {
                validate::required(r.resource_arn.as_deref(), "resourceARN", 1, 1600)?;
                let t = r.tags.as_ref().ok_or_else(|| null("tags"))?;
                tags(t)
            }
            Self::UntagResource(r) => {
                validate::required(r.resource_arn.as_deref(), "resourceARN", 1, 1600)?;
                for k in r.tag_keys.as_ref().ok_or_else(|| null("tagKeys"))? {
                    validate::length(k, "tagKeys.member", 1, 128)?;
                }
                Ok(())
            }
            Self::ListTagsForResource(r) => {
                validate::required(r.resource_arn.as_deref(), "resourceARN", 1, 1600).map(|_| ())
            }
            Self::PutTargets(r) => {
                rule_name(r.rule.as_deref())?;
                bus(r.event_bus_name.as_deref())?;
                let t = r.targets.as_ref().ok_or_else(|| null("targets"))?;
                list_size(t.len(), "targets", 1, 100)?;
                t.iter().try_for_each(target)
            }
            Self::RemoveTargets(r) => {
                rule_name(r.rule.as_deref())?;
                bus(r.event_bus_name.as_deref())?;
                let ids = r.ids.as_ref().ok_or_else(|| null("ids"))?;
                list_size(ids.len(), "ids", 1, 100)?;
                ids.iter().try_for_each(|i| id_chars(i, "ids.member"))
            }
            Self::ListTargetsByRule(r) => {
                rule_name(r.rule.as_deref())?;
                bus(r.event_bus_name.as_deref())?;
                page(r.next_token.as_deref(), r.limit)
            }
            Self::CreateConnection(r) => {
                rule_name(r.name.as_deref())?;
                validate::optional(r.description.as_deref(), "description", 0, 512)?;
                let t = r
                    .authorization_type
                    .as_deref()
                    .ok_or_else(|| null("authorizationType"))?;
                validate::one_of(
                    t,
                    "authorizationType",
                    &["BASIC", "OAUTH_CLIENT_CREDENTIALS", "API_KEY"],
                )?;
                r.auth_parameters
                    .as_ref()
                    .ok_or_else(|| null("authParameters"))?;
                Ok(())
            }
            Self::DescribeConnection(r)
            | Self::DeleteConnection(r)
            | Self::DescribeApiDestination(r)
            | Self::DeleteApiDestination(r) => rule_name(r.name.as_deref()),
            Self::ListConnections(r) => {
                if let Some(p) = &r.name_prefix {
                    name_chars(p, "namePrefix")?;
                }
                page(r.next_token.as_deref(), r.limit)
            }
            Self::CreateApiDestination(r) => {
                rule_name(r.name.as_deref())?;
                validate::optional(r.description.as_deref(), "description", 0, 512)?;
                validate::required(r.connection_arn.as_deref(), "connectionArn", 1, 1600)?;
                validate::required(
                    r.invocation_endpoint.as_deref(),
                    "invocationEndpoint",
                    1,
                    2048,
                )?;
                let m = r.http_method.as_deref().ok_or_else(|| null("httpMethod"))?;
                validate::one_of(
                    m,
                    "httpMethod",
                    &["POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"],
                )?;
                if let Some(n) = r.invocation_rate_limit_per_second {
                    validate::range(n, "invocationRateLimitPerSecond", 1, i64::from(i32::MAX))?;
                }
                Ok(())
            }
            Self::ListApiDestinations(r) => {
                if let Some(p) = &r.name_prefix {
                    name_chars(p, "namePrefix")?;
                }
                validate::optional(r.connection_arn.as_deref(), "connectionArn", 1, 1600)?;
                page(r.next_token.as_deref(), r.limit)
            }
            Self::ListDeadLetters(r) => {
                if let Some(n) = &r.rule {
                    rule_name(Some(n))?;
                }
                page(r.next_token.as_deref(), r.limit)
            }
            Self::RedriveDeadLetters(r) => {
                if r.ids.is_empty() != r.all {
                    return Err(ApiError::new(
                        ErrorCode::Validation,
                        "Give either Ids or All (true), not both.",
                    ));
                }
                list_size(r.ids.len(), "ids", 0, 100)
            }
        }
    }
}

fn page(token: Option<&str>, limit: Option<i64>) -> Result<(), ApiError> {
    validate::optional(token, "nextToken", 1, 2048)?;
    if let Some(l) = limit {
        validate::range(l, "limit", 1, 100)?;
    }
    Ok(())
}

fn list_size(n: usize, field: &str, min: usize, max: usize) -> Result<(), ApiError> {
    if n < min || n > max {
        return Err(ApiError::new(
            ErrorCode::Validation,
            format!("1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length between {min} and {max}"),
        ));
    }
    Ok(())
}

fn id_chars(v: &str, field: &str) -> Result<(), ApiError> {
    validate::length(v, field, 1, 64)?;
    name_chars(v, field)
}

/// One target's members against the model.
fn target(t: &Target) -> Result<(), ApiError> {
    id_chars(
        t.id.as_deref().ok_or_else(|| null("targets.member.id"))?,
        "targets.member.id",
    )?;
    validate::required(t.arn.as_deref(), "targets.member.arn", 1, 1600)?;
    validate::optional(t.input.as_deref(), "targets.member.input", 0, 8192)?;
    validate::optional(t.input_path.as_deref(), "targets.member.inputPath", 0, 256)?;
    if let Some(x) = &t.input_transformer {
        validate::required(
            x.input_template.as_deref(),
            "targets.member.inputTransformer.inputTemplate",
            1,
            8192,
        )?;
        if x.input_paths_map.len() > 100 {
            return Err(ApiError::new(
                ErrorCode::Validation,
                "1 validation error detected: Value at 'targets.member.inputTransformer.inputPathsMap' failed to satisfy constraint: Member must have length less than or equal to 100",
            ));
        }
    }
    if let Some(p) = &t.retry_policy {
        if let Some(n) = p.maximum_retry_attempts {
            validate::range(n, "targets.member.retryPolicy.maximumRetryAttempts", 0, 185)?;
        }
        if let Some(n) = p.maximum_event_age_in_seconds {
            validate::range(
                n,
                "targets.member.retryPolicy.maximumEventAgeInSeconds",
                60,
                86400,
            )?;
        }
    }
    Ok(())
}

fn null(field: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Validation,
        format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"),
    )
}

/// `RuleName`: 1–64 of `[\.\-_A-Za-z0-9]`.
fn rule_name(v: Option<&str>) -> Result<(), ApiError> {
    let v = v.ok_or_else(|| null("name"))?;
    validate::length(v, "name", 1, 64)?;
    name_chars(v, "name")
}

fn name_chars(v: &str, field: &str) -> Result<(), ApiError> {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Validation,
            format!("1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"),
        ))
    }
}

/// `EventBusNameOrArn`: 1–1600 characters (which bus it names is the
/// service's to check).
fn bus(v: Option<&str>) -> Result<(), ApiError> {
    validate::optional(v, "eventBusName", 1, 1600).map(|_| ())
}

/// EventBridge tags: keys 1–128, values 0–256, at most 50.
fn tags(t: &[Tag]) -> Result<(), ApiError> {
    if t.len() > 50 {
        return Err(ApiError::new(
            ErrorCode::Validation,
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50",
        ));
    }
    for tag in t {
        validate::length(&tag.key, "tags.member.key", 1, 128)?;
        validate::length(&tag.value, "tags.member.value", 0, 256)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_checks_and_refuses() {
        let op = EventsOperation::parse(
            "PutRule",
            br#"{"Name":"on-change","EventPattern":"{\"source\":[\"aws.secretsmanager\"]}","Tags":[{"Key":"team","Value":"a"}]}"#,
        )
        .unwrap();
        assert_eq!(op.target(), EventsTarget::Rule("on-change"));
        assert_eq!(op.request_tags().0, ["team"]);
        assert_eq!(op.audit_parameters()["name"], "on-change");
        let bad = EventsOperation::parse("PutRule", br#"{"Name":"a b"}"#).unwrap_err();
        assert_eq!(bad.code, ErrorCode::Validation);
        assert!(
            bad.message.contains("regular expression pattern"),
            "{}",
            bad.message
        );
        let missing = EventsOperation::parse("DescribeRule", b"{}").unwrap_err();
        assert!(missing.message.contains("Member must not be null"));
        let limit = EventsOperation::parse("ListRules", br#"{"Limit":101}"#).unwrap_err();
        assert_eq!(limit.code, ErrorCode::Validation);
        let unserved = EventsOperation::parse("PutEvents", b"{}").unwrap_err();
        assert_eq!(unserved.code, ErrorCode::UnknownOperation);
        assert!(unserved.message.contains("PutEvents"));
        let test = EventsOperation::parse(
            "TestEventPattern",
            br#"{"EventPattern":"{}","Event":"{\"secret\":1}"}"#,
        )
        .unwrap();
        assert!(
            test.audit_parameters().get("event").is_none(),
            "the test event is not audited"
        );
    }
}
