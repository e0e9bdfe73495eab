//! `coffer audit verify`: checks every hash chain of the audit trail — the
//! server's audit file, the store's chain of mutations and, in a store servers
//! share, each server's copy of its audit file — with the key derived from the
//! root key.

use anyhow::Context;
use coffer_store::{Anchor, AuditAnchors, ChainCheck, ChainKey, ChainReport, Store};
use std::path::PathBuf;

pub struct VerifyOptions {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub database_ca_file: Option<PathBuf>,
    /// `file` (DATA_DIR/root.key) or `env`.
    pub root_key: String,
    pub root_key_env: String,
    pub allow_unkeyed: bool,
}

pub async fn verify(o: &VerifyOptions) -> anyhow::Result<()> {
    let root = root_key(&o.root_key, &o.root_key_env, o.data_dir.as_deref())?;
    let store = open_store(
        o.data_dir.as_deref(),
        o.database_url.as_deref(),
        o.database_ca_file.as_deref(),
    )
    .await?;
    // The chain key is kept in the store once the root key has been rotated.
    let key = match coffer_core::keyring::Roots::new(root, None)
        .unlock_read(&*store)
        .await
    {
        Ok(k) => k,
        Err(e) => {
            store.close().await?;
            return Err(e.into());
        }
    };
    if let Some(dir) = &o.data_dir {
        let path = dir.join("audit.log");
        if path.exists() || o.database_url.is_none() {
            let file = coffer_core::audit::verify_file(&path, key, o.allow_unkeyed)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            report(&path.display().to_string(), file);
            check_head(&*store, dir, &path, &key).await?;
        }
    }
    let out = verify_store(&*store, key, o).await;
    store.close().await?;
    out
}

/// The audit file against the signed head its server keeps in the store: a
/// file whose newest lines were cut off no longer holds the line it names.
async fn check_head(
    store: &dyn Store,
    dir: &std::path::Path,
    path: &std::path::Path,
    key: &ChainKey,
) -> anyhow::Result<()> {
    let Ok(id) = std::fs::read_to_string(dir.join("server-id")) else {
        return Ok(());
    };
    let id = id.trim();
    let prefix = coffer_core::audit_head::HEAD_PREFIX;
    let Some(stored) = store.meta_get(&format!("{prefix}{id}")).await? else {
        eprintln!(
            "note: no signed head of {} in the store yet",
            path.display()
        );
        return Ok(());
    };
    match coffer_core::audit_head::check(path, key, id, &stored) {
        Ok(coffer_core::audit_head::HeadCheck::Holds) => {
            println!("{}: holds the line its signed head names", path.display());
            Ok(())
        }
        Ok(coffer_core::audit_head::HeadCheck::OtherFile) => {
            eprintln!(
                "note: {} was begun anew since its head was signed (moved aside?): not compared",
                path.display()
            );
            Ok(())
        }
        Err(e) => anyhow::bail!("{e}"),
    }
}

/// The store an audit command reads: the PostgreSQL database when given, else
/// the data directory's SQLite file.
pub async fn open_store(
    data_dir: Option<&std::path::Path>,
    database_url: Option<&str>,
    database_ca_file: Option<&std::path::Path>,
) -> anyhow::Result<Box<dyn Store>> {
    Ok(match (database_url, data_dir) {
        (Some(url), _) => Box::new(
            coffer_store::postgres::PgStore::open_existing(&coffer_store::postgres::Target::new(
                url,
                database_ca_file,
            )?)
            .await
            .with_context(|| coffer_store::postgres::redact(url))?,
        ),
        (None, Some(dir)) => Box::new(coffer_store::sqlite::SqliteStore::open(
            &dir.join("coffer.db"),
        )?),
        (None, None) => anyhow::bail!("give --data-dir, --database-url, or both"),
    })
}

/// The root key as a command names it: `file` (DATA_DIR/root.key) or `env`
/// (the variable `var`).
pub fn root_key(
    source: &str,
    var: &str,
    data_dir: Option<&std::path::Path>,
) -> anyhow::Result<coffer_crypto::Key256> {
    Ok(match source {
        "file" => {
            let dir =
                data_dir.context("--root-key file needs --data-dir (or use --root-key env)")?;
            let path = dir.join("root.key");
            anyhow::ensure!(path.exists(), "{} does not exist", path.display());
            coffer_crypto::load_or_create_key_file(&path)?
        }
        "env" => {
            let value = std::env::var(var).with_context(|| format!("{var} is not set"))?;
            coffer_crypto::root_key_from_env(var, &value)?
        }
        "passphrase" => {
            let dir = data_dir.context("--root-key passphrase needs --data-dir (its root.salt)")?;
            let value = std::env::var(var).with_context(|| format!("{var} is not set"))?;
            coffer_crypto::root_key_from_passphrase(var, &value, &dir.join("root.salt"))?
        }
        other => anyhow::bail!("--root-key must be file, env or passphrase, not {other:?}"),
    })
}

