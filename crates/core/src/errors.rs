//! The one way an internal failure reaches a client: logged here, opaque there.

use coffer_api::{ApiError, ErrorCode};
use coffer_store::StoreError;

/// Logs an internal failure and turns it into the opaque error clients see. A
/// store that cannot reach its database answers ServiceUnavailable (which the
/// AWS SDKs retry) rather than a server fault: nothing was written, and the
/// same call will work once the database is back.
pub(crate) fn internal<E: std::fmt::Display + 'static>(e: E) -> ApiError {
    let any: &dyn std::any::Any = &e;
    if let Some(StoreError::Unavailable(why)) = any.downcast_ref::<StoreError>() {
        tracing::warn!(error = %why, "database unavailable");
        return ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The service is temporarily unavailable. Please try again later.",
        );
    }
    tracing::error!(error = %e, "internal error");
    ApiError::internal()
}
