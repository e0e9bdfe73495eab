//! `coffer key new` and `coffer key rotate`: moving a store from one root key
//! to another while its servers serve.
//!
//! 1. `coffer key new` (file keys) sets the current key aside as
//!    `root.key.previous` and makes a new `root.key`; with `env` or
//!    `passphrase` keys the operator gives both through variables.
//! 2. The servers are restarted holding both keys. They keep sealing under the
//!    key the store records (the old one), so servers not yet restarted read
//!    everything.
//! 3. `coffer key rotate` waits until every running server holds the new key,
//!    switches the store's record to it (servers follow within seconds and
//!    seal under it), re-seals every value still under the old key, and checks
//!    that the old key opens nothing in the store. Every step is read from the
//!    store, so a rotation stopped anywhere (killed, or a server missing) is
//!    finished by running it again.

use crate::rootkey::{RootKeySource, Which};
use anyhow::{bail, Context};
use coffer_core::clock::Clock;
use coffer_core::keyring::roots::{open_chain_key, seal_chain_key, CHAIN_KEY, ROOT_CHECK};
use coffer_core::keyring::{root_fingerprint, rotate};
use coffer_core::root_watch::{Holder, HOLDER_PREFIX, REPORT_EVERY};
use coffer_crypto::Key256;
use coffer_store::Store;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `coffer key new`: a new `root.key`, the old one kept as `root.key.previous`.
/// Each step can be repeated, so a run cut short is finished by running it again.
pub fn new_key_file(data_dir: &Path) -> anyhow::Result<String> {
    let (cur, prev, next) = (
        data_dir.join("root.key"),
        data_dir.join("root.key.previous"),
        data_dir.join("root.key.new"),
    );
    if prev.exists() && cur.exists() {
        bail!(
            "{} exists: a root-key rotation is under way. Finish it (coffer key rotate), then \
             remove that file",
            prev.display()
        );
    }
    if !prev.exists() {
        anyhow::ensure!(cur.exists(), "{} does not exist", cur.display());
        // Made first, under another name: until the renames below nothing
        // else reads it.
        coffer_crypto::load_or_create_key_file(&next)?;
        std::fs::rename(&cur, &prev)
            .with_context(|| format!("renaming {} to {}", cur.display(), prev.display()))?;
    }
    anyhow::ensure!(
        next.exists(),
        "{} is missing and so is {}",
        cur.display(),
        next.display()
    );
    std::fs::rename(&next, &cur)
        .with_context(|| format!("renaming {} to {}", next.display(), cur.display()))?;
    std::fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", data_dir.display()))?;
    let key = coffer_crypto::load_or_create_key_file(&cur)?;
    Ok(root_fingerprint(&key))
}

/// A fresh key, base64, for `root_key = "env"`.
pub fn new_key_text() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(Key256::random().as_bytes())
}

