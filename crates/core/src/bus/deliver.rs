//! Delivery: every target of every rule reads the outbox from its own cursor,
//! in order, and hands each matching event to its API destination.
//!
//! Guarantees, beyond AWS's: at least once, with the event's own `id` as a
//! stable id (`Coffer-Event-Id`) for receivers to drop repeats; in order per
//! target (so per secret), since a target takes the next event only when it
//! is done with the last; nothing is lost while a receiver is down: the target
//! retries with exponential backoff and jitter (honouring `Retry-After`) until
//! its `RetryPolicy` gives up, then keeps the event as a dead letter and goes
//! on. Cursors and dead letters are in the store, so delivery survives a
//! restart; only the fleet's leader delivers.
//!
//! Each delivery is signed: `Coffer-Signature: t=UNIX,v1=HEX`, where HEX is
//! HMAC-SHA256 under the connection's signing key (in its secret) of
//! `UNIX.BODY`. A receiver recomputes it and refuses stale `t`.

use super::connections::{ConnectionDoc, ConnectionSecret, DestinationDoc};
use super::input;
use super::matcher::Seen;
use super::matcher::{Interest, Matcher};
use super::pattern::Pattern;
use super::rules::RuleDoc;
use super::store::{CONNECTION, DESTINATION, RULE};
use super::targets::target_key;
use crate::context::Caller;
use crate::http::{Answer, Webhooks};
use crate::service::Service;
use coffer_api::events_ops::Target;
use coffer_store::{DeadLetterQuery, NewDeadLetter};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// AWS's defaults when a target names no retry policy.
const DEFAULT_ATTEMPTS: i64 = 185;
const DEFAULT_MAX_AGE_SECS: i64 = 86_400;
/// Backoff: from the first, doubling up to the cap, with ±50% jitter.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_mins(1);
/// How often the supervisor looks at the rules (besides after each commit).
const RECONCILE: Duration = Duration::from_secs(1);
const BATCH: usize = 200;
/// How often a target records how far it has read past events it did not take.
const SAVE_SKIPPED: Duration = Duration::from_secs(5);

/// Everything one target needs to deliver.
#[derive(Clone)]
struct Spec {
    key: String,
    account: String,
    region: String,
    rule: RuleDoc,
    target: Target,
    sink: Sink,
}

/// Where a target's events go.
#[derive(Clone)]
enum Sink {
    Api(Box<(DestinationDoc, ConnectionDoc)>),
    /// The server's NATS (`nats_url`) and a subject.
    Nats(String, String),
}

impl Spec {
    /// Changes when anything a running worker was started with changes.
    fn fingerprint(&self) -> String {
        let sink = match &self.sink {
            Sink::Api(dc) => {
                let (d, c) = &**dc;
                serde_json::json!([d.arn, d.endpoint, d.method, d.rate, c.arn])
            }
            Sink::Nats(url, subject) => serde_json::json!([url, subject]),
        };
        serde_json::json!([self.rule, self.target, sink]).to_string()
    }
}

/// What every worker shares: the HTTP client, the rate limits, the matcher.
struct Shared {
    hooks: Webhooks,
    limits: Limits,
    /// OAuth connections' bearer tokens, by connection ARN, with their expiry.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    matcher: Arc<Matcher>,
}

/// A token bucket per API destination (`InvocationRateLimitPerSecond`).
#[derive(Default)]
struct Limits(Mutex<HashMap<String, (f64, Instant)>>);

impl Limits {
    /// How long to wait before the next request to `arn` may go.
    fn take(&self, arn: &str, rate: i64) -> Duration {
        let rate = rate.max(1) as f64;
        let Ok(mut m) = self.0.lock() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let (tokens, last) = m.entry(arn.to_string()).or_insert((rate, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate);
        *last = now;
        *tokens -= 1.0;
        if *tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-*tokens / rate)
        }
    }
}

