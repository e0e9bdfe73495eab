//! Wire shapes, constraints, error codes and typed operations of the APIs Coffer
//! speaks: Secrets Manager, EventBridge and KMS (JSON 1.1), and IAM and STS (the AWS Query protocol).
//!
//! Everything here follows the published service models
//! (`secretsmanager/2017-10-17/service-2.json` and IAM's and STS's). AWS clients
//! check only `required` and `min` themselves, so [`validate`] enforces every max,
//! pattern and enum the model declares. [`sm_ops`] is the Secrets Manager
//! operation set; [`iam_ops`] and [`sts_ops`] are generated from IAM's and STS's
//! models by `crates/api/gen/query_ops.py`; [`query`] holds the Query protocol's
//! wire types. This crate is pure: no I/O, no async.

pub mod error;
pub mod events_ops;
pub mod events_types;
pub mod iam_ops;
pub mod kms_ops;
pub mod query;
pub mod sm_ops;
pub mod sts_ops;
pub mod types;
pub mod validate;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod query_ops_tests;

pub use error::{ApiError, ErrorCode};
pub use iam_ops::IamOperation;
pub use sm_ops::SecretsManagerOperation;
pub use sts_ops::StsOperation;
