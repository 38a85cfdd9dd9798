//! An in-memory `StateStore` for tests and offline runs (`klaxon test`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Commit, Delivery, Pruned, StateStore, StoreError};
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
    /// Every alert ever committed, in order.
    pub alerts: Vec<crate::alert::Alert>,
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
            self.alerts.push(raised.alert.clone());
            for channel in &raised.channels {
                let id = self.outbox.len() as i64 + 1;
                self.outbox.push(Outboxed {
                    delivery: Delivery {
                        id,
                        channel: channel.clone(),
                        alert: raised.alert.clone(),
                        attempts: 0,
                    },
                    next_at: Some(raised.alert.fired_at),
                    delivered: false,
                    last_error: None,
                });
            }
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
        self.realert.retain(|_, r| {
            let gone = r.hold_until < before;
            pruned.holds += u64::from(gone);
            !gone
        });
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
}
