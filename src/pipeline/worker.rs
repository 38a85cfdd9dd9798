//! `klaxon run` as a cluster worker (`cluster.role: worker`). Every `lease_ttl / 3` the
//! worker renews its heartbeat and leases (`cluster::lease`), takes the partitions and
//! channels the live workers' rendezvous ranking gives it, and hands over those another
//! live worker ranks higher for. For each partition it owns it runs
//! [`partition`](own_partition): restore the snapshot, replay the partition's matches from
//! the sequence after it through the rule engine, put what fires into the outbox stream,
//! snapshot every `snapshot_interval`. For each channel it owns it runs
//! [`deliver`](deliver_channel): pull the channel's outbox, send, acknowledge.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::edge::cluster_error;
use super::{lock, Engine, PipelineError, RuleWatcher, RunStats};
use crate::clock::Clock;
use crate::cluster::config::MATCH_PREFIX;
use crate::cluster::lease::{delivery_key, partition_key, preferred, Leases};
use crate::cluster::outbox::{self, OutboxMessage};
use crate::cluster::partition::subject;
use crate::cluster::snapshot::PartitionSnapshot;
use crate::cluster::wire::MatchMessage;
use crate::cluster::{streams, ClusterSetup};
use crate::config::LoadedConfig;
use crate::event::{Event, Origin};
use crate::notify::{Channel, MessageSetup, RuleMessages};
use crate::store::{RaisedAlert, StateStore};

/// Most matches handled between two commits of a partition's state.
const BATCH: usize = 512;
/// Most attempts at one notification before it is given up (logged as a dead letter).
const MAX_ATTEMPTS: i64 = 10;
const OUTBOX_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// What every partition and delivery task of this worker shares.
struct Shared {
    js: jetstream::Context,
    matches: stream::Stream,
    outbox: stream::Stream,
    snapshots: kv::Store,
    setup: ClusterSetup,
    watcher: Mutex<RuleWatcher>,
    kibana: Option<crate::query::kibana::KibanaConfig>,
    clock: Arc<dyn Clock>,
    /// The largest message the server takes: a snapshot past it is not written.
    max_payload: usize,
}

/// A partition or channel this worker holds: the lease revision, and its task.
struct Held {
    revision: u64,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

pub async fn run_worker(
    loaded: LoadedConfig,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
    setup: ClusterSetup,
) -> Result<RunStats, PipelineError> {
    let watcher = RuleWatcher::new(&loaded);
    // Refuse broken rules at start, as a single node does.
    watcher.compile_all().map_err(PipelineError::Config)?;
    let global = &loaded.global;
    let messages = MessageSetup {
        display_zone: global.display_timezone,
        rules: Arc::new(RuleMessages::new(watcher.messages())),
    };
    let channels: HashMap<String, (Arc<dyn Channel>, Duration)> =
        super::run::build_channels(&global.channels, &clock, &messages)?
            .into_iter()
            .map(|(name, (channel, plan))| (name, (channel, plan.send_timeout)))
            .collect();
    let conn = streams::connect(&setup).await.map_err(cluster_error)?;
    let js = conn.js.clone();
    let shared = Arc::new(Shared {
        matches: streams::match_stream(&js, &setup)
            .await
            .map_err(cluster_error)?,
        outbox: streams::outbox_stream(&js, &setup)
            .await
            .map_err(cluster_error)?,
        snapshots: streams::snapshot_bucket(&js, &setup)
            .await
            .map_err(cluster_error)?,
        js: js.clone(),
        setup: setup.clone(),
        watcher: Mutex::new(watcher),
        kibana: global.kibana.clone(),
        clock: clock.clone(),
        max_payload: conn.client.server_info().max_payload,
    });
    let leases = Leases::new(
        streams::lease_bucket(&js, &setup)
            .await
            .map_err(cluster_error)?,
        setup.worker_id.clone(),
    );
    tracing::info!(worker = %leases.me(), partitions = setup.partitions, "worker running");

    let round = setup.lease_ttl / 3;
    // Say we are here, and give workers started at the same moment a round to say so too,
    // before the first share-out.
    // A bucket another worker made a moment ago may not take writes yet: retry a while.
    let mut wait = Duration::from_millis(50);
    while let Err(e) = leases.heartbeat().await {
        if wait > Duration::from_secs(20) {
            return Err(cluster_error(e));
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    tokio::time::sleep(round).await;
    let mut partitions: HashMap<u16, Held> = HashMap::new();
    let mut delivering: HashMap<String, Held> = HashMap::new();
    let mut tick = tokio::time::interval(round);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::source::stopped(&mut shutdown) => break,
        }
        if let Err(e) = leases.heartbeat().await {
            tracing::warn!(error = %e, "cannot renew the worker's heartbeat");
            continue;
        }
        let mut live = match leases.live_workers().await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list live workers");
                continue;
            }
        };
        if !live.iter().any(|w| w == leases.me()) {
            live.push(leases.me().to_string());
        }
        for p in 0..setup.partitions {
            let key = partition_key(p);
            let wanted = preferred(&live, &key) == Some(leases.me());
            keep_or_take(
                &leases,
                &key,
                wanted,
                partitions.get_mut(&p).map(|h| &mut *h),
            )
            .await
            .apply(&mut partitions, p, &key, &leases, || {
                let shared = shared.clone();
                spawn_owned(move |stop| own_partition(shared, p, stop))
            });
        }
        for (name, (channel, send_timeout)) in &channels {
            let key = delivery_key(name);
            let wanted = preferred(&live, &key) == Some(leases.me());
            let held = delivering.get_mut(name).map(|h| &mut *h);
            keep_or_take(&leases, &key, wanted, held).await.apply(
                &mut delivering,
                name.clone(),
                &key,
                &leases,
                || {
                    let (shared, name, channel) = (shared.clone(), name.clone(), channel.clone());
                    let send_timeout = *send_timeout;
                    spawn_owned(move |stop| {
                        deliver_channel(shared, name, channel, send_timeout, stop)
                    })
                },
            );
        }
    }
    // Stop every task (each partition writes a last snapshot), then free the leases so
    // the other workers take over at once rather than after `lease_ttl`.
    let all: Vec<(String, Held)> = partitions
        .into_iter()
        .map(|(p, h)| (partition_key(p), h))
        .chain(delivering.into_iter().map(|(c, h)| (delivery_key(&c), h)))
        .collect();
    for (_, held) in &all {
        let _ = held.stop.send(true);
    }
    for (key, held) in all {
        let _ = tokio::time::timeout(Duration::from_secs(10), held.task).await;
        leases.release(&key, held.revision).await;
    }
    let _ = conn.client.flush().await;
    tracing::info!(worker = %leases.me(), "worker stopped");
    Ok(RunStats::default())
}

