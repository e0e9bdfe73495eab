//! The web console's sessions (see `console`), kept in the store (its meta
//! entries under `console-session/`) so that every server of a fleet honours
//! a sign-in, and a sign-out ends the session on all of them at once. The
//! store holds digests of the session id and of the CSRF token, not the
//! tokens: what is in the database does not open a session. The session
//! token of temporary credentials is kept as STS issued it (sealed under the
//! root key).

use coffer_api::{ApiError, ErrorCode};
use coffer_core::Store;
use coffer_sigv4::sha256_hex;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub(crate) const LIFETIME: Duration = Duration::from_hours(8);
/// A session unused this long ends.
pub(crate) const IDLE: Duration = Duration::from_hours(1);
pub(crate) const MAX_SESSIONS: usize = 10_000;
/// Sessions one access key may hold; a further sign-in ends its oldest.
pub(crate) const MAX_PER_KEY: usize = 16;
const PREFIX: &str = "console-session/";
/// A use is written down at most this often: the idle clock's grain, and
/// one store write a minute per active session rather than one per call.
const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ConsoleSession {
    pub(crate) access_key_id: String,
    pub(crate) session_token: Option<String>,
    pub(crate) region: String,
    csrf_sha256: String,
    started_ms: i64,
    used_ms: i64,
}

/// Whether two secrets are equal, compared in constant time.
pub(crate) fn eq_ct(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "console session store");
    ApiError::internal()
}

/// Where a session id's entry is: its digest, so the store never holds it.
fn key_of(id: &str) -> String {
    format!("{PREFIX}{}", sha256_hex(id.as_bytes()))
}

impl ConsoleSession {
    pub(crate) fn new(
        access_key_id: String,
        session_token: Option<String>,
        region: String,
        csrf: &str,
        now_ms: i64,
    ) -> Self {
        ConsoleSession {
            access_key_id,
            session_token,
            region,
            csrf_sha256: sha256_hex(csrf.as_bytes()),
            started_ms: now_ms,
            used_ms: now_ms,
        }
    }

    fn live(&self, now_ms: i64) -> bool {
        now_ms - self.started_ms < ms(LIFETIME) && now_ms - self.used_ms < ms(IDLE)
    }

    /// Whether `given` is the session's CSRF token (compared as digests, in
    /// constant time).
    pub(crate) fn csrf_matches(&self, given: &[u8]) -> bool {
        eq_ct(sha256_hex(given).as_bytes(), self.csrf_sha256.as_bytes())
    }
}

/// Records a new session under `id`. Ended sessions are swept on the way;
/// one key's sign-ins cannot crowd out others' (its oldest ends), and past
/// `MAX_SESSIONS` live ones a sign-in is refused.
pub(crate) async fn start(
    store: &dyn Store,
    id: &str,
    s: &ConsoleSession,
    now_ms: i64,
) -> Result<(), ApiError> {
    let mut live = 0;
    let mut mine = Vec::new();
    for (key, body) in store.meta_list(PREFIX).await.map_err(internal)? {
        match serde_json::from_str::<ConsoleSession>(&body) {
            Ok(other) if other.live(now_ms) => {
                live += 1;
                if other.access_key_id == s.access_key_id {
                    mine.push((other.started_ms, key));
                }
            }
            _ => store.meta_put(&key, None).await.map_err(internal)?,
        }
    }
    mine.sort();
    while mine.len() >= MAX_PER_KEY {
        let (_, key) = mine.remove(0);
        store.meta_put(&key, None).await.map_err(internal)?;
        live -= 1;
    }
    if live >= MAX_SESSIONS {
        return Err(ApiError::new(
            ErrorCode::Throttling,
            "Too many console sessions.",
        ));
    }
    let body = serde_json::to_string(s).map_err(internal)?;
    store
        .meta_put(&key_of(id), Some(&body))
        .await
        .map_err(internal)
}

/// The live session `id` names, with its stored form (for [`touch`]).
pub(crate) async fn find(
    store: &dyn Store,
    id: &str,
    now_ms: i64,
) -> Result<Option<(ConsoleSession, String)>, ApiError> {
    let key = key_of(id);
    let Some(body) = store.meta_get(&key).await.map_err(internal)? else {
        return Ok(None);
    };
    match serde_json::from_str::<ConsoleSession>(&body) {
        Ok(s) if s.live(now_ms) => Ok(Some((s, body))),
        _ => {
            store.meta_put(&key, None).await.map_err(internal)?;
            Ok(None)
        }
    }
}

/// Notes a use of the session, if the last one noted is a minute old. A swap,
/// not a put: a session signed out meanwhile (on any server) stays out.
pub(crate) async fn touch(
    store: &dyn Store,
    id: &str,
    (s, body): (&ConsoleSession, &str),
    now_ms: i64,
) -> Result<(), ApiError> {
    if now_ms - s.used_ms < TOUCH_EVERY_MS {
        return Ok(());
    }
    let mut used = s.clone();
    used.used_ms = now_ms;
    let new = serde_json::to_string(&used).map_err(internal)?;
    store
        .meta_swap(&key_of(id), body, &new)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Ends the session `id` on every server.
pub(crate) async fn end(store: &dyn Store, id: &str) -> Result<(), ApiError> {
    store.meta_put(&key_of(id), None).await.map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_by_age_and_by_idleness() {
        let s = ConsoleSession::new("AKIA".into(), None, "us-east-1".into(), "csrf", 0);
        assert!(s.live(ms(IDLE) - 1));
        assert!(!s.live(ms(IDLE)), "idle an hour");
        let mut used = s.clone();
        used.used_ms = ms(LIFETIME) - 10;
        assert!(used.live(ms(LIFETIME) - 1));
        assert!(!used.live(ms(LIFETIME)), "eight hours old, however used");
        assert!(s.csrf_matches(b"csrf"));
        assert!(!s.csrf_matches(b"csrF"));
        assert!(!s.csrf_matches(b""));
        let stored = serde_json::to_string(&s).unwrap();
        assert!(!stored.contains("\"csrf\""), "only its digest is kept");
        assert!(!key_of("the-id").contains("the-id"));
    }
}
