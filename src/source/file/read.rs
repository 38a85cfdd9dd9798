//! Turning the bytes of one followed file into events: the prefilter, line limits,
//! lossy UTF-8 and multiline records. Lines the prefilter rejects are skipped without
//! allocating; their bytes still move the file's checkpoint.

use std::borrow::Cow;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::files::Watched;
use super::tailer::{Chunk, Line};
use super::FileSourceStats;

/// Lines the prefilter skipped that are checked against the format, per chunk: more
/// while the source has had few checked (a wrong `format` shows at once), then a few.
const PROBES: u64 = 4;
const FIRST_PROBES: u64 = 64;
const FIRST_PROBED: u64 = 1_000;
use crate::decode::{Decoder, FieldSelection};
use crate::event::{Event, Origin};
use crate::filter::LineFilter;
use crate::source::multiline::{self, Multiline, Record};

/// Buffers reused across reads so the hot path allocates nothing but events.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    spans: Vec<(usize, usize)>,
}

/// Reads one followed file into a batch's events.
pub(super) struct LineReader<'a> {
    w: &'a mut Watched,
    emit: Emitter<'a>,
}

/// Builds events for one file; holds no mutable state, so it can be used while the
/// file's tailer lends out its buffer.
struct Emitter<'a> {
    name: &'a Arc<str>,
    decoder: &'a Decoder,
    stats: &'a FileSourceStats,
    arrival: DateTime<Utc>,
    /// The fields the rules read, when known: only those are decoded.
    keep: Option<Arc<FieldSelection>>,
}

impl<'a> LineReader<'a> {
    pub(super) fn new(
        name: &'a Arc<str>,
        w: &'a mut Watched,
        decoder: &'a Decoder,
        stats: &'a FileSourceStats,
        arrival: DateTime<Utc>,
    ) -> Self {
        LineReader {
            w,
            emit: Emitter {
                name,
                decoder,
                stats,
                arrival,
                keep: None,
            },
        }
    }

    /// Decodes only `fields` of each line (see [`crate::filter::LineFilter::fields`]).
    pub(super) fn keeping(mut self, fields: Option<Arc<FieldSelection>>) -> Self {
        self.emit.keep = fields;
        self
    }

    pub(super) fn is_done(&self) -> bool {
        self.w.is_done()
    }

    /// Reads until `events` holds `cap` events or the file has no complete line left.
    /// Returns whether the file's offset moved, and whether its end was reached.
    pub(super) fn read(
        &mut self,
        filter: &dyn LineFilter,
        multiline: Option<&Multiline>,
        scratch: &mut Scratch,
        events: &mut Vec<Event>,
        cap: usize,
    ) -> io::Result<(bool, bool)> {
        let mut advanced = false;
        let now = Instant::now();
        let Watched {
            tailer,
            pending,
            fingerprint,
            path,
            ..
        } = &mut *self.w;
        let emit = &self.emit;
        while events.len() < cap {
            let before = events.len();
            let (invalid, untimed) = (
                self.emit.decoder.invalid_lines(),
                self.emit.decoder.time_fallbacks(),
            );
            let outcome = tailer.read_chunk(|chunk| {
                let used = match multiline {
                    None => emit.filtered(
                        &chunk,
                        filter,
                        &mut scratch.spans,
                        events,
                        cap,
                        (path, fingerprint),
                    ),
                    Some(m) => {
                        emit.assemble(&chunk, m, pending, events, cap, now, (path, fingerprint))
                    }
                };
                emit.stats.bytes.fetch_add(used as u64, Ordering::Relaxed);
                used
            })?;
            let decoded = (events.len() - before) as u64;
            emit.stats.lines.fetch_add(decoded, Ordering::Relaxed);
            let m = &emit.stats.metrics;
            m.lines_decoded.inc_by(decoded);
            m.decode_failures
                .inc_by(emit.decoder.invalid_lines().saturating_sub(invalid));
            m.time_missing
                .inc_by(emit.decoder.time_fallbacks().saturating_sub(untimed));
            if outcome.eof {
                return Ok((advanced, true));
            }
            if outcome.lines == 0 {
                break;
            }
            advanced = true;
        }
        Ok((advanced, false))
    }

