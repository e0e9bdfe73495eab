//! GetSecretValue and BatchGetSecretValue.

use super::not_deleted;
use crate::call::respond;
use crate::context::Caller;
use crate::errors::internal;
use crate::identity::Grant;
use crate::labels::CURRENT;
use crate::secrets::Secrets;
use coffer_api::sm_ops::action;
use coffer_api::types::{
    ApiErrorEntry, BatchGetSecretValueRequest, BatchGetSecretValueResponse, GetSecretValueRequest,
    SecretValueEntry, Sensitive, Timestamp,
};
use coffer_api::{validate, ApiError, ErrorCode};
use coffer_crypto::SecretBytes;
use coffer_store::{ListQuery, ListSort, Secret, VersionRow};

fn no_value_for_stage(stage: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFound,
        format!("Secrets Manager can't find the specified secret value for staging label: {stage}"),
    )
}

impl Secrets {
    /// A version's value, for the service's own use (replays, rotation).
    pub(crate) async fn decrypt(
        &self,
        s: &Secret,
        v: &VersionRow,
    ) -> Result<SecretBytes, ApiError> {
        self.decrypt_as(s, v, None).await
    }

    /// A version's value; under a customer-managed key, `caller` (if any) must
    /// be allowed `kms:Decrypt` on it, and the key must be enabled.
    pub(crate) async fn decrypt_as(
        &self,
        s: &Secret,
        v: &VersionRow,
        caller: Option<&Caller>,
    ) -> Result<SecretBytes, ApiError> {
        if let Some(doc) = self.keys.customer_for_decrypt(&v.kms_key_id).await? {
            if let Some(c) = caller {
                self.authorize_key_use(c, "kms:Decrypt", &doc, &s.row.arn)
                    .await?;
            }
            let data_key =
                self.keys
                    .open_data_key(&doc, &s.row.arn, &v.version_id, &v.wrapped_data_key)?;
            return coffer_crypto::open_with_data_key(
                &data_key,
                &s.row.arn,
                &v.version_id,
                &v.value_kind,
                &v.ciphertext,
            )
            .map_err(|e| {
                tracing::error!(arn = %s.row.arn, version = %v.version_id, error = %e, "stored value failed to decrypt");
                ApiError::new(
                    ErrorCode::DecryptionFailure,
                    "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
                )
            });
        }
        if let Some(c) = caller {
            super::kms::default_key_is_own(c, &s.row.account_id)?;
        }
        let scope = super::write::owner_scope(s);
        let kms = self.keys.for_decrypt(&scope, &v.kms_key_id).await?;
        let sealed = coffer_crypto::SealedValue {
            wrapped_data_key: v.wrapped_data_key.clone(),
            ciphertext: v.ciphertext.clone(),
        };
        coffer_crypto::open_value(&kms.key, &s.row.arn, &v.version_id, &v.value_kind, &sealed).map_err(|e| {
            tracing::error!(arn = %s.row.arn, version = %v.version_id, error = %e, "stored value failed to decrypt");
            ApiError::new(
                ErrorCode::DecryptionFailure,
                "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
            )
        })
    }

