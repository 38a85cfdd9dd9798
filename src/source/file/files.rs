//! The set of files being followed, reconciled with the filesystem on every scan: new
//! files, renames, rotation, truncation in place and deletion.

use std::collections::{HashMap, HashSet};
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use super::config::ReadFrom;
use super::discover::Discover;
use super::fingerprint::fingerprint;
use super::tailer::Tailer;

/// Polls in a row an unfindable file (renamed away or deleted) must yield nothing before
/// it is dropped: its writer may still append through its own handle until it reopens.
const ORPHAN_GRACE_POLLS: u32 = 4;

/// How far back `read_from: end` looks for the end of the last complete line.
const END_LOOKBACK: u64 = 64 * 1024;

/// Device and inode: tells "renamed away" from "rewritten in place".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileId(u64, u64);

#[cfg(unix)]
fn file_id(meta: &Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some(FileId(meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &Metadata) -> Option<FileId> {
    None
}

/// One followed file.
#[derive(Debug)]
pub(super) struct Watched {
    pub fingerprint: Arc<str>,
    /// Last path it was seen at.
    pub path: Arc<str>,
    pub tailer: Tailer,
    id: Option<FileId>,
    /// Seen at a matching path in the latest scan.
    findable: bool,
    /// Its inode now holds other content (copytruncate with a new first line): the old
    /// lines are gone, so it must not be read further.
    replaced: bool,
    idle_polls: u32,
}

impl Watched {
    pub(super) fn readable(&self) -> bool {
        !self.replaced
    }

    /// Counts polls that found nothing in an unfindable file, toward dropping it.
    pub(super) fn note_read(&mut self, lines: usize, eof: bool) {
        if !self.findable && lines == 0 && eof {
            self.idle_polls += 1;
        } else {
            self.idle_polls = 0;
        }
    }
}

/// Where a fingerprint was left: the offset, and which inode it was read from (`None`
/// for checkpoints stored by an earlier run).
#[derive(Debug, Clone, Copy)]
struct Known {
    offset: u64,
    id: Option<FileId>,
}

#[derive(Debug)]
pub(super) struct FileSet {
    discover: Discover,
    read_from: ReadFrom,
    fingerprint_bytes: usize,
    max_line_bytes: usize,
    /// In discovery order, so a rotated-away file is read before its successor.
    files: Vec<Watched>,
    /// Offsets of fingerprints not followed right now: stored checkpoints and files
    /// dropped in this run, so that no line is emitted twice.
    known: HashMap<String, Known>,
    first_scan: bool,
    head: Vec<u8>,
}

impl FileSet {
    pub(super) fn new(
        discover: Discover,
        read_from: ReadFrom,
        fingerprint_bytes: usize,
        max_line_bytes: usize,
        checkpoints: impl IntoIterator<Item = (String, u64)>,
    ) -> Self {
        FileSet {
            discover,
            read_from,
            fingerprint_bytes,
            max_line_bytes,
            files: Vec::new(),
            known: checkpoints
                .into_iter()
                .map(|(fp, offset)| (fp, Known { offset, id: None }))
                .collect(),
            first_scan: true,
            head: Vec::new(),
        }
    }

    pub(super) fn files_mut(&mut self) -> &mut [Watched] {
        &mut self.files
    }

    /// Matches the paths the globs match now against the files being followed.
    pub(super) fn scan(&mut self) {
        for w in &mut self.files {
            w.findable = false;
        }
        let mut seen_ids = HashSet::new();
        for path in self.discover.paths() {
            let mut file = match File::open(&path) {
                Ok(file) => file,
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "cannot open file");
                    continue;
                }
            };
            let id = file.metadata().ok().as_ref().and_then(file_id);
            seen_ids.extend(id);
            let fp = match fingerprint(&mut file, self.fingerprint_bytes, &mut self.head) {
                Ok(Some(fp)) => fp,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read file");
                    continue;
                }
            };
            let path_text = path.to_string_lossy();
            if let Some(w) = self.files.iter_mut().find(|w| *w.fingerprint == *fp) {
                let same_file = w.id.is_none() || id.is_none() || w.id == id;
                if same_file && !w.findable {
                    w.findable = true;
                    if *w.path != *path_text {
                        tracing::info!(from = %w.path, to = %path_text, "file renamed");
                        w.path = Arc::from(path_text.as_ref());
                    }
                } else if !same_file {
                    // A copy, or a new file whose first line equals the followed one's.
                    tracing::debug!(path = %path_text, same_as = %w.path, "same fingerprint as a followed file; skipped");
                }
                continue;
            }
            if let Err(e) = self.follow(file, id, fp, &path_text) {
                tracing::warn!(path = %path_text, error = %e, "cannot follow file");
            }
        }
        self.first_scan = false;
        for w in &mut self.files {
            if !w.findable && w.id.is_some_and(|id| seen_ids.contains(&id)) {
                tracing::info!(path = %w.path, "file rewritten in place; reading it anew");
                w.replaced = true;
            }
        }
    }

    fn follow(
        &mut self,
        mut file: File,
        id: Option<FileId>,
        fp: String,
        path: &str,
    ) -> io::Result<()> {
        let len = file.metadata()?.len();
        let offset = match self.known.get(&fp) {
            // A different inode with the same first line, seen earlier in this run.
            Some(known) if known.id.is_some() && known.id != id => 0,
            // Shorter than where we left it: truncated while not followed.
            Some(known) if known.offset > len => 0,
            Some(known) => known.offset,
            None if self.first_scan && self.read_from == ReadFrom::End => {
                end_of_last_line(&mut file, len)?
            }
            None => 0,
        };
        tracing::debug!(path, offset, "following file");
        self.files.push(Watched {
            fingerprint: Arc::from(fp),
            path: Arc::from(path),
            tailer: Tailer::new(file, offset, self.max_line_bytes)?,
            id,
            findable: true,
            replaced: false,
            idle_polls: 0,
        });
        Ok(())
    }

    /// Drops files that are gone and drained, remembering where they were left.
    pub(super) fn retire(&mut self) {
        let known = &mut self.known;
        self.files.retain(|w| {
            let done = w.replaced || (!w.findable && w.idle_polls >= ORPHAN_GRACE_POLLS);
            if done {
                tracing::debug!(path = %w.path, "no longer following file");
                // A replaced file's old content is gone: its fingerprint, if seen again,
                // starts over.
                let offset = if w.replaced { 0 } else { w.tailer.offset() };
                known.insert(w.fingerprint.to_string(), Known { offset, id: w.id });
            }
            !done
        });
    }
}

/// `read_from: end`: just past the last complete line, so no half line is emitted.
fn end_of_last_line(file: &mut File, len: u64) -> io::Result<u64> {
    let from = len.saturating_sub(END_LOOKBACK);
    file.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    file.take(len - from).read_to_end(&mut tail)?;
    Ok(match memchr::memrchr(b'\n', &tail) {
        Some(nl) => from + nl as u64 + 1,
        // One unfinished line, being written now: read it once complete.
        None if from == 0 => 0,
        None => len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_from_end_starts_after_the_last_complete_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let at = |content: &[u8]| {
            std::fs::write(&path, content).unwrap();
            let mut file = File::open(&path).unwrap();
            end_of_last_line(&mut file, content.len() as u64).unwrap()
        };
        assert_eq!(at(b"one\ntwo\n"), 8);
        assert_eq!(
            at(b"one\ntw"),
            4,
            "a half-written line is read once complete"
        );
        assert_eq!(at(b"partial"), 0);
        assert_eq!(at(b""), 0);
        let mut huge = vec![b'x'; 2 * END_LOOKBACK as usize];
        huge.insert(0, b'\n');
        assert_eq!(
            at(&huge),
            huge.len() as u64,
            "a giant unfinished line is skipped"
        );
    }
}
