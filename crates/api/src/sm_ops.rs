//! The Secrets Manager operations: one variant per operation of the published
//! model (`secretsmanager/2017-10-17`), parsed from the wire here and nowhere else.
//!
//! Each operation knows its name, whether it only reads, what it acts on (its
//! [`Target`]) and the condition keys its request carries. Authorization and the
//! audit record are built from the typed request, so what a policy sees and what
//! is audited is exactly what the handler runs with: a body carrying both `Tags`
//! and `tags` has one meaning, the one serde gives `Tags`.
//!
//! Operations Coffer does not serve yet are variants too (with an [`Unserved`]
//! request): a caller gets a clear answer, and serving one later means giving it a
//! request type and a handler, which the service's exhaustive dispatch demands.

use crate::error::{ApiError, ErrorCode};
use crate::query::lower_first;
use crate::types::{
    AssociateCrossAccountReplicaRequest, BatchGetSecretValueRequest, CreateSecretRequest,
    DeleteSecretRequest, DisassociateCrossAccountReplicaRequest, GetRandomPasswordRequest,
    GetSecretValueRequest, ListResourcePoliciesRequest, ListSecretVersionIdsRequest,
    ListSecretsRequest, PutResourcePolicyRequest, PutSecretValueRequest,
    RemoveRegionsFromReplicationRequest, ReplicaRegion, ReplicateSecretToRegionsRequest,
    ResourcePolicyRequest, RotateSecretRequest, SecretIdRequest, Tag, TagResourceRequest,
    UntagResourceRequest, UpdateSecretRequest, UpdateSecretVersionStageRequest,
    ValidateResourcePolicyRequest,
};
use crate::validate;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

/// What an operation acts on, for authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The account (resource `*`): listing, random passwords, batch reads.
    Account,
    /// An existing secret, by name, full ARN or partial ARN as the caller gave it.
    Secret(&'a str),
    /// A secret to be created, by name.
    NewSecret(&'a str),
    /// Nothing: the operation is not served, and says so to everyone.
    Unserved,
}

/// Actions the service authorizes beyond an operation's own: a batch read's
/// per-secret reads, the change stream's per-secret visibility, and listing
/// for reads by filter.
pub mod action {
    pub const GET_SECRET_VALUE: &str = "GetSecretValue";
    pub const DESCRIBE_SECRET: &str = "DescribeSecret";
    pub const LIST_SECRETS: &str = "ListSecrets";
    /// Coffer's own: subscribing to the change stream (`GET /coffer/v1/events`),
    /// in the `secretsmanager` namespace so `secretsmanager:*` grants it.
    pub const SUBSCRIBE_CHANGES: &str = "SubscribeChanges";
}

/// Condition keys of one request: `(key, values)`.
pub type ConditionKeys = Vec<(String, Vec<String>)>;

macro_rules! operations {
    ($($name:ident($req:ty) $access:ident,)*) => {
        /// One Secrets Manager request, typed.
        #[derive(Debug)]
        pub enum SecretsManagerOperation {
            $($name($req),)*
        }

        impl SecretsManagerOperation {
            /// Every operation of the model, served or not.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name),)*];

            /// Parses the operation named by `X-Amz-Target` (without its
            /// `secretsmanager.` prefix) and its JSON body.
            pub fn parse(name: &str, body: &[u8]) -> Result<Self, ApiError> {
                match name {
                    $(stringify!($name) => Ok(Self::$name(from_body(body)?)),)*
                    _ => Err(ApiError::new(ErrorCode::UnknownOperation, "")),
                }
            }

            /// The model's name for `name`, if the model has such an operation
            /// (metrics and logs name nothing a client made up).
            pub fn known(name: &str) -> Option<&'static str> {
                Self::NAMES.iter().find(|n| **n == name).copied()
            }

            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$name(_) => stringify!($name),)*
                }
            }

            /// Does the operation named `name` only read? (Unknown names: no.)
            pub fn is_read_only(name: &str) -> bool {
                match name {
                    $(stringify!($name) => operations!(@read_only $access),)*
                    _ => false,
                }
            }

            /// Does the operation only read? (The audit record's `readOnly`.)
            pub fn read_only(&self) -> bool {
                match self {
                    $(Self::$name(_) => operations!(@read_only $access),)*
                }
            }

            /// CloudTrail's `requestParameters`: the typed request with camelCase
            /// member names and secret members hidden.
            pub fn audit_parameters(&self) -> Value {
                match self {
                    $(Self::$name(r) => audit_value(r),)*
                }
            }
        }
    };
    (@read_only read) => { true };
    (@read_only write) => { false };
}

