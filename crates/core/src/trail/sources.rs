//! The trail read a batch at a time from each of its sources (the store's
//! chain of mutations, every server's audit lines copied into a shared store,
//! this server's audit file), so that neither a lookup nor an export holds
//! more of a year's trail in memory than a batch of each source.

use coffer_store::Store;
use serde_json::Value;
use std::collections::BinaryHeap;
use std::io::BufRead;
use std::path::PathBuf;

const BATCH: usize = 1000;
/// Appenders that race write their records in the order they won the race,
/// not the order of their clocks. A merge holds up to this many records of
/// each source (never fewer than half) to put them back in order: a record
/// out of place by fewer than `REORDER / 2` of its source's records comes out
/// in time order.
const REORDER: usize = 4096;

/// Where each source has got to.
enum Cursor {
    Chain(i64),
    Shipped(String, i64),
    File(Option<std::io::BufReader<std::fs::File>>),
    Done,
}

/// One record as its source holds it, not yet parsed: a lookup can pass over
/// it by its text (see `Filter::needles` in `trail`) at a fraction of a parse.
pub struct Raw {
    text: String,
    /// A file line: the record wrapped with the chain's hashes.
    wrapped: bool,
}

impl Raw {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn parse(&self) -> Option<Value> {
        let mut v: Value = serde_json::from_str(&self.text).ok()?;
        Some(if self.wrapped { v["record"].take() } else { v })
    }
}

/// One source of the trail, in the order it was written.
pub struct Source<'a> {
    store: &'a dyn Store,
    cursor: Cursor,
}

impl Source<'_> {
    /// The next records (empty at the end).
    pub async fn next_batch(&mut self) -> Result<Vec<Raw>, String> {
        match &mut self.cursor {
            Cursor::Chain(after) => {
                let batch = self
                    .store
                    .audit_records(*after, BATCH)
                    .await
                    .map_err(|e| e.to_string())?;
                match batch.last() {
                    Some(last) => *after = last.seq,
                    None => self.cursor = Cursor::Done,
                }
                Ok(raw(batch.into_iter().map(|r| r.body), false))
            }
            Cursor::Shipped(server, after) => {
                let batch = self
                    .store
                    .shipped_lines(server, *after, BATCH)
                    .await
                    .map_err(|e| e.to_string())?;
                match batch.last() {
                    Some(last) => *after = last.line,
                    None => self.cursor = Cursor::Done,
                }
                Ok(raw(batch.into_iter().map(|l| l.body), false))
            }
            Cursor::File(reader) => {
                let Some(mut r) = reader.take() else {
                    return Ok(Vec::new());
                };
                let (r, lines) = tokio::task::spawn_blocking(move || {
                    let lines = file_lines(&mut r);
                    (r, lines)
                })
                .await
                .map_err(|e| e.to_string())?;
                let lines = lines.map_err(|e| e.to_string())?;
                if lines.is_empty() {
                    self.cursor = Cursor::Done;
                } else {
                    *reader = Some(r);
                }
                Ok(raw(lines.into_iter(), true))
            }
            Cursor::Done => Ok(Vec::new()),
        }
    }
}

fn raw(texts: impl Iterator<Item = String>, wrapped: bool) -> Vec<Raw> {
    texts.map(|text| Raw { text, wrapped }).collect()
}

/// Up to a batch of complete lines. A line still being written is left where
/// it is (the reader steps back over it), for a later batch to read whole.
fn file_lines(r: &mut std::io::BufReader<std::fs::File>) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    while out.len() < BATCH {
        // Bytes, not a String: a line cut inside a character is not an error.
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            r.seek_relative(-i64::try_from(n).unwrap_or(i64::MAX))?;
            break;
        }
        // A line that is not UTF-8 is no record (the parse would refuse it).
        out.extend(String::from_utf8(line).ok());
    }
    Ok(out)
}

/// Every source of the trail: the store's chain; every server's lines
/// (`shared`); the audit file at `file` (a lone server's reads and refusals).
pub async fn sources(
    store: &dyn Store,
    shared: bool,
    file: Option<PathBuf>,
) -> coffer_store::Result<Vec<Source<'_>>> {
    let mut out = vec![Source {
        store,
        cursor: Cursor::Chain(0),
    }];
    if shared {
        for server in store.shipped_servers().await? {
            out.push(Source {
                store,
                cursor: Cursor::Shipped(server, 0),
            });
        }
    }
    if let Some(path) = file {
        let reader = match std::fs::File::open(&path) {
            Ok(f) => Some(std::io::BufReader::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(coffer_store::StoreError::Backend(e.to_string())),
        };
        out.push(Source {
            store,
            cursor: Cursor::File(reader),
        });
    }
    Ok(out)
}

/// A record with the time it sorts by; ordered oldest first.
struct Timed {
    at_ms: i64,
    source: usize,
    seq: u64,
    record: Value,
}

