//! Request shapes of EventBridge's targets, connections and API destinations
//! (model `events/2015-10-07`). Connection credentials are [`Sensitive`]:
//! redacted in `Debug`, and shown as CloudTrail's placeholder in audit records.

use crate::types::{hidden, Sensitive};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct InputTransformer {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input_paths_map: BTreeMap<String, String>,
    pub input_template: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    pub arn: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HttpParameters {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_parameter_values: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header_parameters: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_string_parameters: BTreeMap<String, String>,
}

/// One target of a rule, kept as given and shown back by ListTargetsByRule.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub id: Option<String>,
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_transformer: Option<InputTransformer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_parameters: Option<HttpParameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutTargetsRequest {
    pub rule: Option<String>,
    pub event_bus_name: Option<String>,
    pub targets: Option<Vec<Target>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveTargetsRequest {
    pub rule: Option<String>,
    pub event_bus_name: Option<String>,
    pub ids: Option<Vec<String>>,
    pub force: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTargetsByRuleRequest {
    pub rule: Option<String>,
    pub event_bus_name: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiKeyAuth {
    pub api_key_name: Option<String>,
    #[serde(serialize_with = "hidden")]
    pub api_key_value: Option<Sensitive<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BasicAuth {
    pub username: Option<String>,
    #[serde(serialize_with = "hidden")]
    pub password: Option<Sensitive<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OAuthClient {
    #[serde(rename = "ClientID")]
    pub client_id: Option<String>,
    #[serde(rename = "ClientSecret", serialize_with = "hidden")]
    pub client_secret: Option<Sensitive<String>>,
}

/// OAuth client credentials: the token endpoint and the client.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OAuthAuth {
    pub client_parameters: Option<OAuthClient>,
    pub authorization_endpoint: Option<String>,
    pub http_method: Option<String>,
    /// Extra headers, query string and body parameters of the token request.
    #[serde(
        rename = "OAuthHttpParameters",
        skip_serializing_if = "Option::is_none",
        serialize_with = "hidden"
    )]
    pub o_auth_http_parameters: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_auth_parameters: Option<ApiKeyAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth_parameters: Option<BasicAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub o_auth_parameters: Option<OAuthAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_http_parameters: Option<HttpParameters>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateConnectionRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub authorization_type: Option<String>,
    pub auth_parameters: Option<AuthParameters>,
}

/// DescribeConnection, DeleteConnection, DescribeApiDestination,
/// DeleteApiDestination: one resource by name.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NameRequest {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateApiDestinationRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub connection_arn: Option<String>,
    pub invocation_endpoint: Option<String>,
    pub http_method: Option<String>,
    pub invocation_rate_limit_per_second: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListApiDestinationsRequest {
    pub name_prefix: Option<String>,
    pub connection_arn: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListConnectionsRequest {
    pub name_prefix: Option<String>,
    pub connection_state: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

/// Coffer's own: the dead letters of the caller's account and region.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDeadLettersRequest {
    pub rule: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

/// Coffer's own: deliver dead letters again (`Ids`, or `All`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RedriveDeadLettersRequest {
    #[serde(default)]
    pub ids: Vec<i64>,
    #[serde(default)]
    pub all: bool,
}
