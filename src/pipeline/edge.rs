//! `klaxon run` as a cluster edge (`cluster.role: edge`): the sources, the prefilter,
//! decoding and the rules' queries run here, where the logs are; each match goes to
//! JetStream on its partition's subject instead of into local rule state. A batch's file
//! checkpoints are committed only after JetStream acknowledged every match of the batch,
//! so a crash re-reads and re-publishes at most the unacknowledged batches — and the
//! stream's duplicate window drops what had landed (`cluster::wire::MatchMessage::msg_id`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::observe::Observer;
use super::run::{merge_checkpoints, start_sources, watch_rules, Started};
use super::{Engine, PipelineError, RuleWatcher, RunStats};
use crate::clock::Clock;
use crate::cluster::config::MATCH_PREFIX;
use crate::cluster::publish::{publish_batch, PublishTarget};
use crate::cluster::wire::{sample_of, MatchMessage};
use crate::cluster::{streams, ClusterSetup};
use crate::config::LoadedConfig;
use crate::event::Event;
use crate::rule::Rule;
use crate::source::{self, Batch};
use crate::store::{Commit, SqliteStore, StateLock, StateStore};
use crate::telemetry::Telemetry;

/// How long one match may wait for its acknowledgement before the batch is retried.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Most queued batches, and matches, published together.
const COALESCE_BATCHES: usize = 64;
const COALESCE_MATCHES: usize = 16 * 1024;
/// Longest wait between two attempts at a batch JetStream did not take.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub async fn run_edge(
    loaded: LoadedConfig,
    clock: Arc<dyn Clock>,
    shutdown: watch::Receiver<bool>,
    follow: source::Follow,
    setup: ClusterSetup,
) -> Result<RunStats, PipelineError> {
    let watcher = RuleWatcher::new(&loaded);
    let rules = watcher.compile_all().map_err(PipelineError::Config)?;
    let global = &loaded.global;
    let _lock = StateLock::acquire(&global.state_dir)?;
    let mut store = SqliteStore::open(&global.state_dir)?;
    let conn = streams::connect(&setup).await.map_err(cluster_error)?;
    streams::match_stream(&conn.js, &setup)
        .await
        .map_err(cluster_error)?;
    let target = PublishTarget {
        prefix: MATCH_PREFIX.to_string(),
        partitions: setup.partitions,
        ack_timeout: ACK_TIMEOUT,
    };
    let telemetry = Arc::new(Telemetry::default());
    let mut engine = Engine::new(rules, Vec::new(), None, clock.clone());
    let mut selections = FieldSelections::of(engine.rules());
    let (tx, mut rx) = mpsc::channel::<Batch>(8);
    let used_sources = engine.sources();
    let mut observer = Observer::new(
        telemetry.clone(),
        &global.sources,
        &used_sources,
        global.warnings.clone(),
    );
    let Started {
        tasks,
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
    tracing::info!(
        servers = %streams::shown(&setup.servers),
        partitions = setup.partitions,
        "edge running: matches go to JetStream"
    );

    let mut stats = RunStats::default();
    let mut matches: Vec<MatchMessage> = Vec::new();
    let (mut published, mut publishes) = (0u64, 0u64);
    loop {
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                matches.clear();
                let mut checkpoints = Vec::new();
                // A backlog: the batches already queued go out as one publish (one round
                // trip for their acknowledgements) and one checkpoint commit.
                let mut next = Some(batch);
                let mut taken = 0;
                while let Some(batch) = next.take() {
                    for event in &batch.events {
                        engine.each_match(event, |rule, key| {
                            matches.push(selections.message(rule, key, event));
                        });
                    }
                    stats.events += batch.events.len() as u64;
                    merge_checkpoints(&mut checkpoints, batch.checkpoints);
                    taken += 1;
                    if taken < COALESCE_BATCHES && matches.len() < COALESCE_MATCHES {
                        next = rx.try_recv().ok();
                    }
                }
                if !publish_until_taken(&conn.js, &target, &matches, &shutdown).await {
                    // Stopping with the batch not taken: its checkpoint stays where it was,
                    // and the next start publishes it again.
                    break;
                }
                published += matches.len() as u64;
                publishes += u64::from(!matches.is_empty());
                if !checkpoints.is_empty() {
                    store.commit(&Commit {
                        at: clock.now(),
                        checkpoints,
                        ..Commit::default()
                    })?;
                }
            }
            Some((rules, _messages)) = reloaded.recv() => {
                engine.replace_rules(rules);
                selections = FieldSelections::of(engine.rules());
                for (name, filter) in &filters {
                    filter.replace(engine.prefilter(name));
                }
                for (name, search) in &searches {
                    search.replace(engine.search_query(name));
                }
            }
        }
    }
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("{e}"),
            Err(e) => tracing::error!("source task failed: {e}"),
        }
    }
    // Everything handed to the client has been acknowledged; flush what it buffers.
    let _ = conn.client.flush().await;
    stats.alerts = 0;
    tracing::info!(matches = published, publishes, "edge stopped");
    Ok(stats)
}

/// Publishes `matches` until JetStream acknowledges all of them (`true`), or until a
/// shutdown is asked for while it cannot (`false`). An outage holds the edge here — its
/// sources wait on the full queue, nothing is skipped — and is logged once.
async fn publish_until_taken(
    js: &async_nats::jetstream::Context,
    target: &PublishTarget,
    matches: &[MatchMessage],
    shutdown: &watch::Receiver<bool>,
) -> bool {
    if matches.is_empty() {
        return true;
    }
    let mut backoff = Duration::from_millis(100);
    let mut failing = false;
    loop {
        match publish_batch(js, target, matches).await {
            Ok(done) => {
                if failing {
                    tracing::info!(
                        matches = matches.len(),
                        duplicates = done.duplicates,
                        "JetStream takes matches again"
                    );
                }
                return true;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "JetStream does not take matches; holding the batch and retrying");
                    failing = true;
                }
                if *shutdown.borrow() {
                    return false;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Per rule, the fields a match carries: those the rule reads, or every field when the
/// rule does not say (`None`).
struct FieldSelections(HashMap<String, Option<Vec<String>>>);

impl FieldSelections {
    fn of<'a>(rules: impl Iterator<Item = &'a Rule>) -> Self {
        FieldSelections(rules.map(|r| (r.name.clone(), r.fields())).collect())
    }

    fn message(&self, rule: &Rule, key: &str, event: &Event) -> MatchMessage {
        let fields = match (self.0.get(&rule.name), &event.fields) {
            (Some(Some(names)), Some(_)) => names
                .iter()
                .filter_map(|name| Some((name.clone(), event.value(name)?.clone())))
                .collect(),
            (_, Some(all)) => all.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            (_, None) => Default::default(),
        };
        MatchMessage {
            rule: rule.name.clone(),
            key: key.to_string(),
            event_time: event.time,
            fields,
            sample: sample_of(&event.raw).to_string(),
            source: event.origin.source.to_string(),
            fingerprint: event.origin.fingerprint.to_string(),
            offset: event.origin.offset,
        }
    }
}

pub(super) fn cluster_error(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Cluster(e.to_string())
}
