//! The `import` and `export` subcommands. The destination (import) or
//! source (export) is the server in the usual AWS variables
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials from the standard chain).

use super::write::Fit;
use super::{bundle, client, copy, files, read, write, SecretRecord, Side, Summary};
use anyhow::Context;
use std::path::PathBuf;

const PASSPHRASE_VAR: &str = "COFFER_BUNDLE_PASSPHRASE";

#[derive(clap::Subcommand)]
pub enum ImportCommand {
    /// Every secret of an AWS Secrets Manager account, or of any server that
    /// speaks its API (another Coffer): description, tags, resource policy
    /// and every labelled version, under the same version ids.
    ///
    /// Idempotent: a rerun changes nothing, and a run cut short resumes.
    /// Each imported secret ends as the source has it: a rerun after the
    /// source changed adds and changes what differs, and removes the tags and
    /// staging labels the source no longer has, clears a description it
    /// cleared and deletes a resource policy it deleted. Secrets the source
    /// does not list (the destination's own, and those deleted at the
    /// source) are left alone; so are versions no label names.
    ///
    /// The destination is the server in AWS_ENDPOINT_URL; the source is
    /// --source-endpoint, or AWS's own endpoint for --source-region (never
    /// AWS_ENDPOINT_URL). The source's credentials come from the standard
    /// chain (--source-profile picks a profile). KMS keys and rotation
    /// settings are not carried over (values are sealed under the
    /// destination's default key).
    Aws {
        /// The source's endpoint (default: AWS's for the region).
        #[arg(long)]
        source_endpoint: Option<String>,
        /// The source's region.
        #[arg(long)]
        source_region: String,
        /// The profile of ~/.aws/config and ~/.aws/credentials to read the
        /// source with (default: the standard chain, as for the destination).
        #[arg(long)]
        source_profile: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// A `.env` file: each variable becomes the secret PREFIX+NAME with the
    /// value as its string; a changed value becomes a new current version.
    Dotenv {
        /// The `.env` file.
        file: PathBuf,
        /// Put before each variable's name (`myapp/` gives `myapp/DB_PASSWORD`).
        #[arg(long, default_value = "")]
        name_prefix: String,
        /// Say what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Vault KV JSON: `vault kv get -format=json PATH` output (give the
    /// secret's --name), or an export mapping each path to its data (one
    /// secret per path). The data is stored as a JSON object string, as AWS
    /// keeps key/value secrets.
    VaultKv {
        /// The JSON file.
        file: PathBuf,
        /// The secret's name, for `vault kv get` output.
        #[arg(long)]
        name: Option<String>,
        /// Put before each secret's name.
        #[arg(long, default_value = "")]
        name_prefix: String,
        /// Say what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A file `coffer export` wrote (encrypted, or plaintext).
    Bundle {
        /// The file `coffer export` wrote.
        file: PathBuf,
        /// The variable holding the bundle's passphrase.
        #[arg(long, default_value = PASSPHRASE_VAR)]
        passphrase_env: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args)]
pub struct Common {
    /// Only secrets whose name starts with this.
    #[arg(long)]
    prefix: Option<String>,
    /// Say what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The file to write (must not exist; mode 0600).
    #[arg(long)]
    out: PathBuf,
    /// Only secrets whose name starts with this.
    #[arg(long)]
    prefix: Option<String>,
    /// The variable holding the passphrase (12 characters or more) the bundle
    /// is sealed under (Argon2id, AES-256-GCM).
    #[arg(long, default_value = PASSPHRASE_VAR)]
    passphrase_env: String,
    /// Write the values in clear instead (JSON): for a migration you protect
    /// otherwise. Never the default.
    #[arg(long)]
    plaintext: bool,
}

fn report(mut summary: Summary, dry_run: bool) -> anyhow::Result<()> {
    // In name order: secrets are written several at once, so they finish in
    // no particular one.
    summary.failed.sort();
    for (name, why) in &summary.failed {
        eprintln!("{name}: {why}");
    }
    println!("{}", summary.line(dry_run));
    anyhow::ensure!(
        summary.failed.is_empty(),
        "{} secrets failed",
        summary.failed.len()
    );
    Ok(())
}

/// Writes records read from a file: what the file does not say (tags, a
/// description, a policy, other labels) is left as the destination has it.
async fn into_destination(records: Vec<SecretRecord>, dry_run: bool) -> anyhow::Result<()> {
    let dest = client(Side::Coffer, None, None, None).await?;
    report(
        write::write_all(&dest, records, Fit::Merge, dry_run).await,
        dry_run,
    )
}

pub async fn import(cmd: ImportCommand) -> anyhow::Result<()> {
    let read_text = |f: &PathBuf| {
        std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))
    };
    match cmd {
        ImportCommand::Aws {
            source_endpoint,
            source_region,
            source_profile,
            common,
        } => {
            let source = client(
                Side::Source,
                source_endpoint.as_deref(),
                Some(&source_region),
                source_profile.as_deref(),
            )
            .await?;
            let dest = client(Side::Coffer, None, None, None).await?;
            // Named in the error, so a source left to default is seen to be AWS.
            let from = source_endpoint
                .unwrap_or_else(|| format!("AWS Secrets Manager in {source_region}"));
            let summary = copy::copy_all(&source, &dest, common.prefix.as_deref(), common.dry_run)
                .await
                .with_context(|| format!("reading the source ({from})"))?;
            report(summary, common.dry_run)
        }
        ImportCommand::Dotenv {
            file,
            name_prefix,
            dry_run,
        } => into_destination(files::dotenv(&read_text(&file)?, &name_prefix)?, dry_run).await,
        ImportCommand::VaultKv {
            file,
            name,
            name_prefix,
            dry_run,
        } => {
            let records = files::vault_kv(&read_text(&file)?, name.as_deref(), &name_prefix)?;
            into_destination(records, dry_run).await
        }
        ImportCommand::Bundle {
            file,
            passphrase_env,
            common,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let mut records = bundle::decode(&bytes, &passphrase_env)?;
            if let Some(p) = &common.prefix {
                records.retain(|r| r.name.starts_with(p.as_str()));
            }
            into_destination(records, common.dry_run).await
        }
    }
}

pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.out.exists(),
        "{} exists; export writes a new file",
        args.out.display()
    );
    if !args.plaintext {
        // Before reading every secret, not after.
        bundle::passphrase(&args.passphrase_env)?;
    }
    let source = client(Side::Coffer, None, None, None).await?;
    let mut failed = Vec::new();
    let records = read::read_all(&source, args.prefix.as_deref(), &mut failed).await?;
    let bytes = bundle::encode(&records, args.plaintext, &args.passphrase_env)?;
    bundle::write_new(&args.out, &bytes)?;
    let summary = Summary {
        unchanged: 0,
        created: 0,
        updated: 0,
        failed,
    };
    println!(
        "{} secrets written to {}{}",
        records.len(),
        args.out.display(),
        if args.plaintext {
            " (plaintext)"
        } else {
            " (encrypted)"
        }
    );
    for (name, why) in &summary.failed {
        eprintln!("{name}: {why}");
    }
    anyhow::ensure!(
        summary.failed.is_empty(),
        "{} secrets could not be read",
        summary.failed.len()
    );
    Ok(())
}