/// What one round decided about one lease.
enum Decision {
    Keep(u64),
    Take(u64),
    /// Lost (not renewed in time) or handed over: stop the task.
    Drop {
        release: Option<u64>,
    },
    Nothing,
}

async fn keep_or_take(
    leases: &Leases,
    key: &str,
    wanted: bool,
    held: Option<&mut Held>,
) -> Decision {
    match held {
        Some(h) if h.task.is_finished() => Decision::Drop {
            release: Some(h.revision),
        },
        Some(h) => match leases.renew(key, h.revision).await {
            None => {
                tracing::warn!(
                    lease = key,
                    "lease lost (not renewed in time); stopping its work"
                );
                Decision::Drop { release: None }
            }
            // Another live worker ranks higher: hand it over.
            Some(revision) if !wanted => Decision::Drop {
                release: Some(revision),
            },
            Some(revision) => Decision::Keep(revision),
        },
        None if wanted => leases
            .acquire(key)
            .await
            .map_or(Decision::Nothing, Decision::Take),
        None => Decision::Nothing,
    }
}

impl Decision {
    fn apply<K: std::hash::Hash + Eq + Clone>(
        self,
        held: &mut HashMap<K, Held>,
        id: K,
        key: &str,
        leases: &Leases,
        start: impl FnOnce() -> (watch::Sender<bool>, JoinHandle<()>),
    ) {
        match self {
            Decision::Keep(revision) => {
                if let Some(h) = held.get_mut(&id) {
                    h.revision = revision;
                }
            }
            Decision::Take(revision) => {
                tracing::info!(lease = key, "lease taken");
                let (stop, task) = start();
                held.insert(
                    id,
                    Held {
                        revision,
                        stop,
                        task,
                    },
                );
            }
            Decision::Drop { release } => {
                let Some(h) = held.remove(&id) else { return };
                let _ = h.stop.send(true);
                if let Some(revision) = release {
                    // Released once the task has finished (a partition's last snapshot).
                    let (kv_key, me) = (key.to_string(), leases.clone());
                    tokio::spawn(async move {
                        let _ = h.task.await;
                        me.release(&kv_key, revision).await;
                        tracing::info!(lease = %kv_key, "lease handed over");
                    });
                }
            }
            Decision::Nothing => {}
        }
    }
}

fn spawn_owned<F, Fut>(run: F) -> (watch::Sender<bool>, JoinHandle<()>)
where
    F: FnOnce(watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let (stop, stopped) = watch::channel(false);
    let fut = run(stopped);
    let task = tokio::spawn(async move {
        if let Err(e) = fut.await {
            tracing::warn!(error = %e, "cluster task stopped");
        }
    });
    (stop, task)
}

