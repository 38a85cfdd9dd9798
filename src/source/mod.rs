//! Sources: where events come from. Each runs as its own task and hands the pipeline
//! batches of decoded events together with the checkpoints that become true once the
//! batch has been handled.

mod checkpoint;
mod config;
pub mod elasticsearch;
mod event_clock;
pub mod file;
pub(crate) mod multiline;
pub mod poll;
mod stdin;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::clock::Clock;
use crate::event::Event;
use crate::filter::{AcceptAll, LineFilter};

pub use checkpoint::Checkpoint;
pub use config::{SourceConfig, SourceKibana};
pub use event_clock::{SourceClockState, SourceClocks, IDLE_GRACE};
pub use file::{FileSource, FileSourceConfig, FileSourceStats, FingerprintStrategy, ReadFrom};
pub use multiline::{MultilineConfig, MultilineMode};
pub use stdin::{StdinSource, StdinSourceConfig};

/// Events read together, and where each file stands once they are handled.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    /// For every file this batch read from: the offset just past its last line in the batch.
    pub checkpoints: Vec<Checkpoint>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source `{source_name}`: {message}")]
    Failed {
        source_name: String,
        message: String,
    },
    #[error("source `{source_name}`: {message}")]
    Config {
        source_name: String,
        message: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Builds the configured source. `checkpoints` are those stored for it, so reading
/// resumes just after the last handled line of each file.
pub fn build(
    name: &str,
    config: &SourceConfig,
    checkpoints: Vec<Checkpoint>,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn Source>, SourceError> {
    build_with_filter(name, config, checkpoints, clock, Arc::new(AcceptAll))
}

/// Like [`build`], with a prefilter: lines `filter` rejects are never decoded (no event,
/// no allocation), but their bytes still advance the checkpoints. Multiline sources
/// bypass the filter (it judges lines, and a record's lines are only whole together).
pub fn build_with_filter(
    name: &str,
    config: &SourceConfig,
    checkpoints: Vec<Checkpoint>,
    clock: Arc<dyn Clock>,
    filter: Arc<dyn LineFilter>,
) -> Result<Box<dyn Source>, SourceError> {
    build_reading(
        name,
        config,
        checkpoints,
        clock,
        Reading {
            filter,
            ..Reading::default()
        },
    )
}

/// How a source reads, besides its config: the prefilter of the rules reading it, whether
/// it follows, the series it counts into, and (for Elasticsearch) what the rules search.
pub struct Reading {
    pub filter: Arc<dyn LineFilter>,
    pub follow: Follow,
    pub metrics: crate::telemetry::SourceMetrics,
    pub search: Arc<elasticsearch::SearchQuery>,
}

impl Default for Reading {
    fn default() -> Self {
        Reading {
            filter: Arc::new(AcceptAll),
            follow: Follow::Tail,
            metrics: Default::default(),
            search: Default::default(),
        }
    }
}

/// Whether a source keeps following its input or stops at its current end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Follow {
    /// Wait for new lines (and new files) until shutdown.
    #[default]
    Tail,
    /// Read what is there now, then end (`klaxon run --once`); standard input ends at EOF
    /// either way.
    ToEnd,
}

/// [`build_with_filter`], as `reading` says.
pub fn build_reading(
    name: &str,
    config: &SourceConfig,
    checkpoints: Vec<Checkpoint>,
    clock: Arc<dyn Clock>,
    reading: Reading,
) -> Result<Box<dyn Source>, SourceError> {
    let Reading {
        filter,
        follow,
        metrics,
        search,
    } = reading;
    match config {
        SourceConfig::File(file) => {
            let source = FileSource::new(name, file, checkpoints, clock)?
                .with_filter(filter)
                .with_metrics(metrics);
            Ok(Box::new(match follow {
                Follow::Tail => source,
                Follow::ToEnd => source.stop_at_end(),
            }))
        }
        // Standard input cannot be re-read: nothing to resume from, so no checkpoints.
        SourceConfig::Stdin(stdin) => Ok(Box::new(
            StdinSource::new(name, stdin, clock)?
                .with_filter(filter)
                .with_metrics(metrics),
        )),
        // Searches already select what the rules match; the prefilter has no lines to judge.
        SourceConfig::Elasticsearch(es) => {
            let source =
                elasticsearch::ElasticsearchSource::new(name, es, checkpoints, clock, search)?
                    .with_metrics(metrics);
            Ok(Box::new(match follow {
                Follow::Tail => source,
                Follow::ToEnd => source.once(),
            }))
        }
        // Polled: nothing to resume from, and no lines for the prefilter to skip (a poll's
        // few events go to the engine, which picks the rules for each).
        SourceConfig::RabbitMq(rabbitmq) => {
            let poller = poll::rabbitmq::RabbitMqPoller::new(rabbitmq).map_err(invalid(name))?;
            let source = poll::PollSource::new(
                name,
                rabbitmq.url.display(),
                rabbitmq.interval.0,
                Box::new(poller),
                clock,
            );
            Ok(Box::new(polled(source.with_metrics(metrics), follow)))
        }
        SourceConfig::HttpJson(http_json) => {
            let poller = poll::http_json::HttpJsonPoller::new(http_json).map_err(invalid(name))?;
            let source = poll::PollSource::new(
                name,
                http_json.url.display(),
                http_json.interval.0,
                Box::new(poller),
                clock,
            );
            Ok(Box::new(polled(source.with_metrics(metrics), follow)))
        }
    }
}

fn polled(source: poll::PollSource, follow: Follow) -> poll::PollSource {
    match follow {
        Follow::Tail => source,
        Follow::ToEnd => source.once(),
    }
}

fn invalid(name: &str) -> impl Fn(String) -> SourceError + '_ {
    move |message| SourceError::Config {
        source_name: name.to_string(),
        message,
    }
}

#[async_trait::async_trait]
pub trait Source: Send {
    /// Read until `shutdown` turns true or `out` closes. Sending blocks when the pipeline
    /// falls behind: that is the backpressure.
    async fn run(
        self: Box<Self>,
        out: mpsc::Sender<Batch>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), SourceError>;
}

/// Sends, waiting while the pipeline is behind (the backpressure), unless shutdown comes
/// first; `false` when the source must stop.
pub(crate) async fn send_batch(
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

/// Resolves once shutdown is requested. A dropped sender means no request can come, so
/// it never resolves then (the source still stops when `out` closes).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