    /// Picks the version a read asks for, decrypts it, and notes the access.
    async fn read_value(
        &self,
        caller: &Caller,
        s: &Secret,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<SecretValueEntry, ApiError> {
        not_deleted(s)?;
        let version = if let Some(id) = version_id {
            let v = self.version_of(s, id).await?.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ResourceNotFound,
                    format!(
                        "Secrets Manager can't find the specified secret value for VersionId: {id}"
                    ),
                )
            })?;
            if let Some(st) = stage {
                if !v.labels.iter().any(|l| l == st) {
                    return Err(ApiError::invalid_request(
                        "You provided a VersionStage that is not associated to the provided VersionId.",
                    ));
                }
            }
            std::borrow::Cow::Owned(v)
        } else {
            let st = stage.unwrap_or(CURRENT);
            std::borrow::Cow::Borrowed(
                s.versions
                    .iter()
                    .find(|v| v.labels.iter().any(|l| l == st))
                    .ok_or_else(|| no_value_for_stage(st))?,
            )
        };
        let plain = self.decrypt_as(s, &version, Some(caller)).await?;
        self.access.record(
            s.row.id,
            &version.version_id,
            version.last_accessed_ms,
            self.clock.now_ms(),
        );
        let (secret_string, secret_binary) = if version.value_kind == "binary" {
            (None, Some(Sensitive(plain.into_vec())))
        } else {
            let text = String::from_utf8(plain.into_vec()).map_err(internal)?;
            (Some(Sensitive(text)), None)
        };
        Ok(SecretValueEntry {
            arn: s.row.arn.clone(),
            name: s.row.name.clone(),
            version_id: version.version_id.clone(),
            secret_binary,
            secret_string,
            version_stages: version.labels.clone(),
            created_date: Timestamp(version.created_ms),
        })
    }

    pub(crate) async fn get_secret_value(
        &self,
        g: &Grant<'_>,
        req: GetSecretValueRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let vid = validate::version_id(req.version_id.as_deref(), "versionId")?;
        let stage = validate::optional(req.version_stage.as_deref(), "versionStage", 1, 256)?;
        respond(
            &self
                .read_value(g.call().caller, g.secret()?, vid, stage)
                .await?,
        )
    }

    pub(crate) async fn batch_get_secret_value(
        &self,
        g: &Grant<'_>,
        req: BatchGetSecretValueRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let mut out = BatchGetSecretValueResponse::default();
        match (&req.secret_id_list, &req.filters) {
            (Some(ids), None) => {
                if req.max_results.is_some() || req.next_token.is_some() {
                    return Err(ApiError::invalid_param(
                        "MaxResults and NextToken can be used only with Filters, not with SecretIdList.",
                    ));
                }
                if ids.is_empty() || ids.len() > 20 {
                    return Err(ApiError::new(
                        ErrorCode::Validation,
                        "1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: Member must have length less than or equal to 20 and greater than or equal to 1",
                    ));
                }
                for id in ids {
                    validate::secret_id(Some(id))?;
                }
                for id in ids {
                    let got = match g.resolve(action::GET_SECRET_VALUE, id).await {
                        Ok(s) => self.read_value(g.call().caller, &s, None, None).await,
                        Err(e) => Err(e),
                    };
                    push(&mut out, id, got);
                }
            }
            (None, Some(filters)) => {
                let max = req.max_results.unwrap_or(20);
                validate::range(max, "maxResults", 1, 20)?;
                let super::list::Filters { keep, narrow } = super::list::list_filter(filters)?;
                let q = ListQuery {
                    narrow,
                    budget: Some(coffer_store::words::SCAN_BUDGET),
                    sort: ListSort::Name,
                    descending: false,
                    after: super::list::decode_position(req.next_token.as_deref(), "name", false)?,
                    limit: max as usize,
                    include_deleted: false,
                };
                let page = self
                    .store
                    .list_page(&g.caller().scope(), &q, keep)
                    .await
                    .map_err(internal)?;
                let next = super::list::next_position(&page, &q, "name");
                let page = page.secrets;
                for s in &page {
                    let got = match g.permits(action::GET_SECRET_VALUE, s).await {
                        Ok(()) => self.read_value(g.call().caller, s, None, None).await,
                        Err(e) => Err(e),
                    };
                    push(&mut out, &s.row.arn, got);
                }
                out.next_token = next;
            }
            _ => {
                return Err(ApiError::invalid_param(
                    "Either SecretIdList or Filters must be specified, but not both.",
                ))
            }
        }
        respond(&out)
    }
}

fn push(out: &mut BatchGetSecretValueResponse, id: &str, got: Result<SecretValueEntry, ApiError>) {
    match got {
        Ok(v) => out.secret_values.push(v),
        Err(e) => out.errors.push(ApiErrorEntry {
            secret_id: id.to_string(),
            error_code: e.code.as_str().into(),
            message: e.message,
        }),
    }
}
