//! IAM role assumption: per request (`roleArn`) and per prefetch entry. Each role
//! gets its own SDK client whose credentials come from STS AssumeRole on the
//! agent's own credentials, refreshed by the SDK's identity cache before they
//! expire. Cached answers carry their role in the key, so roles never share
//! entries. Past `max_roles`, the role idle longest is evicted (with its cached
//! answers) instead of refusing the new one. STS and the role's clients trust
//! what the agent's own client does (`trust`).

use crate::metrics::Metrics;
use crate::upstream::{error, Upstream, UpstreamError};
use aws_credential_types::provider::{self, future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sdk_secretsmanager as sm;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What role clients are built from: the agent's own upstream settings.
#[derive(Clone)]
pub struct Base {
    pub endpoint: Option<String>,
    pub region: String,
    pub credentials: SharedCredentialsProvider,
    pub trust: crate::Trust,
}

struct Slot {
    upstream: Arc<Upstream>,
    last_used: Instant,
}

pub struct Roles {
    base: Option<Base>,
    max: usize,
    /// Role ARN patterns callers may name; None: any.
    allowed: Option<Vec<String>>,
    slots: tokio::sync::Mutex<HashMap<String, Slot>>,
    metrics: Arc<Metrics>,
}

/// `arn:aws:iam::123456789012:role/NAME` (paths allowed), or the other partitions'.
pub fn valid_role_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let ok = |p: Option<&str>, f: &dyn Fn(&str) -> bool| p.is_some_and(f);
    ok(parts.next(), &|p| p == "arn")
        && ok(parts.next(), &|p| p.starts_with("aws"))
        && ok(parts.next(), &|p| p == "iam")
        && ok(parts.next(), &|p| p.is_empty())
        && ok(parts.next(), &|p| {
            p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit())
        })
        && ok(parts.next(), &|p| p.len() > 5 && p.starts_with("role/"))
}

/// Does `arn` match one of `patterns` (`*` any run of characters, `?` one)?
/// IAM's own matcher: linear time, whatever the caller puts in the ARN.
pub fn allowed(patterns: &[String], arn: &str) -> bool {
    patterns
        .iter()
        .any(|p| coffer_policy::wildcard_matches(p, arn, false))
}

/// Serves the credentials already fetched when the role was first used, then
/// defers to AssumeRole: the role's first request needs no second STS call.
#[derive(Debug)]
struct Primed {
    first: Mutex<Option<Credentials>>,
    inner: aws_config::sts::AssumeRoleProvider,
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self.first.lock().ok().and_then(|mut f| f.take());
        match first {
            Some(c) => future::ProvideCredentials::ready(Ok(c)),
            None => future::ProvideCredentials::new(self.inner.provide_credentials()),
        }
    }
}

impl Roles {
    pub fn new(
        base: Option<Base>,
        max: usize,
        allowed: Option<Vec<String>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Roles {
            base,
            max: max.max(1),
            allowed,
            slots: tokio::sync::Mutex::default(),
            metrics,
        }
    }

    /// The upstream for `role_arn`, assuming the role on first use. The second
    /// value lists roles evicted to make room (their cache entries must go).
    pub async fn upstream(
        &self,
        role_arn: &str,
    ) -> Result<(Arc<Upstream>, Vec<String>), UpstreamError> {
        if !valid_role_arn(role_arn) {
            return Err(error(
                400,
                "ValidationException",
                "roleArn must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                false,
            ));
        }
        if let Some(list) = &self.allowed {
            if !allowed(list, role_arn) {
                return Err(error(
                    403,
                    "AccessDeniedException",
                    &format!("This agent is not allowed to assume {role_arn}"),
                    false,
                ));
            }
        }
        let mut slots = self.slots.lock().await;
        if let Some(s) = slots.get_mut(role_arn) {
            s.last_used = Instant::now();
            return Ok((s.upstream.clone(), vec![]));
        }
        let upstream = Arc::new(self.assume(role_arn).await?);
        let mut evicted = vec![];
        while slots.len() >= self.max {
            let Some(idle) = slots
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            slots.remove(&idle);
            tracing::info!(role_arn = %idle, "evicted the role idle longest");
            evicted.push(idle);
        }
        slots.insert(
            role_arn.to_string(),
            Slot {
                upstream: upstream.clone(),
                last_used: Instant::now(),
            },
        );
        Ok((upstream, evicted))
    }

    /// The upstream of a role already in use, if it still is.
    pub async fn existing(&self, role_arn: &str) -> Option<Arc<Upstream>> {
        self.slots
            .lock()
            .await
            .get(role_arn)
            .map(|s| s.upstream.clone())
    }

    async fn assume(&self, role_arn: &str) -> Result<Upstream, UpstreamError> {
        let Some(base) = &self.base else {
            return Err(error(
                400,
                "ValidationException",
                "roleArn needs the agent's region and credentials to be known",
                false,
            ));
        };
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(base.region.clone()))
            .credentials_provider(base.credentials.clone())
            .http_client(base.trust.http_client());
        if let Some(ep) = &base.endpoint {
            loader = loader.endpoint_url(ep);
        }
        let sdk = loader.load().await;
        let inner = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name("coffer-agent")
            .configure(&sdk)
            .build()
            .await;
        let first = inner.provide_credentials().await.map_err(|e| {
            tracing::warn!(role_arn, error = %e, "could not assume role");
            let msg = format!("The agent could not assume {role_arn}: {}", root_cause(&e));
            error(403, "AccessDeniedException", &msg, false)
        })?;
        tracing::info!(role_arn, "assumed role");
        let primed = Primed {
            first: Mutex::new(Some(first)),
            inner,
        };
        let conf = sm::config::Builder::from(&sdk)
            .credentials_provider(primed)
            .build();
        Ok(Upstream::new(
            sm::Client::from_conf(conf),
            self.metrics.clone(),
        ))
    }
}

/// The innermost message of a credentials error (STS's own, when it answered).
fn root_cause(e: &provider::error::CredentialsError) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::{allowed, valid_role_arn};

    #[test]
    fn allow_list_patterns() {
        let list = vec!["arn:aws:iam::123456789012:role/app-*".to_string()];
        assert!(allowed(&list, "arn:aws:iam::123456789012:role/app-web"));
        assert!(!allowed(&list, "arn:aws:iam::123456789012:role/Admin"));
        assert!(!allowed(&list, "arn:aws:iam::999999999999:role/app-web"));
        let q = vec!["arn:aws:iam::?23456789012:role/*".to_string()];
        assert!(allowed(&q, "arn:aws:iam::123456789012:role/x/y"));
        assert!(!allowed(&[], "arn:aws:iam::123456789012:role/x"));
    }

    #[test]
    fn role_arns() {
        assert!(valid_role_arn("arn:aws:iam::123456789012:role/Reader"));
        assert!(valid_role_arn("arn:aws:iam::123456789012:role/team/Reader"));
        assert!(valid_role_arn("arn:aws-cn:iam::123456789012:role/R"));
        for bad in [
            "",
            "Reader",
            "arn:aws:iam::123456789012:user/bob",
            "arn:aws:iam::1234:role/R",
            "arn:aws:sts::123456789012:role/R",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(!valid_role_arn(bad), "{bad}");
        }
    }
}
