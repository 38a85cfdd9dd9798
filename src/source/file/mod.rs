//! Tailing files matched by globs.
//!
//! Every `poll_interval` the globs are rescanned and each file is identified by the
//! checksum of its first line (`fingerprint`), so a renamed file is recognised and a new
//! file at an old path is read from its start. New complete lines are decoded and sent
//! in batches with the offset each file reached; the pipeline stores those checkpoints
//! once the batch is handled, and a restart resumes just after them.

mod config;
mod discover;
mod files;
mod fingerprint;
mod offline;
mod tailer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use self::discover::Discover;
use self::files::FileSet;
use super::{Batch, Source, SourceError};
use crate::clock::Clock;
use crate::decode::Decoder;
use crate::event::Origin;
use crate::store::Checkpoint;

pub use config::{FileSourceConfig, ReadFrom};
pub use offline::read_file_events;

/// Most events in one batch: bounds memory and latency while one file has a backlog.
pub const BATCH_CAP: usize = 1024;

/// Counters of one file source (shared, so metrics can read them while it runs).
#[derive(Debug, Default)]
pub struct FileSourceStats {
    lines: AtomicU64,
    truncated_lines: AtomicU64,
    truncations: AtomicU64,
    read_errors: AtomicU64,
}

impl FileSourceStats {
    /// Lines read and sent on.
    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
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
}

/// A running `type: file` source.
pub struct FileSource {
    name: Arc<str>,
    poll_interval: Duration,
    files: FileSet,
    decoder: Arc<Decoder>,
    clock: Arc<dyn Clock>,
    stats: Arc<FileSourceStats>,
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
        let discover =
            Discover::new(&config.include, &config.exclude).map_err(|e| invalid(e.to_string()))?;
        let decoder = Decoder::new(&config.decode_config()).map_err(|e| invalid(e.to_string()))?;
        let checkpoints = checkpoints
            .into_iter()
            .filter(|c| c.source == name)
            .map(|c| (c.fingerprint, c.offset));
        Ok(FileSource {
            name: Arc::from(name),
            poll_interval: config.poll_interval.0,
            files: FileSet::new(
                discover,
                config.read_from,
                config.fingerprint_bytes,
                config.max_line_bytes,
                checkpoints,
            ),
            decoder: Arc::new(decoder),
            clock,
            stats: Arc::default(),
        })
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
    ) -> bool {
        let FileSource {
            name,
            files,
            decoder,
            clock,
            stats,
            ..
        } = self;
        files.scan();
        let mut batch = Batch::default();
        loop {
            let mut more = false;
            for i in 0..files.files_mut().len() {
                let w = &mut files.files_mut()[i];
                if !w.readable() {
                    continue;
                }
                if w.tailer.was_truncated().unwrap_or(false) {
                    tracing::info!(path = %w.path, "file truncated; reading from the start");
                    stats.truncations.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = w.tailer.rewind() {
                        tracing::warn!(path = %w.path, error = %e, "cannot rewind file");
                    }
                }
                let arrival = clock.now();
                let before = batch.events.len();
                let (fingerprint, path) = (Arc::clone(&w.fingerprint), Arc::clone(&w.path));
                let read = w.tailer.read_lines(BATCH_CAP - batch.events.len(), |line| {
                    if line.truncated {
                        stats.truncated_lines.fetch_add(1, Ordering::Relaxed);
                    }
                    let origin = Origin {
                        source: Arc::clone(name),
                        path: Arc::clone(&path),
                        fingerprint: Arc::clone(&fingerprint),
                        offset: line.end_offset,
                    };
                    let raw = String::from_utf8_lossy(line.bytes).into_owned();
                    batch.events.push(decoder.decode(raw, origin, arrival));
                });
                // Lines handed out before a read error still count and are checkpointed.
                let lines = batch.events.len() - before;
                let eof = match read {
                    Ok(outcome) => outcome.eof,
                    Err(e) => {
                        tracing::warn!(path = %w.path, error = %e, "read failed");
                        stats.read_errors.fetch_add(1, Ordering::Relaxed);
                        true
                    }
                };
                w.note_read(lines, eof);
                more |= !eof;
                if lines > 0 {
                    stats.lines.fetch_add(lines as u64, Ordering::Relaxed);
                    set_checkpoint(
                        &mut batch.checkpoints,
                        name,
                        w.path.as_ref(),
                        &w.fingerprint,
                        w.tailer.offset(),
                    );
                }
                if batch.events.len() >= BATCH_CAP
                    && !send(out, shutdown, std::mem::take(&mut batch)).await
                {
                    return false;
                }
            }
            if !more {
                break;
            }
        }
        if !batch.events.is_empty() && !send(out, shutdown, batch).await {
            return false;
        }
        files.retire();
        true
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
        Some(c) => c.offset = offset,
        None => checkpoints.push(Checkpoint {
            source: source.to_string(),
            fingerprint: fingerprint.to_string(),
            path: path.to_string(),
            offset,
        }),
    }
}

/// Resolves once shutdown is requested. A dropped sender means no request can come, so
/// it never resolves then (the source still stops when `out` closes).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Sends, waiting while the pipeline is behind, unless shutdown comes first.
async fn send(
    out: &mpsc::Sender<Batch>,
    shutdown: &mut watch::Receiver<bool>,
    batch: Batch,
) -> bool {
    tokio::select! {
        biased;
        _ = stopped(shutdown) => false,
        sent = out.send(batch) => sent.is_ok(),
    }
}

#[async_trait::async_trait]
impl Source for FileSource {
    async fn run(
        mut self: Box<Self>,
        out: mpsc::Sender<Batch>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), SourceError> {
        loop {
            if *shutdown.borrow() || out.is_closed() || !self.poll(&out, &mut shutdown).await {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = stopped(&mut shutdown) => return Ok(()),
                _ = out.closed() => return Ok(()),
            }
        }
    }
}
