//! The key hierarchy at run time: the root key, and each scope's KMS keys unwrapped
//! on first use and cached. The default key `aws/secretsmanager` of an account and
//! region is created the first time a secret there needs it.

use crate::clock::Clock;
use crate::errors::internal;
use coffer_api::{ApiError, ErrorCode};
use coffer_crypto::{Key256, SecretBytes};
use coffer_store::{KmsKeyRow, Scope, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub mod customer;
pub mod roots;
pub mod rotate;

pub use customer::{KeyDoc, KeyState, Named};
pub use roots::{Roots, UnlockError};

pub const DEFAULT_ALIAS: &str = "alias/aws/secretsmanager";

/// A one-way digest of the root key that a store records, so a server started
/// with another root key is refused before it writes anything no other server
/// could read (HMAC with a label of its own: no other key of the hierarchy).
pub fn root_fingerprint(root: &Key256) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(root.as_bytes()).expect("any key length");
    m.update(b"coffer root key check v1");
    hex::encode(m.finalize().into_bytes())
}

/// An unwrapped KMS key: the account's default key, or one material of a
/// customer-managed key (its number in `material`).
pub struct KmsKey {
    pub arn: String,
    pub key: Key256,
    pub material: Option<u32>,
}

pub struct Keyring {
    pub(crate) roots: Arc<Roots>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// By key ARN, and by (account, region, alias) for the default key.
    by_arn: RwLock<HashMap<String, Arc<KmsKey>>>,
    by_alias: RwLock<HashMap<(String, String, String), Arc<KmsKey>>>,
}

fn encryption_failure() -> ApiError {
    ApiError::new(
        ErrorCode::EncryptionFailure,
        "Secrets Manager can't encrypt the protected secret text using the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid state.",
    )
}

impl Keyring {
    pub fn new(roots: Arc<Roots>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Keyring {
            roots,
            store,
            clock,
            by_arn: RwLock::default(),
            by_alias: RwLock::default(),
        }
    }

    fn remember(&self, row: &KmsKeyRow, key: Arc<KmsKey>) {
        if let Ok(mut m) = self.by_arn.write() {
            m.insert(row.arn.clone(), key.clone());
        }
        if let Ok(mut m) = self.by_alias.write() {
            m.insert(
                (
                    row.account_id.clone(),
                    row.region.clone(),
                    row.alias.clone(),
                ),
                key,
            );
        }
    }

    fn unwrap_row(&self, row: &KmsKeyRow) -> Result<Arc<KmsKey>, ApiError> {
        let key = self
            .roots
            .open(|root| coffer_crypto::unwrap_kms_key(root, &row.arn, &row.wrapped))
            .map_err(internal)?;
        let k = Arc::new(KmsKey {
            arn: row.arn.clone(),
            key,
            material: None,
        });
        self.remember(row, k.clone());
        Ok(k)
    }

    /// The key to encrypt new versions with: the one the caller named, else the
    /// scope's default key (created if absent). A customer-managed key comes
    /// with its document, for the caller to be authorized against its policy;
    /// one that is disabled or pending deletion is refused as AWS refuses it.
    pub async fn for_encrypt(
        &self,
        scope: &Scope,
        named: Option<&str>,
    ) -> Result<(Arc<KmsKey>, Option<KeyDoc>), ApiError> {
        match named {
            None | Some("aws/secretsmanager") => Ok((self.default_key(scope).await?, None)),
            Some(id) => match self.resolve(scope, id).await.map_err(kms_to_secrets)? {
                Named::Default => Ok((self.default_key(scope).await?, None)),
                Named::Customer(doc, _) => {
                    doc.usable().map_err(kms_to_secrets)?;
                    let k = self.material(&doc, doc.current())?;
                    Ok((k, Some(*doc)))
                }
            },
        }
    }

    /// The scope's `aws/secretsmanager` key, created the first time it is needed.
    pub async fn default_key(&self, scope: &Scope) -> Result<Arc<KmsKey>, ApiError> {
        let alias = DEFAULT_ALIAS.to_string();
        let cache_key = (
            scope.account_id.clone(),
            scope.region.clone(),
            alias.clone(),
        );
        if let Some(k) = self
            .by_alias
            .read()
            .ok()
            .and_then(|m| m.get(&cache_key).cloned())
        {
            return Ok(k);
        }
        if let Some(row) = self.store.kms_key(scope, &alias).await.map_err(internal)? {
            return self.unwrap_row(&row);
        }
        self.create_default(scope).await
    }

    async fn create_default(&self, scope: &Scope) -> Result<Arc<KmsKey>, ApiError> {
        let key_id = uuid::Uuid::new_v4().to_string();
        let arn = format!(
            "arn:aws:kms:{}:{}:key/{key_id}",
            scope.region, scope.account_id
        );
        let key = Key256::random();
        let row = KmsKeyRow {
            account_id: scope.account_id.clone(),
            region: scope.region.clone(),
            key_id,
            arn: arn.clone(),
            alias: DEFAULT_ALIAS.into(),
            wrapped: self
                .roots
                .seal(|root| coffer_crypto::wrap_kms_key(root, &arn, &key))
                .map_err(internal)?,
            created_ms: self.clock.now_ms(),
        };
        match self.store.insert_kms_key(row.clone()).await {
            Ok(()) => {
                let k = Arc::new(KmsKey {
                    arn,
                    key,
                    material: None,
                });
                self.remember(&row, k.clone());
                Ok(k)
            }
            // Another request created it first: use theirs.
            Err(StoreError::Duplicate) => match self
                .store
                .kms_key(scope, DEFAULT_ALIAS)
                .await
                .map_err(internal)?
            {
                Some(row) => self.unwrap_row(&row),
                None => Err(ApiError::internal()),
            },
            Err(e) => Err(internal(e)),
        }
    }

