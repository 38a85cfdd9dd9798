//! Reading one file from an offset, handing out complete lines only.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// Bytes asked of the OS per read: large enough that syscalls are a small share of the
/// cost, small enough that a chunk of lines stays in cache while it is filtered.
const CHUNK: usize = 128 * 1024;

/// One complete line, borrowed from the tailer's buffer until the next call.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    /// Without its `\n` / `\r\n`; possibly cut to `max_line_bytes`; maybe not UTF-8.
    pub bytes: &'a [u8],
    /// File offset just past the line's terminator.
    pub end_offset: u64,
    /// The line was longer than `max_line_bytes` and has been cut.
    pub truncated: bool,
}

/// A run of complete lines, borrowed from the tailer's buffer.
#[derive(Debug)]
pub(crate) struct Chunk<'a> {
    /// Complete lines, each ending in `\n` (so never empty).
    pub bytes: &'a [u8],
    /// File offset where the first line starts.
    pub offset: u64,
    /// Bytes of the first line already discarded because it was longer than the cap.
    dropped: u64,
    max_line_bytes: usize,
}

impl<'a> Chunk<'a> {
    /// The line at `bytes[start..end]` (`end` is the index of its `\n`), cut and without
    /// its `\r` as a [`Line`] would be.
    pub(crate) fn line(&self, start: usize, end: usize) -> Line<'a> {
        let dropped = if start == 0 { self.dropped } else { 0 };
        let raw = &self.bytes[start..end];
        let truncated = dropped > 0 || raw.len() > self.max_line_bytes;
        let bytes = if truncated {
            &raw[..char_floor(raw, self.max_line_bytes)]
        } else {
            raw.strip_suffix(b"\r").unwrap_or(raw)
        };
        Line {
            bytes,
            end_offset: self.end_offset(end),
            truncated,
        }
    }

    /// File offset just past the `\n` at `bytes[nl]`.
    pub(crate) fn end_offset(&self, nl: usize) -> u64 {
        self.offset + self.dropped + nl as u64 + 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadOutcome {
    pub lines: usize,
    /// The file had no more bytes (a partial last line may still be held back).
    pub eof: bool,
}

/// Follows one open file. A last line without `\n` stays buffered until it is completed,
/// so every line handed out is whole and `end_offset` is a safe resume point.
#[derive(Debug)]
pub(crate) struct Tailer {
    file: File,
    /// File offset just past the last line handed out.
    offset: u64,
    /// `buf[start..filled]` holds bytes read past `offset` but not handed out yet; the
    /// rest of `buf` is room for the next read (zeroed once, when the buffer grows, not
    /// before every read).
    buf: Vec<u8>,
    filled: usize,
    start: usize,
    /// Where the next newline search begins (everything before has none).
    scan_from: usize,
    /// Bytes of the current over-long line already discarded from `buf`.
    dropped: u64,
    max_line_bytes: usize,
}

impl Tailer {
    /// Follows `file` from `offset` (positions the handle there).
    pub(crate) fn new(mut file: File, offset: u64, max_line_bytes: usize) -> io::Result<Self> {
        file.seek(SeekFrom::Start(offset))?;
        Ok(Tailer {
            file,
            offset,
            buf: Vec::new(),
            filled: 0,
            start: 0,
            scan_from: 0,
            dropped: 0,
            max_line_bytes: max_line_bytes.max(1),
        })
    }

    /// Offset just past the last line handed out: where a restart resumes.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The open handle (to check what the inode holds now).
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// How far the handle has read, including held-back bytes.
    fn read_pos(&self) -> u64 {
        self.offset + (self.filled - self.start) as u64 + self.dropped
    }

    /// The file is now shorter than what was read from it: it was truncated in place
    /// (copytruncate), so what follows the old offset is unrelated content.
    pub(crate) fn was_truncated(&self) -> io::Result<bool> {
        Ok(self.file.metadata()?.len() < self.read_pos())
    }

    /// Starts over at the beginning of the file.
    pub(crate) fn rewind(&mut self) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.offset = 0;
        self.filled = 0;
        self.start = 0;
        self.scan_from = 0;
        self.dropped = 0;
        Ok(())
    }

    /// Hands the complete lines buffered (reading first if there are none) to `process`
    /// as one [`Chunk`]. `process` returns how many bytes of it were handled: the whole
    /// chunk, or a prefix ending just after a `\n`; the rest is handed out again next time.
    /// `eof` is true when no complete line was available (nothing was handed out).
    pub(crate) fn read_chunk(
        &mut self,
        process: impl FnOnce(Chunk<'_>) -> usize,
    ) -> io::Result<ReadOutcome> {
        loop {
            if let Some(i) = memchr::memrchr(b'\n', &self.buf[self.scan_from..self.filled]) {
                let last_nl = self.scan_from + i;
                let chunk = Chunk {
                    bytes: &self.buf[self.start..=last_nl],
                    offset: self.offset,
                    dropped: self.dropped,
                    max_line_bytes: self.max_line_bytes,
                };
                let len = chunk.bytes.len();
                let used = process(chunk).min(len);
                if used > 0 {
                    self.offset += self.dropped + used as u64;
                    self.dropped = 0;
                    self.start += used;
                }
                // Whatever is left before `last_nl` still holds newlines: search it again.
                self.scan_from = if used == len { last_nl + 1 } else { self.start };
                return Ok(ReadOutcome {
                    lines: usize::from(used > 0),
                    eof: false,
                });
            }
            self.scan_from = self.filled;
            if self.fill()? == 0 {
                return Ok(ReadOutcome {
                    lines: 0,
                    eof: true,
                });
            }
        }
    }

    /// Reads the next bytes of the file into the buffer; 0 at end of file.
    fn fill(&mut self) -> io::Result<usize> {
        self.compact();
        let len = self.filled;
        if self.buf.len() < len + CHUNK {
            self.buf.resize(len + CHUNK, 0);
        }
        loop {
            match self.file.read(&mut self.buf[len..len + CHUNK]) {
                Ok(n) => {
                    self.filled = len + n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands up to `limit` complete lines to `emit`, reading as needed (tests read line by
    /// line; sources read chunks).
    #[cfg(test)]
    pub(crate) fn read_lines(
        &mut self,
        limit: usize,
        mut emit: impl FnMut(Line<'_>),
    ) -> io::Result<ReadOutcome> {
        let mut lines = 0;
        while lines < limit {
            let outcome = self.read_chunk(|chunk| {
                let mut start = 0;
                for nl in memchr::memchr_iter(b'\n', chunk.bytes) {
                    if lines == limit {
                        break;
                    }
                    emit(chunk.line(start, nl));
                    lines += 1;
                    start = nl + 1;
                }
                start
            })?;
            if outcome.eof {
                return Ok(ReadOutcome { lines, eof: true });
            }
        }
        Ok(ReadOutcome { lines, eof: false })
    }

    /// Drops handed-out bytes, and caps a partial line at `max_line_bytes` so an endless
    /// line (or a binary file) cannot grow the buffer without bound.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.scan_from -= self.start;
            self.start = 0;
        }
        if self.filled > self.max_line_bytes {
            self.dropped += (self.filled - self.max_line_bytes) as u64;
            self.filled = self.max_line_bytes;
            self.scan_from = self.filled;
        }
    }

    /// The held-back unterminated last line, for reading a file that is complete
    /// (offline). Consumes it.
    pub(crate) fn take_partial(&mut self) -> Option<Line<'_>> {
        let line_len = self.filled - self.start;
        if line_len == 0 && self.dropped == 0 {
            return None;
        }
        let end_offset = self.offset + line_len as u64 + self.dropped;
        let truncated = self.dropped > 0 || line_len > self.max_line_bytes;
        let start = self.start;
        self.offset = end_offset;
        self.start = self.filled;
        self.scan_from = self.filled;
        self.dropped = 0;
        let line = &self.buf[start..self.filled];
        let bytes = if truncated {
            &line[..char_floor(line, self.max_line_bytes)]
        } else {
            line.strip_suffix(b"\r").unwrap_or(line)
        };
        Some(Line {
            bytes,
            end_offset,
            truncated,
        })
    }
}

/// The largest cut `<= max` that does not end inside a UTF-8 character (bytes that are
/// not UTF-8 anyway are cut at `max`).
fn char_floor(bytes: &[u8], max: usize) -> usize {
    let end = max.min(bytes.len());
    for back in 1..=end.min(3) {
        let b = bytes[end - back];
        if b & 0xC0 != 0x80 {
            // The last character starts here: keep it only if all its bytes are before `end`.
            let width = match b {
                0xF8.. => 1, // never a UTF-8 lead byte
                0xF0.. => 4,
                0xE0.. => 3,
                0xC0.. => 2,
                _ => 1,
            };
            return if width > back { end - back } else { end };
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(t: &mut Tailer, limit: usize) -> (Vec<(String, u64, bool)>, bool) {
        let mut out = Vec::new();
        let outcome = t
            .read_lines(limit, |l| {
                out.push((
                    String::from_utf8_lossy(l.bytes).into_owned(),
                    l.end_offset,
                    l.truncated,
                ))
            })
            .unwrap();
        assert_eq!(outcome.lines, out.len());
        (out, outcome.eof)
    }

    fn setup(content: &[u8]) -> (tempfile::TempDir, std::path::PathBuf, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut w = File::create(&path).unwrap();
        w.write_all(content).unwrap();
        (dir, path, w)
    }

    #[test]
    fn complete_lines_only_and_partial_held_back() {
        let (_d, path, mut w) = setup(b"one\r\ntwo\nthr");
        let mut t = Tailer::new(File::open(&path).unwrap(), 0, 100).unwrap();
        let (lines, eof) = collect(&mut t, 10);
        assert!(eof);
        assert_eq!(
            lines,
            [("one".into(), 5, false), ("two".into(), 9, false)].to_vec()
        );
        assert_eq!(t.offset(), 9);
        w.write_all(b"ee\n").unwrap();
        assert_eq!(
            collect(&mut t, 10).0,
            [("three".into(), 15, false)].to_vec()
        );
    }

    #[test]
    fn limit_leaves_the_rest_for_the_next_call() {
        let (_d, path, _w) = setup(b"a\nb\nc\n");
        let mut t = Tailer::new(File::open(&path).unwrap(), 2, 100).unwrap();
        let (lines, eof) = collect(&mut t, 1);
        assert_eq!((lines[0].0.as_str(), eof), ("b", false));
        let (lines, eof) = collect(&mut t, 10);
        assert_eq!((lines[0].0.as_str(), lines.len(), eof), ("c", 1, true));
        assert_eq!(t.offset(), 6);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary_and_offsets_stay_exact() {
        let long = "é".repeat(100_000); // 200 000 bytes, over several reads
        let content = format!("{long}\nshort\n");
        let (_d, path, _w) = setup(content.as_bytes());
        let mut t = Tailer::new(File::open(&path).unwrap(), 0, 5).unwrap();
        let (lines, _) = collect(&mut t, 10);
        assert_eq!(lines[0], ("éé".into(), long.len() as u64 + 1, true));
        assert_eq!(lines[1], ("short".into(), content.len() as u64, false));
        assert!(t.buf.capacity() < 5 + 2 * CHUNK, "buffer stayed bounded");
    }

    #[test]
    fn truncation_in_place_is_detected_and_rewind_restarts() {
        let (_d, path, w) = setup(b"old line one\nold line two\n");
        let mut t = Tailer::new(File::open(&path).unwrap(), 0, 100).unwrap();
        assert_eq!(collect(&mut t, 10).0.len(), 2);
        assert!(!t.was_truncated().unwrap());
        w.set_len(0).unwrap();
        std::fs::write(&path, b"new\n").unwrap();
        assert!(t.was_truncated().unwrap());
        t.rewind().unwrap();
        assert_eq!(collect(&mut t, 10).0, [("new".into(), 4, false)].to_vec());
    }

    #[test]
    fn char_floor_never_splits_a_character() {
        let s = "aé€😀".as_bytes(); // widths 1, 2, 3, 4
        let cuts: Vec<usize> = (0..=s.len()).map(|m| char_floor(s, m)).collect();
        assert_eq!(cuts, [0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10]);
        assert_eq!(char_floor(b"\xff\xfe", 1), 1);
    }

    #[test]
    fn chunks_hold_whole_lines_and_a_partial_use_is_handed_out_again() {
        let (_d, path, mut w) = setup(b"ab\r\ncd\nef");
        let mut t = Tailer::new(File::open(&path).unwrap(), 0, 100).unwrap();
        let mut seen = Vec::new();
        let outcome = t
            .read_chunk(|c| {
                seen.push((c.bytes.to_vec(), c.offset));
                let first = c.line(0, 3);
                assert_eq!((first.bytes, first.end_offset), (&b"ab"[..], 4));
                4 // only the first line
            })
            .unwrap();
        assert!(!outcome.eof);
        assert_eq!(seen, [(b"ab\r\ncd\n".to_vec(), 0)]);
        assert_eq!(t.offset(), 4);
        t.read_chunk(|c| {
            assert_eq!((c.bytes, c.offset), (&b"cd\n"[..], 4));
            c.bytes.len()
        })
        .unwrap();
        assert!(
            t.read_chunk(|_| unreachable!()).unwrap().eof,
            "ef is held back"
        );
        w.write_all(b"\n").unwrap();
        t.read_chunk(|c| {
            assert_eq!(c.line(0, 2).end_offset, 10);
            c.bytes.len()
        })
        .unwrap();
        assert_eq!(t.offset(), 10);
    }

    #[test]
    fn take_partial_returns_an_unterminated_last_line() {
        let (_d, path, _w) = setup(b"a\nlast\r");
        let mut t = Tailer::new(File::open(&path).unwrap(), 0, 100).unwrap();
        assert_eq!(collect(&mut t, 10).0.len(), 1);
        let last = t.take_partial().unwrap();
        assert_eq!((last.bytes, last.end_offset), (&b"last"[..], 7));
        assert!(t.take_partial().is_none());
    }
}
