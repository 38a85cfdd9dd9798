//! Appending to log files the way the applications Klaxon tails do.

use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Appends `text` to `path` (created if missing) in one write.
pub fn append(path: &Path, text: impl AsRef<[u8]>) {
    open_append(path).write_all(text.as_ref()).unwrap();
}

/// Appends each of `lines` and a newline after it.
pub fn append_lines(path: &Path, lines: &[&str]) {
    append(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    );
}

/// A long-lived log writer. O_APPEND, as copytruncate requires of writers: after the
/// truncate its writes go to the new end rather than leaving a hole. Lines are buffered
/// until [`Appender::flush`]; what is flushed to the OS is what a tailer sees (no fsync
/// needed: Klaxon reads the same page cache).
pub struct Appender {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Appender {
    pub fn open(path: &Path) -> Appender {
        Appender {
            path: path.to_path_buf(),
            out: BufWriter::new(open_append(path)),
        }
    }

    /// Buffers `line` and a newline.
    pub fn line(&mut self, line: impl Display) {
        writeln!(self.out, "{line}").unwrap();
    }

    pub fn flush(&mut self) {
        self.out.flush().unwrap();
    }

    /// Flushes, then opens the path anew: the writer's side of a rename rotation.
    pub fn reopen(&mut self) {
        self.flush();
        self.out = BufWriter::new(open_append(&self.path));
    }

    /// Flushes, then truncates the file being written: copytruncate's truncate.
    pub fn truncate(&mut self) {
        self.flush();
        self.out.get_ref().set_len(0).unwrap();
    }
}
