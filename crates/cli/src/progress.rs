//! A progress bar on stderr for long commands: redrawn in place on a terminal,
//! one line per finished stage otherwise (so logs stay readable).

use std::io::{IsTerminal, Write};

pub struct Bar {
    tty: bool,
    stage: String,
}

impl Bar {
    pub fn new() -> Bar {
        Bar {
            tty: std::io::stderr().is_terminal(),
            stage: String::new(),
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
        } else if done == total {
            let _ = writeln!(err, "{stage:>14}: {done} rows");
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