operations! {
    AssociateCrossAccountReplica(AssociateCrossAccountReplicaRequest) write,
    BatchGetSecretValue(BatchGetSecretValueRequest) read,
    CancelRotateSecret(SecretIdRequest) write,
    CreateSecret(CreateSecretRequest) write,
    DeleteResourcePolicy(ResourcePolicyRequest) write,
    DeleteSecret(DeleteSecretRequest) write,
    DescribeSecret(SecretIdRequest) read,
    DisassociateCrossAccountReplica(DisassociateCrossAccountReplicaRequest) write,
    GetRandomPassword(GetRandomPasswordRequest) read,
    GetResourcePolicy(ResourcePolicyRequest) read,
    GetSecretValue(GetSecretValueRequest) read,
    ListResourcePolicies(ListResourcePoliciesRequest) read,
    ListSecretVersionIds(ListSecretVersionIdsRequest) read,
    ListSecrets(ListSecretsRequest) read,
    PutResourcePolicy(PutResourcePolicyRequest) write,
    PutSecretValue(PutSecretValueRequest) write,
    RemoveRegionsFromReplication(RemoveRegionsFromReplicationRequest) write,
    ReplicateSecretToRegions(ReplicateSecretToRegionsRequest) write,
    RestoreSecret(SecretIdRequest) write,
    RotateSecret(RotateSecretRequest) write,
    StopReplicationToReplica(SecretIdRequest) write,
    TagResource(TagResourceRequest) write,
    UntagResource(UntagResourceRequest) write,
    UpdateSecret(UpdateSecretRequest) write,
    UpdateSecretVersionStage(UpdateSecretVersionStageRequest) write,
    ValidateResourcePolicy(ValidateResourcePolicyRequest) read,
}

