//! `klaxon run`: sources feed batches through a bounded channel (backpressure) to the
//! processor, which runs the engine and commits each batch's checkpoints, realert state,
//! rule state, source clocks and alerts in one transaction; the dispatcher then delivers
//! the outbox. Between batches, a tick advances the clocks (so clock-fired rules fire on a
//! quiet system) and a poll picks up edited rule files.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use super::observe::Observer;
use super::{deliver, lock, serve, Engine, PipelineError, RuleWatcher, RunStats};
use crate::clock::Clock;
use crate::config::LoadedConfig;
use crate::dispatch::Dispatcher;
use crate::filter::SwappableFilter;
use crate::notify::{MessageSetup, RuleMessage, RuleMessages};
use crate::source::{self, Batch};
use crate::store::{LifecycleStore, SqliteStore, StateLock, StateStore};
use crate::telemetry::Telemetry;

/// Batches in flight between the sources and the processor.
const BATCH_QUEUE: usize = 8;

/// Most events, and longest time, handled from a backlog before a commit.
const COALESCE_EVENTS: usize = 256 * 1024;
const COALESCE_TIME: std::time::Duration = std::time::Duration::from_millis(250);

/// How often the clocks advance without a batch, and rule files are looked at.
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Run until `shutdown` turns true, then drain and deliver what is due.
pub async fn run(
    loaded: LoadedConfig,
    clock: Arc<dyn Clock>,
    shutdown: watch::Receiver<bool>,
    follow: source::Follow,
) -> Result<RunStats, PipelineError> {
    let watcher = RuleWatcher::new(&loaded);
    let rules = watcher.compile_all().map_err(PipelineError::Config)?;
    let global = &loaded.global;
    // Held until this returns: one Klaxon per state directory.
    let _lock = StateLock::acquire(&global.state_dir)?;
    let store = SqliteStore::open(&global.state_dir)?;
    let telemetry = Arc::new(Telemetry::default());
    telemetry
        .metrics
        .set_started(clock.now().timestamp_millis() as f64 / 1000.0);
    // Rung by the HTTP server when it queued a command or changed a silence.
    let wake = Arc::new(tokio::sync::Notify::new());
    let (stop_server, server_stop) = watch::channel(false);
    let (ack_links, server) = match global.server.config() {
        Some(cfg) => {
            let (task, links) = serve::start(
                cfg,
                &global.state_dir,
                telemetry.clone(),
                wake.clone(),
                clock.clone(),
                server_stop,
            )?;
            (Some(links), Some(task))
        }
        None => (None, None),
    };

    // Shared with every channel; a reload replaces what the rules say.
    let messages = MessageSetup {
        display_zone: global.display_timezone,
        rules: Arc::new(RuleMessages::new(watcher.messages())),
    };
    let channels = build_channels(&global.channels, &clock, &messages)?;

    let mut dispatcher =
        Dispatcher::new(&global.dispatch_setup()).map_err(|message| PipelineError::Channel {
            name: "routes".into(),
            message,
        })?;
    let (alert_records, group_records) = store.lifecycle()?;
    dispatcher.restore(alert_records, group_records);
    // Silences and queued commands before the first batch, so a silence in force at start
    // mutes from the first alert.
    outside_world(&mut dispatcher, &store, clock.now())?;
    let mut history_report = HistoryReport::default();

    let mut engine = Engine::new(
        rules,
        store.realert_states()?,
        global.kibana.clone(),
        clock.clone(),
    )
    .with_data_views(
        global
            .sources
            .iter()
            .filter_map(|(name, s)| Some((name.clone(), s.kibana_data_view()?.to_string())))
            .collect(),
    );
    engine.restore(&store)?;
    let (tx, mut rx) = mpsc::channel::<Batch>(BATCH_QUEUE);
    let used_sources = engine.sources();
    let mut observer = Observer::new(
        telemetry.clone(),
        &global.sources,
        &used_sources,
        global.warnings.clone(),
    );
    telemetry
        .health
        .started(clock.now(), engine.rules().count());
    let Started {
        tasks: source_tasks,
        filters,
        searches,
    } = start_sources(
        &global.sources,
        &used_sources,
        &engine,
        &store,
        &clock,
        follow,
        &mut observer,
        &telemetry,
        &tx,
        &shutdown,
    )?;
    drop(tx);
    let (mut reloaded, _stop_watching) = watch_rules(watcher, telemetry.clone());

    let store: Arc<Mutex<SqliteStore>> = Arc::new(Mutex::new(store));
    let known: Vec<String> = channels.keys().cloned().collect();
    deliver::orphans(&*store, &known, clock.now());
    // Delivery stops after processing does (on shutdown, or when every source has ended,
    // as stdin does at EOF), then delivers what is due for at most `shutdown_timeout`.
    let (processing_done, deliver_stop) = watch::channel(false);
    // A shutdown starts delivery's grace period at once, not when processing has drained.
    let stop_delivery = processing_done.clone();
    let mut signal = shutdown.clone();
    let stopping = telemetry.clone();
    tokio::spawn(async move {
        crate::source::stopped(&mut signal).await;
        // Not ready from now on: a load balancer stops sending while Klaxon drains.
        stopping.health.stopping();
        let _ = stop_delivery.send(true);
    });
    let (wakers, workers) = deliver::start(
        channels,
        store.clone(),
        clock.clone(),
        deliver_stop,
        global.shutdown_timeout.0,
        deliver::Observed {
            telemetry: Some(telemetry.clone()),
            ack_links,
        },
    );

    let mut stats = RunStats::default();
    let mut raised = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut evicted = EvictionLog::default();
    let mut pruning = Pruning {
        retention: global.retention.as_chrono(),
        next: None,
    };
    // Ends when every source has stopped (on shutdown) and the queue is drained.
    loop {
        let mut checkpoints = Vec::new();
        let mut ticked = false;
        let mut woken = false;
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                // A backlog: the batches already queued are handled and committed together,
                // so a busy key's state is written once rather than once per batch. An empty
                // queue ends the run (live tailing commits every batch at once, so alerts wait
                // for nothing); under a backlog, alerts wait at most `COALESCE_TIME`.
                let started = std::time::Instant::now();
                let mut handled = 0;
                let mut next = Some(batch);
                while let Some(batch) = next.take() {
                    for event in &batch.events {
                        engine.process(event, &mut raised);
                    }
                    handled += batch.events.len();
                    merge_checkpoints(&mut checkpoints, batch.checkpoints);
                    if handled >= COALESCE_EVENTS || started.elapsed() >= COALESCE_TIME {
                        break;
                    }
                    next = rx.try_recv().ok();
                }
                stats.events += handled as u64;
            }
            Some((rules, rule_messages)) = reloaded.recv() => {
                engine.replace_rules(rules);
                messages.rules.replace(rule_messages);
                for (name, filter) in &filters {
                    filter.replace(engine.prefilter(name));
                }
                for (name, search) in &searches {
                    search.replace(engine.search_query(name));
                }
                telemetry.health.set_rules(engine.rules().count());
            }
            _ = tick.tick() => {
                telemetry.health.beat(clock.now());
                evicted.report(&engine);
                pruning.maybe(&store, clock.now())?;
                observer.tick(clock.now(), &engine, &dispatcher);
                ticked = true;
            }
            _ = wake.notified() => {
                woken = true;
            }
        }
        engine.advance(&mut raised);
        stats.alerts += raised.len() as u64;
        let now = clock.now();
        let mut commit = engine.commit(now, checkpoints, std::mem::take(&mut raised));
        let had_alerts = !commit.alerts.is_empty();
        observer.raised(commit.alerts.iter().map(|r| r.alert.rule.as_str()));
        // Every raised alert is recorded as it was; what is sent, and when, the dispatcher
        // decides.
        for raised in &mut commit.alerts {
            dispatcher.raise(raised.clone(), now);
            raised.channels.clear();
        }
        for (rule, key) in engine.take_cleared() {
            dispatcher.clear(&rule, &key, now);
        }
        if ticked || woken {
            outside_world(&mut dispatcher, &*lock(&store), now)?;
            history_report.maybe(dispatcher.stats());
        }
        if ticked || woken || had_alerts {
            dispatcher.tick(now);
        }
        if woken {
            // A dead letter put back in the outbox is sent without waiting for the idle poll.
            wakers.ring();
        }
        dispatcher.take_changes(&mut commit);
        if commit.is_empty() {
            continue;
        }
        let has_messages = !commit.notifications.is_empty();
        if let Err(e) = lock(&store).commit(&commit) {
            telemetry.health.store_failed(e.to_string());
            return Err(e.into());
        }
        telemetry.health.committed(now);
        if has_messages {
            wakers.ring();
        }
    }
    for task in source_tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("{e}"),
            Err(e) => tracing::error!("source task failed: {e}"),
        }
    }
    let _ = processing_done.send(true);
    for worker in workers {
        if let Err(e) = worker.await {
            tracing::error!("a delivery worker failed: {e}");
        }
    }
    let _ = stop_server.send(true);
    if let Some(server) = server {
        let _ = tokio::task::spawn_blocking(move || server.join()).await;
    }
    Ok(stats)
}