    /// Emits the record being assembled: its file ended, was dropped or started over.
    pub(super) fn flush_pending(self, events: &mut Vec<Event>) {
        if let Some(record) = multiline::flush(&mut self.w.pending) {
            self.emit
                .record(record, (&self.w.path, &self.w.fingerprint), events);
        }
    }

    /// End of input (a replay takes the file as complete): the unterminated last line
    /// becomes an event too (if the filter picks it, or as part of a multiline record),
    /// and the record being assembled is emitted.
    pub(super) fn finish(
        self,
        filter: &dyn LineFilter,
        multiline: Option<&Multiline>,
        events: &mut Vec<Event>,
    ) {
        let Watched {
            tailer,
            pending,
            fingerprint,
            path,
            ..
        } = &mut *self.w;
        let file = (&*path, &*fingerprint);
        if let Some(line) = tailer.take_partial() {
            self.emit.stats.lines_read.fetch_add(1, Ordering::Relaxed);
            self.emit.stats.metrics.lines_read.inc();
            let start = line.end_offset - line.bytes.len() as u64;
            match multiline {
                Some(m) => {
                    let text = self.emit.text(&line);
                    m.push(
                        pending,
                        &text,
                        start,
                        line.end_offset,
                        Instant::now(),
                        |r| self.emit.record(r, file, events),
                    );
                }
                None => {
                    let mut buf = line.bytes.to_vec();
                    buf.push(b'\n');
                    let mut picked = false;
                    filter.for_each_candidate(&buf, &mut |_, _| picked = true);
                    if picked {
                        self.emit.line(line, file, events, self.emit.keep.as_ref());
                    }
                }
            }
        }
        if let Some(record) = multiline::flush(pending) {
            self.emit.record(record, file, events);
        }
    }

    /// Emits the record being assembled if no line continued it for the timeout.
    pub(super) fn flush_due(self, m: &Multiline, now: Instant, events: &mut Vec<Event>) {
        if let Some(record) = m.flush_due(&mut self.w.pending, now) {
            self.emit
                .record(record, (&self.w.path, &self.w.fingerprint), events);
        }
    }
}

/// Path and fingerprint of the file an event comes from.
type FileRef<'a> = (&'a Arc<str>, &'a Arc<str>);

