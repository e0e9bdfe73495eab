//! A progress bar on stderr for long commands: redrawn in place on a terminal;
//! otherwise a line every few seconds and one per finished stage (so logs stay
//! readable and a long run still shows it moves).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often a log (not a terminal) gets a line about an unfinished stage.
const LOG_EVERY: Duration = Duration::from_secs(5);

pub struct Bar {
    tty: bool,
    stage: String,
    logged: Instant,
}

impl Bar {
    pub fn new() -> Bar {
        Bar {
            tty: std::io::stderr().is_terminal(),
            stage: String::new(),
            logged: Instant::now(),
        }
    }

    /// `done` of `total` in `stage`.
    pub fn show(&mut self, stage: &str, done: usize, total: usize) {
        let mut err = std::io::stderr().lock();
        if stage != self.stage {
            if self.tty && !self.stage.is_empty() {
                let _ = writeln!(err);
            }
            self.stage = stage.to_string();
            self.logged = Instant::now();
        }
        if self.tty {
            const WIDTH: usize = 30;
            let filled = (done * WIDTH)
                .checked_div(total)
                .unwrap_or(WIDTH)
                .min(WIDTH);
            let _ = write!(
                err,
                "\r{stage:>14} [{}{}] {done}/{total}",
                "#".repeat(filled),
                ".".repeat(WIDTH - filled)
            );
        } else if done == total || self.logged.elapsed() >= LOG_EVERY {
            self.logged = Instant::now();
            let _ = writeln!(err, "{stage:>14}: {done}/{total}");
        }
        let _ = err.flush();
    }

    pub fn finish(&mut self) {
        if self.tty && !self.stage.is_empty() {
            eprintln!();
        }
    }
}

impl Default for Bar {
    fn default() -> Self {
        Bar::new()
    }
}
