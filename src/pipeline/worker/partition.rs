//! One partition owned by this worker: its snapshot restored, its matches replayed from
//! the sequence after it through the rule engine and the partition's own alert lifecycle,
//! the messages decided put into the outbox, snapshots written under the entry's revision.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{consumer, kv};
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;

use super::Shared;
use crate::cluster::command::ID_SHIFT;
use crate::cluster::config::MATCH_PREFIX;
use crate::cluster::lease::partition_key;
use crate::cluster::outbox::{self, OutboxMessage};
use crate::cluster::partition::subject;
use crate::cluster::snapshot::PartitionSnapshot;
use crate::cluster::wire::{CommandMessage, MatchMessage, KIND_COMMAND, KIND_HEADER};
use crate::dispatch::Dispatcher;
use crate::event::{Event, Origin};
use crate::pipeline::{lock, Engine};
use crate::store::{CommandRow, LifecycleStore, MemoryStore, SilenceRow, StateStore};

/// Most matches handled between two commits of a partition's state.
const BATCH: usize = 512;
const OUTBOX_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Owns partition `p` until `stop`: restores its snapshot, replays its matches from the
/// sequence after it, raises alerts into the outbox, snapshots. Ends with an error when
/// the snapshot entry was written by someone else since (another owner took over: this
/// one is stale and must not write again).
pub(super) async fn own_partition(
    shared: Arc<Shared>,
    p: u16,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let key = partition_key(p);
    let (mut revision, mut snapshot) = match shared.snapshots.entry(key.clone()).await {
        Ok(Some(e)) if e.operation == kv::Operation::Put => (
            e.revision,
            PartitionSnapshot::from_bytes(&e.value)
                .map_err(|err| format!("partition {p}: snapshot does not read back: {err}"))?,
        ),
        Ok(_) => (0, PartitionSnapshot::default()),
        Err(e) => return Err(format!("partition {p}: cannot read snapshot: {e}")),
    };
    let mut last_seq = snapshot.seq;
    let mut silences: BTreeMap<u64, SilenceRow> = std::mem::take(&mut snapshot.silences)
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
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

    let mut dispatcher = Dispatcher::new(&shared.dispatch).map_err(|e| format!("routes: {e}"))?;
    let (alerts, groups) = store.lifecycle().map_err(|e| e.to_string())?;
    dispatcher.restore(alerts, groups);
    dispatcher.ids_from((u64::from(p) << ID_SHIFT) | 1);

    // The lifecycle's timers (group flushes, repeats, escalation) run on this tick.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_snapshot = tokio::time::Instant::now();
    let mut snapshotted = last_seq;
    let mut changed = false;
    let (mut matched, mut caught_up) = (0u64, false);
    let mut raised = Vec::new();
    let mut commands: Vec<CommandMessage> = Vec::new();
    let mut rules_changed = shared.rules_changed.subscribe();
    loop {
        tokio::select! {
            _ = crate::source::stopped(&mut stop) => break,
            _ = tick.tick() => {}
            Ok(()) = rules_changed.changed() => {
                // A rule whose state identity is unchanged keeps its state (as a single
                // node's reload does).
                match lock(&shared.watcher).compile_all() {
                    Ok(rules) => engine.replace_rules(rules),
                    Err(e) => tracing::error!(partition = p, "new rules do not compile here: {e}"),
                }
            }
            first = incoming.next() => {
                let mut next = first;
                let mut handled = 0;
                while let Some(message) = next.take() {
                    let message = message.map_err(|e| format!("partition {p}: {e}"))?;
                    let info = message.info().map_err(|e| format!("partition {p}: {e}"))?;
                    let (seq, pending) = (info.stream_sequence, info.pending);
                    let is_command = message
                        .headers
                        .as_ref()
                        .and_then(|h| h.get(KIND_HEADER))
                        .is_some_and(|v| v.as_str() == KIND_COMMAND);
                    if is_command {
                        match serde_json::from_slice::<CommandMessage>(&message.payload) {
                            Ok(c) => commands.push(c),
                            Err(e) => tracing::warn!(partition = p, seq, error = %e, "unreadable command skipped"),
                        }
                    } else {
                        match MatchMessage::from_bytes(&message.payload) {
                            Ok(mut m) => {
                                let rule = std::mem::take(&mut m.rule);
                                engine.process_match(&rule, &event_of(m), &mut raised);
                            }
                            Err(e) => tracing::warn!(partition = p, seq, error = %e, "unreadable match skipped"),
                        }
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
        // Clock-fired rules (flatline, absence).
        engine.advance(&mut raised);
        let now = shared.clock.now();
        let mut commit = engine.commit(now, Vec::new(), std::mem::take(&mut raised));
        // The partition's own lifecycle, as a single node's: grouping, realert-admitted
        // alerts into messages, repeats, escalation, resolved notices.
        for r in commit.alerts.drain(..) {
            tracing::debug!(partition = p, rule = %r.alert.rule, key = %r.alert.key.id(), first = %r.alert.first_seen, "raised");
            dispatcher.raise(r, now);
        }
        for (rule, key) in engine.take_cleared() {
            tracing::debug!(partition = p, %rule, %key, "cleared");
            dispatcher.clear(&rule, &key, now);
        }
        // Acknowledgements and resolutions, after the alerts that came before them;
        // silences, which every partition receives.
        for c in commands.drain(..) {
            if c.kind == "list-silences" {
                // Every partition holds every silence: any owner can list them.
                let list: Vec<&SilenceRow> = silences.values().collect();
                if let Some(inbox) = c.reply_to {
                    let body = serde_json::to_vec(&list).expect("silences serialize");
                    let _ = shared.client.publish(inbox, body.into()).await;
                }
                continue;
            }
            if let Some(answer) = silence_command(&mut silences, &c) {
                tracing::info!(partition = p, by = %crate::types::flat(&c.author), "{answer}");
                changed = true;
                continue;
            }
            let row = CommandRow {
                id: c.id,
                kind: c.kind,
                target: c.target,
                author: c.author,
                created_at: c.at,
                result: None,
            };
            let answer = dispatcher.command(&row, now);
            tracing::info!(partition = p, command = %row.kind, by = %crate::types::flat(&row.author), "{answer}");
            if let Some(inbox) = c.reply_to {
                let _ = shared.client.publish(inbox, answer.into()).await;
            }
        }
        silences.retain(|_, s| s.ends_at > now);
        dispatcher.set_silences(crate::pipeline::run::silences_of(
            silences.values().cloned(),
        ));
        dispatcher.tick(now);
        dispatcher.take_changes(&mut commit);
        // No store keeps these here: the messages go to the outbox stream, and history
        // has no reader in a cluster.
        let notifications = std::mem::take(&mut commit.notifications);
        commit.history.clear();
        // Messages are in the outbox before the state that decided them is stored
        // anywhere: a crash in between decides them again, and the duplicate window
        // drops the repeat.
        if !notifications.is_empty() {
            let outgoing = OutboxMessage::from_notifications(p, notifications);
            for m in &outgoing {
                tracing::debug!(partition = p, id = %m.id, keys = ?m.alerts.iter().map(|a| (a.key.id(), a.first_seen)).collect::<Vec<_>>(), "to the outbox");
            }
            outbox::publish(&shared.js, &outgoing, OUTBOX_ACK_TIMEOUT)
                .await
                .map_err(|e| format!("partition {p}: {e}"))?;
        }
        if !commit.is_empty() {
            store.commit(&commit).map_err(|e| e.to_string())?;
            changed = true;
        }
        if changed && last_snapshot.elapsed() >= shared.setup.snapshot_interval {
            // Resolved alerts past the retention leave the snapshot.
            if let Some(before) = now.checked_sub_signed(
                chrono::Duration::from_std(shared.setup.retention).unwrap_or(chrono::Duration::MAX),
            ) {
                store.prune(before).map_err(|e| e.to_string())?;
            }
            let snap = snapshot_of(last_seq, &store, &silences)?;
            revision = write_snapshot(&shared, &key, snap, revision).await?;
            snapshotted = last_seq;
            last_snapshot = tokio::time::Instant::now();
            changed = false;
        }
    }
    if changed || last_seq != snapshotted {
        let snap = snapshot_of(last_seq, &store, &silences)?;
        write_snapshot(&shared, &key, snap, revision).await?;
    }
    tracing::info!(partition = p, up_to = last_seq, "partition released");
    Ok(())
}

/// Applies a silence command (`silence`: add; `expire-silence`: end now) to `silences`:
/// what it did, or `None` when `c` is not a silence command.
fn silence_command(silences: &mut BTreeMap<u64, SilenceRow>, c: &CommandMessage) -> Option<String> {
    match c.kind.as_str() {
        "silence" => Some(match serde_json::from_str::<SilenceRow>(&c.target) {
            Ok(s) => {
                let id = s.id;
                silences.insert(id, s);
                format!("silence {id} in force")
            }
            Err(e) => format!("unreadable silence: {e}"),
        }),
        "expire-silence" => {
            let id = serde_json::from_str::<serde_json::Value>(&c.target)
                .ok()
                .and_then(|v| v["id"].as_u64());
            Some(
                match id.and_then(|id| silences.get_mut(&id).map(|s| (id, s))) {
                    Some((id, s)) => {
                        s.ends_at = s.ends_at.min(c.at);
                        format!("silence {id} expired")
                    }
                    None => "no such silence".into(),
                },
            )
        }
        _ => None,
    }
}

/// The partition's state as of `seq`: the store's, and the silences it holds beside it.
fn snapshot_of(
    seq: u64,
    store: &MemoryStore,
    silences: &BTreeMap<u64, SilenceRow>,
) -> Result<PartitionSnapshot, String> {
    let mut snap = PartitionSnapshot::capture(seq, store).map_err(|e| e.to_string())?;
    snap.silences = silences.values().cloned().collect();
    Ok(snap)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Alert, AlertKey};
    use crate::store::{Commit, MemoryStore, RaisedAlert};
    use chrono::{Duration as D, Utc};

    fn setup() -> crate::dispatch::DispatchSetup {
        let mut s = crate::dispatch::DispatchSetup::default();
        s.channels.insert("hook".into());
        s.lifecycle.grouping.group_by = vec!["rule".into(), "sku".into()];
        s.lifecycle.grouping.group_interval =
            crate::types::HumanDuration(std::time::Duration::ZERO);
        s
    }

    fn raised(first: chrono::DateTime<Utc>) -> RaisedAlert {
        RaisedAlert {
            alert: Alert {
                rule: "r".into(),
                key: AlertKey::new([("sku".to_string(), "A".to_string())]),
                first_seen: first,
                last_seen: first,
                ..Alert::example()
            },
            channels: vec!["hook".into()],
            escalation: None,
        }
    }

    fn step(d: &mut Dispatcher, store: &mut MemoryStore, now: chrono::DateTime<Utc>) -> usize {
        d.tick(now);
        let mut c = Commit {
            at: now,
            ..Commit::default()
        };
        d.take_changes(&mut c);
        let n = c.notifications.len();
        c.notifications.clear();
        store.commit(&c).unwrap();
        n
    }

    #[test]
    /// A partition's lifecycle goes through a snapshot: the next owner tells the next
    /// burst of a key the previous owner told, as the previous owner would have.
    fn a_restored_lifecycle_tells_the_next_burst() {
        let now = Utc::now();
        let mut store = MemoryStore::new();
        let mut a = Dispatcher::new(&setup()).unwrap();
        a.raise(raised(now), now);
        assert_eq!(step(&mut a, &mut store, now), 1);
        let snap = PartitionSnapshot::capture(1, &store).unwrap();
        let store2 = PartitionSnapshot::from_bytes(&snap.to_bytes())
            .unwrap()
            .into_store()
            .unwrap();
        let mut b = Dispatcher::new(&setup()).unwrap();
        let (x, g) = store2.lifecycle().unwrap();
        b.restore(x, g);
        let mut store2 = store2;
        let later = now + D::seconds(5);
        b.raise(raised(now + D::minutes(20)), later);
        assert_eq!(
            step(&mut b, &mut store2, later),
            1,
            "second burst after restore"
        );
        // Same without the restore.
        a.raise(raised(now + D::minutes(20)), later);
        assert_eq!(
            step(&mut a, &mut store, later),
            1,
            "second burst, no restore"
        );
    }
}
