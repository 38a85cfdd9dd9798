//! `klaxon run` as a cluster worker (`cluster.role: worker`). Every `lease_ttl / 3` the
//! worker renews its heartbeat and leases (`cluster::lease`), takes the partitions and
//! channels the live workers' rendezvous ranking gives it, and hands over those another
//! live worker ranks higher for. For each partition it owns it runs
//! [`partition`](own_partition): restore the snapshot, replay the partition's matches from
//! the sequence after it through the rule engine and the partition's own alert lifecycle
//! (`dispatch::Dispatcher`: grouping, repeats, escalation, resolved notices), put the
//! messages it decides into the outbox stream, snapshot every `snapshot_interval`. For each channel it owns it runs
//! [`deliver`](deliver_channel): pull the channel's outbox, send, acknowledge.

mod delivery;
mod partition;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::edge::cluster_error;
use super::{lock, PipelineError, RuleWatcher, RunStats};
use crate::clock::Clock;
use crate::cluster::lease::{delivery_key, partition_key, preferred, Leases};
use crate::cluster::{streams, ClusterSetup};
use crate::config::LoadedConfig;
use crate::dispatch::Dispatcher;
use crate::notify::{Channel, MessageSetup, RuleMessages};
use delivery::deliver_channel;
use partition::own_partition;

/// What every partition and delivery task of this worker shares.
struct Shared {
    /// Bumped when the rule files changed (and were accepted): partitions recompile.
    rules_changed: watch::Sender<u64>,
    client: async_nats::Client,
    js: jetstream::Context,
    matches: stream::Stream,
    outbox: stream::Stream,
    snapshots: kv::Store,
    setup: ClusterSetup,
    watcher: Mutex<RuleWatcher>,
    kibana: Option<crate::query::kibana::KibanaConfig>,
    dispatch: crate::dispatch::DispatchSetup,
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
    // Refuse broken rules and routes at start, as a single node does.
    watcher.compile_all().map_err(PipelineError::Config)?;
    let global = &loaded.global;
    let dispatch = global.dispatch_setup();
    Dispatcher::new(&dispatch).map_err(|message| PipelineError::Channel {
        name: "routes".into(),
        message,
    })?;
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
        rules_changed: watch::channel(0).0,
        client: conn.client.clone(),
        setup: setup.clone(),
        watcher: Mutex::new(watcher),
        kibana: global.kibana.clone(),
        dispatch,
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
        // Edited rule files: checked off this loop's thread (a bad file is refused and the
        // running rules stay), then every partition recompiles the new set.
        let watcher = shared.clone();
        if let Ok(Some(new_messages)) = tokio::task::spawn_blocking(move || {
            let mut w = lock(&watcher.watcher);
            let (rules, _outcome) = w.poll();
            rules.map(|_| w.messages())
        })
        .await
        {
            messages.rules.replace(new_messages);
            shared.rules_changed.send_modify(|n| *n += 1);
            tracing::info!("rule files changed: partitions take the new rules");
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