/// Owns partition `p` until `stop`: restores its snapshot, replays its matches from the
/// sequence after it, raises alerts into the outbox, snapshots. Ends with an error when
/// the snapshot entry was written by someone else since (another owner took over: this
/// one is stale and must not write again).
async fn own_partition(
    shared: Arc<Shared>,
    p: u16,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let key = partition_key(p);
    let (mut revision, snapshot) = match shared.snapshots.entry(key.clone()).await {
        Ok(Some(e)) if e.operation == kv::Operation::Put => (
            e.revision,
            PartitionSnapshot::from_bytes(&e.value)
                .map_err(|err| format!("partition {p}: snapshot does not read back: {err}"))?,
        ),
        Ok(_) => (0, PartitionSnapshot::default()),
        Err(e) => return Err(format!("partition {p}: cannot read snapshot: {e}")),
    };
    let mut last_seq = snapshot.seq;
    let mut store = snapshot.into_store().map_err(|e| e.to_string())?;
    let rules = lock(&shared.watcher)
        .compile_all()
        .map_err(|e| e.to_string())?;
    let realert = store.realert_states().map_err(|e| e.to_string())?;
    let mut engine = Engine::new(rules, realert, shared.kibana.clone(), shared.clock.clone());
    engine.restore(&store).map_err(|e| e.to_string())?;
    let deliver_policy = if last_seq == 0 {
        consumer::DeliverPolicy::All
    } else {
        consumer::DeliverPolicy::ByStartSequence {
            start_sequence: last_seq + 1,
        }
    };
    let ordered = shared
        .matches
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject(MATCH_PREFIX, p),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("partition {p}: cannot read matches: {e}"))?;
    let mut incoming = ordered
        .messages()
        .await
        .map_err(|e| format!("partition {p}: cannot read matches: {e}"))?;
    tracing::info!(partition = p, from = last_seq + 1, "partition owned");

    let mut snapshot_tick = tokio::time::interval(shared.setup.snapshot_interval);
    snapshot_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut snapshotted = last_seq;
    let (mut matched, mut caught_up) = (0u64, false);
    let mut raised = Vec::new();
    let mut outgoing = Vec::new();
    loop {
        let mut ticked = false;
        tokio::select! {
            _ = crate::source::stopped(&mut stop) => break,
            _ = snapshot_tick.tick() => ticked = true,
            first = incoming.next() => {
                let mut next = first;
                let mut handled = 0;
                while let Some(message) = next.take() {
                    let message = message.map_err(|e| format!("partition {p}: {e}"))?;
                    let info = message.info().map_err(|e| format!("partition {p}: {e}"))?;
                    let (seq, pending) = (info.stream_sequence, info.pending);
                    match MatchMessage::from_bytes(&message.payload) {
                        Ok(mut m) => {
                            let rule = std::mem::take(&mut m.rule);
                            engine.process_match(&rule, &event_of(m), &mut raised);
                            to_outbox(p, seq, &mut raised, &mut outgoing);
                        }
                        Err(e) => tracing::warn!(partition = p, seq, error = %e, "unreadable match skipped"),
                    }
                    last_seq = seq;
                    handled += 1;
                    matched += 1;
                    if pending == 0 && !caught_up {
                        // Nothing older is waiting: what a benchmark and an operator
                        // watching a takeover want to know.
                        tracing::info!(partition = p, seq, matches = matched, "partition caught up");
                    }
                    caught_up = pending == 0;
                    if handled >= BATCH {
                        break;
                    }
                    // Whatever else has already arrived, without waiting.
                    next = incoming.next().now_or_never().flatten();
                }
            }
        }
        // Clock-fired rules (flatline, absence): counted at the last match handled.
        engine.advance(&mut raised);
        to_outbox(p, last_seq, &mut raised, &mut outgoing);
        // Notifications are in the outbox before the state that raised them is stored
        // anywhere: a crash in between raises them again, and the duplicate window drops
        // the repeat.
        if !outgoing.is_empty() {
            outbox::publish(&shared.js, &outgoing, OUTBOX_ACK_TIMEOUT)
                .await
                .map_err(|e| format!("partition {p}: {e}"))?;
            outgoing.clear();
        }
        let commit = engine.commit(shared.clock.now(), Vec::new(), Vec::new());
        store.commit(&commit).map_err(|e| e.to_string())?;
        if ticked && last_seq != snapshotted {
            let snap = PartitionSnapshot::capture(last_seq, &store).map_err(|e| e.to_string())?;
            revision = write_snapshot(&shared, &key, snap, revision).await?;
            snapshotted = last_seq;
        }
    }
    if last_seq != snapshotted {
        let snap = PartitionSnapshot::capture(last_seq, &store).map_err(|e| e.to_string())?;
        write_snapshot(&shared, &key, snap, revision).await?;
    }
    tracing::info!(partition = p, up_to = last_seq, "partition released");
    Ok(())
}

