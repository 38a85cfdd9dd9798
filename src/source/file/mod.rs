//! Tailing files matched by globs.
//!
//! Every `poll_interval` the globs are rescanned and each file is identified by the
//! checksum of its first line (`fingerprint`), so a renamed file is recognised and a new
//! file at an old path is read from its start. New complete lines are decoded and sent
//! in batches with the offset each file reached; the pipeline stores those checkpoints
//! once the batch is handled, and a restart resumes just after them.

mod change_watch;
mod config;
mod discover;
mod files;
mod fingerprint;
mod read;
mod tailer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use self::discover::Discover;
use self::files::{Check, FileSet};
use self::read::{LineReader, Scratch};
use super::multiline::Multiline;
use super::Checkpoint;
use super::{send_batch, stopped, Batch, Source, SourceError};
use crate::clock::Clock;
use crate::decode::Decoder;
use crate::filter::{AcceptAll, LineFilter};
use crate::types::flat;

pub(crate) use config::{default_max_alert_age, default_max_clock_skew, default_max_event_age};
pub use config::{FileSourceConfig, FingerprintStrategy, ReadFrom};

/// Most events in one batch: bounds memory and latency while one file has a backlog.
pub const BATCH_CAP: usize = 1024;

/// Bytes read (mostly filtered out) after which a batch goes out even with few events,
/// so a long backlog is checkpointed as it is read rather than only at its end.
const CHECKPOINT_BYTES: u64 = 16 * 1024 * 1024;

/// Counters of one file source (shared, so metrics can read them while it runs).
#[derive(Debug, Default)]
pub struct FileSourceStats {
    pub(crate) lines: AtomicU64,
    /// Every line read, decoded or not (counted only when reading to the end: a replay).
    pub(crate) lines_read: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) truncated_lines: AtomicU64,
    truncations: AtomicU64,
    read_errors: AtomicU64,
    pub(crate) invalid_utf8_lines: AtomicU64,
    pub(crate) nul_lines: AtomicU64,
    /// The same counts as Prometheus series (and the decoder probes behind the decode
    /// warning); unregistered until the pipeline hands in its own.
    pub(crate) metrics: crate::telemetry::SourceMetrics,
}

impl FileSourceStats {
    /// Lines (or multiline records) decoded and sent on.
    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    /// Every line read, whether the prefilter let it through or not; counted only by a
    /// source reading to the end (see [`FileSource::until_eof`]).
    pub fn lines_read(&self) -> u64 {
        self.lines_read.load(Ordering::Relaxed)
    }

    /// Bytes read past, whether their lines became events or were filtered out.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Lines longer than `max_line_bytes`, cut.
    pub fn truncated_lines(&self) -> u64 {
        self.truncated_lines.load(Ordering::Relaxed)
    }

    /// Files found truncated in place (copytruncate) and read again from the start.
    pub fn truncations(&self) -> u64 {
        self.truncations.load(Ordering::Relaxed)
    }

    pub fn read_errors(&self) -> u64 {
        self.read_errors.load(Ordering::Relaxed)
    }

    /// Decoded lines that were not valid UTF-8 (kept with U+FFFD in place of bad bytes).
    pub fn invalid_utf8_lines(&self) -> u64 {
        self.invalid_utf8_lines.load(Ordering::Relaxed)
    }

    /// Decoded lines holding NUL bytes (kept as they are).
    pub fn nul_lines(&self) -> u64 {
        self.nul_lines.load(Ordering::Relaxed)
    }
}

/// A running `type: file` source.
pub struct FileSource {
    name: Arc<str>,
    poll_interval: Duration,
    files: FileSet,
    decoder: Arc<Decoder>,
    filter: Arc<dyn LineFilter>,
    multiline: Option<Multiline>,
    clock: Arc<dyn Clock>,
    stats: Arc<FileSourceStats>,
    /// The `include` globs, for the change watch.
    include: Vec<String>,
    /// Read what is there and stop (a replay), rather than tail.
    until_eof: bool,
    /// Stop at the end of what is there, leaving an unterminated last line for later
    /// (`klaxon run --once`).
    stop_at_end: bool,
}

