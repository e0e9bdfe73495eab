//! Wire shapes, constraints and error codes of the Secrets Manager API.
//!
//! Everything here follows the published service model
//! (`secretsmanager/2017-10-17/service-2.json`). AWS clients check only `required`
//! and `min` themselves, so [`validate`] enforces every max, pattern and enum the
//! model declares. This crate is pure: no I/O, no async.

pub mod error;
pub mod sm_ops;
pub mod types;
pub mod validate;

pub use error::{ApiError, ErrorCode};
pub use sm_ops::SecretsManagerOperation;