/// Each chain of the store from where retention left it (its anchor), and the
/// anchors themselves against the newest keyed record of pruning: a head cut
/// by someone without the root key has no such record to show for it.
async fn verify_store(store: &dyn Store, key: ChainKey, o: &VerifyOptions) -> anyhow::Result<()> {
    let anchors = store.audit_anchors().await?;
    let mut check = match &anchors.records {
        Some(a) => ChainCheck::resume(key, o.allow_unkeyed, &a.hash),
        None => ChainCheck::new(key, o.allow_unkeyed),
    };
    let mut stated = AuditAnchors::default();
    let mut after = 0;
    loop {
        let batch = store.audit_records(after, 1000).await?;
        if batch.is_empty() {
            break;
        }
        for r in &batch {
            anyhow::ensure!(
                check.next(&r.prev_hash, &r.body, &r.hash),
                "store audit record {} breaks the hash chain",
                r.seq
            );
            if let Some(s) = AuditAnchors::stated_by(&r.body) {
                stated = s;
            }
            after = r.seq;
        }
    }
    anyhow::ensure!(
        stated == anchors,
        "the store's audit trail starts where no record of pruning says it does: records were removed outside retention"
    );
    report("store (mutations)", check.report);
    pruned_note("store (mutations)", anchors.records.as_ref());
    if let Some(dir) = &o.data_dir {
        check_store_head(store, dir, &key, after).await?;
    }
    if o.database_url.is_some() {
        for server in store.shipped_servers().await? {
            let anchor = anchors.servers.get(&server);
            let r = verify_shipped(store, &server, key, o.allow_unkeyed, anchor).await?;
            let what = format!("store (audit file of server {server})");
            report(&what, r);
            pruned_note(&what, anchor);
        }
    }
    Ok(())
}

/// The store's chain against the signed head this server kept beside its
/// audit file: the chain must still hold the record the head names.
async fn check_store_head(
    store: &dyn Store,
    dir: &std::path::Path,
    key: &ChainKey,
    newest: i64,
) -> anyhow::Result<()> {
    use coffer_core::audit_head::{StoreHead, STORE_HEAD_FILE};
    let path = dir.join(STORE_HEAD_FILE);
    let Some(head) = StoreHead::read(&path, key).map_err(anyhow::Error::msg)? else {
        return Ok(());
    };
    anyhow::ensure!(
        head.seq <= newest,
        "the store's audit chain was cut: {} names record {}, the chain ends at {newest}",
        path.display(),
        head.seq
    );
    let named = store.audit_records(head.seq - 1, 1).await?;
    match named.first() {
        // Pruned since (retention removes the oldest): nothing to compare.
        Some(r) if r.seq > head.seq => {}
        Some(r) => anyhow::ensure!(
            r.hash == head.hash,
            "store audit record {} is not the one {} names",
            r.seq,
            path.display()
        ),
        None => anyhow::bail!("the store's audit chain was cut before record {}", head.seq),
    }
    println!("store (mutations): holds the record its signed head names");
    Ok(())
}

fn pruned_note(what: &str, anchor: Option<&Anchor>) {
    if let Some(a) = anchor {
        println!(
            "{what}: {} older records pruned by retention; the chain resumes after record {}",
            a.pruned, a.through
        );
    }
}

/// One server's copy of its audit file: links intact and no line missing
/// after its anchor.
async fn verify_shipped(
    store: &dyn Store,
    server: &str,
    key: ChainKey,
    allow_unkeyed: bool,
    anchor: Option<&Anchor>,
) -> anyhow::Result<ChainReport> {
    let (mut check, mut after) = match anchor {
        Some(a) => (ChainCheck::resume(key, allow_unkeyed, &a.hash), a.through),
        None => (ChainCheck::new(key, allow_unkeyed), 0),
    };
    loop {
        let batch = store.shipped_lines(server, after, 1000).await?;
        if batch.is_empty() {
            return Ok(check.report);
        }
        for l in &batch {
            anyhow::ensure!(
                l.line == after + 1,
                "server {server}: audit line {} is missing",
                after + 1
            );
            anyhow::ensure!(
                check.next(&l.prev, &l.body, &l.hash),
                "server {server}: audit line {} breaks the hash chain",
                l.line
            );
            after = l.line;
        }
    }
}

fn report(what: &str, r: ChainReport) {
    println!("{what}: {} records, hash chain intact", r.records);
    if r.unkeyed > 0 {
        eprintln!(
            "warning: {what}: the first {} records are chained without a key (written before keyed chains); they prove order, not who wrote them",
            r.unkeyed
        );
    }
}