impl SecretsManagerOperation {
    /// What the operation acts on. The identifier is checked here, as part of
    /// parsing: without a valid one there is nothing to authorize.
    pub fn target(&self) -> Result<Target<'_>, ApiError> {
        use SecretsManagerOperation as Op;
        fn id(v: Option<&String>) -> Result<Target<'_>, ApiError> {
            validate::secret_id(v.map(String::as_str)).map(Target::Secret)
        }
        match self {
            Op::BatchGetSecretValue(_) | Op::GetRandomPassword(_) | Op::ListSecrets(_) => {
                Ok(Target::Account)
            }
            Op::CreateSecret(r) => validate::secret_name(r.name.as_deref()).map(Target::NewSecret),
            Op::ValidateResourcePolicy(r) => match &r.secret_id {
                Some(_) => id(r.secret_id.as_ref()),
                None => Ok(Target::Account),
            },
            Op::CancelRotateSecret(r) | Op::DescribeSecret(r) | Op::RestoreSecret(r) => {
                id(r.secret_id.as_ref())
            }
            Op::DeleteResourcePolicy(r) | Op::GetResourcePolicy(r) => id(r.secret_id.as_ref()),
            Op::ListResourcePolicies(r) => id(r.secret_id.as_ref()),
            Op::DeleteSecret(r) => id(r.secret_id.as_ref()),
            Op::GetSecretValue(r) => id(r.secret_id.as_ref()),
            Op::ListSecretVersionIds(r) => id(r.secret_id.as_ref()),
            Op::PutResourcePolicy(r) => id(r.secret_id.as_ref()),
            Op::PutSecretValue(r) => id(r.secret_id.as_ref()),
            Op::RotateSecret(r) => id(r.secret_id.as_ref()),
            Op::TagResource(r) => id(r.secret_id.as_ref()),
            Op::UntagResource(r) => id(r.secret_id.as_ref()),
            Op::UpdateSecret(r) => id(r.secret_id.as_ref()),
            Op::UpdateSecretVersionStage(r) => id(r.secret_id.as_ref()),
            Op::RemoveRegionsFromReplication(r) => id(r.secret_id.as_ref()),
            Op::ReplicateSecretToRegions(r) => id(r.secret_id.as_ref()),
            Op::StopReplicationToReplica(r) => id(r.secret_id.as_ref()),
            Op::AssociateCrossAccountReplica(r) => id(r.secret_id.as_ref()),
            Op::DisassociateCrossAccountReplica(r) => id(r.secret_id.as_ref()),
        }
    }

    /// Further actions the caller needs on the account: reading by filters lists
    /// the account's secrets, and AWS asks for `ListSecrets` too.
    pub fn also_requires(&self) -> Option<&'static str> {
        match self {
            Self::BatchGetSecretValue(r) if r.filters.is_some() => Some(action::LIST_SECRETS),
            _ => None,
        }
    }

    /// The request's own condition keys (AWS's service authorization reference
    /// lists which operation carries which).
    pub fn condition_keys(&self) -> ConditionKeys {
        use SecretsManagerOperation as Op;
        let mut k = Keys::default();
        match self {
            Op::CreateSecret(r) => {
                k.one("secretsmanager:Name", r.name.as_deref());
                k.one("secretsmanager:Description", r.description.as_deref());
                k.one("secretsmanager:KmsKeyId", r.kms_key_id.as_deref());
                k.replicas(
                    r.add_replica_regions.as_deref(),
                    r.force_overwrite_replica_secret,
                );
                k.tags(r.tags.as_deref());
            }
            Op::ReplicateSecretToRegions(r) => k.replicas(
                r.add_replica_regions.as_deref(),
                r.force_overwrite_replica_secret,
            ),
            Op::UpdateSecret(r) => {
                k.one("secretsmanager:Description", r.description.as_deref());
                k.one("secretsmanager:KmsKeyId", r.kms_key_id.as_deref());
            }
            Op::GetSecretValue(r) => {
                k.one("secretsmanager:VersionId", r.version_id.as_deref());
                k.one("secretsmanager:VersionStage", r.version_stage.as_deref());
            }
            Op::UpdateSecretVersionStage(r) => {
                k.one("secretsmanager:VersionStage", r.version_stage.as_deref());
            }
            Op::DeleteSecret(r) => {
                // The values the operation will act on: absent members at their
                // defaults, so a policy cannot be sidestepped by leaving one out.
                let force = r.force_delete_without_recovery.unwrap_or(false);
                if !force {
                    let days = r.recovery_window_in_days.unwrap_or(30).to_string();
                    k.one("secretsmanager:RecoveryWindowInDays", Some(&days));
                }
                k.flag("secretsmanager:ForceDeleteWithoutRecovery", Some(force));
            }
            Op::TagResource(r) => k.tags(r.tags.as_deref()),
            Op::UntagResource(r) => {
                k.many("aws:TagKeys", r.tag_keys.iter().flatten().cloned());
            }
            Op::PutResourcePolicy(r) => {
                let block = r.block_public_policy.unwrap_or(false);
                k.flag("secretsmanager:BlockPublicPolicy", Some(block));
            }
            Op::RotateSecret(r) => {
                k.one(
                    "secretsmanager:RotationLambdaARN",
                    r.rotation_lambda_arn.as_deref(),
                );
                k.flag(
                    "secretsmanager:ModifyRotationRules",
                    Some(r.rotation_rules.is_some()),
                );
                // Absent means yes: RotateSecret rotates at once unless told not to.
                k.flag(
                    "secretsmanager:RotateImmediately",
                    Some(r.rotate_immediately.unwrap_or(true)),
                );
            }
            _ => {}
        }
        k.0
    }
}

