//! `coffer agent exec`: runs a program with secrets in its environment, as
//! Vault's and Infisical's agents do, for programs that read their settings
//! from variables. With `--watch` (the server's change stream) or
//! `--refresh-secs` (polling), the secrets are read again when they may have
//! changed and the program is restarted (SIGTERM, then a fresh start) when
//! one did, so a rotated password reaches it without a redeploy.
//! Signals the agent gets (TERM, INT, HUP) are passed on to the program, and
//! the agent exits with the program's status.

use anyhow::Context;
use aws_sdk_secretsmanager as sm;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};

#[derive(clap::Args)]
pub struct ExecArgs {
    /// `NAME=SECRET_ID` sets the variable NAME to the secret's string;
    /// `NAME=SECRET_ID#KEY` to one key of a JSON secret. Repeatable.
    #[arg(long = "env", value_name = "NAME=SECRET_ID[#KEY]")]
    env: Vec<String>,
    /// Every top-level key of this JSON secret becomes a variable of the same
    /// name. Repeatable; `--env` wins over it.
    #[arg(long = "env-from", value_name = "SECRET_ID")]
    env_from: Vec<String>,
    /// Read the secrets again every this many seconds and restart the program
    /// when one changed (0: never).
    #[arg(long, default_value_t = 0)]
    refresh_secs: u64,
    /// Follow the server's change stream (in front of Coffer) and restart the
    /// program as soon as one of its secrets changes.
    #[arg(long)]
    watch: bool,
    /// The agent's configuration file (region, credentials file, CA bundle).
    #[arg(long, short, env = "COFFER_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Environment variable names: a letter or `_`, then letters, digits, `_`.
fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// A variable's source: the secret, and the key of a JSON one.
type Wanted = BTreeMap<String, (String, Option<String>)>;

fn parse_env(specs: &[String]) -> anyhow::Result<Wanted> {
    let mut out = Wanted::new();
    for s in specs {
        let (name, source) = s
            .split_once('=')
            .with_context(|| format!("--env {s:?}: expected NAME=SECRET_ID[#KEY]"))?;
        anyhow::ensure!(
            valid_name(name),
            "--env {s:?}: {name:?} is not a variable name"
        );
        let (id, key) = match source.split_once('#') {
            Some((id, key)) => (id, Some(key.to_string())),
            None => (source, None),
        };
        anyhow::ensure!(!id.is_empty(), "--env {s:?}: no secret");
        out.insert(name.to_string(), (id.to_string(), key));
    }
    Ok(out)
}

async fn secret_string(client: &sm::Client, id: &str) -> anyhow::Result<String> {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("reading {id}: {}", crate::transfer::describe(&e)))?;
    out.secret_string()
        .map(str::to_string)
        .with_context(|| format!("{id} holds a binary value, not a string"))
}

fn json_object(id: &str, text: &str) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => anyhow::bail!("{id} is not a JSON object"),
    }
}

/// The variables, as they stand now.
async fn resolve(
    client: &sm::Client,
    args: &ExecArgs,
    wanted: &Wanted,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    for id in &args.env_from {
        for (k, v) in json_object(id, &secret_string(client, id).await?)? {
            anyhow::ensure!(valid_name(&k), "{id}: its key {k:?} is not a variable name");
            vars.insert(k, coffer_agent::json_text(&v));
        }
    }
    for (name, (id, key)) in wanted {
        let text = secret_string(client, id).await?;
        let value = match key {
            None => text,
            Some(k) => coffer_agent::json_text(
                json_object(id, &text)?
                    .get(k)
                    .with_context(|| format!("{id} has no key {k}"))?,
            ),
        };
        vars.insert(name.clone(), value);
    }
    Ok(vars)
}

fn spawn(command: &[String], vars: &BTreeMap<String, String>) -> anyhow::Result<Child> {
    Command::new(&command[0])
        .args(&command[1..])
        .envs(vars)
        .spawn()
        .with_context(|| format!("starting {}", command[0]))
}