/// Channels by name, built, with their delivery plans.
pub(super) type Channels = HashMap<
    String,
    (
        Arc<dyn crate::notify::Channel>,
        crate::notify::stages::DeliveryPlan,
    ),
>;

/// Every channel of klaxon.yaml, built, with its delivery plan.
pub(super) fn build_channels(
    configs: &std::collections::BTreeMap<String, crate::notify::ChannelConfig>,
    clock: &Arc<dyn Clock>,
    messages: &MessageSetup,
) -> Result<Channels, PipelineError> {
    let mut channels = HashMap::new();
    for (name, cfg) in configs {
        let channel =
            crate::notify::build_with(name, cfg, clock.clone(), messages).map_err(|e| {
                PipelineError::Channel {
                    name: name.clone(),
                    message: e.to_string(),
                }
            })?;
        channels.insert(name.clone(), (Arc::from(channel), cfg.delivery()));
    }
    Ok(channels)
}

/// The sources' reading tasks, and the handles a rule reload swaps through.
pub(super) struct Started {
    pub tasks: Vec<tokio::task::JoinHandle<Result<(), crate::source::SourceError>>>,
    pub filters: HashMap<String, Arc<SwappableFilter>>,
    pub searches: HashMap<String, Arc<source::elasticsearch::SearchQuery>>,
}

