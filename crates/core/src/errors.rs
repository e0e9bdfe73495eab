//! The one way an internal failure reaches a client: logged here, opaque there.

use coffer_api::ApiError;

/// Logs an internal failure and turns it into the opaque error clients see.
pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "internal error");
    ApiError::internal()
}
