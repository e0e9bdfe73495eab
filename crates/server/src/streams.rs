//! How many change streams may be open: in all, and per access key. A stream
//! holds its connection for as long as the client likes, so without a cap one
//! principal could take every connection the server has.

use coffer_api::{ApiError, ErrorCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Open streams, by access key.
#[derive(Default)]
pub(crate) struct Streams {
    open: Mutex<HashMap<String, usize>>,
}

/// One open stream; closing it (dropping this) frees its place.
pub(crate) struct StreamSlot {
    streams: Arc<Streams>,
    key: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.streams.open.lock() {
            if let Some(n) = open.get_mut(&self.key) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&self.key);
                }
            }
        }
    }
}

fn too_many(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Throttling,
        format!("Too many change streams are open {what}; close one or retry later."),
    )
}

impl Streams {
    /// A place for one more stream of `key`, within both caps.
    pub(crate) fn open(
        self: &Arc<Self>,
        key: &str,
        total: usize,
        per_key: usize,
    ) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().map_err(|_| ApiError::internal())?;
        if open.values().sum::<usize>() >= total {
            return Err(too_many("on this server"));
        }
        let n = open.entry(key.to_string()).or_default();
        if *n >= per_key {
            return Err(too_many("for this access key"));
        }
        *n += 1;
        Ok(StreamSlot {
            streams: self.clone(),
            key: key.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_release() {
        let s = Arc::new(Streams::default());
        let a1 = s.open("A", 3, 2).unwrap();
        let _a2 = s.open("A", 3, 2).unwrap();
        assert_eq!(s.open("A", 3, 2).err().unwrap().code, ErrorCode::Throttling);
        let _b1 = s.open("B", 3, 2).unwrap();
        assert!(s.open("C", 3, 2).is_err(), "the total cap");
        drop(a1);
        assert!(s.open("A", 3, 2).is_ok(), "a closed stream frees its place");
    }
}
