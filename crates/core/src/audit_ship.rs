//! Ships this server's audit file into a store that servers share, so read
//! records and refused calls outlive the server's disk.
//!
//! The file stays the first place a record goes (before the caller is
//! answered, as before); the shipper copies its new lines into the store once a
//! second and at shutdown, links and all, so `coffer audit verify` checks the
//! copy against the same keyed chain. A crash between the two loses at most
//! the lines of the last second from the store, never from the file; shipping
//! again after a restart starts at the last line the store holds. To find that
//! line without reading the file from its start, the shipper keeps a
//! checkpoint beside it (`audit.log.shipped`: line, byte offset, hash), taken
//! only when the line that ends at the offset still has that hash.

use coffer_store::{ShippedLine, Store};
use serde_json::Value;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
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
            let lines_last_hash = lines.last().map(|l| l.hash.clone());
            self.store
                .ship_audit(&self.server_id, lines)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(l) = lines_last_hash {
                self.save_checkpoint(last, next, &l);
            }
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
        let offset = tokio::task::spawn_blocking(move || resume_offset(&path, upto))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok((offset, upto))
    }

    /// Best effort: without it, a restart reads the file from its start.
    fn save_checkpoint(&self, line: i64, offset: u64, hash: &str) {
        if let Err(e) = std::fs::write(
            checkpoint_path(&self.path),
            format!("{line} {offset} {hash}\n"),
        ) {
            tracing::debug!(error = %e, "could not keep the audit shipping checkpoint");
        }
    }
}

fn checkpoint_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".shipped");
    PathBuf::from(p)
}

/// The offset just past line `upto`: from the checkpoint when it still holds
/// for this file and is not past `upto`, else from the file's start.
fn resume_offset(path: &Path, upto: i64) -> io::Result<u64> {
    let checkpoint = std::fs::read_to_string(checkpoint_path(path)).ok();
    let parsed = checkpoint.as_deref().and_then(|t| {
        let mut f = t.split_whitespace();
        let line: i64 = f.next()?.parse().ok()?;
        let offset: u64 = f.next()?.parse().ok()?;
        Some((line, offset, f.next()?.to_string()))
    });
    if let Some((line, offset, hash)) = parsed {
        if line <= upto && ends_with_line(path, offset, &hash)? {
            return skip_lines(path, offset, upto - line);
        }
    }
    skip_lines(path, 0, upto)
}

/// Longest line the checkpoint check reads back over; a longer one makes the
/// shipper read the file from its start instead.
const LINE_WINDOW: u64 = 256 * 1024;

/// Whether the line that ends at `offset` has hash `hash`.
fn ends_with_line(path: &Path, offset: u64, hash: &str) -> io::Result<bool> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(false);
    };
    let start = offset.saturating_sub(LINE_WINDOW);
    let mut buf = vec![0; usize::try_from(offset - start).unwrap_or(0)];
    file.seek(SeekFrom::Start(start))?;
    if offset == 0 || file.read_exact(&mut buf).is_err() || !buf.ends_with(b"\n") {
        return Ok(false);
    }
    let body = &buf[..buf.len() - 1];
    let line = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => &body[i + 1..],
        None if start == 0 => body,
        None => return Ok(false),
    };
    let v: Value = serde_json::from_slice(line).unwrap_or_default();
    Ok(v["hash"].as_str() == Some(hash))
}

/// The byte offset just past `count` lines from `from`.
fn skip_lines(path: &Path, from: u64, count: i64) -> io::Result<u64> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(from))?;
    let mut reader = BufReader::new(file);
    let (mut offset, mut buf) = (from, Vec::new());
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
    path: &Path,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(lines: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut f = std::fs::File::create(&path).unwrap();
        for i in 1..=lines {
            writeln!(
                f,
                r#"{{"prev":"h{}","hash":"h{i}","record":{{"n":{i}}}}}"#,
                i - 1
            )
            .unwrap();
        }
        (dir, path)
    }

    fn checkpoint(path: &Path, line: i64, offset: u64, hash: &str) {
        std::fs::write(checkpoint_path(path), format!("{line} {offset} {hash}\n")).unwrap();
    }

    /// A checkpoint that holds gives the same offset as reading from the
    /// start; one that does not (another file, a line rewritten, past what the
    /// store holds, unreadable) is passed over.
    #[test]
    fn resume_from_a_checkpoint_only_when_it_holds() {
        let (_dir, path) = file_of(10);
        let full = |n| skip_lines(&path, 0, n).unwrap();
        assert_eq!(resume_offset(&path, 7).unwrap(), full(7), "no checkpoint");
        checkpoint(&path, 4, full(4), "h4");
        assert!(ends_with_line(&path, full(4), "h4").unwrap());
        assert_eq!(resume_offset(&path, 7).unwrap(), full(7));
        assert_eq!(resume_offset(&path, 4).unwrap(), full(4));
        checkpoint(&path, 4, full(4), "another");
        assert!(!ends_with_line(&path, full(4), "another").unwrap());
        assert_eq!(resume_offset(&path, 7).unwrap(), full(7));
        checkpoint(&path, 9, full(9), "h9");
        assert_eq!(
            resume_offset(&path, 7).unwrap(),
            full(7),
            "the store is behind the checkpoint"
        );
        checkpoint(&path, 4, full(4) + 3, "h4");
        assert_eq!(
            resume_offset(&path, 7).unwrap(),
            full(7),
            "an offset inside a line"
        );
        checkpoint(&path, 4, 1 << 40, "h4");
        assert_eq!(resume_offset(&path, 7).unwrap(), full(7), "past the end");
        std::fs::write(checkpoint_path(&path), "garbage").unwrap();
        assert_eq!(resume_offset(&path, 10).unwrap(), full(10));
        checkpoint(&path, 1, full(1), "h1");
        assert_eq!(
            resume_offset(&path, 10).unwrap(),
            full(10),
            "the first line"
        );
    }
}
