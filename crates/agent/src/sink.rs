//! File sinks, for applications that read secrets from files: each configured
//! secret (whole, or one key of a JSON secret) is written to its path, mode 0600,
//! atomically (temporary file, fsync, rename), and the reload command runs when
//! the value changes. Sinks re-render on every pushed change and on the TTL.

use crate::config::FileSink;
use crate::server::Agent;
use base64::Engine as _;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub async fn run(
    agent: Arc<Agent>,
    sinks: Vec<FileSink>,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut written: Vec<Option<Vec<u8>>> = vec![None; sinks.len()];
    let mut changes = agent.changed.subscribe();
    loop {
        // A command shared by several files (a certificate, its key, its
        // chain) runs once, after all of them are written.
        let mut reloads: Vec<&FileSink> = Vec::new();
        for (sink, last) in sinks.iter().zip(written.iter_mut()) {
            match render(&agent, sink).await {
                Ok(content) if last.as_deref() != Some(content.as_slice()) => {
                    if let Err(e) = write_atomic(&sink.path, &content, sink.mode) {
                        tracing::error!(path = %sink.path.display(), error = %e, "writing a secret file failed");
                        continue;
                    }
                    tracing::info!(path = %sink.path.display(), secret_id = %sink.secret_id, "secret file written");
                    let changed = last.is_some();
                    *last = Some(content);
                    if changed
                        && !reloads
                            .iter()
                            .any(|r| r.reload_command == sink.reload_command)
                    {
                        reloads.push(sink);
                    }
                }
                Ok(_) => {}
                Err(why) => {
                    tracing::warn!(secret_id = %sink.secret_id, reason = %why, "secret file not rendered");
                }
            }
        }
        for sink in reloads {
            reload(sink).await;
        }
        tokio::select! {
            _ = changes.changed() => {}
            () = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The bytes a sink writes: the secret string (or binary), or one key of it.
async fn render(agent: &Agent, sink: &FileSink) -> Result<Vec<u8>, String> {
    let key = (sink.secret_id.clone(), None, None, sink.role_arn.clone());
    let role = agent
        .upstream_for(sink.role_arn.as_deref())
        .await
        .map_err(|e| format!("assuming the role answered {}", e.status))?;
    let upstream = role.as_deref().unwrap_or(&agent.upstream);
    let answer = agent
        .cache
        .get(key, false, || upstream.get(&sink.secret_id, None, None))
        .await
        .map_err(|e| format!("upstream answered {}", e.status))?;
    let body = match answer {
        crate::cache::Answer::Fresh(b) | crate::cache::Answer::Stale(b, _) => b,
    };
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| "unreadable answer".to_string())?;
    let raw = match (v["SecretString"].as_str(), v["SecretBinary"].as_str()) {
        (Some(s), _) => s.as_bytes().to_vec(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|_| "bad binary".to_string())?,
        _ => return Err("the secret has no value".into()),
    };
    let Some(k) = &sink.json_key else {
        return Ok(raw);
    };
    let doc: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|_| "the secret is not JSON".to_string())?;
    let text = |v: &serde_json::Value| crate::request::json_text(v).into_bytes();
    let mut out = doc
        .get(k)
        .map(text)
        .ok_or_else(|| format!("the secret has no key {k:?}"))?;
    // Fullchain: the chain after the certificate, on a line of its own.
    if let Some(more) = sink.then_key.as_ref().and_then(|t| doc.get(t)).map(text) {
        if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend(more);
    }
    Ok(out)
}

fn write_atomic(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("secret");
    let tmp = path.with_file_name(format!(".{name}.coffer-tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    if mode != 0 {
        // Exactly the mode asked for, whatever the umask.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    f.write_all(content)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

async fn reload(sink: &FileSink) {
    let Some(cmd) = &sink.reload_command else {
        return;
    };
    match tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .await
    {
        Ok(s) if s.success() => tracing::info!(path = %sink.path.display(), "reload command ran"),
        Ok(s) => tracing::warn!(path = %sink.path.display(), status = %s, "reload command failed"),
        Err(e) => {
            tracing::warn!(path = %sink.path.display(), error = %e, "reload command could not start");
        }
    }
}
