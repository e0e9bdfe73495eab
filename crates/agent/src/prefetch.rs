//! Pre-fetching at startup with BatchGetSecretValue: the listed secrets 20 per
//! call, then every secret carrying a listed tag key, page by page, until
//! `cache_buffer_ratio` of the cache is full. Entries naming a `role_arn` are read
//! through that role (assumed once, cached under the role). A missing or forbidden
//! secret, or a role that cannot be assumed, is logged and skipped; readiness is
//! reported when the pass ends.

use crate::config::Prefetch;
use crate::server::Agent;
use crate::upstream::{body, map_sdk_error};
use aws_sdk_secretsmanager as sm;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretValueEntry};
use rand::Rng;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// One pass's progress against its budget.
struct Pass<'a> {
    agent: &'a Agent,
    client: sm::Client,
    role: Option<String>,
    loaded: usize,
    budget: usize,
}

impl Pass<'_> {
    fn full(&self) -> bool {
        self.loaded >= self.budget
    }

    fn remember(&mut self, v: &SecretValueEntry) {
        let b = body(
            v.arn(),
            v.name(),
            v.version_id(),
            v.secret_string(),
            v.secret_binary().map(std::convert::AsRef::as_ref),
            v.version_stages.as_deref(),
            v.created_date(),
        );
        // Clients ask by name or by ARN; answer both from the cache.
        for id in [v.name(), v.arn()].into_iter().flatten() {
            let key = (id.to_string(), None, None, self.role.clone());
            self.agent.cache.insert(key, b.clone());
        }
        self.loaded += 1;
    }

    async fn by_ids(&mut self, ids: &[String]) {
        for chunk in ids.chunks(20) {
            if self.full() {
                break;
            }
            let out = self
                .client
                .batch_get_secret_value()
                .set_secret_id_list(Some(chunk.to_vec()))
                .send()
                .await;
            match out {
                Ok(out) => {
                    for v in out.secret_values() {
                        self.remember(v);
                    }
                    for e in out.errors() {
                        tracing::warn!(
                            secret_id = e.secret_id().unwrap_or(""),
                            code = e.error_code().unwrap_or(""),
                            role_arn = self.role.as_deref().unwrap_or(""),
                            "prefetch skipped a secret"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(status = map_sdk_error(&e).status, "prefetch by id failed");
                }
            }
        }
    }

    async fn by_tag(&mut self, key: &str) {
        let filter = Filter::builder()
            .key(FilterNameStringType::TagKey)
            .values(key)
            .build();
        let mut next: Option<String> = None;
        while !self.full() {
            let out = self
                .client
                .batch_get_secret_value()
                .filters(filter.clone())
                .max_results(20)
                .set_next_token(next.clone())
                .send()
                .await;
            match out {
                Ok(out) => {
                    for v in out.secret_values() {
                        if !self.full() {
                            self.remember(v);
                        }
                    }
                    next = out.next_token().map(str::to_string);
                    if next.is_none() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(tag = %key, status = map_sdk_error(&e).status, "prefetch by tag failed");
                    break;
                }
            }
        }
    }
}

pub async fn run(agent: &Agent, cfg: &Prefetch, cache_size: usize) {
    if cfg.max_jitter_seconds > 0 {
        let ms = rand::thread_rng().gen_range(0..=cfg.max_jitter_seconds * 1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let budget = ((cache_size as f32) * cfg.cache_buffer_ratio)
        .floor()
        .max(1.0) as usize;
    // The agent's own credentials first, then each role in the order it appears.
    let mut roles: Vec<Option<String>> = vec![None];
    let named = cfg.secrets.iter().map(|s| &s.role_arn);
    for r in named.chain(cfg.filter_tags.iter().map(|t| &t.role_arn)) {
        if !roles.contains(r) {
            roles.push(r.clone());
        }
    }
    let mut loaded = 0;
    for role in roles {
        let client = match agent.upstream_for(role.as_deref()).await {
            Ok(Some(up)) => up.client.clone(),
            Ok(None) => agent.upstream.client.clone(),
            Err(e) => {
                tracing::warn!(
                    role_arn = role.as_deref().unwrap_or(""),
                    status = e.status,
                    "prefetch skipped the entries of a role it could not assume"
                );
                continue;
            }
        };
        let mut pass = Pass {
            agent,
            client,
            role: role.clone(),
            loaded,
            budget,
        };
        let ids: Vec<String> = cfg
            .secrets
            .iter()
            .filter(|s| s.role_arn == role)
            .map(|s| s.secret_id.clone())
            .collect();
        pass.by_ids(&ids).await;
        for tag in cfg.filter_tags.iter().filter(|t| t.role_arn == role) {
            pass.by_tag(&tag.key).await;
        }
        loaded = pass.loaded;
    }
    agent
        .metrics
        .prefetched
        .fetch_add(loaded as u64, Ordering::Relaxed);
    agent.ready.store(true, Ordering::SeqCst);
    tracing::info!(secrets = loaded, "prefetch done; ready");
}
