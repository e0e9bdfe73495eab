//! Pre-fetching at startup with BatchGetSecretValue: the listed secrets 20 per
//! call, then every secret carrying a listed tag key, page by page, until
//! `cache_buffer_ratio` of the cache is full. A missing or forbidden secret is
//! logged and skipped; readiness is reported when the pass ends.

use crate::config::Prefetch;
use crate::server::Agent;
use crate::upstream::{body, map_sdk_error};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretValueEntry};
use rand::Rng;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn remember(agent: &Agent, v: &SecretValueEntry) -> usize {
    let b = body(
        v.arn(),
        v.name(),
        v.version_id(),
        v.secret_string(),
        v.secret_binary().map(|b| b.as_ref()),
        v.version_stages.as_deref(),
        v.created_date(),
    );
    // Clients ask by name or by ARN; answer both from the cache.
    for id in [v.name(), v.arn()].into_iter().flatten() {
        agent.cache.insert((id.to_string(), None, None), b.clone());
    }
    1
}

pub async fn run(agent: &Agent, cfg: &Prefetch, cache_size: usize) {
    if cfg.max_jitter_seconds > 0 {
        let ms = rand::thread_rng().gen_range(0..=cfg.max_jitter_seconds * 1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let budget = ((cache_size as f32) * cfg.cache_buffer_ratio)
        .floor()
        .max(1.0) as usize;
    let mut loaded = 0usize;
    let skipped_roles = cfg.secrets.iter().filter(|s| s.role_arn.is_some()).count()
        + cfg
            .filter_tags
            .iter()
            .filter(|t| t.role_arn.is_some())
            .count();
    if skipped_roles > 0 {
        tracing::warn!(
            entries = skipped_roles,
            "prefetch entries with role_arn skipped: role assumption is not available yet"
        );
    }
    let ids: Vec<String> = cfg
        .secrets
        .iter()
        .filter(|s| s.role_arn.is_none())
        .map(|s| s.secret_id.clone())
        .collect();
    for chunk in ids.chunks(20) {
        if loaded >= budget {
            break;
        }
        match agent
            .upstream
            .client
            .batch_get_secret_value()
            .set_secret_id_list(Some(chunk.to_vec()))
            .send()
            .await
        {
            Ok(out) => {
                for v in out.secret_values() {
                    loaded += remember(agent, v);
                }
                for e in out.errors() {
                    tracing::warn!(
                        secret_id = e.secret_id().unwrap_or(""),
                        code = e.error_code().unwrap_or(""),
                        "prefetch skipped a secret"
                    );
                }
            }
            Err(e) => tracing::warn!(status = map_sdk_error(&e).status, "prefetch by id failed"),
        }
    }
    for tag in cfg.filter_tags.iter().filter(|t| t.role_arn.is_none()) {
        let filter = Filter::builder()
            .key(FilterNameStringType::TagKey)
            .values(tag.key.clone())
            .build();
        let mut next: Option<String> = None;
        while loaded < budget {
            let out = agent
                .upstream
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
                        if loaded < budget {
                            loaded += remember(agent, v);
                        }
                    }
                    next = out.next_token().map(str::to_string);
                    if next.is_none() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(tag = %tag.key, status = map_sdk_error(&e).status, "prefetch by tag failed");
                    break;
                }
            }
        }
    }
    agent
        .metrics
        .prefetched
        .fetch_add(loaded as u64, Ordering::Relaxed);
    agent.ready.store(true, Ordering::SeqCst);
    tracing::info!(secrets = loaded, "prefetch done; ready");
}