/// Writes the snapshot if the entry is still at `revision` (ours): its new revision.
async fn write_snapshot(
    shared: &Shared,
    key: &str,
    snap: PartitionSnapshot,
    revision: u64,
) -> Result<u64, String> {
    let bytes = bytes::Bytes::from(snap.to_bytes());
    if bytes.len() > shared.max_payload {
        // Kept going without it: the partition replays from its last snapshot that fit.
        tracing::error!(
            snapshot = key,
            bytes = bytes.len(),
            max_payload = shared.max_payload,
            "snapshot larger than the server's max_payload: not written (use more partitions)"
        );
        return Ok(revision);
    }
    let written = if revision == 0 {
        shared
            .snapshots
            .create(key, bytes)
            .await
            .map_err(|e| e.to_string())
    } else {
        shared
            .snapshots
            .update(key, bytes, revision)
            .await
            .map_err(|e| e.to_string())
    };
    written.map_err(|e| format!("{key}: snapshot not written (another owner took over?): {e}"))
}

/// The event a match stands for: its time, fields and sample line, from its source.
fn event_of(m: MatchMessage) -> Event {
    let fields = (!m.fields.is_empty()).then(|| m.fields.into_iter().collect());
    Event {
        time: m.event_time,
        raw: m.sample,
        fields,
        origin: Origin {
            source: Arc::from(m.source),
            path: Arc::from(""),
            fingerprint: Arc::from(m.fingerprint),
            offset: m.offset,
        },
        time_guessed: false,
        fields_for: None,
    }
}

/// One outbox message per channel of each raised alert, numbered within `seq`.
fn to_outbox(p: u16, seq: u64, raised: &mut Vec<RaisedAlert>, out: &mut Vec<OutboxMessage>) {
    let mut nth = 0;
    for r in raised.drain(..) {
        for channel in &r.channels {
            out.push(OutboxMessage::new(p, seq, nth, channel, r.alert.clone()));
            nth += 1;
        }
    }
}

/// Delivers `name`'s outbox until `stop`: one notification at a time, acknowledged after
/// the channel took it; a failed send is retried with backoff, `MAX_ATTEMPTS` times.
async fn deliver_channel(
    shared: Arc<Shared>,
    name: String,
    channel: Arc<dyn Channel>,
    send_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let ack_wait = (shared.setup.lease_ttl * 2).max(Duration::from_secs(2));
    let pull = outbox::delivery_consumer(&shared.outbox, &name, ack_wait)
        .await
        .map_err(|e| e.to_string())?;
    let mut incoming = pull
        .messages()
        .await
        .map_err(|e| format!("channel {name}: {e}"))?;
    tracing::info!(channel = %name, "delivering the channel's outbox");
    loop {
        let message = tokio::select! {
            _ = crate::source::stopped(&mut stop) => break,
            m = incoming.next() => match m {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::warn!(channel = %name, error = %e, "outbox read failed");
                    continue;
                }
                None => break,
            },
        };
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        let Ok(n) = serde_json::from_slice::<OutboxMessage>(&message.payload) else {
            tracing::error!(channel = %name, "unreadable notification dropped");
            let _ = message.ack_with(jetstream::AckKind::Term).await;
            continue;
        };
        // Keeps the notification ours while a slow send runs past `ack_wait`.
        let progress = async {
            loop {
                tokio::time::sleep(ack_wait / 3).await;
                let _ = message.ack_with(jetstream::AckKind::Progress).await;
            }
        };
        let sent = tokio::select! {
            r = tokio::time::timeout(send_timeout, channel.send(&n.alert)) => r,
            _ = progress => unreachable!("the progress loop never ends"),
        };
        match sent {
            Ok(Ok(_)) => {
                if let Err(e) = message.double_ack().await {
                    tracing::warn!(channel = %name, id = %n.id, error = %e, "sent, but the acknowledgement was not confirmed (may be sent again)");
                }
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {send_timeout:?}"),
                };
                if delivered >= MAX_ATTEMPTS {
                    tracing::error!(channel = %name, id = %n.id, rule = %n.alert.rule, %error, "notification given up after {MAX_ATTEMPTS} attempts");
                    let _ = message.ack_with(jetstream::AckKind::Term).await;
                } else {
                    let delay = Duration::from_secs(1 << delivered.clamp(0, 8) as u32);
                    tracing::warn!(channel = %name, id = %n.id, %error, retry_in = ?delay, "send failed");
                    let _ = message.ack_with(jetstream::AckKind::Nak(Some(delay))).await;
                }
            }
        }
    }
    Ok(())
}