pub struct RotateOptions {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub database_ca_file: Option<PathBuf>,
    pub root_key: RootKeySource,
    pub previous_root_key: Option<RootKeySource>,
    /// How long to wait for running servers to hold, then use, the new key.
    pub wait: Duration,
    /// Test only: stop dead after re-sealing this many values.
    pub abort_after: Option<u64>,
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotated {
    pub values: u64,
    pub resealed: u64,
    pub switched_now: bool,
}

pub async fn rotate(o: &RotateOptions) -> anyhow::Result<Rotated> {
    let new = o.root_key.load(&o.data_dir, Which::Current)?;
    let old = o
        .previous_root_key
        .as_ref()
        .map(|p| p.load(&o.data_dir, Which::Previous))
        .transpose()
        .context("loading the previous root key")?;
    let store = crate::verify::open_store(
        Some(&o.data_dir),
        o.database_url.as_deref(),
        o.database_ca_file.as_deref(),
    )
    .await?;
    let out = rotate_store(&*store, &new, old.as_ref(), o).await;
    store.close().await?;
    out
}

async fn rotate_store(
    store: &dyn Store,
    new: &Key256,
    old: Option<&Key256>,
    o: &RotateOptions,
) -> anyhow::Result<Rotated> {
    let new_fp = root_fingerprint(new);
    let recorded = store
        .meta_get(ROOT_CHECK)
        .await?
        .context("this store has no root key yet: start a server on it first")?;
    let mut switched_now = false;
    if recorded != new_fp {
        let old = old.context(
            "the store is still under another root key: give it as the previous key \
             (--previous-root-key, or root.key.previous as `coffer key new` leaves it)",
        )?;
        anyhow::ensure!(
            recorded == root_fingerprint(old),
            "the store's root key is neither the new key nor the previous one given"
        );
        wait_for_servers(
            store,
            o.wait,
            "to hold the new root key (restart them with both keys)",
            |h| h.held.contains(&new_fp),
        )
        .await?;
        // Kept under the old root until the switch, so servers that hold
        // only the old key can still start if the rotation is put off.
        if store.meta_get(CHAIN_KEY).await?.is_none() {
            let chain = coffer_core::audit::chain_key(old);
            store
                .meta_put(CHAIN_KEY, Some(&seal_chain_key(old, &chain)?))
                .await?;
        }
        anyhow::ensure!(
            store.meta_swap(ROOT_CHECK, &recorded, &new_fp).await?,
            "the store's root key record changed while switching it; run again"
        );
        switched_now = true;
        eprintln!("switched the store to the new root key; servers follow within seconds");
    }
    // At once: from the switch on, a server starts with the new key alone.
    reseal_chain_key(store, old, new).await?;
    wait_for_servers(store, o.wait, "to seal under the new root key", |h| {
        h.sealing == new_fp
    })
    .await?;
    let total = rotate::count(store).await?;
    let mut resealed = 0;
    if let Some(old) = old {
        resealed = reseal_all(store, old, new, total, o.abort_after).await?;
    }
    check_new_key_only(store, new, old).await?;
    Ok(Rotated {
        values: total,
        resealed,
        switched_now,
    })
}

/// Re-seals until a pass finds nothing to do (a server that sealed under the
/// old key just before it followed the switch leaves work for one more pass).
async fn reseal_all(
    store: &dyn Store,
    old: &Key256,
    new: &Key256,
    total: u64,
    abort_after: Option<u64>,
) -> anyhow::Result<u64> {
    let mut bar = crate::progress::Bar::new();
    let mut resealed = 0u64;
    for _ in 0..5 {
        let mut done = 0u64;
        let mut each = |now: bool| {
            done += 1;
            if now {
                resealed += 1;
                if abort_after == Some(resealed) {
                    eprintln!("stopping dead after {resealed} values (--abort-after)");
                    std::process::abort();
                }
            }
            bar.show(
                "re-sealing",
                usize::try_from(done).unwrap_or(usize::MAX),
                usize::try_from(total.max(done)).unwrap_or(usize::MAX),
            );
        };
        let report = rotate::pass(store, old, new, &mut each).await?;
        if !report.unreadable.is_empty() {
            bar.finish();
            bail!(
                "neither root key opens {} value(s): {}",
                report.unreadable.len(),
                report.unreadable.join(", ")
            );
        }
        if report.resealed == 0 && report.raced == 0 {
            bar.finish();
            return Ok(resealed);
        }
    }
    bar.finish();
    bail!("values kept changing under the old root key; run again")
}

/// The audit chain key, kept under the new root from the switch on.
async fn reseal_chain_key(
    store: &dyn Store,
    old: Option<&Key256>,
    new: &Key256,
) -> anyhow::Result<()> {
    let Some(stored) = store.meta_get(CHAIN_KEY).await? else {
        // A store whose only root ever was the new key: its chain key is
        // derived from it, and kept from now on.
        let chain = coffer_core::audit::chain_key(new);
        store
            .meta_put(CHAIN_KEY, Some(&seal_chain_key(new, &chain)?))
            .await?;
        return Ok(());
    };
    if open_chain_key(new, &stored).is_some() {
        return Ok(());
    }
    let chain = old
        .and_then(|k| open_chain_key(k, &stored))
        .context("the audit chain key in the store opens with neither root key")?;
    store
        .meta_swap(CHAIN_KEY, &stored, &seal_chain_key(new, &chain)?)
        .await?;
    Ok(())
}

/// Every root-sealed value opens with the new key, and none with the old.
async fn check_new_key_only(
    store: &dyn Store,
    new: &Key256,
    old: Option<&Key256>,
) -> anyhow::Result<()> {
    for place in rotate::PLACES {
        let mut after = String::new();
        loop {
            let page = store.root_sealed(place, &after, 500).await?;
            for row in &page {
                if !rotate::opens_with(place, row, new, true) {
                    bail!("{} does not open with the new root key", row.id);
                }
                if old.is_some_and(|k| rotate::opens_with(place, row, k, false)) {
                    bail!("{} still opens with the old root key; run again", row.id);
                }
            }
            match page.last() {
                Some(last) if page.len() == 500 => after.clone_from(&last.id),
                _ => break,
            }
        }
    }
    if let Some(stored) = store.meta_get(CHAIN_KEY).await? {
        anyhow::ensure!(
            open_chain_key(new, &stored).is_some(),
            "the audit chain key does not open with the new root key"
        );
    }
    Ok(())
}

/// Waits until every running server (one whose report is recent) satisfies
/// `ok`; names those that do not when `wait` runs out.
async fn wait_for_servers(
    store: &dyn Store,
    wait: Duration,
    what: &str,
    ok: impl Fn(&Holder) -> bool,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + wait;
    let fresh = i64::try_from(REPORT_EVERY.as_millis() * 3).unwrap_or(i64::MAX);
    let mut told = false;
    loop {
        let now = coffer_core::clock::SystemClock.now_ms();
        let mut missing = Vec::new();
        for (key, body) in store.meta_list(HOLDER_PREFIX).await? {
            let Ok(h) = serde_json::from_str::<Holder>(&body) else {
                continue;
            };
            if now - h.at_ms < fresh && !ok(&h) {
                missing.push(key.strip_prefix(HOLDER_PREFIX).unwrap_or(&key).to_string());
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            bail!("servers not ready {what}: {}", missing.join(", "));
        }
        if !told {
            eprintln!("waiting for servers {what}: {}", missing.join(", "));
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[derive(clap::Subcommand)]
pub enum KeyCommand {
    /// Make a new root key: DATA_DIR/root.key is set aside as
    /// root.key.previous and a new root.key is made. Restart the server(s) so
    /// they hold both, then run `coffer key rotate`. With --print, print a new
    /// key (base64) for `root_key = "env"` instead, and touch nothing.
    New {
        /// The server's data directory.
        #[arg(long, env = "COFFER_DATA_DIR", required_unless_present = "print")]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        print: bool,
    },
    /// Move the store from the previous root key to the current one while its
    /// servers run: waits until every running server holds the new key,
    /// switches the store to it, re-seals every value still under the old key
    /// (with a progress bar), and checks that the old key opens nothing. Run it
    /// again if it stops: it carries on where it was. Then remove the previous
    /// key from every server's configuration.
    Rotate(Box<RotateArgs>),
}

#[derive(clap::Args)]
pub struct RotateArgs {
    /// The servers' configuration file: its data_dir, database_url and root
    /// key settings are used. Flags override it.
    #[arg(long, short, env = "COFFER_CONFIG")]
    config: Option<PathBuf>,
    /// The servers' data directory (its SQLite store and key files).
    #[arg(long, env = "COFFER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The PostgreSQL store the servers share, instead of the SQLite file.
    #[arg(long, env = "COFFER_DATABASE_URL")]
    database_url: Option<String>,
    /// PEM roots for the database's certificate (with `sslmode=require`).
    #[arg(long, env = "COFFER_DATABASE_CA_FILE")]
    database_ca_file: Option<PathBuf>,
    /// The new root key's source: file, env or passphrase [default: file].
    #[arg(long, env = "COFFER_ROOT_KEY_SOURCE")]
    root_key: Option<String>,
    /// The variable holding the new key or passphrase [default: COFFER_ROOT_KEY].
    #[arg(long, env = "COFFER_ROOT_KEY_ENV")]
    root_key_env: Option<String>,
    /// The old root key's source: auto (DATA_DIR/root.key.previous), file, env
    /// or passphrase [default: auto].
    #[arg(long, env = "COFFER_PREVIOUS_ROOT_KEY_SOURCE")]
    previous_root_key: Option<String>,
    /// The variable holding the old key or passphrase
    /// [default: COFFER_PREVIOUS_ROOT_KEY].
    #[arg(long, env = "COFFER_PREVIOUS_ROOT_KEY_ENV")]
    previous_root_key_env: Option<String>,
    /// How long to wait for running servers to take up the new key.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
    /// Test only: stop dead (abort) after re-sealing this many values.
    #[arg(long, hide = true)]
    abort_after: Option<u64>,
}

impl RotateArgs {
    fn options(self) -> anyhow::Result<RotateOptions> {
        let mut cfg = match &self.config {
            Some(p) => crate::config::FileConfig::load(p)?,
            None => crate::config::FileConfig::default(),
        };
        if let Some(v) = self.data_dir {
            cfg.data_dir = v;
        }
        if let Some(v) = self.database_url {
            cfg.database_url = Some(v);
        }
        if let Some(v) = self.database_ca_file {
            cfg.database_ca_file = Some(v);
        }
        if let Some(v) = self.root_key {
            cfg.root_key = v;
        }
        if let Some(v) = self.root_key_env {
            cfg.root_key_env = v;
        }
        if let Some(v) = self.previous_root_key {
            cfg.previous_root_key = v;
        }
        if let Some(v) = self.previous_root_key_env {
            cfg.previous_root_key_env = v;
        }
        Ok(RotateOptions {
            root_key: RootKeySource::parse(&cfg.root_key, &cfg.root_key_env)?,
            previous_root_key: RootKeySource::previous(
                &cfg.previous_root_key,
                &cfg.previous_root_key_env,
                &cfg.data_dir,
            )?,
            data_dir: cfg.data_dir,
            database_url: cfg.database_url,
            database_ca_file: cfg.database_ca_file,
            wait: Duration::from_secs(self.wait_secs),
            abort_after: self.abort_after,
        })
    }
}

/// Runs a `coffer key` command; what it prints for people goes to stdout.
pub fn run(cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::New { print: true, .. } => println!("{}", new_key_text()),
        KeyCommand::New { data_dir, .. } => {
            let dir = data_dir.context("give --data-dir")?;
            let fp = new_key_file(&dir)?;
            println!(
                "new root key {} in {}; the old one is root.key.previous.\n\
                 Restart the server(s) on this data directory so they hold both, then run:\n  \
                 coffer key rotate --data-dir {}",
                &fp[..12],
                dir.join("root.key").display(),
                dir.display()
            );
        }
        KeyCommand::Rotate(args) => {
            let o = args.options()?;
            let done = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(rotate(&o))?;
            println!(
                "root key rotated: {} value(s) under the root key, {} re-sealed in this run{}. \
                 The previous key opens nothing in this store now. Session tokens issued \
                 before the switch need it for up to 36 hours (the longest session); after \
                 that, remove it from every server's configuration (root.key.previous, \
                 COFFER_PREVIOUS_ROOT_KEY) and restart them. Keep it apart for as long as \
                 you keep backups made before the rotation.",
                done.values,
                done.resealed,
                if done.switched_now {
                    ", store switched"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}