impl Emitter<'_> {
    /// Candidate lines of `chunk` become events, up to `cap`; returns the bytes handled.
    fn filtered(
        &self,
        chunk: &Chunk<'_>,
        filter: &dyn LineFilter,
        spans: &mut Vec<(usize, usize)>,
        events: &mut Vec<Event>,
        cap: usize,
        file: FileRef<'_>,
    ) -> usize {
        spans.clear();
        // One snapshot picks the lines and says which fields to decode: a reload between
        // the two would decode lines for rules that did not pick them.
        let snapshot = filter.snapshot();
        let filter: &dyn LineFilter = snapshot.as_deref().unwrap_or(filter);
        filter.for_each_candidate(chunk.bytes, &mut |start, end| spans.push((start, end)));
        let keep = filter.fields();
        let take = spans.len().min(cap.saturating_sub(events.len()));
        for &(start, end) in &spans[..take] {
            self.line(chunk.line(start, end), file, events, keep.as_ref());
        }
        let used = match take {
            // Stop just past the last line taken; the rest is handed out again.
            take if take < spans.len() && take > 0 => spans[take - 1].1 + 1,
            0 if !spans.is_empty() => 0,
            _ => chunk.bytes.len(),
        };
        // A SIMD byte count (tens of GB/s), not a search: every chunk is counted, for the
        // metrics and replays alike, at a cost no profile shows.
        let lines = bytecount::count(&chunk.bytes[..used], b'\n');
        self.stats
            .lines_read
            .fetch_add(lines as u64, Ordering::Relaxed);
        let m = &self.stats.metrics;
        m.lines_read.inc_by(lines as u64);
        m.bytes_read.inc_by(used as u64);
        let skipped = lines.saturating_sub(take);
        m.lines_skipped.inc_by(skipped as u64);
        if skipped > 0 {
            self.probe(&chunk.bytes[..used], &spans[..take]);
        }
        used
    }

    /// Checks whether a few lines the prefilter skipped fit the format (they are never
    /// decoded, so a wrong `format` would otherwise go unnoticed while no rule's words
    /// appear): at most [`PROBES`] per chunk, counted for the decode warning.
    fn probe(&self, bytes: &[u8], taken: &[(usize, usize)]) {
        let m = &self.stats.metrics;
        let budget = if m.probed.get() < FIRST_PROBED {
            FIRST_PROBES
        } else {
            PROBES
        };
        let mut start = 0;
        let mut probed = 0;
        let mut failed = 0;
        for end in memchr::memchr_iter(b'\n', bytes) {
            if probed == budget {
                break;
            }
            let line = &bytes[start..end];
            // Spans come in order: a binary search, not a scan per probe.
            let was_taken = taken.binary_search_by_key(&start, |&(s, _)| s).is_ok();
            start = end + 1;
            if was_taken || line.is_empty() {
                continue;
            }
            match self.decoder.fits(&String::from_utf8_lossy(line)) {
                None => return,
                Some(fits) => {
                    probed += 1;
                    failed += u64::from(!fits);
                }
            }
        }
        m.probed.inc_by(probed);
        m.probe_failures.inc_by(failed);
    }

    /// Feeds every line of `chunk` to the multiline assembler until `cap` events.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        &self,
        chunk: &Chunk<'_>,
        m: &Multiline,
        pending: &mut Option<multiline::Pending>,
        events: &mut Vec<Event>,
        cap: usize,
        now: Instant,
        file: FileRef<'_>,
    ) -> usize {
        let mut start = 0;
        let mut line_start = chunk.offset;
        for nl in memchr::memchr_iter(b'\n', chunk.bytes) {
            self.stats.lines_read.fetch_add(1, Ordering::Relaxed);
            self.stats.metrics.lines_read.inc();
            let line = chunk.line(start, nl);
            let text = self.text(&line);
            m.push(pending, &text, line_start, line.end_offset, now, |r| {
                self.record(r, file, events)
            });
            line_start = line.end_offset;
            start = nl + 1;
            if events.len() >= cap {
                break;
            }
        }
        start
    }

    fn line(
        &self,
        line: Line<'_>,
        file: FileRef<'_>,
        events: &mut Vec<Event>,
        keep: Option<&Arc<FieldSelection>>,
    ) {
        let raw = self.text(&line).into_owned();
        events.push(self.decoder.decode_keeping(
            raw,
            self.origin(file, line.end_offset),
            self.arrival,
            keep,
        ));
    }

    fn record(&self, record: Record, file: FileRef<'_>, events: &mut Vec<Event>) {
        let origin = self.origin(file, record.end_offset);
        events.push(self.decoder.decode_keeping(
            record.text,
            origin,
            self.arrival,
            self.keep.as_ref(),
        ));
    }

    /// The line as text, counting what had to be cut or replaced.
    fn text<'b>(&self, line: &Line<'b>) -> Cow<'b, str> {
        if line.truncated {
            self.stats.truncated_lines.fetch_add(1, Ordering::Relaxed);
        }
        if memchr::memchr(0, line.bytes).is_some() {
            self.stats.nul_lines.fetch_add(1, Ordering::Relaxed);
        }
        let text = String::from_utf8_lossy(line.bytes);
        if matches!(text, Cow::Owned(_)) {
            self.stats
                .invalid_utf8_lines
                .fetch_add(1, Ordering::Relaxed);
        }
        text
    }

    fn origin(&self, (path, fingerprint): FileRef<'_>, offset: u64) -> Origin {
        Origin {
            source: Arc::clone(self.name),
            path: Arc::clone(path),
            fingerprint: Arc::clone(fingerprint),
            offset,
        }
    }
}
