//! A source running in-process, the way the pipeline runs it: a task sending batches into
//! a bounded channel until shutdown.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use klaxon::clock::SystemClock;
use klaxon::config::HumanDuration;
use klaxon::source::Checkpoint;
use klaxon::source::{build, Batch, FileSourceConfig, Source, SourceConfig, SourceError};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The source name the tests use.
pub const NAME: &str = "app";
/// How long a test waits for a source to do something.
pub const WAIT: Duration = Duration::from_secs(10);

/// A file source over `dir/{pattern}`, polling every 20 ms.
pub fn file_config(dir: &Path, pattern: &str) -> FileSourceConfig {
    let mut cfg = FileSourceConfig::new(vec![dir.join(pattern).to_string_lossy().into_owned()]);
    cfg.poll_interval = HumanDuration(Duration::from_millis(20));
    cfg
}

pub struct SourceRun {
    pub rx: mpsc::Receiver<Batch>,
    pub shutdown: watch::Sender<bool>,
    pub task: JoinHandle<Result<(), SourceError>>,
}

impl SourceRun {
    /// Runs `source` into a channel of `capacity` batches.
    pub fn start(source: Box<dyn Source>, capacity: usize) -> SourceRun {
        let (tx, rx) = mpsc::channel(capacity);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(source.run(tx, shutdown_rx));
        SourceRun { rx, shutdown, task }
    }

    /// The file source `cfg` built as `klaxon run` builds it, resuming at `checkpoints`.
    pub fn file(cfg: FileSourceConfig, checkpoints: Vec<Checkpoint>) -> SourceRun {
        let source = build(
            NAME,
            &SourceConfig::File(cfg),
            checkpoints,
            Arc::new(SystemClock),
        )
        .expect("valid source");
        SourceRun::start(source, 16)
    }

    pub async fn batch(&mut self) -> Batch {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("a batch in time")
            .expect("source running")
    }

    /// Batches until they hold `n` events, and exactly `n`.
    pub async fn batches(&mut self, n: usize) -> Vec<Batch> {
        let mut batches: Vec<Batch> = Vec::new();
        let mut events = 0;
        while events < n {
            let batch = tokio::time::timeout(WAIT, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out after {events} events: {batches:?}"))
                .expect("source running");
            events += batch.events.len();
            batches.push(batch);
        }
        assert_eq!(events, n, "more events than expected: {batches:?}");
        batches
    }

    /// A batch arriving within a few polls, if any.
    pub async fn next_quickly(&mut self) -> Option<Batch> {
        tokio::time::timeout(Duration::from_millis(300), self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Shuts it down; it must stop promptly and without error.
    pub async fn stop(self) {
        self.shutdown.send(true).unwrap();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("stops promptly")
            .unwrap()
            .unwrap();
    }
}