/// Builds a request's condition keys.
#[derive(Default)]
struct Keys(ConditionKeys);

impl Keys {
    fn one(&mut self, key: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.0.push((key.to_string(), vec![v.to_string()]));
        }
    }

    fn flag(&mut self, key: &str, v: Option<bool>) {
        if let Some(v) = v {
            self.0.push((key.to_string(), vec![v.to_string()]));
        }
    }

    fn many(&mut self, key: &str, vs: impl Iterator<Item = String>) {
        let vs: Vec<String> = vs.collect();
        if !vs.is_empty() {
            self.0.push((key.to_string(), vs));
        }
    }

    /// The regions asked for and whether overwriting is (absent: no).
    fn replicas(&mut self, regions: Option<&[ReplicaRegion]>, overwrite: Option<bool>) {
        let overwrite = overwrite.unwrap_or(false);
        self.flag(
            "secretsmanager:ForceOverwriteReplicaSecret",
            Some(overwrite),
        );
        let regions = regions.unwrap_or_default().iter();
        self.many(
            "secretsmanager:AddReplicaRegions",
            regions.filter_map(|x| x.region.clone()),
        );
    }

    /// `aws:RequestTag/KEY` for each tag, and `aws:TagKeys`.
    fn tags(&mut self, tags: Option<&[Tag]>) {
        let tags = tags.unwrap_or_default();
        for t in tags {
            // A tag without a value is stored with an empty one.
            if let Some(key) = &t.key {
                let v = t.value.clone().unwrap_or_default();
                self.0.push((format!("aws:RequestTag/{key}"), vec![v]));
            }
        }
        self.many("aws:TagKeys", tags.iter().filter_map(|t| t.key.clone()));
    }
}

/// A request body: a JSON object (an empty body is an empty object).
pub(crate) fn from_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            ErrorCode::SerializationException,
            "Start of structure or map found where not expected.",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::SerializationException,
            redact_values(&e.to_string()),
        )
    })
}

/// serde's messages quote the offending value (``invalid type: integer `12345` ``),
/// and that value may be a mistyped secret: keep the message, drop the values.
fn redact_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in msg.split(" at line").next().unwrap_or("").chars() {
        match quote {
            // serde writes a quote inside a string value as `\"`: it does not
            // end the value.
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '`' || c == '"' => {
                quote = Some(c);
                out.push_str("(value)");
            }
            None => out.push(c),
        }
    }
    out
}

fn audit_value<T: Serialize>(request: &T) -> Value {
    camel_case(serde_json::to_value(request).unwrap_or_default())
}

