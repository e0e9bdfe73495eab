//! Structured logs on stderr (stdout is kept for the `export` lines).

use tracing_subscriber::EnvFilter;

/// `level` is a default; `RUST_LOG` overrides it.
pub fn init(level: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Logs to `path` instead (the agent's `log_to_file`): a new file when it
/// reaches 10 MB, the last five kept as `path.1` … `path.5`, as the AWS agent
/// keeps its own.
pub fn init_to_file(level: &str, path: &std::path::Path) -> std::io::Result<()> {
    let file = RotatingFile::open(path.to_path_buf())?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}

const ROTATE_AT: u64 = 10 * 1024 * 1024;
const KEEP: u32 = 5;

struct RotatingFile {
    path: std::path::PathBuf,
    file: std::fs::File,
    size: u64,
}

impl RotatingFile {
    fn open(path: std::path::PathBuf) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile { path, file, size })
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            std::path::PathBuf::from(p)
        };
        for n in (1..KEEP).rev() {
            let _ = std::fs::rename(numbered(n), numbered(n + 1));
        }
        std::fs::rename(&self.path, numbered(1))?;
        *self = RotatingFile::open(self.path.clone())?;
        Ok(())
    }
}

impl std::io::Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.size + buf.len() as u64 > ROTATE_AT && self.size > 0 {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn files_rotate_and_five_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/agent.log");
        let mut f = RotatingFile::open(path.clone()).unwrap();
        let line = vec![b'x'; 1024 * 1024];
        for _ in 0..80 {
            f.write_all(&line).unwrap();
        }
        let sizes: Vec<u64> = (1..=6)
            .map(|n| std::fs::metadata(format!("{}.{n}", path.display())).map_or(0, |m| m.len()))
            .collect();
        assert!(
            sizes[..5].iter().all(|s| *s == 10 * 1024 * 1024),
            "{sizes:?}"
        );
        assert_eq!(sizes[5], 0, "no sixth");
        assert!(std::fs::metadata(&path).unwrap().len() <= ROTATE_AT);
    }
}
