//! The domain: secrets, versions, staging labels, deletion windows, credentials,
//! and the Secrets Manager operations themselves.
//!
//! [`Service::call`] is the one entry point the HTTP layer uses: an operation name,
//! an authenticated [`Caller`] and a JSON body in; a JSON body or an AWS error out.
//! Each mutating operation is one store transaction carrying its audit record and
//! change event; reads are audited through the audit file ([`audit`]).

pub mod access;
pub mod accounts;
pub mod arn;
pub mod audit;
pub mod authz;
mod background;
pub mod bootstrap;
pub mod clock;
pub mod context;
pub mod events;
pub mod iam;
pub mod keyring;
pub mod labels;
mod ops;
mod outbox;
pub mod password;
pub mod query;
pub mod rotation;
mod service;
pub mod session;
pub mod sts;

pub use clock::{Clock, ManualClock, SystemClock};
pub use context::Caller;
pub use query::QueryService;
pub use service::{Credential, Service, ServiceOptions};
pub use session::Session;

use coffer_api::ApiError;

/// Logs an internal failure and turns it into the opaque error clients see.
pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "internal error");
    ApiError::internal()
}
