//! An in-memory `StateStore` for tests and offline runs (`klaxon test`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Commit, DeadLetter, Delivery, Pruned, StateStore, StoreError};
use crate::alert::RealertState;
use crate::source::{Checkpoint, SourceClockState};

#[derive(Debug, Default)]
pub struct MemoryStore {
    checkpoints: BTreeMap<(String, String), Checkpoint>,
    realert: BTreeMap<(String, String), RealertState>,
    outbox: Vec<Outboxed>,
    state_ids: BTreeMap<String, String>,
    rule_state: BTreeMap<(String, String), String>,
    clocks: BTreeMap<String, SourceClockState>,
    /// Every alert committed (and not pruned), in order.
    pub alerts: Vec<crate::alert::Alert>,
    /// The same alerts by id (for a fallback channel's delivery).
    by_id: BTreeMap<i64, crate::alert::Alert>,
    last_alert_id: i64,
    last_delivery_id: i64,
    lifecycle: super::memory_lifecycle::Tables,
}

#[derive(Debug)]
struct Outboxed {
    delivery: Delivery,
    next_at: Option<DateTime<Utc>>,
    delivered: bool,
    last_error: Option<String>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last error of a delivery, if any.
    pub fn last_error(&self, id: i64) -> Option<&str> {
        self.outbox
            .iter()
            .find(|o| o.delivery.id == id)
            .and_then(|o| o.last_error.as_deref())
    }
}

impl MemoryStore {
    pub(super) fn lifecycle_tables(&self) -> &super::memory_lifecycle::Tables {
        &self.lifecycle
    }

    pub(super) fn lifecycle_tables_mut(&mut self) -> &mut super::memory_lifecycle::Tables {
        &mut self.lifecycle
    }

    /// Stores `alert` as a new alert row (a raised alert, or a message about one); its id.
    fn record(&mut self, alert: &crate::alert::Alert, raised: bool) -> i64 {
        if raised {
            self.alerts.push(alert.clone());
        }
        self.last_alert_id += 1;
        self.by_id.insert(self.last_alert_id, alert.clone());
        self.last_alert_id
    }

    fn queue(&mut self, alert_id: i64, channel: &str, at: DateTime<Utc>) {
        self.queue_batch(alert_id, channel, at, None);
    }

    fn queue_batch(
        &mut self,
        alert_id: i64,
        channel: &str,
        at: DateTime<Utc>,
        batch: Option<String>,
    ) {
        let Some(alert) = self.by_id.get(&alert_id).cloned() else {
            return;
        };
        self.last_delivery_id += 1;
        self.outbox.push(Outboxed {
            delivery: Delivery {
                id: self.last_delivery_id,
                alert_id,
                channel: channel.to_string(),
                alert,
                attempts: 0,
                batch,
            },
            next_at: Some(at),
            delivered: false,
            last_error: None,
        });
    }
}

impl StateStore for MemoryStore {
    fn checkpoints(&self, source: &str) -> Result<Vec<Checkpoint>, StoreError> {
        Ok(self
            .checkpoints
            .values()
            .filter(|c| c.source == source)
            .cloned()
            .collect())
    }

    fn realert_states(&self) -> Result<Vec<RealertState>, StoreError> {
        Ok(self.realert.values().cloned().collect())
    }