    /// The customer-managed key a stored version names (None: the default key).
    pub async fn customer_for_decrypt(&self, arn: &str) -> Result<Option<KeyDoc>, ApiError> {
        // Most versions are under a default key, cached by its ARN once read:
        // those reads cost no store lookup (customer materials are cached
        // under another name, and their documents are read every time).
        if self.by_arn.read().is_ok_and(|m| m.contains_key(arn)) {
            return Ok(None);
        }
        let Some((region, account, key)) = customer::split_kms_arn(arn) else {
            return Ok(None);
        };
        let key_id = key.strip_prefix("key/").unwrap_or(key);
        Ok(self.key_doc(account, region, key_id).await?.map(|(d, _)| d))
    }

    /// Opens a version's data key wrapped by a customer-managed key.
    pub fn open_data_key(
        &self,
        doc: &KeyDoc,
        secret_arn: &str,
        version_id: &str,
        wrapped: &[u8],
    ) -> Result<Key256, ApiError> {
        let ctx = customer::secret_context(secret_arn, version_id);
        let raw = self
            .decrypt_blob(doc, Some(&ctx), wrapped)
            .map_err(kms_to_secrets_read)?;
        Key256::from_bytes(raw.as_slice()).ok_or_else(ApiError::internal)
    }

    /// The key a stored version names, for decryption.
    pub async fn for_decrypt(&self, scope: &Scope, arn: &str) -> Result<Arc<KmsKey>, ApiError> {
        if let Some(k) = self.by_arn.read().ok().and_then(|m| m.get(arn).cloned()) {
            return Ok(k);
        }
        match self.store.kms_key(scope, arn).await.map_err(internal)? {
            Some(row) => self.unwrap_row(&row),
            None => Err(ApiError::new(
                ErrorCode::DecryptionFailure,
                "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
            )),
        }
    }

    /// Seals an access key's secret under the root key, bound to its key id.
    pub fn wrap_credential(&self, access_key_id: &str, secret: &[u8]) -> Result<Vec<u8>, ApiError> {
        let aad = credential_aad(access_key_id);
        self.roots
            .seal(|root| coffer_crypto::seal(root, aad.as_bytes(), secret))
            .map_err(internal)
    }

    pub fn unwrap_credential(
        &self,
        access_key_id: &str,
        wrapped: &[u8],
    ) -> Result<SecretBytes, ApiError> {
        let aad = credential_aad(access_key_id);
        self.roots
            .open(|root| coffer_crypto::open(root, aad.as_bytes(), wrapped))
            .map_err(internal)
    }
}

impl Keyring {
    /// Seals small records (session tokens) directly under the root key.
    pub fn seal_root(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, ApiError> {
        self.roots
            .seal(|root| coffer_crypto::seal(root, aad, plain))
            .map_err(internal)
    }

    pub fn open_root(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, ApiError> {
        // A forged token is the caller's error, not ours: no internal log line.
        self.roots
            .open(|root| coffer_crypto::open(root, aad, sealed))
            .map_err(|_| ApiError::internal())
    }
}

/// How Secrets Manager reports a KMS key it cannot use for a write: a key
/// that is missing, disabled or pending deletion fails the operation with
/// AWS's `EncryptionFailure`, KMS's own reason appended.
fn kms_to_secrets(e: ApiError) -> ApiError {
    match e.code {
        ErrorCode::KmsNotFound
        | ErrorCode::InvalidArn
        | ErrorCode::Disabled
        | ErrorCode::KmsInvalidState => ApiError::new(
            ErrorCode::EncryptionFailure,
            format!("{} {}", encryption_failure().message, e.message),
        ),
        _ => e,
    }
}

/// The same for a read: AWS's `DecryptionFailure`.
fn kms_to_secrets_read(e: ApiError) -> ApiError {
    let base =
        "Secrets Manager can't decrypt the protected secret text using the provided KMS key.";
    match e.code {
        ErrorCode::Disabled | ErrorCode::KmsInvalidState => ApiError::new(
            ErrorCode::DecryptionFailure,
            format!("{base} {}", e.message),
        ),
        ErrorCode::InvalidCiphertext => ApiError::new(ErrorCode::DecryptionFailure, base),
        _ => e,
    }
}

fn credential_aad(access_key_id: &str) -> String {
    format!("coffer/credential/v1|{access_key_id}")
}

/// What DescribeSecret and ListSecretVersionIds show for a key: AWS shows
/// `DefaultEncryptionKey` for the default key.
pub fn display_key_id(named: Option<&str>) -> String {
    match named {
        None => "DefaultEncryptionKey".into(),
        Some(k) => k.to_string(),
    }
}
