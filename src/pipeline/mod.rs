//! Wiring the stages for `klaxon run`: sources feed batches through a bounded channel
//! (backpressure) to the processor, which runs the engine and commits each batch's
//! checkpoints, realert state and alerts in one transaction; the dispatcher then
//! delivers the outbox. Delivery is at-least-once; handling of lines is exactly-once.

mod compile;
mod dispatch;
mod engine;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch, Notify};

use crate::clock::Clock;
use crate::config::LoadedConfig;
use crate::source::{self, Batch};
use crate::store::{Commit, SqliteStore, StateStore};

pub use compile::compile_rules;
pub use dispatch::{backoff, lock, DispatchReport, Dispatcher, MAX_ATTEMPTS};
pub use engine::{group_key, CompiledRule, Engine, MISSING_VALUE};

/// Batches in flight between the sources and the processor.
const BATCH_QUEUE: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    Config(crate::config::Diagnostics),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error("channel `{name}`: {message}")]
    Channel { name: String, message: String },
}

/// What a run did, for the summary printed at the end.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    pub events: u64,
    pub alerts: u64,
}

/// Run until `shutdown` turns true, then drain and deliver what is due.
pub async fn run(
    loaded: LoadedConfig,
    clock: Arc<dyn Clock>,
    shutdown: watch::Receiver<bool>,
) -> Result<RunStats, PipelineError> {
    let (rules, _warnings) = compile_rules(&loaded).map_err(PipelineError::Config)?;
    let global = &loaded.global;
    let store = SqliteStore::open(&global.state_dir)?;

    let mut channels = HashMap::new();
    for (name, cfg) in &global.channels {
        let channel =
            crate::notify::build(name, cfg, clock.clone()).map_err(|e| PipelineError::Channel {
                name: name.clone(),
                message: e.to_string(),
            })?;
        channels.insert(name.clone(), channel);
    }

    let mut engine = Engine::new(
        rules,
        store.realert_states()?,
        global.kibana.clone(),
        clock.clone(),
    );
    let (tx, mut rx) = mpsc::channel::<Batch>(BATCH_QUEUE);
    let mut used_sources: Vec<&str> = engine.rules().map(|r| r.source.as_str()).collect();
    used_sources.sort();
    used_sources.dedup();
    let mut source_tasks = Vec::new();
    for name in used_sources {
        let cfg = &global.sources[name];
        let src = source::build(name, cfg, store.checkpoints(name)?, clock.clone())?;
        source_tasks.push(tokio::spawn(src.run(tx.clone(), shutdown.clone())));
    }
    drop(tx);

    let store: Arc<Mutex<SqliteStore>> = Arc::new(Mutex::new(store));
    let wake = Arc::new(Notify::new());
    let dispatcher = Dispatcher {
        channels,
        store: store.clone(),
        clock: clock.clone(),
    };
    let dispatch_task = tokio::spawn(dispatcher.run(wake.clone(), shutdown.clone()));

    let mut stats = RunStats::default();
    let mut raised = Vec::new();
    // Ends when every source has stopped (on shutdown) and the queue is drained.
    while let Some(batch) = rx.recv().await {
        for event in &batch.events {
            engine.process(event, &mut raised);
        }
        stats.events += batch.events.len() as u64;
        stats.alerts += raised.len() as u64;
        let commit = Commit {
            checkpoints: batch.checkpoints,
            realert: engine.take_realert_changes(),
            alerts: std::mem::take(&mut raised),
        };
        let has_alerts = !commit.alerts.is_empty();
        lock(&store).commit(&commit)?;
        if has_alerts {
            wake.notify_one();
        }
    }
    for task in source_tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("{e}"),
            Err(e) => tracing::error!("source task failed: {e}"),
        }
    }
    if let Err(e) = dispatch_task.await {
        tracing::error!("dispatcher failed: {e}");
    }
    Ok(stats)
}
