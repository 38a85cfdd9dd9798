//! Offline replay for `klaxon test`: each input file is read by a real source to its end
//! (the source's own decoding, multiline, time field and zone, and prefilter), then
//! handled by the same engine and commit path as `klaxon run`, batch by batch as `run`
//! handles them — in event time: the pipeline's clock is the time of the event being
//! handled, so date math (`now-15m`) and realert holds are what they would have been live.
//!
//! Several inputs (the two sources of a `mismatch`) are merged event by event in event
//! time (ties to the source named first alphabetically), so the result does not depend on
//! the order the files were named in; the clock advances at the end of each source batch,
//! as `run` advances it.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use super::{Engine, PipelineError, RuleReport};
use crate::alert::Alert;
use crate::clock::{Clock, ManualClock};
use crate::rule::Rule;
use crate::source::{Batch, FileSource, FileSourceConfig, FileSourceStats, Source};
use crate::store::{MemoryStore, RaisedAlert, StateStore};

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
    /// Per rule: events its query matched, events dropped as late, keys held.
    pub rules: Vec<RuleReport>,
    pub alerts: u64,
}

/// Replays `inputs` through `rules`; `on_alert` sees each alert as it would have been sent
/// (after realert), in order. Events without a time of their own are taken as written at
/// `written` (the input file's modification time); they do not move the clock.
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

/// One input being read: its batches as they come, how far into the first one the
/// replay is, and whether its source has ended.
struct Feed {
    rx: mpsc::Receiver<Batch>,
    queued: VecDeque<Batch>,
    next: usize,
    ended: bool,
}

impl Feed {
    /// Makes sure the next event is known (or that there is none).
    async fn fill(&mut self) {
        while self.queued.is_empty() && !self.ended {
            match self.rx.recv().await {
                Some(b) if b.events.is_empty() => {}
                Some(b) => self.queued.push_back(b),
                None => self.ended = true,
            }
        }
    }

    fn next_time(&self) -> Option<DateTime<Utc>> {
        self.queued.front().map(|b| b.events[self.next].time)
    }

    /// The batch holding the next event, and where in it the event is.
    fn take(&mut self) -> (&Batch, usize) {
        let at = self.next;
        self.next += 1;
        (self.queued.front().expect("a queued batch"), at)
    }

    /// The front batch, once its last event has been taken.
    fn finished(&mut self) -> Option<Batch> {
        let done = self
            .queued
            .front()
            .is_some_and(|b| self.next == b.events.len());
        done.then(|| {
            self.next = 0;
            self.queued.pop_front().expect("a queued batch")
        })
    }
}

async fn run_replay(
    rules: Vec<Rule>,
    mut inputs: Vec<ReplayInput>,
    written: DateTime<Utc>,
    on_alert: &mut dyn FnMut(&Alert),
) -> Result<ReplayReport, PipelineError> {
    // Ties between inputs go to the source named first alphabetically, whatever the
    // order on the command line.
    inputs.sort_by(|a, b| a.source.cmp(&b.source));
    // "Now" is the newest event time handled so far (the first event sets it).
    let clock = Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH));
    let mut engine = Engine::replay(rules, clock.clone());
    let mut store = MemoryStore::new();
    // Sources stamp untimed events with the write time, whatever the pipeline's clock says.
    let arrival: Arc<dyn Clock> = Arc::new(ManualClock::new(written));
    let (_keep_running, running) = watch::channel(false);
    let mut stats: Vec<Arc<FileSourceStats>> = Vec::new();
    let mut tasks = Vec::new();
    let mut feeds = Vec::new();
    for input in &inputs {
        let source = FileSource::new(&input.source, &input.config, Vec::new(), arrival.clone())?
            .with_filter(engine.prefilter(&input.source))
            .until_eof();
        stats.push(source.stats());
        let (tx, rx) = mpsc::channel::<Batch>(8);
        tasks.push(tokio::spawn(Box::new(source).run(tx, running.clone())));
        feeds.push(Feed {
            rx,
            queued: VecDeque::new(),
            next: 0,
            ended: false,
        });
    }

    let mut report = ReplayReport::default();
    let mut raised = Vec::new();
    loop {
        for feed in &mut feeds {
            feed.fill().await;
        }
        let next = feeds
            .iter_mut()
            .filter(|f| f.next_time().is_some())
            .min_by_key(|f| f.next_time());
        let Some(feed) = next else {
            break;
        };
        let (batch, at) = feed.take();
        let event = &batch.events[at];
        // The clock never goes back: an older event does not rewind "now"; a line whose
        // time is only a guess does not move it.
        if !event.time_guessed && event.time > clock.now() {
            clock.set(event.time);
        }
        engine.process(event, &mut raised);
        report.events += 1;
        if let Some(batch) = feed.finished() {
            engine.advance(&mut raised);
            // `klaxon test` shows what fires; what clears is the lifecycle's business.
            engine.take_cleared();
            report.alerts += deliver(&mut raised, on_alert);
            raised.clear();
            let commit = engine.commit(clock.now(), batch.checkpoints, Vec::new());
            store.commit(&commit)?;
        }
    }
    for task in tasks {
        match task.await {
            Ok(result) => result?,
            Err(e) => return Err(PipelineError::Replay(format!("source task failed: {e}"))),
        }
    }
    engine.finish(&mut raised);
    report.alerts += deliver(&mut raised, on_alert);
    let commit = engine.commit(clock.now(), Vec::new(), Vec::new());
    store.commit(&commit)?;
    report.lines = stats.iter().map(|s| s.lines_read()).sum();
    report.rules = engine.reports();
    Ok(report)
}

/// Shows the raised alerts; returns how many there were. They are not kept: the replay's
/// store holds rule state only, so memory stays flat however many alerts a long input
/// raises.
fn deliver(raised: &mut [RaisedAlert], on_alert: &mut dyn FnMut(&Alert)) -> u64 {
    for r in raised.iter() {
        on_alert(&r.alert);
    }
    raised.len() as u64
}