impl FileSource {
    /// `checkpoints` are those stored for this source; others are ignored.
    pub fn new(
        name: &str,
        config: &FileSourceConfig,
        checkpoints: Vec<Checkpoint>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SourceError> {
        let invalid = |message: String| SourceError::Config {
            source_name: name.to_string(),
            message,
        };
        config.validate().map_err(invalid)?;
        let discover = Discover::new(&config.include, &config.exclude, config.follow_symlinks)
            .map_err(|e| invalid(e.to_string()))?;
        let decoder =
            Decoder::with_options(&config.decode_options()).map_err(|e| invalid(e.to_string()))?;
        let multiline = config
            .multiline
            .as_ref()
            .map(|m| Multiline::new(m, config.max_line_bytes))
            .transpose()
            .map_err(invalid)?;
        let checkpoints = checkpoints
            .into_iter()
            .filter(|c| c.source == name)
            .map(|c| (c.fingerprint, c.path, c.offset));
        Ok(FileSource {
            name: Arc::from(name),
            include: config.include.clone(),
            poll_interval: config.poll_interval.0,
            files: FileSet::new(
                discover,
                config.read_from,
                config.fingerprint,
                config.fingerprint_bytes,
                config.max_line_bytes,
                checkpoints,
            ),
            decoder: Arc::new(decoder),
            filter: Arc::new(AcceptAll),
            multiline,
            clock,
            stats: Arc::default(),
            until_eof: false,
            stop_at_end: false,
        })
    }

    /// Reads every file once to its end, takes each as complete (an unterminated last line
    /// is a line, a multiline record being assembled is done) and stops: `klaxon test`
    /// replays a file through the same reading code `klaxon run` tails it with.
    pub fn until_eof(mut self) -> Self {
        self.until_eof = true;
        self
    }

    /// Reads every file to its current end and stops, as `tail` would but without
    /// following: an unterminated last line stays unread (its writer may not be done), so a
    /// later run resumes before it.
    pub fn stop_at_end(mut self) -> Self {
        self.stop_at_end = true;
        self
    }

    /// Only lines `filter` picks become events (see [`super::build_with_filter`]).
    pub fn with_filter(mut self, filter: Arc<dyn LineFilter>) -> Self {
        self.filter = filter;
        self
    }

    /// Counts into `metrics` (the pipeline's series for this source).
    pub fn with_metrics(mut self, metrics: crate::telemetry::SourceMetrics) -> Self {
        match Arc::get_mut(&mut self.stats) {
            Some(stats) => stats.metrics = metrics,
            None => tracing::error!("source metrics set after the source was shared"),
        }
        self
    }

    pub fn stats(&self) -> Arc<FileSourceStats> {
        Arc::clone(&self.stats)
    }

    /// The decoder, for its counters (invalid JSON lines, time fallbacks).
    pub fn decoder(&self) -> Arc<Decoder> {
        Arc::clone(&self.decoder)
    }

    /// One scan and read of everything new. `false` once the source must stop.
    async fn poll(
        &mut self,
        out: &mpsc::Sender<Batch>,
        shutdown: &mut watch::Receiver<bool>,
        scratch: &mut Scratch,
    ) -> bool {
        let FileSource {
            name,
            files,
            decoder,
            filter,
            multiline,
            clock,
            stats,
            until_eof,
            stop_at_end,
            ..
        } = self;
        files.scan();
        // Read once per poll: a reload changes what the rules read for the next one.
        let keep = filter.fields();
        let mut batch = Batch::default();
        let mut sent_at_bytes = stats.bytes();
        loop {
            let mut more = false;
            for i in 0..files.files_mut().len() {
                if !files.files_mut()[i].readable() {
                    continue;
                }
                match files.check(i) {
                    Ok(Check::Same) => {}
                    Ok(Check::Rewound) => {
                        let w = &mut files.files_mut()[i];
                        tracing::info!(path = %flat(&w.path), "file truncated; reading from the start");
                        stats.truncations.fetch_add(1, Ordering::Relaxed);
                        let reader = LineReader::new(name, w, decoder, stats, clock.now());
                        reader.flush_pending(&mut batch.events);
                    }
                    Ok(Check::Stale) => continue,
                    Err(e) => {
                        let w = &files.files_mut()[i];
                        tracing::warn!(path = %flat(&w.path), error = %e, "cannot check file");
                        stats.read_errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
                let w = &mut files.files_mut()[i];
                let mut reader =
                    LineReader::new(name, w, decoder, stats, clock.now()).keeping(keep.clone());
                let read = reader.read(
                    filter.as_ref(),
                    multiline.as_ref(),
                    scratch,
                    &mut batch.events,
                    BATCH_CAP,
                );
                let (advanced, eof) = match read {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        tracing::warn!(path = %flat(&w.path), error = %e, "read failed");
                        stats.read_errors.fetch_add(1, Ordering::Relaxed);
                        (false, true)
                    }
                };
                w.note_read(advanced, eof);
                more |= !eof;
                update_checkpoint(&mut batch.checkpoints, name, w);
                let full = batch.events.len() >= BATCH_CAP
                    || stats.bytes() - sent_at_bytes >= CHECKPOINT_BYTES;
                if full {
                    sent_at_bytes = stats.bytes();
                    if !send_batch(out, shutdown, std::mem::take(&mut batch)).await {
                        return false;
                    }
                }
            }
            if !more {
                break;
            }
        }
        let now = Instant::now();
        for w in files.files_mut() {
            let reader =
                LineReader::new(name, w, decoder, stats, clock.now()).keeping(keep.clone());
            // Records no line continued for the timeout, and those of files being dropped;
            // `--once` takes the record being assembled as complete (no later poll will).
            if *until_eof {
                reader.finish(filter.as_ref(), multiline.as_ref(), &mut batch.events);
            } else if reader.is_done() || *stop_at_end {
                reader.flush_pending(&mut batch.events);
            } else if let Some(m) = multiline.as_ref() {
                reader.flush_due(m, now, &mut batch.events);
            }
            update_checkpoint(&mut batch.checkpoints, name, w);
        }
        let followed = files.files_mut();
        stats.metrics.files.set(followed.len() as i64);
        stats.metrics.scans.inc();
        let behind: u64 = followed.iter().map(files::Watched::behind).sum();
        stats
            .metrics
            .checkpoint_lag_bytes
            .set(behind.min(i64::MAX as u64) as i64);
        let has_news = !batch.events.is_empty() || !batch.checkpoints.is_empty();
        if has_news && !send_batch(out, shutdown, batch).await {
            return false;
        }
        files.retire();
        true
    }
}

/// Puts the file's checkpoint into the batch when it moved since the last one sent:
/// after lines became events, and also when every line read was filtered out.
fn update_checkpoint(checkpoints: &mut Vec<Checkpoint>, source: &str, w: &mut files::Watched) {
    let offset = w.checkpoint_offset();
    if offset != w.sent_offset {
        w.sent_offset = offset;
        set_checkpoint(checkpoints, source, w.path.as_ref(), &w.fingerprint, offset);
    }
}

fn set_checkpoint(
    checkpoints: &mut Vec<Checkpoint>,
    source: &str,
    path: &str,
    fingerprint: &str,
    offset: u64,
) {
    match checkpoints
        .iter_mut()
        .find(|c| c.fingerprint == fingerprint)
    {
        Some(c) => {
            c.offset = offset;
            c.path = path.to_string();
        }
        None => checkpoints.push(Checkpoint {
            source: source.to_string(),
            fingerprint: fingerprint.to_string(),
            path: path.to_string(),
            offset,
        }),
    }
}

#[async_trait::async_trait]
impl Source for FileSource {
    async fn run(
        self: Box<Self>,
        out: mpsc::Sender<Batch>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), SourceError> {
        // Opening and reading files blocks (a slow disk, a network mount): the whole loop
        // runs on a thread of the blocking pool, never on the runtime's workers.
        let name = self.name.to_string();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || handle.block_on(self.tail(out, shutdown)))
            .await
            .map_err(|e| SourceError::Failed {
                source_name: name,
                message: format!("reader stopped: {e}"),
            })?
    }
}

impl FileSource {
    async fn tail(
        mut self: Box<Self>,
        out: mpsc::Sender<Batch>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), SourceError> {
        let mut scratch = Scratch::default();
        // File-system events cut the wait short; the poll still runs every interval.
        let wake = Arc::new(tokio::sync::Notify::new());
        let _watch = change_watch::ChangeWatch::start(&self.include, wake.clone());
        loop {
            if *shutdown.borrow()
                || out.is_closed()
                || !self.poll(&out, &mut shutdown, &mut scratch).await
                || self.until_eof
                || self.stop_at_end
            {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = wake.notified() => {}
                _ = stopped(&mut shutdown) => return Ok(()),
                _ = out.closed() => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod once_tests;
