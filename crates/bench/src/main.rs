//! Benchmark helpers for `bench/run.sh`:
//! - `ceiling`: a minimal hyper server answering a fixed 200-byte JSON body, the
//!   reference the load generator measures Coffer against;
//! - `sign`: prints SigV4-signed headers for one GetSecretValue request, so `wrk`
//!   can replay it (a signature stays valid for AWS's 15-minute window);
//! - `put`: durable PutSecretValue writes per second through the AWS SDK;
//! - `push-latency`: how soon after a PutSecretValue a `coffer agent` in front of
//!   the server serves the new value (pushed refresh; `bench/push.sh`);
//! - `reach`: how soon a change through one server of a fleet is served by
//!   another (`bench/fleet.sh`).

use anyhow::Context;
use clap::{Parser, Subcommand};

mod history;
mod list;
mod reach;
mod replication;
use std::time::{Duration, Instant, SystemTime};

#[derive(Parser)]
#[command(about = "Coffer benchmark helpers (see bench/run.sh and bench/README.md)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve a fixed 200-byte JSON body on ADDR.
    Ceiling { addr: String },
    /// Print signed headers (one `Name: value` per line) for GetSecretValue.
    Sign {
        #[arg(long)]
        endpoint_host: String,
        #[arg(long)]
        secret_id: String,
        #[arg(long, env = "AWS_ACCESS_KEY_ID")]
        access_key_id: String,
        #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
        secret_access_key: String,
        #[arg(long, default_value = "us-east-1")]
        region: String,
    },
    /// Start rotation (built-in random-password rotator) of PREFIX0..PREFIX{COUNT-1}
    /// all at once, and print how long until every one has rotated.
    RotateStorm {
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        count: usize,
        #[arg(long, env = "AWS_ACCESS_KEY_ID")]
        access_key_id: String,
        #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
        secret_access_key: String,
    },
    /// Create COUNT secrets named PREFIX0..PREFIX{COUNT-1} with a 200-byte value.
    SeedMany {
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        count: usize,
        #[arg(long, env = "AWS_ACCESS_KEY_ID")]
        access_key_id: String,
        #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
        secret_access_key: String,
    },
    /// Create (or overwrite) one secret.
    Seed {
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        value: String,
        #[arg(long, env = "AWS_ACCESS_KEY_ID")]
        access_key_id: String,
        #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
        secret_access_key: String,
    },
    /// Run PutSecretValue with N concurrent writers for a duration; print writes/s.
    /// Each writer cycles over its own `secrets_per_writer` secrets.
    Put {
        #[arg(long, default_value_t = 16)]
        secrets_per_writer: usize,
        #[arg(long)]
        endpoint: String,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, env = "AWS_ACCESS_KEY_ID")]
        access_key_id: String,
        #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
        secret_access_key: String,
    },
    /// PutSecretValue writes per second on secrets replicated (or not) to
    /// another region, and the replicas' catch-up after the last write.
    ReplicatedPut {
        #[arg(long)]
        endpoint: String,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 4)]
        secrets_per_writer: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The region to replicate each secret to (none: not replicated).
        #[arg(long)]
        replicate_to: Option<String>,
        #[arg(long, env = "AWS_ACCESS_KEY_ID")]
        access_key_id: String,
        #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
        secret_access_key: String,
    },
    /// PutSecretValue on one new secret COUNT times with WRITERS concurrent
    /// writers; print writes/s and the server's anonymous memory (with --pid)
    /// per WINDOW versions.
    History {
        #[arg(long)]
        endpoint: String,
        #[arg(long, default_value = "bench/history")]
        secret_id: String,
        #[arg(long, default_value_t = 20_000)]
        count: usize,
        #[arg(long, default_value_t = 2_000)]
        window: usize,
        #[arg(long, default_value_t = 8)]
        writers: usize,
        #[arg(long)]
        pid: Option<u32>,
        #[arg(long, env = "AWS_ACCESS_KEY_ID")]
        access_key_id: String,
        #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
        secret_access_key: String,
    },
    /// Time ListSecrets pages (several filters and orders, a deep page, the
    /// whole walk) and GetSecretValue of GET_ID as the reference; print a table.
    ListLatency {
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        get_id: String,
        #[arg(long, default_value_t = 20)]
        tries: usize,
        /// Secrets PREFIX0 … PREFIX(N-1), made through the API and not read
        /// since the server started: each is read once, from the store.
        #[arg(long)]
        fresh_prefix: String,
        #[arg(long, default_value_t = 200)]
        fresh_count: usize,
        #[arg(long, env = "AWS_ACCESS_KEY_ID")]
        access_key_id: String,
        #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
        secret_access_key: String,
    },
    /// Change SECRET_ID COUNT times with PutSecretValue and time each change until
    /// the agent at AGENT (host:port) serves the new value; print p50/p99/max.
    /// The agent must subscribe to the server's change stream and have a long TTL,
    /// so that only a push can refresh it.
    PushLatency {
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        agent: String,
        #[arg(long, default_value = "bench/pushed")]
        secret_id: String,
        #[arg(long, default_value_t = 200)]
        count: usize,
        /// Pause between changes, so each change is timed on its own.
        #[arg(long, default_value_t = 50)]
        pause_ms: u64,
        /// The agent's SSRF token.
        #[arg(long, env = "AWS_TOKEN")]
        token: String,
        #[arg(long, env = "AWS_ACCESS_KEY_ID")]
        access_key_id: String,
        #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
        secret_access_key: String,
    },
    /// Put a new value through WRITER COUNT times and time each until READER
    /// (another server of the fleet) serves it; print p50/p99/max.
    Reach(reach::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.cmd {
        Cmd::Ceiling { addr } => rt.block_on(ceiling(&addr)),
        Cmd::Sign {
            endpoint_host,
            secret_id,
            access_key_id,
            secret_access_key,
            region,
        } => sign(
            &endpoint_host,
            &secret_id,
            &access_key_id,
            &secret_access_key,
            &region,
        ),
        Cmd::RotateStorm {
            endpoint,
            prefix,
            count,
            access_key_id,
            secret_access_key,
        } => rt.block_on(rotate_storm(
            &endpoint,
            &prefix,
            count,
            &access_key_id,
            &secret_access_key,
        )),
        Cmd::SeedMany {
            endpoint,
            prefix,
            count,
            access_key_id,
            secret_access_key,
        } => rt.block_on(seed_many(
            &endpoint,
            &prefix,
            count,
            &access_key_id,
            &secret_access_key,
        )),
        Cmd::Seed {
            endpoint,
            name,
            value,
            access_key_id,
            secret_access_key,
        } => rt.block_on(async {
            let c = client(&endpoint, &access_key_id, &secret_access_key);
            if c.create_secret()
                .name(&name)
                .secret_string(&value)
                .send()
                .await
                .is_err()
            {
                c.put_secret_value()
                    .secret_id(&name)
                    .secret_string(&value)
                    .send()
                    .await?;
            }
            anyhow::Ok(())
        }),
        Cmd::Put {
            secrets_per_writer,
            endpoint,
            concurrency,
            seconds,
            access_key_id,
            secret_access_key,
        } => rt.block_on(put(
            &endpoint,
            concurrency,
            secrets_per_writer,
            seconds,
            &access_key_id,
            &secret_access_key,
        )),
        Cmd::ReplicatedPut {
            endpoint,
            concurrency,
            secrets_per_writer,
            seconds,
            replicate_to,
            access_key_id,
            secret_access_key,
        } => rt.block_on(replication::run(replication::Args {
            endpoint,
            access_key_id,
            secret_access_key,
            concurrency,
            secrets_per_writer,
            seconds,
            replicate_to,
        })),
        Cmd::History {
            endpoint,
            secret_id,
            count,
            window,
            writers,
            pid,
            access_key_id,
            secret_access_key,
        } => rt.block_on(history::history(
            &client(&endpoint, &access_key_id, &secret_access_key),
            &secret_id,
            count,
            window,
            writers,
            pid,
        )),
        Cmd::ListLatency {
            endpoint,
            get_id,
            tries,
            fresh_prefix,
            fresh_count,
            access_key_id,
            secret_access_key,
        } => rt.block_on(list::list_latency(
            &client(&endpoint, &access_key_id, &secret_access_key),
            &get_id,
            tries,
            &(0..fresh_count)
                .map(|i| format!("{fresh_prefix}{i}"))
                .collect::<Vec<_>>(),
        )),
        Cmd::Reach(args) => rt.block_on(reach::run(args)),
        Cmd::PushLatency {
            endpoint,
            agent,
            secret_id,
            count,
            pause_ms,
            token,
            access_key_id,
            secret_access_key,
        } => rt.block_on(push_latency(
            &client(&endpoint, &access_key_id, &secret_access_key),
            AgentConn::new(&agent, &token),
            &secret_id,
            count,
            Duration::from_millis(pause_ms),
        )),
    }
}