/// One attempt's outcome.
enum Outcome {
    Delivered,
    /// Worth trying again (429, 5xx, 401/407/409, no answer), maybe not before.
    Retry(String, Option<Duration>),
    /// Not worth trying again (other 4xx): straight to the dead letters.
    Refused(String),
}

fn outcome(r: Result<Answer, String>) -> Outcome {
    match r {
        Ok(a) if (200..300).contains(&a.status) => Outcome::Delivered,
        Ok(a) if a.status >= 500 || matches!(a.status, 401 | 407 | 409 | 429) => {
            Outcome::Retry(format!("HTTP {}", a.status), a.retry_after)
        }
        Ok(a) => Outcome::Refused(format!("HTTP {}", a.status)),
        Err(e) => Outcome::Retry(e, None),
    }
}

/// `t=UNIX,v1=HEX`: HMAC-SHA256 of `UNIX.BODY` under `key` (hex).
pub(crate) fn signature(key_hex: &str, unix: i64, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let key = hex::decode(key_hex).unwrap_or_default();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{unix}.{body}").as_bytes());
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Service {
    /// Runs delivery until `stop` turns true: while this server leads, one
    /// worker per target, restarted when its rule, target or destination changes.
    pub(crate) fn spawn_delivery(
        self: &Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let svc = self.clone();
        let hooks = Webhooks::new(self.events_ca_file.as_deref());
        tokio::spawn(async move {
            let hooks = match hooks {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(error = %e, "event delivery is off: its CA bundle cannot be used");
                    return;
                }
            };
            let matcher =
                Matcher::start(svc.store.clone(), svc.commit_signal(), stop.clone()).await;
            let shared = Arc::new(Shared {
                hooks,
                limits: Limits::default(),
                tokens: Mutex::default(),
                matcher,
            });
            let mut workers: HashMap<String, (String, tokio::task::JoinHandle<()>)> =
                HashMap::new();
            // Not woken by commits: a new target's cursor is set when it is
            // put, so a worker that starts a second later misses nothing.
            loop {
                let leads = svc.store.lead().await.unwrap_or(false);
                let specs = if leads {
                    svc.delivery_specs().await
                } else {
                    Some(Vec::new())
                };
                if let Some(specs) = specs {
                    reconcile(&svc, &shared, &mut workers, specs);
                }
                tokio::select! {
                    () = tokio::time::sleep(RECONCILE) => {}
                    _ = stop.changed() => break,
                }
            }
            for (_, (_, w)) in workers {
                w.abort();
            }
        })
    }

    /// Every target of every rule of every account (None: the store could not say).
    async fn delivery_specs(&self) -> Option<Vec<Spec>> {
        let mut out = Vec::new();
        for account in self.store.accounts().await.ok()? {
            let a = account.account_id;
            let rules = self.store.iam_list(&a, RULE).await.ok()?;
            if rules.is_empty() {
                continue;
            }
            // Read once per account: rules are many, destinations few.
            let (mut destinations, mut connections) = (Vec::new(), Vec::new());
            for region in rules
                .iter()
                .filter_map(|r| r.name.split_once('/').map(|(g, _)| g))
                .collect::<std::collections::BTreeSet<_>>()
            {
                let caller = Caller::service(&a, region, "events.amazonaws.com", "coffer-events");
                destinations.extend(
                    self.entities::<DestinationDoc>(&caller, DESTINATION)
                        .await
                        .ok()?,
                );
                connections.extend(
                    self.entities::<ConnectionDoc>(&caller, CONNECTION)
                        .await
                        .ok()?,
                );
            }
            for row in rules {
                let Ok(rule) = serde_json::from_str::<RuleDoc>(&row.body) else {
                    continue;
                };
                for t in &rule.targets {
                    let arn = t.arn.as_deref().unwrap_or_default();
                    let sink = if let Some(subject) = arn.strip_prefix(super::targets::NATS_PREFIX)
                    {
                        let Some(url) = &self.nats_url else { continue };
                        Sink::Nats(url.clone(), subject.to_string())
                    } else {
                        let Some(d) = destinations.iter().find(|d| d.arn == arn) else {
                            continue;
                        };
                        let Some(c) = connections.iter().find(|c| c.arn == d.connection_arn) else {
                            continue;
                        };
                        Sink::Api(Box::new((d.clone(), c.clone())))
                    };
                    out.push(Spec {
                        key: target_key(
                            &a,
                            &rule.region,
                            &rule.name,
                            t.id.as_deref().unwrap_or_default(),
                        ),
                        account: a.clone(),
                        region: rule.region.clone(),
                        rule: rule.clone(),
                        target: t.clone(),
                        sink,
                    });
                }
            }
        }
        Some(out)
    }
}

