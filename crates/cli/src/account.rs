//! `coffer account create NAME`: asks a running server for a new account, signed
//! with the credentials in the usual AWS environment variables, and prints the new
//! account's root credential as `export` lines. An `https://` server is trusted
//! by the system's roots and `AWS_CA_BUNDLE`, as the aws CLI trusts it. [`call`]
//! is the signed request every such command makes.

use anyhow::{anyhow, bail, Context};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use coffer_agent::Trust;
use http_body_util::BodyExt;
use std::time::SystemTime;

const PATH: &str = "/coffer/v1/accounts";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// One request to the server in `AWS_ENDPOINT_URL`, SigV4-signed for
/// `service` with the environment's credentials: the JSON answer, or the
/// server's error as `Code: message`.
pub async fn call(
    service: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
    body: String,
) -> anyhow::Result<serde_json::Value> {
    let endpoint = env("AWS_ENDPOINT_URL")
        .ok_or_else(|| anyhow!("set AWS_ENDPOINT_URL to the Coffer server's address"))?;
    let (scheme, host) = coffer_agent::trust::origin(&endpoint)
        .ok_or_else(|| anyhow!("AWS_ENDPOINT_URL must be an http:// or https:// address"))?;
    let trust = Trust::resolve(None, env)?;
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".into());
    let creds = Credentials::new(
        env("AWS_ACCESS_KEY_ID").ok_or_else(|| anyhow!("set AWS_ACCESS_KEY_ID"))?,
        env("AWS_SECRET_ACCESS_KEY").ok_or_else(|| anyhow!("set AWS_SECRET_ACCESS_KEY"))?,
        env("AWS_SESSION_TOKEN"),
        None,
        "environment",
    );
    let identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let mut headers = vec![("host".to_string(), host.to_string())];
    headers.extend(
        extra_headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let url = format!("{scheme}://{host}{path}");
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    for (k, v) in instructions.headers() {
        headers.push((k.to_string(), v.to_string()));
    }
    let resp = trust
        .send("POST", &url, &headers, body.into_bytes())
        .await
        .map_err(|e| anyhow!(e))
        .with_context(|| format!("connecting to {endpoint}"))?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| anyhow!(e))?
        .to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if !status.is_success() {
        bail!(
            "{}: {}",
            v["__type"].as_str().unwrap_or("error"),
            v["message"]
                .as_str()
                .unwrap_or("the server refused the request")
        );
    }
    Ok(v)
}

/// Creates the account and returns the lines to print.
pub async fn create(name: &str) -> anyhow::Result<String> {
    let body = serde_json::json!({ "Name": name }).to_string();
    let v = call(
        "secretsmanager",
        PATH,
        &[("content-type", "application/json")],
        body,
    )
    .await?;
    let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Ok(format!(
        "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport COFFER_ACCOUNT_ID={}\n",
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("AccountId")
    ))
}
