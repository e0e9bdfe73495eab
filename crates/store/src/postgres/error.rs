//! PostgreSQL errors as store errors.
//!
//! Only the server's message goes into the error, never its DETAIL, which can
//! quote the key values of a violated constraint.

use crate::StoreError;
use tokio_postgres::error::SqlState;

pub fn pg_err(e: tokio_postgres::Error) -> StoreError {
    if unavailable(&e) {
        return StoreError::Unavailable(describe(&e));
    }
    match e.code() {
        // Two writers raced for a row or deadlocked: the caller re-reads and retries.
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Conflict
        }
        _ => StoreError::Backend(describe(&e)),
    }
}

pub fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{e}: {} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// The database cannot be reached or is going away, as opposed to refusing
/// this statement: a client may retry later.
fn unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // 08: connection exception; 57P0x: shutting down or starting up;
        // 53: out of connections, memory or disk.
        return code.starts_with("08") || code.starts_with("57P0") || code.starts_with("53");
    }
    let io =
        std::error::Error::source(e).is_some_and(<dyn std::error::Error>::is::<std::io::Error>);
    let text = e.to_string();
    io || text.starts_with("error connecting") || text.starts_with("timeout")
}
