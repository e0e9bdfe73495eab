//! `coffer-bench history`: PutSecretValue on one secret, again and again, with
//! the write rate and the server's anonymous memory reported per window of
//! versions: does a write cost more as the secret's history grows?

use aws_sdk_secretsmanager as sm;
use std::time::Instant;

/// The server's anonymous resident memory (kB), from /proc.
fn rss_anon_kb(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub async fn history(
    c: &sm::Client,
    secret_id: &str,
    count: usize,
    window: usize,
    writers: usize,
    pid: Option<u32>,
) -> anyhow::Result<()> {
    if c.create_secret()
        .name(secret_id)
        .secret_string("v0")
        .send()
        .await
        .is_err()
    {
        anyhow::bail!("{secret_id} exists: give a new name");
    }
    println!("| versions | writes/s in the window | server anonymous memory |\n|---|---|---|");
    // Short windows first (up to the 100th, then the 1,000th version), so the
    // rate at a young secret's 10th version is measured too, then `window`s.
    let mut ends: Vec<usize> = [100, 1_000]
        .into_iter()
        .filter(|&e| e < window.min(count))
        .collect();
    ends.extend((1..).map(|k| k * window).take_while(|&e| e <= count));
    let mut done = 0;
    for end in ends {
        let started = Instant::now();
        let per = (end - done) / writers;
        let mut tasks = Vec::new();
        for w in 0..writers {
            let (c, id) = (c.clone(), secret_id.to_string());
            tasks.push(tokio::spawn(async move {
                for i in 0..per {
                    c.put_secret_value()
                        .secret_id(&id)
                        .secret_string(format!("w{w}-{i}"))
                        .send()
                        .await?;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let from = done + 1;
        done += per * writers;
        let rate = (per * writers) as f64 / started.elapsed().as_secs_f64();
        let mem = rss_anon_kb(pid).map_or("-".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0));
        println!("| {from}–{done} | {rate:.0} | {mem} |");
    }
    Ok(())
}