/// `SecretId` → `secretId` at every level (CloudTrail's member names), leaving
/// out members the request did not carry.
pub(crate) fn camel_case(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (lower_first(&k), camel_case(v)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(camel_case).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::HIDDEN;
    use serde_json::json;

    fn op(name: &str, body: Value) -> SecretsManagerOperation {
        SecretsManagerOperation::parse(name, body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn twins_do_not_change_what_is_authorized_or_audited() {
        let o = op(
            "CreateSecret",
            json!({"Name": "a", "Tags": [{"Key": "team", "Value": "ops"}],
                   "tags": [{"Key": "team", "Value": "dev"}], "SecretString": "hunter2"}),
        );
        let keys = o.condition_keys();
        assert!(keys.contains(&("aws:RequestTag/team".into(), vec!["ops".into()])));
        assert!(!keys.iter().any(|(_, v)| v.contains(&"dev".to_string())));
        let audit = o.audit_parameters();
        assert_eq!(
            audit,
            json!({"name": "a", "tags": [{"key": "team", "value": "ops"}],
                   "secretString": HIDDEN})
        );
        let o = op(
            "PutResourcePolicy",
            json!({"SecretId": "a", "ResourcePolicy": "{}", "BlockPublicPolicy": false,
                   "blockPublicPolicy": true}),
        );
        assert_eq!(
            o.condition_keys(),
            vec![(
                "secretsmanager:BlockPublicPolicy".into(),
                vec!["false".into()]
            )]
        );
    }

    #[test]
    fn keys_carry_the_values_the_operation_uses() {
        // Absent members at their defaults: leaving one out must not slip past
        // a policy that conditions on it.
        let o = op(
            "PutResourcePolicy",
            json!({"SecretId": "a", "ResourcePolicy": "{}"}),
        );
        assert_eq!(
            o.condition_keys(),
            vec![(
                "secretsmanager:BlockPublicPolicy".into(),
                vec!["false".into()]
            )]
        );
        let o = op("DeleteSecret", json!({"SecretId": "a"}));
        let keys = o.condition_keys();
        assert!(keys.contains(&(
            "secretsmanager:RecoveryWindowInDays".into(),
            vec!["30".into()]
        )));
        assert!(keys.contains(&(
            "secretsmanager:ForceDeleteWithoutRecovery".into(),
            vec!["false".into()]
        )));
        // A tag without a value is stored with an empty one, and seen so.
        let o = op(
            "TagResource",
            json!({"SecretId": "a", "Tags": [{"Key": "team"}]}),
        );
        assert!(o
            .condition_keys()
            .contains(&("aws:RequestTag/team".into(), vec![String::new()])));
    }

    #[test]
    fn escaped_quotes_do_not_end_the_redaction() {
        let body = br#"{"SecretId": "a", "ForceDeleteWithoutRecovery": "x" hunter2 " y"}"#;
        let e = SecretsManagerOperation::parse("DeleteSecret", body).unwrap_err();
        assert_eq!(e.code, ErrorCode::SerializationException);
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }

    #[test]
    fn duplicate_members_and_non_objects_are_refused() {
        for body in [
            r#"{"SecretId": "a", "SecretId": "b"}"#,
            r#"["SecretId"]"#,
            "12",
        ] {
            let e = SecretsManagerOperation::parse("GetSecretValue", body.as_bytes()).unwrap_err();
            assert_eq!(e.code, ErrorCode::SerializationException, "{body}");
        }
        let e = SecretsManagerOperation::parse("GetSecretValues", b"{}").unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownOperation);
    }

    #[test]
    fn type_errors_do_not_echo_values() {
        let e = SecretsManagerOperation::parse("PutSecretValue", br#"{"SecretString": 987654321}"#)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::SerializationException);
        assert!(!e.message.contains("987654321"), "{}", e.message);
        assert!(
            e.message
                .starts_with("invalid type: integer (value), expected"),
            "{}",
            e.message
        );
        let e = SecretsManagerOperation::parse(
            "PutSecretValue",
            br#"{"SecretString": {"nested": "hunter2"}}"#,
        )
        .unwrap_err();
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }

    #[test]
    fn targets() {
        assert_eq!(
            op("GetSecretValue", json!({"SecretId": "x"})).target(),
            Ok(Target::Secret("x"))
        );
        assert_eq!(
            op("GetSecretValue", json!({})).target().unwrap_err().code,
            ErrorCode::Validation
        );
        assert_eq!(op("ListSecrets", json!({})).target(), Ok(Target::Account));
        assert_eq!(
            op("CreateSecret", json!({"Name": "n"})).target(),
            Ok(Target::NewSecret("n"))
        );
        assert_eq!(
            op("ValidateResourcePolicy", json!({"ResourcePolicy": "{}"})).target(),
            Ok(Target::Account)
        );
        assert_eq!(
            op("AssociateCrossAccountReplica", json!({"SecretId": "p"})).target(),
            Ok(Target::Secret("p"))
        );
        assert_eq!(SecretsManagerOperation::NAMES.len(), 26);
    }

    #[test]
    fn binary_values_are_hidden_too() {
        let o = op(
            "PutSecretValue",
            json!({"SecretId": "a", "SecretBinary": "Zm9v", "RotationToken": "t"}),
        );
        assert_eq!(
            o.audit_parameters(),
            json!({"secretId": "a", "secretBinary": HIDDEN, "rotationToken": HIDDEN})
        );
    }
}
