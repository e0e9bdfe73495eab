//! Starting and stopping a server: root key, store, service, first credential,
//! listener, background tasks — and the orderly reverse on shutdown.

use crate::credentials::RootCredential;
use anyhow::{bail, Context};
use coffer_core::{ids, Clock, Service, ServiceOptions};
use coffer_crypto::SecretBytes;
use coffer_server::HttpConfig;
use coffer_store::sqlite::SqliteStore;
use coffer_store::CachedStore;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::rootkey::RootKeySource;

pub struct StartOptions {
    pub data_dir: PathBuf,
    /// The SQLite database; `DATA_DIR/coffer.db` when unset.
    pub database: Option<PathBuf>,
    /// A PostgreSQL database instead of SQLite (shared by a fleet).
    pub database_url: Option<String>,
    /// PEM roots for the database's certificate (with `sslmode=require`).
    pub database_ca_file: Option<PathBuf>,
    /// Connections to that database this server keeps.
    pub database_pool_size: usize,
    /// PEM roots for the built-in database rotators.
    pub rotation_database_ca_file: Option<PathBuf>,
    pub listen: SocketAddr,
    pub http: HttpConfig,
    pub sweep_interval: Duration,
    pub rotation_interval: Duration,
    /// How long change events and audit records stay in the store (None: for ever).
    pub event_retention: Option<Duration>,
    pub audit_retention: Option<Duration>,
    /// PEM roots API destinations are trusted by, besides the system's.
    pub events_ca_file: Option<PathBuf>,
    /// Where OIDC issuers' keys come from.
    pub web_identity: coffer_core::identity::WebIdentityOptions,
    /// The NATS server rule targets `nats:SUBJECT` publish to.
    pub nats_url: Option<String>,
    /// Regions served by other Coffer deployments, for replicas.
    pub remote_regions: Vec<coffer_core::secrets::replication::remote::RemoteRegionConfig>,
    pub rotation_functions:
        std::collections::HashMap<String, coffer_core::functions::ExternalFunction>,
    pub root_key: RootKeySource,
    /// The previous root key, held while a root-key rotation is under way.
    pub previous_root_key: Option<RootKeySource>,
    pub clock: Arc<dyn Clock>,
    /// The first account's id; dev mode defaults it, normal mode picks one at random.
    pub account_id: Option<String>,
    /// A root credential to register (dev mode's stable `test`/`test` and the like).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub dev: bool,
}

pub struct Running {
    pub addr: SocketAddr,
    /// The root credential to announce; None when a normal-mode restart finds its
    /// file removed (the credential itself stays registered).
    pub root: Option<RootCredential>,
    /// True when this start created the root credential (first start).
    pub created_root: bool,
    pub service: Arc<Service>,
    /// The listener's TLS, for reloading its certificate (SIGHUP); None for plain HTTP.
    pub tls: Option<coffer_server::Tls>,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    background: JoinHandle<()>,
    /// Held while the server runs (see [`lock_data_dir`]).
    _lock: std::fs::File,
}

impl Running {
    pub fn endpoint(&self) -> String {
        endpoint(self.addr, self.tls.is_some())
    }

    /// Stops accepting, drains in-flight requests, stops background work, and
    /// closes the audit log and the store.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let served = self.server.await;
        let _ = self.background.await;
        self.service.shutdown().await;
        served.context("server task")?.context("server")?;
        Ok(())
    }
}