async fn ceiling(addr: &str) -> anyhow::Result<()> {
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioIo;
    let body = bytes::Bytes::from(format!(
        "{{\"Name\":\"bench/secret\",\"SecretString\":\"{}\"}}",
        "x".repeat(200 - 41)
    ));
    assert_eq!(body.len(), 200);
    let listener = tokio::net::TcpListener::bind(addr).await.context("bind")?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |_req| {
                let body = body.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::builder()
                            .header("content-type", "application/x-amz-json-1.1")
                            .body(Full::new(body))
                            .expect("static response"),
                    )
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn sign(host: &str, secret_id: &str, akid: &str, secret: &str, region: &str) -> anyhow::Result<()> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let body = format!("{{\"SecretId\":\"{secret_id}\"}}");
    let identity = aws_credential_types::Credentials::new(akid, secret, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("secretsmanager")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let headers = [
        ("host", host.to_string()),
        ("content-type", "application/x-amz-json-1.1".to_string()),
        ("x-amz-target", "secretsmanager.GetSecretValue".to_string()),
    ];
    let url = format!("http://{host}/");
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    for (k, v) in &headers {
        if *k != "host" {
            println!("{k}: {v}");
        }
    }
    for (k, v) in instructions.headers() {
        println!("{k}: {v}");
    }
    println!("BODY {body}");
    Ok(())
}

fn client(endpoint: &str, akid: &str, secret: &str) -> aws_sdk_secretsmanager::Client {
    use aws_sdk_secretsmanager as sm;
    let creds = aws_credential_types::Credentials::new(akid, secret, None, None, "bench");
    let conf = sm::Config::builder()
        .behavior_version(sm::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(sm::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .build();
    sm::Client::from_conf(conf)
}

async fn put(
    endpoint: &str,
    concurrency: usize,
    per_writer: usize,
    seconds: u64,
    akid: &str,
    secret: &str,
) -> anyhow::Result<()> {
    let client = client(endpoint, akid, secret);
    let per_writer = per_writer.max(1);
    // Each writer owns a few secrets, as independent applications would.
    for w in 0..concurrency {
        for s in 0..per_writer {
            let _ = client
                .create_secret()
                .name(format!("bench/put-{w}-{s}"))
                .secret_string("v0")
                .send()
                .await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                c.put_secret_value()
                    .secret_id(format!("bench/put-{w}-{}", i as usize % per_writer))
                    .secret_string(format!("value-{i}"))
                    .send()
                    .await?;
                lat.push(t.elapsed());
                i += 1;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "writes={} seconds={seconds} writes_per_sec={:.0} p50_ms={:.2} p99_ms={:.2}",
        all.len(),
        all.len() as f64 / seconds as f64,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    Ok(())
}

async fn seed_many(
    endpoint: &str,
    prefix: &str,
    count: usize,
    akid: &str,
    secret: &str,
) -> anyhow::Result<()> {
    let client = client(endpoint, akid, secret);
    let value = format!(
        "{{\"username\":\"app\",\"password\":\"{}\"}}",
        "0".repeat(170)
    );
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..16 {
        let (c, v, p) = (client.clone(), value.clone(), prefix.to_string());
        tasks.spawn(async move {
            let mut i = w;
            while i < count {
                c.create_secret()
                    .name(format!("{p}{i}"))
                    .secret_string(&v)
                    .send()
                    .await?;
                i += 16;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

/// Starts every rotation, then polls until all have a LastRotatedDate.
async fn rotate_storm(
    endpoint: &str,
    prefix: &str,
    count: usize,
    akid: &str,
    secret: &str,
) -> anyhow::Result<()> {
    use aws_sdk_secretsmanager::types::RotationRulesType;
    let client = client(endpoint, akid, secret);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..16 {
        let (c, p) = (client.clone(), prefix.to_string());
        tasks.spawn(async move {
            let mut i = w;
            while i < count {
                let rules = RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build();
                c.rotate_secret()
                    .secret_id(format!("{p}{i}"))
                    .rotation_lambda_arn(
                        "arn:aws:lambda:us-east-1:000000000000:function:coffer-random-password",
                    )
                    .rotation_rules(rules)
                    .client_request_token(uuid_like(i))
                    .send()
                    .await?;
                i += 16;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let requested = started.elapsed();
    let done = loop {
        let mut rotated = 0;
        let mut pages = client
            .list_secrets()
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            rotated += page?
                .secret_list()
                .iter()
                .filter(|s| s.name().is_some_and(|n| n.starts_with(prefix)))
                .filter(|s| s.last_rotated_date().is_some())
                .count();
        }
        if rotated >= count || started.elapsed() > Duration::from_mins(5) {
            break rotated;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{done} of {count} rotated in {secs:.2} s ({:.0} rotations/min; requests accepted in {:.2} s)",
        done as f64 / secs * 60.0,
        requested.as_secs_f64()
    );
    Ok(())
}

fn uuid_like(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

/// One keep-alive HTTP/1.1 connection to the agent: a GET costs one loopback
/// round trip (tens of microseconds), so polling it adds little to what is
/// measured.
struct AgentConn {
    addr: String,
    token: String,
    conn: Option<tokio::io::BufReader<tokio::net::TcpStream>>,
}

impl AgentConn {
    fn new(addr: &str, token: &str) -> Self {
        AgentConn {
            addr: addr.to_string(),
            token: token.to_string(),
            conn: None,
        }
    }

    /// GET `path`: (status, body). Reconnects once if the agent closed the
    /// connection.
    async fn get(&mut self, path: &str) -> anyhow::Result<(u16, String)> {
        if let Ok(r) = self.try_get(path).await {
            Ok(r)
        } else {
            self.conn = None;
            self.try_get(path).await
        }
    }

    async fn try_get(&mut self, path: &str) -> anyhow::Result<(u16, String)> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        if self.conn.is_none() {
            let s = tokio::net::TcpStream::connect(&self.addr)
                .await
                .with_context(|| format!("connecting to the agent at {}", self.addr))?;
            s.set_nodelay(true)?;
            self.conn = Some(tokio::io::BufReader::new(s));
        }
        let conn = self.conn.as_mut().expect("connected above");
        let req = format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nx-aws-parameters-secrets-token: {}\r\n\r\n",
            self.addr, self.token
        );
        conn.get_mut().write_all(req.as_bytes()).await?;
        let mut line = String::new();
        conn.read_line(&mut line).await?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("not an HTTP answer: {line:?}"))?;
        let mut length = None;
        loop {
            line.clear();
            conn.read_line(&mut line).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                }
            }
        }
        let mut body = vec![0; length.context("the agent's answer has no Content-Length")?];
        conn.read_exact(&mut body).await?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// The SecretString the agent serves for `path` now.
    async fn value(&mut self, path: &str) -> anyhow::Result<String> {
        let (status, body) = self.get(path).await?;
        anyhow::ensure!(status == 200, "the agent answered {status}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body)?;
        Ok(v["SecretString"].as_str().unwrap_or_default().to_string())
    }
}

/// Puts `value` and polls the agent (every millisecond) until it serves it:
/// (sent to served, acknowledged to served; the latter is zero when the agent
/// served it before the writer had its acknowledgement). The resolution is the
/// poll interval, about a millisecond.
async fn timed_change(
    c: &aws_sdk_secretsmanager::Client,
    agent: &mut AgentConn,
    secret_id: &str,
    value: &str,
    deadline: Duration,
) -> anyhow::Result<(Duration, Duration)> {
    let path = format!("/v1/{secret_id}");
    let sent = Instant::now();
    let put = {
        let (c, id, v) = (c.clone(), secret_id.to_string(), value.to_string());
        tokio::spawn(async move {
            c.put_secret_value()
                .secret_id(id)
                .secret_string(v)
                .send()
                .await
                .map(|_| Instant::now())
        })
    };
    let served = loop {
        if agent.value(&path).await? == value {
            break Instant::now();
        }
        anyhow::ensure!(
            sent.elapsed() < deadline,
            "the agent still served the old value {deadline:?} after PutSecretValue: \
             is it subscribed to the server's change stream, with a long TTL?"
        );
        // Polling back to back would take a core from the agent and the server
        // on a small machine; a millisecond is far below what is measured.
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let acked = put.await??;
    Ok((served - sent, served.saturating_duration_since(acked)))
}

async fn push_latency(
    c: &aws_sdk_secretsmanager::Client,
    mut agent: AgentConn,
    secret_id: &str,
    count: usize,
    pause: Duration,
) -> anyhow::Result<()> {
    anyhow::ensure!(count > 0, "--count must be at least 1");
    if c.create_secret()
        .name(secret_id)
        .secret_string("start")
        .send()
        .await
        .is_err()
    {
        c.put_secret_value()
            .secret_id(secret_id)
            .secret_string("start")
            .send()
            .await?;
    }
    // The first read caches the secret in the agent; from then on only a push can
    // change what it serves.
    agent.value(&format!("/v1/{secret_id}")).await?;
    // One untimed change first: the agent may still be subscribing.
    timed_change(c, &mut agent, secret_id, "warm-up", Duration::from_secs(30)).await?;
    let run = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_nanos();
    let (mut from_send, mut from_ack) = (Vec::new(), Vec::new());
    for i in 0..count {
        tokio::time::sleep(pause).await;
        let value = format!("pushed-{run}-{i}");
        let (s, a) =
            timed_change(c, &mut agent, secret_id, &value, Duration::from_secs(10)).await?;
        from_send.push(s);
        from_ack.push(a);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let summary = |v: &mut Vec<Duration>| {
        v.sort();
        let pct = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
        format!(
            "p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
            ms(pct(0.50)),
            ms(pct(0.99)),
            ms(v[v.len() - 1])
        )
    };
    println!("changes={count} sent_to_served {}", summary(&mut from_send));
    println!(
        "changes={count} acknowledged_to_served {}",
        summary(&mut from_ack)
    );
    Ok(())
}
