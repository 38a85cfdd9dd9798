//! The set of files being followed, reconciled with the filesystem on every scan: new
//! files, renames, rotation (rename or copytruncate), truncation in place and deletion.

use std::collections::{HashMap, HashSet};
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use super::config::{FingerprintStrategy, ReadFrom};
use super::discover::Discover;
use super::fingerprint::{checksum, identity_bytes};
use super::tailer::Tailer;
use crate::source::multiline::Pending;
use crate::types::flat;

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

/// Opens `path` for reading without blocking (a FIFO opens at once instead of waiting for a
/// writer) and, unless `follow_symlinks`, without following a link in its last component.
#[cfg(unix)]
fn open(path: &std::path::Path, follow_symlinks: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if !follow_symlinks {
        flags |= libc::O_NOFOLLOW;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
}

#[cfg(not(unix))]
fn open(path: &std::path::Path, _follow_symlinks: bool) -> io::Result<File> {
    File::open(path)
}

/// Reads up to `buf.len()` bytes at `offset` without moving the handle.
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What a followed file turned out to be just before reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Still the content it was: read on.
    Same,
    /// Truncated in place with the same first line: read again from the start.
    Rewound,
    /// Truncated or rewritten with other content: not read until the next scan decides
    /// whether its copy (copytruncate) or its new content is to be followed.
    Stale,
}

/// One followed file.
#[derive(Debug)]
pub(super) struct Watched {
    pub fingerprint: Arc<str>,
    /// Last path it was seen at.
    pub path: Arc<str>,
    pub tailer: Tailer,
    /// The multiline record being assembled from its lines.
    pub pending: Option<Pending>,
    /// The checkpoint offset last put into a batch.
    pub sent_offset: u64,
    id: Option<FileId>,
    /// The bytes the fingerprint was computed from (checksum strategy), to re-check
    /// that the handle still holds the same file before reading it.
    head: Vec<u8>,
    /// Seen at a matching path in the latest scan.
    findable: bool,
    /// Its inode now holds other content: the old lines are gone from it.
    replaced: bool,
    stale: bool,
    idle_polls: u32,
    /// Followed from a stored checkpoint beyond its current end (a copy still being
    /// written): it is not "truncated" while it grows toward that offset.
    resume_at: Option<u64>,
}

impl Watched {
    pub(super) fn readable(&self) -> bool {
        !self.replaced && !self.stale
    }

    /// Where a restart must resume: before the record still being assembled, else just
    /// past the last line read.
    pub(super) fn checkpoint_offset(&self) -> u64 {
        self.pending
            .as_ref()
            .map_or(self.tailer.offset(), |p| p.start_offset)
    }

    /// Bytes between where a restart would resume and the file's end (one `fstat`).
    pub(super) fn behind(&self) -> u64 {
        self.tailer
            .file()
            .metadata()
            .map_or(0, |m| m.len().saturating_sub(self.checkpoint_offset()))
    }

    /// Counts polls that found nothing in an unfindable file, toward dropping it.
    pub(super) fn note_read(&mut self, advanced: bool, eof: bool) {
        if !self.findable && !advanced && eof {
            self.idle_polls += 1;
        } else {
            self.idle_polls = 0;
        }
    }

    /// It will be dropped by the next [`FileSet::retire`] (flush its record first).
    pub(super) fn is_done(&self) -> bool {
        self.replaced || (!self.findable && self.idle_polls >= ORPHAN_GRACE_POLLS)
    }
}

/// Where a fingerprint was left by a file not followed now.
#[derive(Debug, Clone)]
struct Known {
    offset: u64,
    /// The inode it was read from (`None` for checkpoints stored by an earlier run).
    id: Option<FileId>,
    path: String,
    /// It was dropped because it was truncated in place: a file with its fingerprint on
    /// another inode is its copy (copytruncate), holding the lines up to `offset`.
    truncated: bool,
}

/// A file with the fingerprint of a followed one but on another inode: a copy, or a
/// new file with the same first line.
#[derive(Debug)]
struct Twin {
    file: File,
    id: Option<FileId>,
    path: String,
    len: u64,
}

#[derive(Debug)]
pub(super) struct FileSet {
    discover: Discover,
    read_from: ReadFrom,
    strategy: FingerprintStrategy,
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
    /// `checkpoints` are `(fingerprint, path, offset)` stored by an earlier run.
    pub(super) fn new(
        discover: Discover,
        read_from: ReadFrom,
        strategy: FingerprintStrategy,
        fingerprint_bytes: usize,
        max_line_bytes: usize,
        checkpoints: impl IntoIterator<Item = (String, String, u64)>,
    ) -> Self {
        FileSet {
            discover,
            read_from,
            strategy,
            fingerprint_bytes,
            max_line_bytes,
            files: Vec::new(),
            known: checkpoints
                .into_iter()
                .map(|(fp, path, offset)| {
                    let known = Known {
                        offset,
                        id: None,
                        path,
                        truncated: false,
                    };
                    (fp, known)
                })
                .collect(),
            first_scan: true,
            head: Vec::new(),
        }
    }

