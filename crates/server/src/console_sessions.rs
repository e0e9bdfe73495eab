//! The web console's sessions (see `console`): kept apart from its handlers
//! so the HTTP front holds them without depending on those.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) const LIFETIME: Duration = Duration::from_hours(8);
/// A session unused this long ends.
pub(crate) const IDLE: Duration = Duration::from_hours(1);
pub(crate) const MAX_SESSIONS: usize = 10_000;
/// Sessions one access key may hold; a further sign-in ends its oldest.
pub(crate) const MAX_PER_KEY: usize = 16;

pub(crate) struct ConsoleSession {
    pub(crate) access_key_id: String,
    pub(crate) session_token: Option<String>,
    pub(crate) region: String,
    pub(crate) csrf: String,
    pub(crate) started: Instant,
    pub(crate) last_used: Mutex<Instant>,
}

impl ConsoleSession {
    pub(crate) fn live(&self) -> bool {
        let idle = self.last_used.lock().map_or(IDLE, |t| t.elapsed());
        self.started.elapsed() < LIFETIME && idle < IDLE
    }
}

#[derive(Default)]
pub(crate) struct Sessions {
    pub(crate) by_id: Mutex<HashMap<String, Arc<ConsoleSession>>>,
}