fn endpoint(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

pub async fn start(opts: StartOptions) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating {}", opts.data_dir.display()))?;
    std::fs::set_permissions(&opts.data_dir, std::fs::Permissions::from_mode(0o700))?;
    let lock = lock_data_dir(&opts.data_dir)?;
    let roots = Arc::new(crate::rootkey::load_roots(
        &opts.root_key,
        opts.previous_root_key.as_ref(),
        &opts.data_dir,
    )?);
    // The audit chain key is read from the store (once a root-key rotation
    // kept it there), and the store writes its chain with it: open it once to
    // read, then for good.
    let probe = open_store(&opts, None).await?;
    let id = server_id(&opts.data_dir)?;
    let reported = coffer_core::root_watch::report_start(probe.store(), &id, &roots).await;
    let unlocked = match reported {
        Ok(()) => roots.unlock(probe.store()).await,
        Err(e) => Err(e.into()),
    };
    if unlocked.is_err() {
        // Not starting: nothing for a rotation to wait for.
        let key = format!("{}{id}", coffer_core::root_watch::HOLDER_PREFIX);
        let _ = probe.store().meta_put(&key, None).await;
    }
    probe.store().close().await?;
    let chain_key = unlocked?;
    let store = open_store(&opts, Some(chain_key)).await?.cached();
    let svc = Service::new(
        store,
        roots,
        chain_key,
        opts.clock.clone(),
        ServiceOptions {
            audit_path: opts.data_dir.join("audit.log"),
            sweep_interval: opts.sweep_interval,
            rotation_interval: opts.rotation_interval,
            rotation_functions: opts.rotation_functions.clone(),
            rotation_database_ca_file: opts.rotation_database_ca_file.clone(),
            event_retention: opts.event_retention,
            audit_retention: opts.audit_retention,
            events_ca_file: opts.events_ca_file.clone(),
            web_identity: opts.web_identity.clone(),
            nats_url: opts.nats_url.clone(),
            remote_regions: opts.remote_regions.clone(),
            local_regions: opts.http.regions.clone(),
            ship_audit_as: opts.database_url.as_ref().map(|_| id.clone()),
            server_id: Some(id),
        },
    )?;
    let (root_cred, created_root) = bootstrap_root(&svc, &opts).await?;
    svc.prepare()
        .await
        .map_err(|e| anyhow::anyhow!("preparing the replicator: {}", e.message))?;
    let (listener, addr) = coffer_server::bind(opts.listen)
        .await
        .with_context(|| format!("binding {}", opts.listen))?;
    let tls = opts.http.tls.clone();
    svc.set_endpoint(endpoint(addr, tls.is_some()));
    let (stop, stop_rx) = watch::channel(false);
    let background = svc.spawn_background(stop_rx.clone());
    let mut rx = stop_rx;
    let server = tokio::spawn(coffer_server::serve(
        listener,
        svc.clone(),
        opts.http.clone(),
        async move {
            let _ = rx.changed().await;
        },
    ));
    tracing::info!(%addr, tls = tls.is_some(), data_dir = %opts.data_dir.display(), dev = opts.dev, "coffer server listening");
    Ok(Running {
        addr,
        root: root_cred,
        created_root,
        service: svc,
        tls,
        stop,
        server,
        background,
        _lock: lock,
    })
}

