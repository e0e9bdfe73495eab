//! `coffer-bench reach`: how soon a change committed through one server of a
//! fleet is served by another. Each round puts a new value through WRITER and
//! reads the secret through READER every millisecond until it serves that
//! value; the time from the put's acknowledgement to the first read serving it
//! is what a client of the other server waits (its cache follows the outbox,
//! woken by PostgreSQL's NOTIFY).

use aws_sdk_secretsmanager as sm;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// The server the changes go through.
    #[arg(long)]
    writer: String,
    /// The server the new values are awaited on.
    #[arg(long)]
    reader: String,
    #[arg(long, default_value = "bench/reach")]
    secret_id: String,
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Pause between rounds, so each is timed on its own.
    #[arg(long, default_value_t = 20)]
    pause_ms: u64,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    access_key_id: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
    secret_access_key: String,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    anyhow::ensure!(a.count > 0, "--count must be at least 1");
    let (w, r) = (
        super::client(&a.writer, &a.access_key_id, &a.secret_access_key),
        super::client(&a.reader, &a.access_key_id, &a.secret_access_key),
    );
    if w.create_secret()
        .name(&a.secret_id)
        .secret_string("start")
        .send()
        .await
        .is_err()
    {
        w.put_secret_value()
            .secret_id(&a.secret_id)
            .secret_string("start")
            .send()
            .await?;
    }
    let mut waits = Vec::with_capacity(a.count);
    for i in 0..a.count {
        tokio::time::sleep(Duration::from_millis(a.pause_ms)).await;
        let value = format!("reach-{}-{i}", std::process::id());
        w.put_secret_value()
            .secret_id(&a.secret_id)
            .secret_string(&value)
            .send()
            .await?;
        waits.push(served_after(&r, &a.secret_id, &value).await?);
    }
    waits.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pct = |p: f64| waits[((waits.len() as f64 * p).ceil() as usize).clamp(1, waits.len()) - 1];
    println!(
        "changes={} acknowledged_to_served p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        a.count,
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(waits[waits.len() - 1])
    );
    Ok(())
}

/// From now until `reader` serves `value` for `id` (at most 10 s).
async fn served_after(reader: &sm::Client, id: &str, value: &str) -> anyhow::Result<Duration> {
    let acked = Instant::now();
    loop {
        let got = reader.get_secret_value().secret_id(id).send().await?;
        if got.secret_string() == Some(value) {
            return Ok(acked.elapsed());
        }
        anyhow::ensure!(
            acked.elapsed() < Duration::from_secs(10),
            "the reader did not serve the new value within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
