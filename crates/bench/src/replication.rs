//! `coffer-bench replicated-put`: PutSecretValue writes per second on secrets
//! that are (with `--replicate-to`) or are not replicated to another region of
//! the same server, and, for replicated ones, how long after the last write
//! every replica serves its secret's last value (the replicator's catch-up).

use aws_sdk_secretsmanager as sm;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct Args {
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub concurrency: usize,
    pub secrets_per_writer: usize,
    pub seconds: u64,
    pub replicate_to: Option<String>,
}

fn client(a: &Args, region: &str) -> sm::Client {
    let creds = aws_credential_types::Credentials::new(
        &a.access_key_id,
        &a.secret_access_key,
        None,
        None,
        "bench",
    );
    let conf = sm::Config::builder()
        .behavior_version(sm::config::BehaviorVersion::latest())
        .endpoint_url(&a.endpoint)
        .region(sm::config::Region::new(region.to_string()))
        .credentials_provider(creds)
        .build();
    sm::Client::from_conf(conf)
}

fn name(tag: &str, w: usize, s: usize) -> String {
    format!("bench/rep-{tag}-{w}-{s}")
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let primary = client(&a, "us-east-1");
    let per_writer = a.secrets_per_writer.max(1);
    let tag = a.replicate_to.as_deref().unwrap_or("none");
    for w in 0..a.concurrency {
        for s in 0..per_writer {
            let mut req = primary
                .create_secret()
                .name(name(tag, w, s))
                .secret_string("v0");
            if let Some(r) = &a.replicate_to {
                req = req
                    .add_replica_regions(sm::types::ReplicaRegionType::builder().region(r).build());
            }
            // A run again on the same server reuses its secrets.
            if let Err(e) = req.send().await {
                let exists = e.as_service_error().is_some_and(
                    sm::operation::create_secret::CreateSecretError::is_resource_exists_exception,
                );
                anyhow::ensure!(exists, "creating {}: {e}", name(tag, w, s));
            }
        }
    }
    if let Some(r) = &a.replicate_to {
        // Creation is not what is measured: the replicas exist before writes start.
        let replica = client(&a, r);
        let all: Vec<(String, String)> = (0..a.concurrency)
            .flat_map(|w| (0..per_writer).map(move |s| (w, s)))
            .map(|(w, s)| (name(tag, w, s), "v0".to_string()))
            .collect();
        caught_up(&replica, &all, Duration::from_mins(2)).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let mut tasks = Vec::new();
    for w in 0..a.concurrency {
        let c = primary.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut last) = (Vec::new(), HashMap::new());
            let mut i = 0usize;
            while Instant::now() < deadline {
                let (id, value) = (name(&tag, w, i % per_writer), format!("value-{i}"));
                let t = Instant::now();
                c.put_secret_value()
                    .secret_id(&id)
                    .secret_string(&value)
                    .send()
                    .await?;
                lat.push(t.elapsed());
                last.insert(id, value);
                i += 1;
            }
            anyhow::Ok((lat, last))
        }));
    }
    let (mut all, mut last) = (Vec::new(), Vec::new());
    for t in tasks {
        let (l, v) = t.await??;
        all.extend(l);
        last.extend(v);
    }
    let ended = Instant::now();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    print!(
        "writes={} writes_per_sec={:.0} p50_ms={:.2} p99_ms={:.2}",
        all.len(),
        all.len() as f64 / a.seconds as f64,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    if let Some(r) = &a.replicate_to {
        caught_up(&client(&a, r), &last, Duration::from_mins(2)).await?;
        print!(" catch_up_ms={:.0}", ended.elapsed().as_secs_f64() * 1e3);
    }
    println!();
    Ok(())
}

/// Waits until the replica of every secret serves its value.
async fn caught_up(
    replica: &sm::Client,
    want: &[(String, String)],
    limit: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    for (id, value) in want {
        loop {
            let got = replica.get_secret_value().secret_id(id).send().await;
            if got
                .ok()
                .and_then(|g| g.secret_string().map(str::to_string))
                .as_deref()
                == Some(value)
            {
                break;
            }
            anyhow::ensure!(started.elapsed() < limit, "{id}'s replica never caught up");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(())
}