fn reconcile(
    svc: &Arc<Service>,
    shared: &Arc<Shared>,
    workers: &mut HashMap<String, (String, tokio::task::JoinHandle<()>)>,
    specs: Vec<Spec>,
) {
    let wanted: HashMap<String, Spec> = specs.into_iter().map(|s| (s.key.clone(), s)).collect();
    workers.retain(|key, (fp, w)| {
        let keep = wanted.get(key).is_some_and(|s| s.fingerprint() == *fp) && !w.is_finished();
        if !keep {
            w.abort();
            shared.matcher.unregister(key);
        }
        keep
    });
    for (key, spec) in wanted {
        if workers.contains_key(&key) {
            continue;
        }
        let fp = spec.fingerprint();
        let worker = Worker {
            svc: svc.clone(),
            shared: shared.clone(),
            pattern: spec
                .rule
                .event_pattern
                .as_deref()
                .and_then(|p| Pattern::parse(p).ok()),
            spec,
        };
        workers.insert(key, (fp, tokio::spawn(worker.run())));
    }
}

struct Worker {
    svc: Arc<Service>,
    shared: Arc<Shared>,
    pattern: Option<Pattern>,
    spec: Spec,
}

impl Worker {
    async fn run(self) {
        let store = &self.svc.store;
        let key = self.spec.key.clone();
        let mut cursor = match store.delivery_cursor(&key).await {
            Ok(Some(c)) => c,
            Ok(None) => store.latest_event_seq().await.unwrap_or(0),
            Err(e) => {
                tracing::warn!(error = %e, "a target cannot read its cursor; will retry");
                return;
            }
        };
        let interest = Arc::new(Interest {
            account: self.spec.account.clone(),
            region: self.spec.region.clone(),
            enabled: self.spec.rule.state != "DISABLED",
            pattern: self.pattern.clone(),
        });
        let (mut queue, start) = self.shared.matcher.register(&key, interest.clone());
        // What happened between the stored cursor and the matcher's position
        // (while this target was stopped, or before this server led) is read here.
        while cursor < start {
            let rows: Vec<Arc<Seen>> = match store.events_after(cursor, BATCH).await {
                Ok(r) => r.into_iter().map(Seen::of).collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "a target cannot read the outbox; will retry");
                    tokio::time::sleep(RECONCILE).await;
                    continue;
                }
            };
            if rows.is_empty() {
                break;
            }
            for row in rows.iter().take_while(|r| r.seq <= start) {
                if interest.wants(row) {
                    self.handle(row).await;
                }
                cursor = row.seq;
            }
            if rows.last().is_some_and(|r| r.seq >= start) {
                break;
            }
        }
        cursor = cursor.max(start);
        let _ = store.advance_delivery(&key, cursor, None).await;
        let (mut saved, mut saved_at) = (cursor, Instant::now());
        loop {
            self.redrive().await;
            match tokio::time::timeout(RECONCILE, queue.recv()).await {
                Ok(Some(row)) => {
                    if row.seq > cursor {
                        self.handle(&row).await;
                        cursor = row.seq;
                        (saved, saved_at) = (cursor, Instant::now());
                    }
                }
                Ok(None) => return,
                // Idle: what the matcher passed over is this target's too. The
                // position is read before the queue is seen empty, so every
                // match up to it has been taken. Recorded now and then: a
                // restart reads a few seconds of events again, which costs nothing.
                Err(_) => {
                    let pos = self.shared.matcher.position();
                    if queue.is_empty()
                        && pos > saved
                        && saved_at.elapsed() >= SAVE_SKIPPED
                        && store.advance_delivery(&key, pos, None).await.is_ok()
                    {
                        cursor = cursor.max(pos);
                        (saved, saved_at) = (pos, Instant::now());
                    }
                }
            }
        }
    }

    /// Delivers one matching event and records it (or its dead letter).
    async fn handle(&self, row: &Seen) {
        let Some(event) = row.event.as_ref() else {
            return;
        };
        let dead = self.deliver(event, row).await;
        if let Err(e) = self
            .svc
            .store
            .advance_delivery(&self.spec.key, row.seq, dead)
            .await
        {
            tracing::warn!(error = %e, "a target could not record a delivery; it may repeat");
        }
    }

    /// Delivers with the target's retry policy; the dead letter when it gives up.
    async fn deliver(&self, event: &Value, row: &Seen) -> Option<NewDeadLetter> {
        let policy = self.spec.target.retry_policy.as_ref();
        let attempts_max = 1 + policy
            .and_then(|p| p.maximum_retry_attempts)
            .unwrap_or(DEFAULT_ATTEMPTS);
        let max_age_ms = 1000
            * policy
                .and_then(|p| p.maximum_event_age_in_seconds)
                .unwrap_or(DEFAULT_MAX_AGE_SECS);
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0;
        let error = loop {
            attempts += 1;
            let (why, wait) = match self.attempt(event).await {
                Outcome::Delivered => {
                    self.count("delivered");
                    // From the commit to the receiver's answer, retries included.
                    let lag = (self.svc.clock.now_ms() - row.at_ms).max(0) as f64 / 1000.0;
                    metrics::histogram!("coffer_event_delivery_lag_seconds", "sink" => self.sink_kind())
                        .record(lag);
                    return None;
                }
                Outcome::Refused(why) => break why,
                Outcome::Retry(why, wait) => {
                    self.count("retried");
                    (why, wait)
                }
            };
            let age = self.svc.clock.now_ms() - row.at_ms;
            if attempts >= attempts_max || age >= max_age_ms {
                break format!("{why} (gave up after {attempts} attempts)");
            }
            let jittered = backoff.mul_f64(rand::Rng::gen_range(&mut rand::thread_rng(), 0.5..1.5));
            tokio::time::sleep(
                wait.map_or(jittered, |w| w.max(jittered))
                    .min(Duration::from_mins(5)),
            )
            .await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        self.count("dead_lettered");
        tracing::warn!(target = %self.spec.key, event_seq = row.seq, %error, "an event went to the dead letters");
        Some(NewDeadLetter {
            account_id: self.spec.account.clone(),
            target: self.spec.key.clone(),
            event_seq: row.seq,
            event: event.to_string(),
            error,
            attempts,
            at_ms: self.svc.clock.now_ms(),
        })
    }

    /// Counts one outcome of an attempt (`coffer_event_deliveries_total`).
    fn count(&self, outcome: &'static str) {
        metrics::counter!("coffer_event_deliveries_total", "sink" => self.sink_kind(), "outcome" => outcome)
            .increment(1);
    }

    fn sink_kind(&self) -> &'static str {
        match self.spec.sink {
            Sink::Api(_) => "api_destination",
            Sink::Nats(..) => "nats",
        }
    }

    /// Redriven dead letters of this target, once each.
    async fn redrive(&self) {
        let q = DeadLetterQuery {
            target: Some(self.spec.key.clone()),
            redrive_only: true,
            limit: 50,
            ..DeadLetterQuery::default()
        };
        let Ok(letters) = self.svc.store.dead_letters(&q).await else {
            return;
        };
        for l in letters {
            let Ok(event) = serde_json::from_str::<Value>(&l.event) else {
                continue;
            };
            let failure = match self.attempt(&event).await {
                Outcome::Delivered => None,
                Outcome::Retry(why, _) | Outcome::Refused(why) => Some(why),
            };
            let _ = self.svc.store.settle_dead_letter(l.id, failure).await;
        }
    }

    async fn attempt(&self, event: &Value) -> Outcome {
        let s = &self.spec;
        let rule_arn = super::rule_arn(&s.region, &s.account, &s.rule.name);
        let body = input::body(&s.target, event, &s.rule.name, &rule_arn);
        let id = event["id"].as_str().unwrap_or_default().to_string();
        match &s.sink {
            Sink::Nats(url, subject) => {
                let headers = [
                    ("Coffer-Event-Id".to_string(), id.clone()),
                    ("Nats-Msg-Id".to_string(), id),
                ];
                let tls = self.shared.hooks.tls();
                match super::nats::publish(url, &tls, subject, &headers, body.as_bytes()).await {
                    Ok(_) => Outcome::Delivered,
                    Err(e) => Outcome::Retry(e, None),
                }
            }
            Sink::Api(dc) => {
                let (destination, connection) = &**dc;
                let secret = match self
                    .svc
                    .connection_credentials(connection, &s.account, &s.region)
                    .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        return Outcome::Retry(
                            format!("the connection's secret: {}", e.message),
                            None,
                        )
                    }
                };
                let bearer = match self.bearer(&connection.arn, &secret).await {
                    Ok(b) => b,
                    Err(e) => return Outcome::Retry(e, None),
                };
                let mut headers = self.headers(&secret, &id, &body);
                if let Some(token) = bearer {
                    headers.push(("authorization".to_string(), format!("Bearer {token}")));
                }
                let wait = self.shared.limits.take(&destination.arn, destination.rate);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                let url = self.url(&destination.endpoint);
                let answer = self
                    .shared
                    .hooks
                    .send(&destination.method, &url, &headers, body.into_bytes())
                    .await;
                if matches!(&answer, Ok(a) if a.status == 401) {
                    // The token may have been revoked: the next attempt gets another.
                    if let Ok(mut t) = self.shared.tokens.lock() {
                        t.remove(&connection.arn);
                    }
                }
                outcome(answer)
            }
        }
    }

    /// The bearer token of an OAuth connection (None: not one), from the
    /// cache or fetched with the client credentials.
    async fn bearer(&self, arn: &str, secret: &ConnectionSecret) -> Result<Option<String>, String> {
        use base64::Engine as _;
        let Some(endpoint) = &secret.authorization_endpoint else {
            return Ok(None);
        };
        if let Some((token, until)) = self
            .shared
            .tokens
            .lock()
            .ok()
            .and_then(|t| t.get(arn).cloned())
        {
            if until > Instant::now() {
                return Ok(Some(token));
            }
        }
        let method = secret.oauth_method.as_deref().unwrap_or("POST");
        let client = format!(
            "{}:{}",
            secret.client_id.as_deref().unwrap_or_default(),
            secret.client_secret.as_deref().unwrap_or_default()
        );
        let mut headers = vec![
            (
                "authorization".to_string(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(client)
                ),
            ),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("accept".to_string(), "application/json".to_string()),
        ];
        // The connection's OAuthHttpParameters: headers as given, query string
        // parameters on the URL, body parameters beside the grant type.
        let extra = secret.oauth_http.clone().unwrap_or_default();
        for h in &extra.headers {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&h.key));
            headers.push((h.key.to_ascii_lowercase(), h.value.clone()));
        }
        let pairs = |ps: &[super::oauth_params::Param]| -> Vec<(String, String)> {
            ps.iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect()
        };
        let mut form = vec![("grant_type".to_string(), "client_credentials".to_string())];
        form.extend(pairs(&extra.body));
        let mut query = pairs(&extra.query);
        let encode = |kv: &[(String, String)]| {
            let refs: Vec<(&str, &str)> =
                kv.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            super::oauth_params::form(&refs)
        };
        let body = if method == "GET" {
            query.extend(form);
            Vec::new()
        } else {
            encode(&form).into_bytes()
        };
        let url = if query.is_empty() {
            endpoint.clone()
        } else {
            let sep = if endpoint.contains('?') { '&' } else { '?' };
            format!("{endpoint}{sep}{}", encode(&query))
        };
        let a = self
            .shared
            .hooks
            .send(method, &url, &headers, body)
            .await
            .map_err(|e| format!("OAuth token endpoint: {e}"))?;
        if !(200..300).contains(&a.status) {
            return Err(format!("OAuth token endpoint: HTTP {}", a.status));
        }
        let v: Value = serde_json::from_slice(&a.body).unwrap_or_default();
        let token = v["access_token"]
            .as_str()
            .ok_or("OAuth token endpoint: no access_token in its answer")?
            .to_string();
        let life = v["expires_in"].as_u64().unwrap_or(3600).saturating_sub(30);
        if let Ok(mut t) = self.shared.tokens.lock() {
            t.insert(
                arn.to_string(),
                (token.clone(), Instant::now() + Duration::from_secs(life)),
            );
        }
        Ok(Some(token))
    }

    fn headers(&self, secret: &ConnectionSecret, id: &str, body: &str) -> Vec<(String, String)> {
        use base64::Engine as _;
        let unix = self.svc.clock.now_ms() / 1000;
        let mut h = vec![
            (
                "content-type".to_string(),
                "application/json; charset=utf-8".to_string(),
            ),
            ("user-agent".to_string(), "Coffer-Events/1.0".to_string()),
            ("coffer-event-id".to_string(), id.to_string()),
            (
                "coffer-signature".to_string(),
                signature(&secret.signing_key, unix, body),
            ),
        ];
        if let (Some(k), Some(v)) = (&secret.api_key_name, &secret.api_key_value) {
            h.push((k.clone(), v.clone()));
        }
        if let (Some(u), Some(p)) = (&secret.username, &secret.password) {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            h.push(("authorization".to_string(), format!("Basic {token}")));
        }
        if let Some(p) = &self.spec.target.http_parameters {
            h.extend(
                p.header_parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        h
    }

    /// The endpoint with the target's path parameters (each `*` in turn) and
    /// query string.
    fn url(&self, endpoint: &str) -> String {
        let mut url = endpoint.to_string();
        let Some(p) = &self.spec.target.http_parameters else {
            return url;
        };
        for v in &p.path_parameter_values {
            if let Some(i) = url.find('*') {
                url.replace_range(i..=i, v);
            }
        }
        if !p.query_string_parameters.is_empty() {
            let q: Vec<String> = p
                .query_string_parameters
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&q.join("&"));
        }
        url
    }
}