/// Starts reading every source some rule reads (`used_sources`), from its stored
/// checkpoints, through the prefilter of the rules reading it; batches go to `tx`.
#[allow(clippy::too_many_arguments)]
pub(super) fn start_sources(
    sources: &std::collections::BTreeMap<String, crate::source::SourceConfig>,
    used_sources: &[String],
    engine: &Engine,
    store: &dyn StateStore,
    clock: &Arc<dyn Clock>,
    follow: source::Follow,
    observer: &mut Observer,
    telemetry: &Arc<Telemetry>,
    tx: &mpsc::Sender<Batch>,
    shutdown: &watch::Receiver<bool>,
) -> Result<Started, PipelineError> {
    let mut source_tasks = Vec::new();
    // Each source reads through the prefilter of the rules reading it; a reload swaps it.
    let mut filters: HashMap<String, Arc<SwappableFilter>> = HashMap::new();
    let mut searches: HashMap<String, Arc<source::elasticsearch::SearchQuery>> = HashMap::new();
    for name in used_sources {
        let Some(cfg) = sources.get(name) else {
            continue;
        };
        let filter = Arc::new(SwappableFilter::new(engine.prefilter(name)));
        filters.insert(name.to_string(), filter.clone());
        let checkpoints = store.checkpoints(name)?;
        let search = Arc::new(source::elasticsearch::SearchQuery::new(
            engine.search_query(name),
        ));
        searches.insert(name.to_string(), search.clone());
        let src = source::build_reading(
            name,
            cfg,
            checkpoints,
            clock.clone(),
            source::Reading {
                filter,
                follow,
                metrics: observer.source_metrics(name),
                search,
            },
        )?;
        telemetry.health.source_started(name);
        let (health, name, reading) = (
            telemetry.clone(),
            name.clone(),
            src.run(tx.clone(), shutdown.clone()),
        );
        // The reading runs as a task of its own, so a panic in it is seen here (and
        // makes Klaxon not ready) rather than leaving the source "reading" for ever.
        let task = tokio::spawn(reading);
        source_tasks.push(tokio::spawn(async move {
            let (result, error) = match task.await {
                Ok(result) => {
                    let error = result.as_ref().err().map(ToString::to_string);
                    (result, error)
                }
                Err(e) => {
                    let message = format!("reader failed: {e}");
                    let error = Some(message.clone());
                    (
                        Err(crate::source::SourceError::Failed {
                            source_name: name.clone(),
                            message,
                        }),
                        error,
                    )
                }
            };
            health.health.source_stopped(&name, error);
            result
        }));
    }
    Ok(Started {
        tasks: source_tasks,
        filters,
        searches,
    })
}

/// Adds `later` to `checkpoints`: a file's later offset replaces its earlier one.
pub(super) fn merge_checkpoints(
    checkpoints: &mut Vec<source::Checkpoint>,
    later: Vec<source::Checkpoint>,
) {
    for c in later {
        match checkpoints
            .iter_mut()
            .find(|k| k.source == c.source && k.fingerprint == c.fingerprint)
        {
            Some(k) => *k = c,
            None => checkpoints.push(c),
        }
    }
}