fn forward(child: &Child, sig: rustix::process::Signal) {
    if let Some(pid) = child
        .id()
        .and_then(|p| rustix::process::Pid::from_raw(p as i32))
    {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// The exit code the agent ends with: the program's, or 128 + its signal.
fn code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

pub async fn run(args: ExecArgs) -> anyhow::Result<i32> {
    let cfg = match &args.config {
        Some(p) => coffer_agent::AgentConfig::load(p)?,
        None => coffer_agent::AgentConfig::default(),
    };
    let wanted = parse_env(&args.env)?;
    anyhow::ensure!(
        !wanted.is_empty() || !args.env_from.is_empty(),
        "name the secrets to pass with --env or --env-from"
    );
    let upstream = coffer_agent::sdk_client(&cfg).await?;
    let client = upstream.client.clone();
    let mut vars = resolve(&client, &args, &wanted).await?;
    // The change stream through an agent of its own, on a loopback port no
    // one is told of (a random SSRF token guards it all the same). It serves
    // this program only: not the config's address, file sinks or prefetch,
    // which belong to the agent the config is for.
    let watcher = if args.watch {
        let token =
            coffer_agent::SsrfToken::new(random_token()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let own = coffer_agent::AgentConfig {
            http_address: std::net::Ipv4Addr::LOCALHOST.into(),
            files: Vec::new(),
            prefetch: coffer_agent::AgentConfig::default().prefetch,
            ..cfg.clone()
        };
        Some(coffer_agent::start(&own, token, upstream, 0).await?)
    } else {
        None
    };
    let mut changes = watcher.as_ref().map(coffer_agent::AgentHandle::changes);
    let mut child = spawn(&args.command, &vars)?;
    let (mut term, mut int, mut hup) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
        signal(SignalKind::hangup())?,
    );
    let period = (args.refresh_secs > 0).then(|| Duration::from_secs(args.refresh_secs));
    let mut tick = tokio::time::interval(period.unwrap_or(Duration::from_hours(1)));
    tick.tick().await;
    loop {
        tokio::select! {
            status = child.wait() => return Ok(code(status?)),
            _ = term.recv() => forward(&child, rustix::process::Signal::TERM),
            _ = int.recv() => forward(&child, rustix::process::Signal::INT),
            _ = hup.recv() => forward(&child, rustix::process::Signal::HUP),
            () = changed(changes.as_mut()), if changes.is_some() => {
                restart_if_changed(&client, &args, &wanted, &mut vars, &mut child).await?;
            }
            _ = tick.tick(), if period.is_some() => {
                restart_if_changed(&client, &args, &wanted, &mut vars, &mut child).await?;
            }
        }
    }
}

/// The private agent's SSRF token: 40 base-32 characters from the OS's RNG.
fn random_token() -> String {
    coffer_core::ids::random_id(40)
}

/// The next change the private agent hears; never, without one (or once
/// it has stopped).
async fn changed(changes: Option<&mut tokio::sync::watch::Receiver<u64>>) {
    if let Some(rx) = changes {
        if rx.changed().await.is_ok() {
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// Reads the secrets again; restarts the program if a value changed. A read
/// that fails keeps the program running on what it has.
async fn restart_if_changed(
    client: &sm::Client,
    args: &ExecArgs,
    wanted: &Wanted,
    vars: &mut BTreeMap<String, String>,
    child: &mut Child,
) -> anyhow::Result<()> {
    let now = match resolve(client, args, wanted).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("coffer agent exec: {e:#}; keeping the current values");
            return Ok(());
        }
    };
    if now == *vars {
        return Ok(());
    }
    eprintln!(
        "coffer agent exec: a secret changed; restarting {}",
        args.command[0]
    );
    forward(child, rustix::process::Signal::TERM);
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        child.kill().await?;
    }
    *vars = now;
    *child = spawn(&args.command, vars)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_specs() {
        let w = parse_env(&["DB_PASS=prod/db#password".into(), "TOKEN=api".into()]).unwrap();
        assert_eq!(w["DB_PASS"], ("prod/db".into(), Some("password".into())));
        assert_eq!(w["TOKEN"], ("api".into(), None));
        for bad in ["NOEQUALS", "1X=a", "A-B=a", "X="] {
            assert!(parse_env(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