/// Percent-encodes all but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_of_time_and_body() {
        let s = signature("00ff", 1_700_000_000, "{}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s, signature("00ff", 1_700_000_000, "{}"));
        assert_ne!(s, signature("00ff", 1_700_000_001, "{}"));
        assert_ne!(s, signature("00fe", 1_700_000_000, "{}"));
    }

    #[test]
    fn answers_sort_into_delivered_retry_and_refused() {
        let a = |status| {
            Ok(Answer {
                status,
                retry_after: None,
                function_error: None,
                body: Vec::new(),
            })
        };
        assert!(matches!(outcome(a(204)), Outcome::Delivered));
        for s in [429, 500, 503, 401, 409] {
            assert!(matches!(outcome(a(s)), Outcome::Retry(..)), "{s}");
        }
        for s in [400, 403, 404, 413] {
            assert!(matches!(outcome(a(s)), Outcome::Refused(..)), "{s}");
        }
        assert!(matches!(outcome(Err("timeout".into())), Outcome::Retry(..)));
    }

    #[test]
    fn the_rate_limit_spaces_requests() {
        let l = Limits::default();
        assert!(l.take("d", 2).is_zero());
        assert!(l.take("d", 2).is_zero());
        assert!(
            l.take("d", 2) > Duration::from_millis(300),
            "the bucket of 2 is empty"
        );
        assert!(l.take("other", 2).is_zero(), "per destination");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
