//! `coffer`: a self-hosted secrets service that speaks the AWS Secrets Manager API.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use coffer::config::FileConfig;
use coffer::run::{RootKeySource, StartOptions};
use coffer_core::SystemClock;
use coffer_server::HttpConfig;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};

// Request handling allocates many small short-lived buffers; mimalloc measured
// faster than glibc malloc on that pattern (see bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "coffer",
    version,
    about = "A self-hosted secrets manager that speaks the AWS Secrets Manager API.",
    long_about = "A self-hosted secrets manager that speaks the AWS Secrets Manager API.\n\n\
    Start a throwaway server with `coffer server --dev`, then point any AWS client at it \
    with the export lines it prints."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where an offline command finds the root key (as the server would).
#[derive(clap::Args)]
struct RootKeyArgs {
    /// Where the root key is: "file" (DATA_DIR/root.key), "env", or
    /// "passphrase" (with DATA_DIR/root.salt; a restore takes the backup's).
    #[arg(long, default_value = "file")]
    root_key: String,
    /// The variable holding the root key (`env`) or passphrase (`passphrase`).
    #[arg(long, default_value = "COFFER_ROOT_KEY")]
    root_key_env: String,
}

#[derive(Subcommand)]
enum Command {
    /// Run the secrets service.
    Server(Box<ServerArgs>),
    /// Run the local caching agent: a drop-in for the AWS Secrets Manager Agent
    /// (same endpoints, SSRF token, bodies and config keys), in front of Coffer
    /// (set AWS_ENDPOINT_URL) or of AWS. An https:// upstream is trusted by the
    /// system's roots and the CA bundle in `[coffer] ca_bundle`, else AWS_CA_BUNDLE.
    Agent(AgentArgs),
    /// Audit trail tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Accounts of a running server.
    #[command(subcommand)]
    Account(AccountCommand),
    /// The root key: make a new one, and move a store to it while it serves.
    #[command(subcommand)]
    Key(coffer::keycmd::KeyCommand),
    /// The event bus of a running server (signed with the credentials in the
    /// usual AWS variables, against AWS_ENDPOINT_URL).
    #[command(subcommand)]
    Events(EventsCommand),
    /// Bring secrets in, from AWS Secrets Manager (or another server that
    /// speaks its API), `.env` files, Vault KV JSON, or a `coffer export`
    /// file, into the server in AWS_ENDPOINT_URL (credentials from the
    /// standard AWS chain). Idempotent; prints a summary.
    #[command(subcommand)]
    Import(coffer::transfer::cmd::ImportCommand),
    /// Write the secrets of the server in AWS_ENDPOINT_URL (all labelled
    /// versions, tags, policies) to a file sealed under a passphrase, which
    /// `coffer import bundle` reads back.
    Export(coffer::transfer::cmd::ExportArgs),
    /// Print a shell completion script: `coffer completions bash >
    /// /etc/bash_completion.d/coffer`, `coffer completions zsh >
    /// "${fpath[1]}/_coffer"`, `coffer completions fish >
    /// ~/.config/fish/completions/coffer.fish`.
    Completions {
        /// The shell: bash, zsh or fish (also elvish, powershell).
        shell: clap_complete::Shell,
    },
    /// Write a consistent copy of the SQLite store while the server runs
    /// (sealed values only: back the root key up apart from it). For a
    /// PostgreSQL store, use PostgreSQL's own backups (pg_dump, WAL archiving).
    Backup {
        /// The server's data directory.
        #[arg(long, env = "COFFER_DATA_DIR")]
        data_dir: PathBuf,
        /// The file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Copy a stopped server's SQLite store into an empty PostgreSQL database
    /// (values stay sealed under the same root key; ids, versions and audit
    /// links are kept), then read both back and compare them. Start the
    /// servers with `--database-url` and the same root key afterwards.
    MigrateStore {
        /// The server's data directory (its SQLite store).
        #[arg(long, env = "COFFER_DATA_DIR")]
        data_dir: PathBuf,
        /// The PostgreSQL database to copy into (`postgres://user@host/db`).
        #[arg(long)]
        to: String,
        /// PEM certificates to trust for the database (with `sslmode=require`).
        #[arg(long, env = "COFFER_DATABASE_CA_FILE")]
        database_ca_file: Option<PathBuf>,
    },
    /// Put a backup made by `coffer backup` in place as the data directory's
    /// store, with the server stopped. The backup must have been made under the
    /// root key given here.
    Restore {
        /// The server's data directory.
        #[arg(long, env = "COFFER_DATA_DIR")]
        data_dir: PathBuf,
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// Set a database already there aside (renamed, kept) and restore.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        key: RootKeyArgs,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account. Run it with the first account's root credential in
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the server in AWS_ENDPOINT_URL
    /// (an https:// one trusted by the system's roots and AWS_CA_BUNDLE); it prints
    /// `export` lines for the new account's root credential (shown once).
    Create {
        /// A name for the account (1 to 50 characters, unique).
        name: String,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Events that targets gave up on (after their retry policy, or refused).
    #[command(subcommand)]
    Dlq(DlqCommand),
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List the dead letters of this account and region, oldest first.
    List {
        /// Only those of this rule.
        #[arg(long)]
        rule: Option<String>,
        /// One JSON object per line (with the event) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Deliver dead letters again, once each (refused again, they stay).
    Redrive {
        /// The letters' ids (from `list`); repeat for several.
        #[arg(long = "id", required_unless_present = "all")]
        ids: Vec<i64>,
        /// Every dead letter of this account and region.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

#[derive(Args)]
struct AgentArgs {
    /// Configuration file in the AWS agent's flat format or the Workload
    /// Credentials Provider's nested one. Without it the AWS agent's defaults apply.
    #[arg(long, short, env = "COFFER_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Listen on this port instead of the configured http_port (0 picks one).
    #[arg(long)]
    port: Option<u16>,
    #[command(subcommand)]
    command: Option<AgentCommand>,
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Run a program with secrets in its environment (`coffer agent exec
    /// --env DB_PASSWORD=prod/db#password -- ./server`), passing signals on
    /// and, with --refresh-secs, restarting it when a secret changes. Reads
    /// through the standard AWS chain and AWS_ENDPOINT_URL, as the agent does.
    Exec(coffer::agent_exec::ExecArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chains of the audit log file and the store's audit records.
    /// Links are keyed with a key derived from the root key, so this needs the
    /// same root key as the server: forging a link needs it too.
    Verify {
        /// The server's data directory (its audit file, its SQLite store, its
        /// root key file).
        #[arg(long, env = "COFFER_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// A PostgreSQL store: checks its chain of mutations and every server's
        /// copy of its audit file.
        #[arg(long, env = "COFFER_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// PEM certificates to trust for the database (with `sslmode=require`).
        #[arg(long, env = "COFFER_DATABASE_CA_FILE")]
        database_ca_file: Option<PathBuf>,
        #[command(flatten)]
        key: RootKeyArgs,
        /// Accept chains that begin with unkeyed (plain SHA-256) links, written by
        /// Coffer before its chains were keyed. Anyone could have written those.
        #[arg(long)]
        allow_unkeyed: bool,
    },
    /// Write the audit trail as JSON lines (CloudTrail-shaped records, oldest
    /// first) for a SIEM: mutations from the store, reads and refused calls
    /// from the audit file (every server's copy, in a PostgreSQL store).
    Export {
        /// The server's data directory (its SQLite store and audit file).
        #[arg(long, env = "COFFER_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// A PostgreSQL store (with every server's audit lines).
        #[arg(long, env = "COFFER_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// PEM certificates to trust for the database (with `sslmode=require`).
        #[arg(long, env = "COFFER_DATABASE_CA_FILE")]
        database_ca_file: Option<PathBuf>,
        /// Only records from then on: an RFC 3339 time or an age (90m, 24h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Output format.
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl"])]
        format: String,
    },
}

#[derive(Args)]
struct ServerArgs {
    /// Development mode: no configuration, a temporary data directory unless
    /// --data-dir is given, any region, and `export` lines printed on stdout.
    #[arg(long)]
    dev: bool,
    /// Dev mode over HTTPS: a throwaway CA and a certificate for 127.0.0.1 and
    /// localhost are made in DATA_DIR/dev-tls (kept across restarts), and
    /// `export AWS_CA_BUNDLE=...` is printed with the other lines.
    #[arg(long, requires = "dev")]
    dev_tls: bool,
    /// TOML configuration file (normal mode). Flags and COFFER_* variables override it.
    #[arg(long, short, env = "COFFER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8750].
    #[arg(long, env = "COFFER_LISTEN")]
    listen: Option<String>,
    /// Data directory: database, root key, audit log, root credential.
    #[arg(long, env = "COFFER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Keep accounts and secrets in this PostgreSQL database
    /// (`postgres://user@host:5432/db`) instead of DATA_DIR's SQLite file.
    /// Servers sharing it (and the root key: use `--root-key env`) form a fleet.
    #[arg(long, env = "COFFER_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// With `sslmode=require` in the database URL: PEM certificates to trust for
    /// the database's certificate, besides the system's roots.
    #[arg(long, env = "COFFER_DATABASE_CA_FILE")]
    database_ca_file: Option<PathBuf>,
    /// Connections this server keeps to the database (default 16; each server
    /// opens two more). Size PostgreSQL's max_connections for the whole fleet.
    #[arg(long, env = "COFFER_DATABASE_POOL_SIZE")]
    database_pool_size: Option<usize>,
    /// A region to serve (repeatable). Dev mode serves any region.
    #[arg(long = "region", env = "COFFER_REGIONS", value_delimiter = ',')]
    regions: Vec<String>,
    /// Dev mode: the root access key id to register (e.g. `test`).
    #[arg(long, env = "COFFER_DEV_ACCESS_KEY_ID")]
    dev_access_key_id: Option<String>,
    /// Dev mode: the root secret access key to register (e.g. `test`).
    #[arg(long, env = "COFFER_DEV_SECRET_ACCESS_KEY", hide_env_values = true)]
    dev_secret_access_key: Option<String>,
    /// Dev mode: the account id (12 digits) [default: 000000000000].
    #[arg(long, env = "COFFER_DEV_ACCOUNT_ID")]
    dev_account_id: Option<String>,
    /// Normal mode: the first account's id, used at first start [default: random].
    #[arg(long, env = "COFFER_ACCOUNT_ID")]
    account_id: Option<String>,
    /// Connections served at once [default: 1024].
    #[arg(long, env = "COFFER_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Change streams open at once, in all [default: 256].
    #[arg(long, env = "COFFER_MAX_CHANGE_STREAMS")]
    max_change_streams: Option<usize>,
    /// Change streams one access key may hold open [default: 8].
    #[arg(long, env = "COFFER_MAX_CHANGE_STREAMS_PER_KEY")]
    max_change_streams_per_key: Option<usize>,
    /// Largest request body in bytes [default: 262144].
    #[arg(long, env = "COFFER_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Secrets Manager reads per second per principal; 0: no limit [default: 2000].
    #[arg(long, env = "COFFER_QUOTA_READS_PER_SECOND")]
    quota_reads_per_second: Option<f64>,
    /// Secrets Manager writes per second per principal; 0: no limit [default: 200].
    #[arg(long, env = "COFFER_QUOTA_WRITES_PER_SECOND")]
    quota_writes_per_second: Option<f64>,
    /// IAM and STS calls per second per principal; 0: no limit [default: 50].
    #[arg(long, env = "COFFER_QUOTA_IAM_PER_SECOND")]
    quota_iam_per_second: Option<f64>,
    /// Seconds between sweeps for secrets past their recovery window [default: 60].
    #[arg(long, env = "COFFER_SWEEP_INTERVAL_SECS")]
    sweep_interval_secs: Option<u64>,
    /// PEM roots the built-in PostgreSQL and MySQL rotators trust for the databases they
    /// rotate; given, they connect over TLS (verify-full) [default: none].
    #[arg(long, env = "COFFER_ROTATION_DATABASE_CA_FILE")]
    rotation_database_ca_file: Option<PathBuf>,
    /// Seconds between looks for rotations that are due [default: 60].
    #[arg(long, env = "COFFER_ROTATION_INTERVAL_SECS")]
    rotation_interval_secs: Option<u64>,
    /// Seconds change events stay in the outbox; an agent disconnected for
    /// longer refreshes everything it cached. 0: for ever [default: 604800, 7 days].
    #[arg(long, env = "COFFER_EVENT_RETENTION_SECS")]
    event_retention_secs: Option<u64>,
    /// Seconds audit records stay in the store; 0: for ever
    /// [default: 31536000, 365 days].
    #[arg(long, env = "COFFER_AUDIT_RETENTION_SECS")]
    audit_retention_secs: Option<u64>,
    /// PEM roots API destinations (EventBridge webhooks) are verified against,
    /// besides the system's [default: none].
    #[arg(long, env = "COFFER_EVENTS_CA_FILE")]
    events_ca_file: Option<PathBuf>,
    /// NATS server for rule targets `nats:SUBJECT`
    /// (`nats://[user:pass@|token@]host:port`, or `tls://…` for TLS, verified
    /// against the system's roots and `--events-ca-file`) [default: none].
    #[arg(long, env = "COFFER_NATS_URL")]
    nats_url: Option<String>,
    /// Seconds shutdown waits for in-flight requests [default: 30].
    #[arg(long, env = "COFFER_DRAIN_TIMEOUT_SECS")]
    drain_timeout_secs: Option<u64>,
    /// TLS certificate chain, PEM (with --tls-key-file); re-read on SIGHUP.
    #[arg(long, env = "COFFER_TLS_CERT_FILE")]
    tls_cert_file: Option<PathBuf>,
    /// TLS private key, PEM (with --tls-cert-file); re-read on SIGHUP.
    #[arg(long, env = "COFFER_TLS_KEY_FILE")]
    tls_key_file: Option<PathBuf>,
    /// Serve plain HTTP even on an address other than loopback (TLS ends in front
    /// of Coffer). Without TLS such an address is refused otherwise.
    #[arg(
        long,
        env = "COFFER_TLS_DISABLE",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    tls_disable: Option<bool>,
    /// Root key source: `file` (DATA_DIR/root.key), `env` (the key itself in a
    /// variable) or `passphrase` (a passphrase in that variable, stretched with
    /// Argon2id and DATA_DIR/root.salt: the disk alone opens nothing) [default: file].
    #[arg(long, env = "COFFER_ROOT_KEY_SOURCE")]
    root_key: Option<String>,
    /// With `--root-key env` or `passphrase`: the variable holding the key or the
    /// passphrase (read once, then removed) [default: COFFER_ROOT_KEY].
    #[arg(long, env = "COFFER_ROOT_KEY_ENV")]
    root_key_env: Option<String>,
    /// The previous root key, held while `coffer key rotate` runs: `auto`
    /// (DATA_DIR/root.key.previous if it exists), `none`, `file`, `env` or
    /// `passphrase` (with DATA_DIR/root.salt.previous) [default: auto].
    #[arg(long, env = "COFFER_PREVIOUS_ROOT_KEY_SOURCE")]
    previous_root_key: Option<String>,
    /// The variable holding the previous key or passphrase
    /// [default: COFFER_PREVIOUS_ROOT_KEY].
    #[arg(long, env = "COFFER_PREVIOUS_ROOT_KEY_ENV")]
    previous_root_key_env: Option<String>,
    /// Log level or filter (RUST_LOG overrides) [default: info].
    #[arg(long, env = "COFFER_LOG_LEVEL")]
    log_level: Option<String>,
    /// Log format: json or text [default: json, text in dev mode].
    #[arg(long, env = "COFFER_LOG_FORMAT")]
    log_format: Option<String>,
}

/// The agent holds little and should stay small, while mimalloc's defaults (arenas
/// committed eagerly, freed pages purged late) suit the server's throughput. The
/// allocator reads its options from the environment before `main`, so the agent
/// re-executes itself once with them set: same process id, a few milliseconds at
/// start, and half the resident memory (38.7 → 19.2 MB with 1,000 cached secrets,
/// measured with bench/agent.sh's method; throughput within noise).
fn lean_allocator() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_some() {
        return; // already lean, or the operator chose otherwise
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
        .env("MIMALLOC_PURGE_DELAY", "0")
        .exec();
    // Only a failed exec returns: run with the defaults.
    eprintln!("coffer agent: could not re-execute with a lean allocator ({err}); continuing");
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(server(*args)),
        Command::Agent(AgentArgs {
            command: Some(AgentCommand::Exec(exec)),
            ..
        }) => {
            let code = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(coffer::agent_exec::run(exec))?;
            std::process::exit(code);
        }
        Command::Agent(args) => {
            lean_allocator();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(agent(args))
        }
        Command::Audit(AuditCommand::Verify {
            data_dir,
            database_url,
            database_ca_file,
            key,
            allow_unkeyed,
        }) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(coffer::verify::verify(&coffer::verify::VerifyOptions {
                data_dir,
                database_url,
                database_ca_file,
                root_key: key.root_key,
                root_key_env: key.root_key_env,
                allow_unkeyed,
            })),
        Command::Audit(AuditCommand::Export {
            data_dir,
            database_url,
            database_ca_file,
            since,
            format,
        }) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async {
                let o = coffer::export::ExportOptions {
                    data_dir,
                    database_url,
                    database_ca_file,
                    since,
                    format,
                };
                let n = coffer::export::export(&o, &mut std::io::stdout().lock()).await?;
                eprintln!("{n} audit records exported");
                Ok(())
            }),
        Command::Backup { data_dir, out } => {
            let c = coffer::backup::backup(&data_dir, &out)?;
            println!(
                "backup written to {} (0600): {c}; integrity checked",
                out.display()
            );
            Ok(())
        }
        Command::Restore {
            data_dir,
            from,
            replace,
            key,
        } => {
            if key.root_key == "passphrase" {
                coffer::backup::restore_salt(&data_dir, &from)?;
            }
            let root = coffer::verify::root_key(&key.root_key, &key.root_key_env, Some(&data_dir))?;
            let c = coffer::backup::restore(&data_dir, &from, &root, replace)?;
            println!(
                "restored {} into {}: {c}",
                from.display(),
                data_dir.display()
            );
            Ok(())
        }
        Command::MigrateStore {
            data_dir,
            to,
            database_ca_file,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(migrate_store(&data_dir, &to, database_ca_file.as_deref())),
        Command::Events(EventsCommand::Dlq(c)) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async {
                let out = match c {
                    DlqCommand::List { rule, json } => {
                        coffer::dlq::list(rule.as_deref(), json).await?
                    }
                    DlqCommand::Redrive { ids, all } => coffer::dlq::redrive(&ids, all).await?,
                };
                print!("{out}");
                Ok(())
            }),
        Command::Key(c) => coffer::keycmd::run(c),
        Command::Import(c) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(coffer::transfer::cmd::import(c)),
        Command::Export(a) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(coffer::transfer::cmd::export(a)),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "coffer", &mut std::io::stdout());
            Ok(())
        }
        Command::Account(AccountCommand::Create { name }) => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(async {
                    print!("{}", coffer::account::create(&name).await?);
                    Ok(())
                })
        }
    }
}

async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let mut cfg = match &args.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if !args.regions.is_empty() {
        cfg.regions = args.regions;
    }
    if let Some(l) = args.log_level {
        cfg.log_level = l;
    }
    if let Some(a) = args.account_id {
        cfg.account_id = Some(a);
    }
    if let Some(v) = args.max_connections {
        cfg.max_connections = v;
    }
    if let Some(v) = args.max_change_streams {
        cfg.max_change_streams = v;
    }
    if let Some(v) = args.max_change_streams_per_key {
        cfg.max_change_streams_per_key = v;
    }
    if let Some(v) = args.max_body_bytes {
        cfg.max_body_bytes = v;
    }
    if args.dev {
        // A local emulator that tests and benchmarks hammer: no quotas but those
        // asked for on the command line (below).
        cfg.quota_reads_per_second = 0.0;
        cfg.quota_writes_per_second = 0.0;
        cfg.quota_iam_per_second = 0.0;
    }
    if let Some(v) = args.quota_reads_per_second {
        cfg.quota_reads_per_second = v;
    }
    if let Some(v) = args.quota_writes_per_second {
        cfg.quota_writes_per_second = v;
    }
    if let Some(v) = args.quota_iam_per_second {
        cfg.quota_iam_per_second = v;
    }
    if let Some(v) = args.sweep_interval_secs {
        cfg.sweep_interval_secs = v;
    }
    if let Some(v) = args.rotation_interval_secs {
        cfg.rotation_interval_secs = v;
    }
    if let Some(v) = args.event_retention_secs {
        cfg.event_retention_secs = v;
    }
    if let Some(v) = args.audit_retention_secs {
        cfg.audit_retention_secs = v;
    }
    if let Some(v) = args.events_ca_file {
        cfg.events_ca_file = Some(v);
    }
    if let Some(v) = args.nats_url {
        cfg.nats_url = Some(v);
    }
    if let Some(v) = args.drain_timeout_secs {
        cfg.drain_timeout_secs = v;
    }
    if let Some(v) = args.root_key {
        cfg.root_key = v;
    }
    if let Some(v) = args.tls_cert_file {
        cfg.tls_cert_file = Some(v);
    }
    if let Some(v) = args.tls_key_file {
        cfg.tls_key_file = Some(v);
    }
    if let Some(v) = args.tls_disable {
        cfg.tls_disable = v;
    }
    if let Some(v) = args.root_key_env {
        cfg.root_key_env = v;
    }
    if let Some(v) = args.previous_root_key {
        cfg.previous_root_key = v;
    }
    if let Some(v) = args.previous_root_key_env {
        cfg.previous_root_key_env = v;
    }
    if let Some(v) = args.database_url {
        cfg.database_url = Some(v);
    }
    if let Some(v) = args.database_ca_file {
        cfg.database_ca_file = Some(v);
    }
    if let Some(v) = args.database_pool_size {
        cfg.database_pool_size = v;
    }
    if let Some(v) = args.rotation_database_ca_file {
        cfg.rotation_database_ca_file = Some(v);
    }
    if args.dev && cfg.database_url.is_some() {
        // Each dev server would otherwise make a root key of its own in its
        // temporary directory, and none could read what the others wrote.
        anyhow::ensure!(
            cfg.root_key == "env",
            "--dev with --database-url needs --root-key env (every server of a fleet needs the same root key)"
        );
    }
    let log_format = args.log_format.unwrap_or_else(|| {
        if args.dev {
            "text".into()
        } else {
            cfg.log_format.clone()
        }
    });
    cfg.log_format = log_format;
    cfg.check()?;
    coffer::logging::init(&cfg.log_level, cfg.log_format == "json");

    let (data_dir, temporary) = match (args.data_dir, args.dev) {
        (Some(d), _) => (d, false),
        (None, true) => (
            std::env::temp_dir().join(format!("coffer-dev-{}", std::process::id())),
            true,
        ),
        (None, false) => (cfg.data_dir.clone(), false),
    };
    if !args.dev && (args.dev_access_key_id.is_some() || args.dev_secret_access_key.is_some()) {
        anyhow::bail!("--dev-access-key-id and --dev-secret-access-key need --dev");
    }
    let listen = cfg
        .listen
        .parse()
        .with_context(|| format!("listen address {:?}", cfg.listen))?;
    let dev_tls = if args.dev_tls {
        anyhow::ensure!(
            !cfg.tls() && !cfg.tls_disable,
            "--dev-tls makes its own certificate: drop the other TLS settings"
        );
        let set = coffer::devtls::DevTls::ensure(&data_dir)?;
        cfg.tls_cert_file = Some(set.cert_file.clone());
        cfg.tls_key_file = Some(set.key_file.clone());
        Some(set)
    } else {
        None
    };
    cfg.check_transport(listen, args.dev)?;
    let tls = match (&cfg.tls_cert_file, &cfg.tls_key_file) {
        (Some(c), Some(k)) => Some(coffer_server::Tls::load(c, k)?),
        _ => None,
    };
    let opts = StartOptions {
        data_dir: data_dir.clone(),
        database: None,
        database_url: cfg.database_url.clone(),
        database_ca_file: cfg.database_ca_file.clone(),
        database_pool_size: cfg.database_pool_size,
        rotation_database_ca_file: cfg.rotation_database_ca_file.clone(),
        listen,
        http: HttpConfig {
            max_connections: cfg.max_connections,
            max_streams: cfg.max_change_streams,
            max_streams_per_key: cfg.max_change_streams_per_key,
            max_body_bytes: cfg.max_body_bytes,
            regions: if args.dev {
                None
            } else {
                Some(cfg.regions.clone())
            },
            drain_timeout: Duration::from_secs(cfg.drain_timeout_secs),
            quotas: coffer_server::QuotaConfig {
                reads_per_second: cfg.quota_reads_per_second,
                writes_per_second: cfg.quota_writes_per_second,
                iam_per_second: cfg.quota_iam_per_second,
            },
            tls,
        },
        sweep_interval: Duration::from_secs(cfg.sweep_interval_secs),
        rotation_interval: Duration::from_secs(cfg.rotation_interval_secs),
        event_retention: retention(cfg.event_retention_secs),
        audit_retention: retention(cfg.audit_retention_secs),
        events_ca_file: cfg.events_ca_file.clone(),
        web_identity: coffer_core::identity::WebIdentityOptions {
            jwks_files: cfg.oidc_jwks_files.clone(),
            ca_file: cfg.oidc_ca_file.clone(),
        },
        nats_url: cfg.nats_url.clone(),
        remote_regions: cfg
            .remote_regions
            .iter()
            .map(coffer::config::RemoteRegionFile::resolve)
            .collect::<anyhow::Result<_>>()?,
        rotation_functions: cfg
            .rotation_functions
            .iter()
            .map(|(name, f)| {
                let ext = coffer_core::functions::ExternalFunction {
                    command: f.command.clone(),
                    pass_env: f.pass_env.clone(),
                    url: f.url.clone(),
                    invoke_key: f.invoke_key(name)?,
                    ca_file: f.ca_file.clone(),
                    role_name: f.role.clone().unwrap_or_default(),
                };
                Ok((name.clone(), ext))
            })
            .collect::<anyhow::Result<_>>()?,
        root_key: RootKeySource::parse(&cfg.root_key, &cfg.root_key_env)?,
        previous_root_key: RootKeySource::previous(
            &cfg.previous_root_key,
            &cfg.previous_root_key_env,
            &data_dir,
        )?,
        clock: Arc::new(SystemClock),
        account_id: if args.dev {
            args.dev_account_id
        } else {
            cfg.account_id.clone()
        },
        access_key_id: args.dev_access_key_id,
        secret_access_key: args.dev_secret_access_key,
        dev: args.dev,
    };
    // Signals are taken over before the server is announced (the export lines, the
    // listener): one sent right after must not find the default action, which ends
    // the process.
    let shutdown = shutdown_signal()?;
    let hangup = match &opts.http.tls {
        Some(tls) => Some((tls.clone(), signal(SignalKind::hangup())?)),
        None => None,
    };
    let running = coffer::start(opts).await?;
    if args.dev {
        let region = cfg
            .regions
            .first()
            .cloned()
            .unwrap_or_else(|| "us-east-1".into());
        println!("export AWS_ENDPOINT_URL={}", running.endpoint());
        if let Some(root) = &running.root {
            print!("{}", root.export_lines());
        }
        if let Some(set) = &dev_tls {
            // The aws CLI, boto3 (and the SDKs that follow them), `coffer agent`
            // and `coffer account create` read it.
            println!("export AWS_CA_BUNDLE={}", set.ca_file.display());
        }
        println!("export AWS_REGION={region}");
        // aws CLI v1 and older SDKs read only AWS_DEFAULT_REGION.
        println!("export AWS_DEFAULT_REGION={region}");
        if temporary {
            eprintln!(
                "# dev mode: data in {} (deleted on exit)",
                data_dir.display()
            );
        }
    } else if running.created_root {
        eprintln!(
            "# first start: the root credential is in {} (0600); copy it somewhere safe.",
            data_dir.join(coffer::credentials::FILE_NAME).display()
        );
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    if let Some((tls, hup)) = hangup {
        tokio::spawn(reload_on_sighup(tls, hup));
    }
    shutdown.await;
    tracing::info!("shutdown requested");
    running.stop().await?;
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    use coffer_agent::{AgentConfig, SsrfToken};
    let cfg = match &args.config {
        Some(p) => AgentConfig::load(p)?,
        None => AgentConfig::default(),
    };
    match &cfg.log_file {
        Some(path) => coffer::logging::init_to_file(&cfg.log_level, path)
            .map_err(|e| anyhow::anyhow!("log_to_file: {}: {e}", path.display()))?,
        None => coffer::logging::init(&cfg.log_level, false),
    }
    let token = SsrfToken::resolve(&cfg.ssrf_env_variables, |k| std::env::var(k).ok())?;
    let shutdown = shutdown_signal()?;
    let upstream = coffer_agent::sdk_client(&cfg).await?;
    if cfg.validate_credentials {
        check_credentials(&upstream.client).await?;
    }
    let handle =
        coffer_agent::start(&cfg, token, upstream, args.port.unwrap_or(cfg.http_port)).await?;
    println!("coffer agent listening on http://{}", handle.addr);
    use std::io::Write;
    std::io::stdout().flush()?;
    shutdown.await;
    handle.stop().await;
    tracing::info!("agent stopped cleanly");
    Ok(())
}

/// Fails fast on credentials the upstream does not accept. AccessDenied proves
/// the credentials are valid (only this action is not allowed), so it passes.
async fn check_credentials(client: &aws_sdk_secretsmanager::Client) -> anyhow::Result<()> {
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    match client.list_secrets().max_results(1).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("AccessDeniedException") => Ok(()),
        Err(e) => match e.code() {
            Some(code) => anyhow::bail!(
                "the upstream refused the agent's credentials: {code}: {}",
                e.message().unwrap_or("")
            ),
            // With its causes: "dispatch failure" alone hides an untrusted certificate.
            None => anyhow::bail!(
                "cannot reach the upstream to check credentials: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ),
        },
    }
}

/// SIGHUP reads the certificate and key again. New handshakes present the new
/// pair; connections already open keep theirs; a pair that fails to load leaves
/// the previous one in use.
async fn reload_on_sighup(tls: coffer_server::Tls, mut hup: Signal) {
    while hup.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => {
                tracing::info!(cert_file = %tls.cert_file().display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "TLS certificate reload failed; still serving the previous certificate");
            }
        }
    }
}

/// Takes over SIGTERM and SIGINT now; the future resolves on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

async fn migrate_store(
    data_dir: &std::path::Path,
    to: &str,
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let target = coffer_store::postgres::Target::new(to, ca_file)?;
    let db = data_dir.join("coffer.db");
    anyhow::ensure!(db.exists(), "{} does not exist", db.display());
    // No server may write while the copy is taken.
    let _lock = coffer::run::lock_data_dir(data_dir)?;
    let mut bar = coffer::progress::Bar::new();
    let copied =
        coffer_store::postgres::import::copy_sqlite(&db, &target, &mut |t, d, n| bar.show(t, d, n))
            .await
            .with_context(|| format!("copying into {}", coffer_store::postgres::redact(to)))?;
    bar.finish();
    let summary: Vec<String> = copied
        .tables
        .iter()
        .map(|(t, n)| format!("{n} {t}"))
        .collect();
    println!(
        "copied {} into {} and compared every table: {}",
        db.display(),
        coffer_store::postgres::redact(to),
        summary.join(", ")
    );
    Ok(())
}

/// A retention window from its setting (0: for ever).
fn retention(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}
