//! Offline replay for `klaxon test`: each input file is read by a real source to its end
//! (the source's own decoding, multiline, time field and zone, and prefilter), then
//! handled by the same engine and commit path as `klaxon run` — in event time: the
//! pipeline's clock is the time of the event being handled, so date math (`now-15m`),
//! `fired_at` and every time the store records are what they would have been live.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use super::{Engine, PipelineError, RuleReport};
use crate::alert::Alert;
use crate::clock::{Clock, ManualClock};
use crate::rule::Rule;
use crate::source::{Batch, FileSource, FileSourceConfig, FileSourceStats, Source};
use crate::store::{MemoryStore, StateStore};

/// One file read as one source.
#[derive(Debug, Clone)]
pub struct ReplayInput {
    pub source: String,
    pub config: FileSourceConfig,
}

/// What a replay read and found.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    /// Lines read, whether the prefilter let them through or not.
    pub lines: u64,
    /// Events decoded (lines the prefilter let through, or multiline records).
    pub events: u64,
    /// Per rule: events its query matched, keys held.
    pub rules: Vec<RuleReport>,
    pub alerts: u64,
}

/// Replays `inputs` through `rules`; `on_alert` sees each alert as it would have been sent
/// (after realert), in order. Events without a time of their own are taken as written at
/// `written` (the input file's modification time).
pub fn replay(
    rules: Vec<Rule>,
    inputs: Vec<ReplayInput>,
    written: DateTime<Utc>,
    on_alert: &mut dyn FnMut(&Alert),
) -> Result<ReplayReport, PipelineError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PipelineError::Replay(e.to_string()))?;
    rt.block_on(run_replay(rules, inputs, written, on_alert))
}

async fn run_replay(
    rules: Vec<Rule>,
    inputs: Vec<ReplayInput>,
    written: DateTime<Utc>,
    on_alert: &mut dyn FnMut(&Alert),
) -> Result<ReplayReport, PipelineError> {
    // "Now" is the newest event time handled so far (the first event sets it).
    let clock = Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH));
    let mut engine = Engine::replay(rules, clock.clone());
    let mut store = MemoryStore::new();
    // Sources stamp untimed events with the write time, whatever the pipeline's clock says.
    let arrival: Arc<dyn Clock> = Arc::new(ManualClock::new(written));
    let (tx, mut rx) = mpsc::channel::<Batch>(8);
    let (_keep_running, running) = watch::channel(false);
    let mut stats: Vec<Arc<FileSourceStats>> = Vec::new();
    let mut tasks = Vec::new();
    for input in &inputs {
        let source = FileSource::new(&input.source, &input.config, Vec::new(), arrival.clone())?
            .with_filter(engine.prefilter(&input.source))
            .until_eof();
        stats.push(source.stats());
        tasks.push(tokio::spawn(
            Box::new(source).run(tx.clone(), running.clone()),
        ));
    }
    drop(tx);

    let mut report = ReplayReport::default();
    let mut raised = Vec::new();
    while let Some(batch) = rx.recv().await {
        for event in &batch.events {
            // The clock never goes back: an older event does not rewind "now".
            if event.time > clock.now() {
                clock.set(event.time);
            }
            engine.process(event, &mut raised);
            engine.advance(&mut raised);
            report.events += 1;
            report.alerts += deliver(&mut raised, &mut store, &mut engine, &clock, on_alert)?;
        }
        let commit = engine.commit(clock.now(), batch.checkpoints, Vec::new());
        store.commit(&commit)?;
    }
    for task in tasks {
        match task.await {
            Ok(result) => result?,
            Err(e) => return Err(PipelineError::Replay(format!("source task failed: {e}"))),
        }
    }
    engine.finish(&mut raised);
    report.alerts += deliver(&mut raised, &mut store, &mut engine, &clock, on_alert)?;
    report.lines = stats.iter().map(|s| s.lines_read()).sum();
    report.rules = engine.reports();
    Ok(report)
}

/// Shows the raised alerts and commits them (with the state that raised them) as `run`
/// would; returns how many there were.
fn deliver(
    raised: &mut Vec<crate::store::RaisedAlert>,
    store: &mut MemoryStore,
    engine: &mut Engine,
    clock: &ManualClock,
    on_alert: &mut dyn FnMut(&Alert),
) -> Result<u64, PipelineError> {
    if raised.is_empty() {
        return Ok(0);
    }
    for r in raised.iter() {
        on_alert(&r.alert);
    }
    let n = raised.len() as u64;
    let commit = engine.commit(clock.now(), Vec::new(), std::mem::take(raised));
    store.commit(&commit)?;
    Ok(n)
}
