//! Offline replay for `klaxon test` and `klaxon replay`: each input file is read by a real source to its end
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
use crate::dispatch::{DispatchSetup, Dispatcher};
use crate::rule::Rule;
use crate::source::{Batch, FileSource, FileSourceConfig, FileSourceStats, Source};
use crate::store::{MemoryStore, Notification, RaisedAlert, StateStore};

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
    /// Events decoded and handled (lines the prefilter let through, or multiline records).
    pub events: u64,
    /// Events decoded but outside `--from`/`--to`.
    pub skipped: u64,
    /// Per rule, alerts realert held back after the last one raised (so no alert counts
    /// them in its `held_back`).
    pub held_back_at_end: std::collections::HashMap<String, u64>,
    /// Per rule: events its query matched, events dropped as late, keys held.
    pub rules: Vec<RuleReport>,
    pub alerts: u64,
}

/// What a replay covers besides its rules and inputs.
#[derive(Debug, Default)]
pub struct ReplayOptions {
    /// Only events at or after this time are handled (the others are read and skipped).
    pub from: Option<DateTime<Utc>>,
    /// Only events at or before this time.
    pub to: Option<DateTime<Utc>>,
    /// With the lifecycle (grouping, routes, escalation) of klaxon.yaml, the messages it
    /// would have sent are reported too.
    pub dispatch: Option<DispatchSetup>,
}

/// How far a replay has read: after each batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayProgress {
    pub bytes: u64,
    pub lines: u64,
}

/// What a replay tells as it goes.
pub struct ReplayHooks<'a> {
    /// Each alert as it would have been raised (after realert), in order.
    pub on_alert: &'a mut dyn FnMut(&Alert),
    /// Each message the lifecycle would have sent (with `ReplayOptions::dispatch`).
    pub on_message: &'a mut dyn FnMut(&Notification),
    pub on_progress: &'a mut dyn FnMut(ReplayProgress),
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
    let hooks = ReplayHooks {
        on_alert,
        on_message: &mut |_| {},
        on_progress: &mut |_| {},
    };
    replay_with(rules, inputs, written, ReplayOptions::default(), hooks)
}

/// [`replay`] with a time range, the lifecycle's messages and progress.
pub fn replay_with(
    rules: Vec<Rule>,
    inputs: Vec<ReplayInput>,
    written: DateTime<Utc>,
    options: ReplayOptions,
    hooks: ReplayHooks,
) -> Result<ReplayReport, PipelineError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PipelineError::Replay(e.to_string()))?;
    rt.block_on(run_replay(rules, inputs, written, options, hooks))
}

/// The lifecycle a replay runs alerts through, when asked to.
struct Lifecycle {
    dispatcher: Dispatcher,
    /// The event time the dispatcher's timers last ran at.
    ticked: DateTime<Utc>,
}

/// How often the timers run, in event time. `klaxon run` ticks each second; a replay
/// compresses days into seconds, and a tick costs a pass over the open alerts, so it ticks
/// every ten seconds of event time: a message is reported at most that much later.
const TICK: chrono::Duration = chrono::Duration::seconds(10);

impl Lifecycle {
    /// Hands the dispatcher what the engine raised and cleared, lets its timers run to
    /// `now`, and tells the messages it decided on.
    fn step(
        &mut self,
        raised: &[RaisedAlert],
        cleared: Vec<(String, String)>,
        now: DateTime<Utc>,
        on_message: &mut dyn FnMut(&Notification),
    ) {
        // A batch can span hours of event time: each alert meets the lifecycle at the
        // instant it fired, its timers run each second of event time between, as they
        // would have live.
        let mut order: Vec<&RaisedAlert> = raised.iter().collect();
        order.sort_by_key(|r| r.alert.fired_at);
        for r in order {
            let at = r.alert.fired_at.min(now);
            self.tick(at);
            self.dispatcher.raise(r.clone(), at);
        }
        for (rule, key) in cleared {
            self.dispatcher.clear(&rule, &key, now);
        }
        self.tick(now);
        for n in &self.dispatcher.take_notifications() {
            on_message(n);
        }
    }

    fn tick(&mut self, at: DateTime<Utc>) {
        if at >= self.ticked + TICK {
            self.dispatcher.tick(at);
            self.ticked = at;
        }
    }
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
    options: ReplayOptions,
    hooks: ReplayHooks<'_>,
) -> Result<ReplayReport, PipelineError> {
    let ReplayHooks {
        on_alert,
        on_message,
        on_progress,
    } = hooks;
    let mut lifecycle = match &options.dispatch {
        Some(setup) => Some(Lifecycle {
            dispatcher: Dispatcher::new(setup).map_err(PipelineError::Replay)?,
            ticked: DateTime::<Utc>::MIN_UTC,
        }),
        None => None,
    };
    let in_range = |t: DateTime<Utc>| {
        options.from.is_none_or(|from| t >= from) && options.to.is_none_or(|to| t <= to)
    };
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
        if in_range(event.time) {
            // The clock never goes back: an older event does not rewind "now"; a line whose
            // time is only a guess does not move it.
            if !event.time_guessed && event.time > clock.now() {
                clock.set(event.time);
            }
            engine.process(event, &mut raised);
            report.events += 1;
        } else {
            report.skipped += 1;
        }
        if let Some(batch) = feed.finished() {
            engine.advance(&mut raised);
            let cleared = engine.take_cleared();
            report.alerts += deliver(&mut raised, on_alert);
            if let Some(l) = &mut lifecycle {
                l.step(&raised, cleared, clock.now(), on_message);
            }
            raised.clear();
            let commit = engine.commit(clock.now(), batch.checkpoints, Vec::new());
            store.commit(&commit)?;
            on_progress(ReplayProgress {
                bytes: stats.iter().map(|s| s.bytes()).sum(),
                lines: stats.iter().map(|s| s.lines_read()).sum(),
            });
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
    if let Some(l) = &mut lifecycle {
        let cleared = engine.take_cleared();
        l.step(&raised, cleared, clock.now(), on_message);
        // Groups still waiting send what they hold: as their timers would shortly after.
        l.step(
            &[],
            Vec::new(),
            clock.now() + chrono::Duration::minutes(10),
            on_message,
        );
    }
    let commit = engine.commit(clock.now(), Vec::new(), Vec::new());
    store.commit(&commit)?;
    report.lines = stats.iter().map(|s| s.lines_read()).sum();
    report.rules = engine.reports();
    report.held_back_at_end = engine.held_back_pending();
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
