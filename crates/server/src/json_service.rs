//! The AWS JSON 1.1 services served on the API's endpoint, told apart by
//! `X-Amz-Target`: what each is signed for, which operations it knows, and
//! which only read (for the quota).

use coffer_api::SecretsManagerOperation;

/// The AWS JSON 1.1 services on this endpoint, told apart by `X-Amz-Target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonService {
    SecretsManager,
    Events,
    CloudTrail,
    Kms,
    /// Coffer's own: another deployment's replicator keeping replicas here.
    Replication,
}

pub(crate) const REPLICATION_PREFIX: &str =
    coffer_core::secrets::replication::remote::TARGET_PREFIX;
/// The calls between deployments.
const REPLICATION_OPS: [&str; 2] = ["PutReplica", "DeleteReplica"];

impl JsonService {
    /// The service name requests are signed for (SigV4's credential scope).
    pub(crate) fn signing_name(self) -> &'static str {
        match self {
            JsonService::SecretsManager => "secretsmanager",
            JsonService::Events => "events",
            JsonService::CloudTrail => "cloudtrail",
            JsonService::Kms => "kms",
            JsonService::Replication => "secretsmanager",
        }
    }

    pub(crate) fn known(self, target: &str) -> Option<&'static str> {
        match self {
            JsonService::SecretsManager => SecretsManagerOperation::known(target),
            JsonService::Events => coffer_api::events_ops::known(target),
            JsonService::CloudTrail => (target == "LookupEvents").then_some("LookupEvents"),
            JsonService::Kms => coffer_api::kms_ops::known(target),
            JsonService::Replication => REPLICATION_OPS.iter().find(|o| **o == target).copied(),
        }
    }

    pub(crate) fn is_read_only(self, target: &str) -> bool {
        match self {
            JsonService::SecretsManager => SecretsManagerOperation::is_read_only(target),
            JsonService::Events => coffer_api::events_ops::is_read_only(target),
            JsonService::CloudTrail => true,
            JsonService::Kms => coffer_api::kms_ops::is_read_only(target),
            JsonService::Replication => false,
        }
    }
}