/// An exclusive lock on `DATA_DIR/server.lock` for as long as the server runs:
/// two servers on one data directory would interleave one audit file, and
/// `coffer restore` must not replace a database a server has open. The kernel
/// drops the lock when the process ends, however it ends.
pub fn lock_data_dir(data_dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = data_dir.join("server.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // A process this one forks holds a copy of the lock until it execs: a
    // server restarted in that instant would see its own old lock. A real
    // other server holds it far longer than the second tried here.
    for attempt in 0..20 {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if attempt < 19 => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => break,
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
    bail!(
        "another coffer server (or coffer restore) is using {}; stop it first",
        data_dir.display()
    )
}

/// This server's id among those sharing a store (its audit file's name there):
/// made once, kept in the data directory.
fn server_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("server-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let id = format!(
        "{}-{}",
        if host.is_empty() { "server" } else { &host },
        ids::random_id(12)
    );
    std::fs::write(&path, format!("{id}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// A store as opened, before it goes behind the read cache.
enum Opened {
    Postgres(Box<coffer_store::postgres::PgStore>),
    Sqlite(SqliteStore),
}

impl Opened {
    fn store(&self) -> &dyn coffer_store::Store {
        match self {
            Opened::Postgres(s) => &**s,
            Opened::Sqlite(s) => s,
        }
    }

    /// Behind this process's read cache, which this process's commits
    /// invalidate at once, and other servers' (sharing the database) through
    /// the outbox follower.
    fn cached(self) -> Arc<dyn coffer_store::Store> {
        match self {
            Opened::Postgres(s) => Arc::new(CachedStore::new(*s)),
            Opened::Sqlite(s) => Arc::new(CachedStore::new(s)),
        }
    }
}

/// The store the options name.
async fn open_store(
    opts: &StartOptions,
    chain_key: Option<coffer_store::ChainKey>,
) -> anyhow::Result<Opened> {
    if let Some(url) = &opts.database_url {
        let shown = coffer_store::postgres::redact(url);
        let target = coffer_store::postgres::Target::new(url, opts.database_ca_file.as_deref())?
            .with_pool_size(opts.database_pool_size);
        let pg = coffer_store::postgres::PgStore::open_with(&target, chain_key)
            .await
            .with_context(|| format!("opening the PostgreSQL store at {shown}"))?;
        if chain_key.is_some() {
            tracing::info!(database = %shown, "store: PostgreSQL");
        }
        return Ok(Opened::Postgres(Box::new(pg)));
    }
    let db = opts
        .database
        .clone()
        .unwrap_or_else(|| opts.data_dir.join("coffer.db"));
    Ok(Opened::Sqlite(SqliteStore::open_keyed(&db, chain_key)?))
}

/// Makes sure the first account and its root credential exist, and returns the
/// credential to announce. Never logs the secret.
async fn bootstrap_root(
    svc: &Service,
    opts: &StartOptions,
) -> anyhow::Result<(Option<RootCredential>, bool)> {
    let on_disk = RootCredential::read(&opts.data_dir)?;
    let first_start = svc.first_account().await?.is_none();
    let account_id = match (&opts.account_id, &on_disk) {
        (Some(a), _) => a.clone(),
        (None, Some(c)) => c.account_id.clone(),
        (None, None) => match svc.first_account().await? {
            Some(a) => a,
            None if opts.dev => "000000000000".into(),
            None => ids::new_account_id(),
        },
    };
    if !ids::valid_account_id(&account_id) {
        bail!("account id must be 12 digits, got {account_id:?}");
    }
    svc.ensure_account(&account_id, "root").await?;
    let (cred, created) = match (&opts.access_key_id, &opts.secret_access_key, on_disk) {
        (Some(id), Some(secret), _) => {
            let c = RootCredential {
                account_id: account_id.clone(),
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
            };
            (c, false)
        }
        (Some(_), None, _) | (None, Some(_), _) => {
            bail!("give both the access key id and the secret access key, or neither")
        }
        (None, None, Some(c)) => (c, false),
        // The operator removed the credential file after first start, as advised:
        // never mint a new root credential behind their back.
        (None, None, None) if !first_start && !opts.dev => {
            tracing::info!("no root credential file; keeping the credentials already registered");
            return Ok((None, false));
        }
        (None, None, None) => {
            let secret = ids::new_secret_key();
            let c = RootCredential {
                account_id: account_id.clone(),
                access_key_id: ids::new_access_key_id(),
                secret_access_key: String::from_utf8(secret.into_vec())?,
            };
            (c, true)
        }
    };
    if cred.access_key_id.is_empty() || cred.secret_access_key.is_empty() {
        bail!("the access key id and secret access key must not be empty");
    }
    let secret = SecretBytes::new(cred.secret_access_key.as_bytes().to_vec());
    if !svc
        .add_root_credential(&cred.account_id, &cred.access_key_id, &secret)
        .await?
    {
        // The key id exists: it must be the same credential, not a takeover.
        let stored = svc.credential(&cred.access_key_id).await.map_err(|_| {
            anyhow::anyhow!(
                "the root key cannot open the credentials in {}: is it the key this data directory was created with?",
                opts.data_dir.display()
            )
        })?;
        match stored {
            Some(s) if s.secret == secret && s.account_id == cred.account_id => {}
            _ => bail!(
                "access key id {} already exists with another secret or account",
                cred.access_key_id
            ),
        }
    }
    if RootCredential::read(&opts.data_dir)?.is_none() {
        cred.write_new(&opts.data_dir)?;
        tracing::info!(path = %opts.data_dir.join(crate::credentials::FILE_NAME).display(), "root credential written (0600)");
    }
    Ok((Some(cred), created))
}