    pub(super) fn files_mut(&mut self) -> &mut [Watched] {
        &mut self.files
    }

    /// The identity of an open file: its fingerprint and the bytes it was computed from,
    /// or `None` while it has none yet (checksum of a file without a first line).
    fn identify(&mut self, file: &mut File, id: Option<FileId>) -> io::Result<Option<String>> {
        match (self.strategy, id) {
            (FingerprintStrategy::DeviceInode, Some(FileId(dev, ino))) => {
                self.head.clear();
                Ok(Some(format!("dev-ino:{dev}:{ino}")))
            }
            _ => {
                self.head.clear();
                file.take(self.fingerprint_bytes as u64)
                    .read_to_end(&mut self.head)?;
                let ident = identity_bytes(&self.head, self.fingerprint_bytes);
                let fp = ident.map(checksum);
                let keep = ident.map_or(0, <[u8]>::len);
                self.head.truncate(keep);
                Ok(fp)
            }
        }
    }

    /// Matches the paths the globs match now against the files being followed.
    pub(super) fn scan(&mut self) {
        for w in &mut self.files {
            w.findable = false;
        }
        let mut seen_ids = HashSet::new();
        let mut twins: HashMap<String, Twin> = HashMap::new();
        for path in self.discover.paths() {
            let mut file = match open(&path, self.discover.follows_symlinks()) {
                Ok(file) => file,
                Err(e) => {
                    tracing::debug!(path = %flat(&path.to_string_lossy()), error = %e, "cannot open file");
                    continue;
                }
            };
            // What was opened decides, not what the path held a moment before: a path
            // swapped for a FIFO, a device or a link between the scan and the open is
            // skipped, never read.
            let meta = match file.metadata() {
                Ok(meta) if meta.is_file() => meta,
                Ok(_) => {
                    tracing::warn!(path = %flat(&path.to_string_lossy()), "skipping: not a regular file");
                    continue;
                }
                Err(_) => continue,
            };
            let id = file_id(&meta);
            seen_ids.extend(id);
            let fp = match self.identify(&mut file, id) {
                Ok(Some(fp)) => fp,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(path = %flat(&path.to_string_lossy()), error = %e, "cannot read file");
                    continue;
                }
            };
            let path_text = path.to_string_lossy();
            if let Some(w) = self.files.iter_mut().find(|w| *w.fingerprint == *fp) {
                let same_file = w.id.is_none() || id.is_none() || w.id == id;
                if same_file && !w.findable {
                    w.findable = true;
                    if *w.path != *path_text {
                        tracing::info!(from = %flat(&w.path), to = %flat(&path_text), "file renamed");
                        w.path = Arc::from(path_text.as_ref());
                    }
                } else if !same_file {
                    // A copy, or a new file whose first line equals the followed one's.
                    tracing::debug!(path = %flat(&path_text), same_as = %flat(&w.path), "same fingerprint as a followed file");
                    twins.entry(fp).or_insert(Twin {
                        file,
                        id,
                        path: path_text.into_owned(),
                        len: meta.len(),
                    });
                }
                continue;
            }
            let head = std::mem::take(&mut self.head);
            if let Err(e) = self.follow(file, id, fp, head, &path_text, meta.len()) {
                tracing::warn!(path = %flat(&path_text), error = %e, "cannot follow file");
            }
        }
        self.first_scan = false;
        for w in &mut self.files {
            let rewritten = w.id.is_some_and(|id| seen_ids.contains(&id));
            if !w.findable && (rewritten || w.stale) {
                w.replaced = true;
            } else if w.findable && w.stale {
                // Rewritten in place with the same first line.
                tracing::info!(path = %flat(&w.path), "file truncated; reading from the start");
                w.stale = false;
                if let Err(e) = w.tailer.rewind() {
                    tracing::warn!(path = %flat(&w.path), error = %e, "cannot rewind file");
                    w.replaced = true;
                }
            }
            if !w.replaced {
                continue;
            }
            match twins.remove(&*w.fingerprint) {
                // copytruncate: the lines not read yet are in the copy, at the same offsets.
                Some(copy) => {
                    let offset = w.tailer.offset().min(copy.len);
                    match Tailer::new(copy.file, offset, self.max_line_bytes) {
                        Ok(tailer) => {
                            tracing::info!(path = %flat(&w.path), copy = %flat(&copy.path), offset, "file truncated in place; finishing it from its copy");
                            w.tailer = tailer;
                            w.id = copy.id;
                            w.path = Arc::from(copy.path);
                            w.findable = true;
                            w.replaced = false;
                            w.stale = false;
                        }
                        Err(e) => {
                            tracing::warn!(path = %flat(&copy.path), error = %e, "cannot read copy")
                        }
                    }
                }
                None => {
                    tracing::info!(path = %flat(&w.path), "file rewritten in place; reading it anew")
                }
            }
        }
    }

    fn follow(
        &mut self,
        mut file: File,
        id: Option<FileId>,
        fp: String,
        head: Vec<u8>,
        path: &str,
        len: u64,
    ) -> io::Result<()> {
        let offset = match self.known.get(&fp) {
            // Its inode was rewritten with the same first line: all new content.
            Some(k) if k.truncated && k.id == id => 0,
            // The copy of a file truncated in place: it holds the lines up to `offset`.
            Some(k) if k.truncated => k.offset.min(len),
            // A different inode with the same first line, seen earlier in this run.
            Some(k) if k.id.is_some() && k.id != id => 0,
            // Shorter than where we left it, at another path: the copy of the file we
            // followed, still being written (copytruncate with `dateext` caught mid-copy
            // by a restart). Its first `offset` bytes are the lines already handled:
            // wait for it to grow past them, and read only what follows.
            Some(k) if k.offset > len && k.path != path => k.offset,
            // Shorter than where we left it, at its path: truncated while not followed.
            Some(k) if k.offset > len => 0,
            Some(k) => k.offset,
            None if self.first_scan && self.read_from == ReadFrom::End => {
                end_of_last_line(&mut file, len)?
            }
            None => 0,
        };
        let resume_at = (offset > len).then_some(offset);
        // A file with no stored checkpoint gets one with the next batch even when nothing is
        // read from it: a first start at `read_from: end` must remember where that end was,
        // or the next start (`--once` from cron) would skip to the end again.
        let sent_offset = if self.known.contains_key(&fp) {
            offset
        } else {
            u64::MAX
        };
        tracing::debug!(path, offset, "following file");
        self.files.push(Watched {
            fingerprint: Arc::from(fp),
            path: Arc::from(path),
            tailer: Tailer::new(file, offset, self.max_line_bytes)?,
            pending: None,
            sent_offset,
            id,
            head,
            findable: true,
            replaced: false,
            stale: false,
            idle_polls: 0,
            resume_at,
        });
        Ok(())
    }

    /// Checks that file `i` still holds what was read from it, just before reading more:
    /// a copytruncate between two scans must not be read as a continuation.
    pub(super) fn check(&mut self, i: usize) -> io::Result<Check> {
        if let Some(at) = self.files[i].resume_at {
            if self.files[i].tailer.file().metadata()?.len() < at {
                return Ok(Check::Same);
            }
            self.files[i].resume_at = None;
        }
        let truncated = self.files[i].tailer.was_truncated()?;
        let same_head = match self.strategy {
            FingerprintStrategy::DeviceInode => true,
            FingerprintStrategy::Checksum => self.head_unchanged(i)?,
        };
        let w = &mut self.files[i];
        Ok(match (truncated, same_head) {
            (false, true) => Check::Same,
            (true, true) => {
                w.tailer.rewind()?;
                Check::Rewound
            }
            (_, false) => {
                w.stale = true;
                Check::Stale
            }
        })
    }

    #[cfg(unix)]
    fn head_unchanged(&mut self, i: usize) -> io::Result<bool> {
        let w = &self.files[i];
        if w.head.is_empty() {
            return Ok(true);
        }
        self.head.resize(self.fingerprint_bytes, 0);
        let n = read_at(w.tailer.file(), &mut self.head, 0)?;
        Ok(identity_bytes(&self.head[..n], self.fingerprint_bytes) == Some(&w.head[..]))
    }

    #[cfg(not(unix))]
    fn head_unchanged(&mut self, _i: usize) -> io::Result<bool> {
        Ok(true)
    }

    /// Drops files that are gone and drained, remembering where they were left.
    pub(super) fn retire(&mut self) {
        let known = &mut self.known;
        self.files.retain(|w| {
            let done = w.is_done();
            if done {
                tracing::debug!(path = %flat(&w.path), "no longer following file");
                let k = Known {
                    offset: w.tailer.offset(),
                    id: w.id,
                    path: w.path.to_string(),
                    truncated: w.replaced,
                };
                known.insert(w.fingerprint.to_string(), k);
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