/// What changed outside: silences added or expired, and commands (`klaxon ack`) queued by
/// the CLI, read from the store.
fn outside_world(
    dispatcher: &mut Dispatcher,
    store: &dyn LifecycleStore,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), PipelineError> {
    let (silences, commands) = (store.silences(now)?, store.pending_commands()?);
    dispatcher.set_silences(silences_of(silences));
    for command in commands {
        let answer = dispatcher.command(&command, now);
        tracing::info!(command = %command.kind, by = %crate::types::flat(&command.author), "{answer}");
    }
    Ok(())
}

/// Stored silences as the dispatcher takes them (rows whose matchers no longer parse are
/// left out).
pub(super) fn silences_of(
    rows: impl IntoIterator<Item = crate::store::SilenceRow>,
) -> Vec<crate::dispatch::Silence> {
    rows.into_iter()
        .filter_map(|r| {
            let matchers = serde_json::from_str::<Vec<String>>(&r.matchers).ok()?;
            let matchers = matchers
                .iter()
                .map(|m| crate::dispatch::Matcher::parse(m))
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            Some(crate::dispatch::Silence {
                id: r.id,
                matchers: crate::dispatch::Matchers(matchers),
                starts_at: r.starts_at,
                ends_at: r.ends_at,
                author: r.author,
                comment: r.comment,
            })
        })
        .collect()
}

/// Reports, once each time a catch-up ends, how many alerts about old events did not page.
#[derive(Default)]
struct HistoryReport {
    reported: u64,
    last_seen: u64,
}

impl HistoryReport {
    fn maybe(&mut self, stats: crate::dispatch::DispatchStats) {
        let n = stats.history_not_paged;
        if n > self.reported && n == self.last_seen {
            tracing::info!(
                alerts = n - self.reported,
                "alerts about events older than max_alert_age were recorded but not paged (history is not news)"
            );
            self.reported = n;
        }
        self.last_seen = n;
    }
}

/// Forgets what is older than the retention, at start and then hourly.
struct Pruning {
    retention: chrono::Duration,
    next: Option<chrono::DateTime<chrono::Utc>>,
}

impl Pruning {
    fn maybe(
        &mut self,
        store: &Mutex<SqliteStore>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), PipelineError> {
        if self.next.is_some_and(|next| now < next) {
            return Ok(());
        }
        self.next = now.checked_add_signed(chrono::Duration::hours(1));
        let Some(before) = now.checked_sub_signed(self.retention) else {
            return Ok(());
        };
        let pruned = lock(store).prune(before)?;
        if pruned != crate::store::Pruned::default() {
            tracing::info!(
                deliveries = pruned.deliveries,
                alerts = pruned.alerts,
                holds = pruned.holds,
                "state older than the retention forgotten"
            );
        }
        Ok(())
    }
}

/// A reloaded rule set and the messages its rules carry.
pub(super) type RuleSet = (Vec<crate::rule::Rule>, HashMap<String, RuleMessage>);

/// Polls the rule files every tick on a thread of its own — reading and compiling a large
/// rule set must never hold up ingestion — and hands each new rule set over. The thread
/// stops as soon as the returned guard is dropped (the pipeline ended, by shutdown or
/// because every source did).
pub(super) fn watch_rules(
    mut watcher: RuleWatcher,
    telemetry: Arc<Telemetry>,
) -> (mpsc::Receiver<RuleSet>, std::sync::mpsc::Sender<()>) {
    let (tx, rx) = mpsc::channel(1);
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || loop {
        match stopped.recv_timeout(TICK) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let (rules, outcome) = watcher.poll();
        if !outcome.refused.is_empty() {
            telemetry.metrics.reload(false);
        }
        if let Some(rules) = rules {
            telemetry.metrics.reload(true);
            if tx.blocking_send((rules, watcher.messages())).is_err() {
                return;
            }
        }
    });
    (rx, stop)
}

/// Warns when a rule starts evicting keys (its `max_keys` is too small for its traffic).
#[derive(Default)]
struct EvictionLog {
    last: HashMap<String, u64>,
}

impl EvictionLog {
    fn report(&mut self, engine: &Engine) {
        for r in engine.reports() {
            let before = self.last.insert(r.rule.clone(), r.evicted).unwrap_or(0);
            if r.evicted > before {
                tracing::warn!(
                    rule = %r.rule,
                    evicted = r.evicted,
                    keys = r.keys,
                    "rule is at max_keys: least recently seen keys evicted (their state is lost)"
                );
            }
        }
    }
}