impl PartialEq for Timed {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timed {
    // Reversed: BinaryHeap pops its greatest, the merge wants the oldest.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.key().cmp(&self.key())
    }
}
impl Timed {
    fn key(&self) -> (i64, usize, u64) {
        (self.at_ms, self.source, self.seq)
    }
}

/// Calls `each` with every record of `sources` and its time (epoch ms),
/// oldest first, until it answers false: a merge that holds at most `REORDER`
/// records of each source.
pub async fn merged(
    mut sources: Vec<Source<'_>>,
    mut each: impl FnMut(i64, Value) -> bool,
) -> Result<(), String> {
    let mut heap = BinaryHeap::new();
    // How many records of each source the heap holds, and whether it has more.
    let mut held = vec![0usize; sources.len()];
    let mut open = vec![true; sources.len()];
    let mut seq = 0u64;
    loop {
        for (i, s) in sources.iter_mut().enumerate() {
            while open[i] && held[i] < REORDER {
                let batch = s.next_batch().await?;
                open[i] = !batch.is_empty();
                for record in batch.iter().filter_map(Raw::parse) {
                    seq += 1;
                    held[i] += 1;
                    heap.push(Timed {
                        at_ms: super::time_ms(&record),
                        source: i,
                        seq,
                        record,
                    });
                }
            }
        }
        // Take the oldest until a source that still has records runs low.
        loop {
            let Some(t) = heap.pop() else {
                return Ok(());
            };
            held[t.source] -= 1;
            let low = open[t.source] && held[t.source] < REORDER / 2;
            if !each(t.at_ms, t.record) {
                return Ok(());
            }
            if low {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(at: &str, name: &str) -> String {
        let record = serde_json::json!({"eventTime": at, "eventName": name});
        format!(
            "{}\n",
            serde_json::json!({"prev": "p", "hash": "h", "record": record})
        )
    }

    /// Two files written out of order by a little, and a line still being
    /// written: the merge gives every complete record once, oldest first.
    #[tokio::test]
    async fn sources_merge_oldest_first_a_batch_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = coffer_store::sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let mut a = std::fs::File::create(dir.path().join("a")).unwrap();
        let mut b = std::fs::File::create(dir.path().join("b")).unwrap();
        let mut want = Vec::new();
        for i in 0..2500u32 {
            // Neighbours swapped: racing appenders.
            let j = if i % 2 == 0 { i + 1 } else { i - 1 };
            let t = |n: u32| {
                format!(
                    "2026-11-30T{:02}:{:02}:{:02}Z",
                    n / 3600,
                    n / 60 % 60,
                    n % 60
                )
            };
            a.write_all(line(&t(2 * j), &format!("a{j}")).as_bytes())
                .unwrap();
            b.write_all(line(&t(2 * i + 1), &format!("b{i}")).as_bytes())
                .unwrap();
            want.push((2 * i, format!("a{i}")));
            want.push((2 * i + 1, format!("b{i}")));
        }
        a.write_all(b"{\"prev\": \"p\", \"hash\"").unwrap();
        want.sort();
        let mut all = Vec::new();
        for f in ["a", "b"] {
            let mut s = sources(&store, false, Some(dir.path().join(f)))
                .await
                .unwrap();
            all.push(s.pop().unwrap());
        }
        let mut got = Vec::new();
        merged(all, |_, r| {
            got.push(r["eventName"].as_str().unwrap().to_string());
            true
        })
        .await
        .unwrap();
        let want: Vec<String> = want.into_iter().map(|(_, n)| n).collect();
        assert_eq!(got, want);
        let mut first = Vec::new();
        let s = sources(&store, false, Some(dir.path().join("b")))
            .await
            .unwrap();
        merged(s, |_, r| {
            first.push(r);
            false
        })
        .await
        .unwrap();
        assert_eq!(first.len(), 1, "stops when told");
    }

    /// A line still being written when a batch ends is read whole by the
    /// next batch once it is finished, not lost.
    #[tokio::test]
    async fn a_line_being_written_is_read_once_finished() {
        let dir = tempfile::tempdir().unwrap();
        let store = coffer_store::sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let path = dir.path().join("a");
        let mut f = std::fs::File::create(&path).unwrap();
        let whole = line("2026-11-30T00:00:01Z", "second-é");
        f.write_all(line("2026-11-30T00:00:00Z", "first").as_bytes())
            .unwrap();
        // Cut inside the two-byte é.
        let cut = whole.find('é').unwrap() + 1;
        f.write_all(&whole.as_bytes()[..cut]).unwrap();
        let mut s = sources(&store, false, Some(path))
            .await
            .unwrap()
            .pop()
            .unwrap();
        let names = |b: Vec<Raw>| -> Vec<String> {
            b.iter()
                .filter_map(Raw::parse)
                .map(|r| r["eventName"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(s.next_batch().await.unwrap()), ["first"]);
        f.write_all(&whole.as_bytes()[cut..]).unwrap();
        assert_eq!(names(s.next_batch().await.unwrap()), ["second-é"]);
        assert!(s.next_batch().await.unwrap().is_empty());
    }
}
