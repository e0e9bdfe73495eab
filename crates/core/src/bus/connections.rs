//! Connections (how to authenticate to an endpoint) and API destinations (an
//! endpoint, its method and rate). As in AWS, a connection's credentials live
//! in a secret of its own, named `events!connection/NAME/UUID`, created and
//! deleted with it; the connection's record holds only its ARN. Coffer adds a
//! signing key to that secret: every delivery carries an HMAC of its body
//! under it (see `deliver`), so a receiver can tell Coffer's calls from forgeries.

use super::store::{Entity, CONNECTION, DESTINATION};
use crate::call::Call;
use crate::context::Caller;
use crate::service::Service;
use coffer_api::events_ops::{
    CreateApiDestinationRequest, CreateConnectionRequest, ListApiDestinationsRequest,
    ListConnectionsRequest,
};
use coffer_api::{ApiError, ErrorCode, SecretsManagerOperation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Requests per second an API destination gets when it names none (AWS's default).
const DEFAULT_RATE: i64 = 300;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ConnectionDoc {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub authorization_type: String,
    /// Shown back (never the key's value or the password).
    pub api_key_name: Option<String>,
    pub username: Option<String>,
    /// OAuth client credentials: the token endpoint, its method, the client id.
    #[serde(default)]
    pub oauth: Option<(String, String, String)>,
    /// The token request's extra parameters as shown (secret values left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_http: Option<Value>,
    pub secret_arn: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DestinationDoc {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub connection_arn: String,
    pub endpoint: String,
    pub method: String,
    pub rate: i64,
    pub created_ms: i64,
}

/// What the connection's secret holds.
#[derive(Serialize, Deserialize)]
pub(crate) struct ConnectionSecret {
    pub authorization_type: String,
    pub api_key_name: Option<String>,
    pub api_key_value: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub oauth_method: Option<String>,
    /// The token request's extra headers, query string and body parameters.
    #[serde(default)]
    pub oauth_http: Option<super::oauth_params::OAuthHttp>,
    /// Hex; signs every delivery through this connection.
    pub signing_key: String,
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

impl ConnectionDoc {
    fn shown(&self) -> Value {
        let auth = match (&self.api_key_name, &self.username, &self.oauth) {
            (Some(k), _, _) => json!({"ApiKeyAuthParameters": {"ApiKeyName": k}}),
            (_, Some(u), _) => json!({"BasicAuthParameters": {"Username": u}}),
            (_, _, Some((endpoint, method, client))) => {
                let mut o = json!({
                    "AuthorizationEndpoint": endpoint, "HttpMethod": method,
                    "ClientParameters": {"ClientID": client}});
                if let Some(h) = &self.oauth_http {
                    o["OAuthHttpParameters"] = h.clone();
                }
                json!({ "OAuthParameters": o })
            }
            _ => json!({}),
        };
        let mut v = json!({
            "ConnectionArn": self.arn, "Name": self.name, "ConnectionState": "AUTHORIZED",
            "AuthorizationType": self.authorization_type, "SecretArn": self.secret_arn,
            "AuthParameters": auth, "CreationTime": secs(self.created_ms),
            "LastModifiedTime": secs(self.created_ms), "LastAuthorizedTime": secs(self.created_ms),
        });
        if let Some(d) = &self.description {
            v["Description"] = Value::String(d.clone());
        }
        v
    }
}

impl DestinationDoc {
    fn shown(&self) -> Value {
        let mut v = json!({
            "ApiDestinationArn": self.arn, "Name": self.name, "ApiDestinationState": "ACTIVE",
            "ConnectionArn": self.connection_arn, "InvocationEndpoint": self.endpoint,
            "HttpMethod": self.method, "InvocationRateLimitPerSecond": self.rate,
            "CreationTime": secs(self.created_ms), "LastModifiedTime": secs(self.created_ms),
        });
        if let Some(d) = &self.description {
            v["Description"] = Value::String(d.clone());
        }
        v
    }
}

fn not_found(what: &str, name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFound,
        format!(
            "Failed to describe the {what}(s). {} '{name}' does not exist.",
            capital(what)
        ),
    )
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn exists(what: &str, arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceAlreadyExists,
        format!("{} {arn} already exists.", capital(what)),
    )
}

/// `http://` only to this machine (local development); everything else HTTPS.
/// Never link-local addresses (cloud metadata services live there).
pub(crate) fn check_endpoint(url: &str) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|_| "it is not a URL".to_string())?;
    let host = uri.host().ok_or("it names no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = host.parse::<std::net::IpAddr>().ok();
    let loopback = host == "localhost" || ip.is_some_and(|i| i.is_loopback());
    if ip.is_some_and(crate::http::link_local) {
        return Err("link-local addresses are refused".into());
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback => Ok(()),
        Some("http") => {
            Err("plain http:// is allowed to loopback addresses only; use https://".into())
        }
        _ => Err("it must be an https:// URL".into()),
    }
}

impl Service {
    pub(super) async fn create_connection(
        &self,
        call: &Call<'_>,
        r: CreateConnectionRequest,
    ) -> Result<Value, ApiError> {
        let caller = call.caller;
        let name = r.name.clone().unwrap_or_default();
        let auth = r.auth_parameters.unwrap_or_default();
        let kind = r.authorization_type.unwrap_or_default();
        let bad = |m: &str| ApiError::new(ErrorCode::Validation, m.to_string());
        let mut secret = ConnectionSecret {
            authorization_type: kind.clone(),
            api_key_name: None,
            api_key_value: None,
            username: None,
            password: None,
            client_id: None,
            client_secret: None,
            authorization_endpoint: None,
            oauth_method: None,
            oauth_http: None,
            signing_key: hex::encode(rand::random::<[u8; 32]>()),
        };
        match kind.as_str() {
            "API_KEY" => {
                let a = auth
                    .api_key_auth_parameters
                    .ok_or_else(|| bad("ApiKeyAuthParameters are required for API_KEY."))?;
                secret.api_key_name = Some(
                    a.api_key_name
                        .ok_or_else(|| bad("ApiKeyName is required."))?,
                );
                secret.api_key_value = Some(
                    a.api_key_value
                        .ok_or_else(|| bad("ApiKeyValue is required."))?
                        .0
                        .clone(),
                );
            }
            "BASIC" => {
                let b = auth
                    .basic_auth_parameters
                    .ok_or_else(|| bad("BasicAuthParameters are required for BASIC."))?;
                secret.username = Some(b.username.ok_or_else(|| bad("Username is required."))?);
                secret.password = Some(
                    b.password
                        .ok_or_else(|| bad("Password is required."))?
                        .0
                        .clone(),
                );
            }
            _ => {
                let o = auth.o_auth_parameters.ok_or_else(|| {
                    bad("OAuthParameters are required for OAUTH_CLIENT_CREDENTIALS.")
                })?;
                if let Some(h) = &o.o_auth_http_parameters {
                    secret.oauth_http = Some(super::oauth_params::OAuthHttp::parse(h)?);
                }
                let c = o
                    .client_parameters
                    .ok_or_else(|| bad("ClientParameters are required."))?;
                let endpoint = o
                    .authorization_endpoint
                    .ok_or_else(|| bad("AuthorizationEndpoint is required."))?;
                check_endpoint(&endpoint)
                    .map_err(|why| bad(&format!("Invalid AuthorizationEndpoint: {why}.")))?;
                let method = o
                    .http_method
                    .ok_or_else(|| bad("HttpMethod is required."))?;
                if !matches!(method.as_str(), "GET" | "POST" | "PUT") {
                    return Err(bad("HttpMethod must be GET, POST or PUT."));
                }
                secret.client_id = Some(c.client_id.ok_or_else(|| bad("ClientID is required."))?);
                secret.client_secret = Some(
                    c.client_secret
                        .ok_or_else(|| bad("ClientSecret is required."))?
                        .0
                        .clone(),
                );
                secret.authorization_endpoint = Some(endpoint);
                secret.oauth_method = Some(method);
            }
        }
        if self
            .load_entity::<ConnectionDoc>(caller, CONNECTION, &name)
            .await?
            .is_some()
        {
            return Err(exists("connection", &name));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let arn = format!(
            "arn:aws:events:{}:{}:connection/{name}/{uuid}",
            caller.region, caller.account_id
        );
        let secret_arn = self
            .connection_secret(caller, &name, &uuid, &arn, &secret)
            .await?;
        let doc = ConnectionDoc {
            name: name.clone(),
            arn,
            description: r.description,
            authorization_type: kind,
            api_key_name: secret.api_key_name.clone(),
            username: secret.username.clone(),
            oauth: secret.authorization_endpoint.clone().map(|e| {
                (
                    e,
                    secret.oauth_method.clone().unwrap_or_default(),
                    secret.client_id.clone().unwrap_or_default(),
                )
            }),
            oauth_http: secret
                .oauth_http
                .as_ref()
                .map(super::oauth_params::OAuthHttp::shown),
            secret_arn,
            created_ms: self.clock.now_ms(),
        };
        self.save_entity(call, CONNECTION, &name, Some(&doc), None)
            .await?;
        let v = doc.shown();
        Ok(json!({
            "ConnectionArn": v["ConnectionArn"], "ConnectionState": v["ConnectionState"],
            "CreationTime": v["CreationTime"], "LastModifiedTime": v["LastModifiedTime"],
        }))
    }

    /// Creates the connection's secret, as the service on the caller's behalf.
    async fn connection_secret(
        &self,
        caller: &Caller,
        name: &str,
        uuid: &str,
        arn: &str,
        secret: &ConnectionSecret,
    ) -> Result<String, ApiError> {
        let system = Caller::service(
            &caller.account_id,
            &caller.region,
            "events.amazonaws.com",
            "coffer-events",
        );
        let body = json!({
            "Name": format!("events!connection/{name}/{uuid}"),
            "Description": format!("Auth parameters for EventBridge connection {arn}"),
            "SecretString": serde_json::to_string(secret).unwrap_or_default(),
            "ClientRequestToken": uuid::Uuid::new_v4().to_string(),
        });
        let op = SecretsManagerOperation::parse("CreateSecret", body.to_string().as_bytes())?;
        let out: Value =
            serde_json::from_slice(&self.execute(&system, op).await?).unwrap_or_default();
        Ok(out["ARN"].as_str().unwrap_or_default().to_string())
    }

    /// The connection's credentials and signing key (for a delivery).
    pub(crate) async fn connection_credentials(
        &self,
        c: &ConnectionDoc,
        account: &str,
        region: &str,
    ) -> Result<ConnectionSecret, ApiError> {
        let system = Caller::service(account, region, "events.amazonaws.com", "coffer-events");
        let body = json!({ "SecretId": c.secret_arn });
        let op = SecretsManagerOperation::parse("GetSecretValue", body.to_string().as_bytes())?;
        let out: Value =
            serde_json::from_slice(&self.execute(&system, op).await?).unwrap_or_default();
        serde_json::from_str(out["SecretString"].as_str().unwrap_or_default()).map_err(|_| {
            ApiError::new(
                ErrorCode::InternalServiceError,
                "The connection's secret is not readable.",
            )
        })
    }

    pub(super) async fn describe_connection(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Value, ApiError> {
        let (c, _) = self
            .load_entity::<ConnectionDoc>(caller, CONNECTION, name)
            .await?
            .ok_or_else(|| not_found("connection", name))?;
        Ok(c.shown())
    }

    pub(super) async fn delete_connection(
        &self,
        call: &Call<'_>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let caller = call.caller;
        let (c, rev) = self
            .load_entity::<ConnectionDoc>(caller, CONNECTION, name)
            .await?
            .ok_or_else(|| not_found("connection", name))?;
        let users = self.entities::<DestinationDoc>(caller, DESTINATION).await?;
        if let Some(d) = users.iter().find(|d| d.connection_arn == c.arn) {
            return Err(ApiError::new(
                ErrorCode::Validation,
                format!(
                    "Connection {name} is used by API destination {}; delete that first.",
                    d.name
                ),
            ));
        }
        self.save_entity::<ConnectionDoc>(call, CONNECTION, name, None, Some(rev))
            .await?;
        let system = Caller::service(
            &caller.account_id,
            &caller.region,
            "events.amazonaws.com",
            "coffer-events",
        );
        let body = json!({ "SecretId": c.secret_arn, "ForceDeleteWithoutRecovery": true });
        let op = SecretsManagerOperation::parse("DeleteSecret", body.to_string().as_bytes())?;
        if let Err(e) = self.execute(&system, op).await {
            tracing::warn!(error = %e.message, "deleting a connection's secret failed");
        }
        let v = c.shown();
        Ok(json!({
            "ConnectionArn": v["ConnectionArn"], "ConnectionState": "DELETING",
            "CreationTime": v["CreationTime"], "LastModifiedTime": v["LastModifiedTime"],
            "LastAuthorizedTime": v["LastAuthorizedTime"],
        }))
    }

    pub(super) async fn list_connections(
        &self,
        caller: &Caller,
        r: ListConnectionsRequest,
    ) -> Result<Value, ApiError> {
        let prefix = r.name_prefix.unwrap_or_default();
        let all = self.entities::<ConnectionDoc>(caller, CONNECTION).await?;
        let shown: Vec<Value> = all
            .iter()
            .filter(|c| c.name.starts_with(&prefix))
            .map(|c| {
                let mut v = c.shown();
                if let Value::Object(m) = &mut v {
                    m.remove("AuthParameters");
                    m.remove("SecretArn");
                }
                v
            })
            .collect();
        Ok(json!({ "Connections": shown }))
    }

    pub(super) async fn create_api_destination(
        &self,
        call: &Call<'_>,
        r: CreateApiDestinationRequest,
    ) -> Result<Value, ApiError> {
        let caller = call.caller;
        let name = r.name.clone().unwrap_or_default();
        let endpoint = r.invocation_endpoint.unwrap_or_default();
        check_endpoint(&endpoint).map_err(|why| {
            ApiError::new(
                ErrorCode::Validation,
                format!("Invalid InvocationEndpoint: {why}."),
            )
        })?;
        let connection_arn = r.connection_arn.unwrap_or_default();
        let conn_name = connection_arn
            .split('/')
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let conn = self
            .load_entity::<ConnectionDoc>(caller, CONNECTION, &conn_name)
            .await?;
        if conn.is_none_or(|(c, _)| c.arn != connection_arn) {
            return Err(ApiError::new(
                ErrorCode::ResourceNotFound,
                format!("Connection '{connection_arn}' does not exist."),
            ));
        }
        if self
            .load_entity::<DestinationDoc>(caller, DESTINATION, &name)
            .await?
            .is_some()
        {
            return Err(exists("api destination", &name));
        }
        let doc = DestinationDoc {
            arn: format!(
                "arn:aws:events:{}:{}:api-destination/{name}/{}",
                caller.region,
                caller.account_id,
                uuid::Uuid::new_v4()
            ),
            name: name.clone(),
            description: r.description,
            connection_arn,
            endpoint,
            method: r.http_method.unwrap_or_else(|| "POST".into()),
            rate: r.invocation_rate_limit_per_second.unwrap_or(DEFAULT_RATE),
            created_ms: self.clock.now_ms(),
        };
        self.save_entity(call, DESTINATION, &name, Some(&doc), None)
            .await?;
        let v = doc.shown();
        Ok(json!({
            "ApiDestinationArn": v["ApiDestinationArn"], "ApiDestinationState": "ACTIVE",
            "CreationTime": v["CreationTime"], "LastModifiedTime": v["LastModifiedTime"],
        }))
    }

    pub(super) async fn describe_api_destination(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Value, ApiError> {
        let (d, _) = self
            .load_entity::<DestinationDoc>(caller, DESTINATION, name)
            .await?
            .ok_or_else(|| not_found("api destination", name))?;
        Ok(d.shown())
    }

    pub(super) async fn delete_api_destination(
        &self,
        call: &Call<'_>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let (_, rev) = self
            .load_entity::<DestinationDoc>(call.caller, DESTINATION, name)
            .await?
            .ok_or_else(|| not_found("api destination", name))?;
        self.save_entity::<DestinationDoc>(call, DESTINATION, name, None, Some(rev))
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn list_api_destinations(
        &self,
        caller: &Caller,
        r: ListApiDestinationsRequest,
    ) -> Result<Value, ApiError> {
        let prefix = r.name_prefix.unwrap_or_default();
        let all = self.entities::<DestinationDoc>(caller, DESTINATION).await?;
        let shown: Vec<Value> = all
            .iter()
            .filter(|d| d.name.starts_with(&prefix))
            .filter(|d| {
                r.connection_arn
                    .as_ref()
                    .is_none_or(|c| *c == d.connection_arn)
            })
            .map(DestinationDoc::shown)
            .collect();
        Ok(json!({ "ApiDestinations": shown }))
    }
}

impl Entity for ConnectionDoc {}
impl Entity for DestinationDoc {}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints_are_https_or_loopback_and_never_link_local() {
        assert!(check_endpoint("https://hooks.example.com/coffer").is_ok());
        assert!(check_endpoint("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_endpoint("http://localhost:9000/hook").is_ok());
        assert!(check_endpoint("http://[::1]:9000/hook").is_ok());
        assert!(check_endpoint("http://hooks.example.com/").is_err());
        assert!(check_endpoint("http://10.0.0.5/").is_err());
        assert!(check_endpoint("https://169.254.169.254/latest/meta-data").is_err());
        assert!(check_endpoint("ftp://example.com/").is_err());
        assert!(check_endpoint("not a url").is_err());
    }

    /// What a name resolves to is checked at delivery too (see `http`).
    #[test]
    fn link_local_addresses_in_every_spelling() {
        use crate::http::link_local;
        for ip in ["169.254.169.254", "fe80::1", "::ffff:169.254.1.1"] {
            assert!(link_local(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.1", "127.0.0.1", "::1", "2001:db8::1"] {
            assert!(!link_local(ip.parse().unwrap()), "{ip}");
        }
    }
}
