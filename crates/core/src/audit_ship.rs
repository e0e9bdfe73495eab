//! Ships this server's audit file into a store that servers share, so read
//! records and refused calls outlive the server's disk.
//!
//! The file stays the first place a record goes (before the caller is
//! answered, as before); the shipper copies its new lines into the store once a
//! second and at shutdown, links and all, so `coffer audit verify` checks the
//! copy against the same keyed chain. A crash between the two loses at most
//! the lines of the last second from the store, never from the file; shipping
//! again after a restart starts at the last line the store holds.

use coffer_store::{ShippedLine, Store};
use serde_json::Value;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

/// Lines sent to the store in one statement.
const BATCH: usize = 1000;

pub struct Shipper {
    path: PathBuf,
    server_id: String,
    store: Arc<dyn Store>,
    /// Where in the file the next unshipped line starts, and its number;
    /// None until the store said where shipping stopped.
    at: tokio::sync::Mutex<Option<(u64, i64)>>,
}

impl Shipper {
    pub fn new(path: PathBuf, server_id: String, store: Arc<dyn Store>) -> Shipper {
        Shipper {
            path,
            server_id,
            store,
            at: tokio::sync::Mutex::new(None),
        }
    }

    /// Copies every complete line not yet in the store; returns how many.
    pub async fn ship(&self) -> Result<usize, String> {
        let mut at = self.at.lock().await;
        let (mut offset, mut line) = if let Some(p) = *at {
            p
        } else {
            self.resume_point().await?
        };
        let mut shipped = 0;
        loop {
            let path = self.path.clone();
            let (lines, next) =
                tokio::task::spawn_blocking(move || read_lines(&path, offset, line, BATCH))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
            let n = lines.len();
            let last = lines.last().map_or(line, |l| l.line);
            self.store
                .ship_audit(&self.server_id, lines)
                .await
                .map_err(|e| e.to_string())?;
            (offset, line) = (next, last);
            *at = Some((offset, line));
            shipped += n;
            if n < BATCH {
                return Ok(shipped);
            }
        }
    }
}

impl Shipper {
    /// Where shipping stopped: the last line the store holds, and the offset
    /// of the line after it in the file.
    async fn resume_point(&self) -> Result<(u64, i64), String> {
        let upto = self
            .store
            .shipped_upto(&self.server_id)
            .await
            .map_err(|e| e.to_string())?;
        let path = self.path.clone();
        let offset = tokio::task::spawn_blocking(move || skip_lines(&path, upto))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok((offset, upto))
    }
}

/// The byte offset just past the first `count` lines.
fn skip_lines(path: &std::path::Path, count: i64) -> io::Result<u64> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let (mut offset, mut buf) = (0u64, Vec::new());
    for _ in 0..count {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 || !buf.ends_with(b"\n") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the store holds more audit lines than the file: not this server's file",
            ));
        }
        offset += n as u64;
    }
    Ok(offset)
}

/// Up to `max` complete lines from `offset` on, numbered after `line`, and
/// the offset after them. A line still being written (no newline yet) waits.
fn read_lines(
    path: &std::path::Path,
    offset: u64,
    line: i64,
    max: usize,
) -> io::Result<(Vec<ShippedLine>, u64)> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file.take(u64::MAX));
    let (mut out, mut next, mut buf) = (Vec::new(), offset, Vec::new());
    while out.len() < max {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 || !buf.ends_with(b"\n") {
            break;
        }
        let v: Value = serde_json::from_slice(&buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        out.push(ShippedLine {
            line: line + out.len() as i64 + 1,
            prev: v["prev"].as_str().unwrap_or_default().to_string(),
            hash: v["hash"].as_str().unwrap_or_default().to_string(),
            body: v["record"].to_string(),
        });
        next += n as u64;
    }
    Ok((out, next))
}