    fn rule_state_ids(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .state_ids
            .iter()
            .map(|(r, m)| (r.clone(), m.clone()))
            .collect())
    }

    fn rule_states(&self, rule: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .rule_state
            .iter()
            .filter(|((r, _), _)| r == rule)
            .map(|((_, k), s)| (k.clone(), s.clone()))
            .collect())
    }

    fn source_clocks(&self) -> Result<Vec<SourceClockState>, StoreError> {
        Ok(self.clocks.values().cloned().collect())
    }

    fn commit(&mut self, commit: &Commit) -> Result<(), StoreError> {
        for reset in &commit.rule_resets {
            self.rule_state.retain(|(r, _), _| *r != reset.rule);
            match &reset.state_id {
                Some(m) => self.state_ids.insert(reset.rule.clone(), m.clone()),
                None => self.state_ids.remove(&reset.rule),
            };
        }
        for c in &commit.rule_state {
            let id = (c.rule.clone(), c.key.clone());
            match &c.state {
                Some(s) => self.rule_state.insert(id, s.clone()),
                None => self.rule_state.remove(&id),
            };
        }
        for c in &commit.clocks {
            self.clocks.insert(c.source.clone(), c.clone());
        }
        for c in &commit.checkpoints {
            self.checkpoints
                .insert((c.source.clone(), c.fingerprint.clone()), c.clone());
        }
        for r in &commit.realert {
            self.realert
                .insert((r.rule.clone(), r.key.clone()), r.clone());
        }
        for raised in &commit.alerts {
            let alert_id = self.record(&raised.alert, true);
            for channel in &raised.channels {
                self.queue(alert_id, channel, raised.alert.fired_at);
            }
        }
        for n in &commit.notifications {
            let alert_id = self.record(&n.alert, false);
            self.queue_batch(alert_id, &n.channel, commit.at, n.batch.clone());
        }
        self.lifecycle.apply(commit);
        Ok(())
    }

    fn due_for(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut due = self.due_deliveries(now, usize::MAX)?;
        due.retain(|d| d.channel == channel);
        due.truncate(limit);
        Ok(due)
    }

    fn due_count(&self, channel: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(self.due_for(channel, now, usize::MAX)?.len() as u64)
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self
            .outbox
            .iter()
            .filter(|o| !o.delivered && o.next_at.is_none())
            .take(limit)
            .map(|o| DeadLetter {
                delivery: o.delivery.clone(),
                error: o.last_error.clone().unwrap_or_default(),
            })
            .collect())
    }

    fn retry_dead(&mut self, id: Option<i64>, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut n = 0;
        for o in &mut self.outbox {
            let dead = !o.delivered && o.next_at.is_none();
            if dead && id.is_none_or(|id| o.delivery.id == id) {
                o.next_at = Some(now);
                o.delivery.attempts = 0;
                n += 1;
            }
        }
        Ok(n)
    }

    fn drop_dead(&mut self, id: Option<i64>) -> Result<u64, StoreError> {
        let before = self.outbox.len();
        self.outbox.retain(|o| {
            let dead = !o.delivered && o.next_at.is_none();
            !(dead && id.is_none_or(|id| o.delivery.id == id))
        });
        Ok((before - self.outbox.len()) as u64)
    }

    fn requeue(
        &mut self,
        alert_id: i64,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let queued = self
            .outbox
            .iter()
            .any(|o| o.delivery.alert_id == alert_id && o.delivery.channel == channel);
        if self.by_id.contains_key(&alert_id) && !queued {
            self.queue(alert_id, channel, now);
        }
        Ok(())
    }

    fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        // Oldest next attempt first, then oldest row: the SQLite store's order.
        let mut due: Vec<&Outboxed> = self
            .outbox
            .iter()
            .filter(|o| !o.delivered && o.next_at.is_some_and(|t| t <= now))
            .collect();
        due.sort_by_key(|o| (o.next_at, o.delivery.id));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|o| o.delivery.clone())
            .collect())
    }

    fn prune(&mut self, before: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        self.outbox.retain(|o| {
            let done = o.delivered || o.next_at.is_none();
            let gone = done && o.delivery.alert.fired_at < before;
            pruned.deliveries += u64::from(gone);
            !gone
        });
        let outbox = &self.outbox;
        self.alerts.retain(|a| {
            let gone = a.fired_at < before && !outbox.iter().any(|o| o.delivery.alert == *a);
            pruned.alerts += u64::from(gone);
            !gone
        });
        self.by_id.retain(|id, a| {
            a.fired_at >= before || outbox.iter().any(|o| o.delivery.alert_id == *id)
        });
        self.realert.retain(|_, r| {
            let gone = r.hold_until < before;
            pruned.holds += u64::from(gone);
            !gone
        });
        self.lifecycle.prune(before);
        Ok(pruned)
    }

    fn delivered(&mut self, id: i64, _at: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(o) = self.outbox.iter_mut().find(|o| o.delivery.id == id) {
            o.delivered = true;
            o.delivery.attempts += 1;
        }
        Ok(())
    }

    fn delivery_failed(
        &mut self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        if let Some(o) = self.outbox.iter_mut().find(|o| o.delivery.id == id) {
            o.delivery.attempts += 1;
            o.next_at = retry_at;
            o.last_error = Some(error.to_string());
        }
        Ok(())
    }

    fn add_history(&mut self, rows: &[super::HistoryRow]) -> Result<(), StoreError> {
        self.lifecycle_tables_mut().append_history(rows);
        Ok(())
    }
}
