//! The alert lifecycle in memory, held to the same contract as SQLite.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::lifecycle::{
    AlertRecord, CommandRow, GroupRecord, HistoryRow, LifecycleStore, SilenceRow,
};
use super::memory::MemoryStore;
use super::{Commit, StoreError};

#[derive(Debug, Default)]
pub(super) struct Tables {
    alerts: BTreeMap<u64, (AlertRecord, DateTime<Utc>)>,
    groups: BTreeMap<String, String>,
    history: Vec<HistoryRow>,
    silences: BTreeMap<u64, SilenceRow>,
    commands: BTreeMap<i64, (CommandRow, Option<DateTime<Utc>>)>,
}

impl Tables {
    /// The records part of a commit (its notifications are queued by the caller).
    pub(super) fn apply(&mut self, commit: &Commit) {
        for r in &commit.lifecycle {
            self.alerts.insert(r.id, (r.clone(), commit.at));
        }
        for (key, record) in &commit.groups {
            match record {
                Some(r) => self.groups.insert(key.clone(), r.clone()),
                None => self.groups.remove(key),
            };
        }
        self.history.extend(commit.history.iter().cloned());
        for (id, result) in &commit.commands_done {
            if let Some((row, done)) = self.commands.get_mut(id) {
                row.result = Some(result.clone());
                *done = Some(commit.at);
            }
        }
    }

    pub(super) fn append_history(&mut self, rows: &[HistoryRow]) {
        self.history.extend(rows.iter().cloned());
    }

    pub(super) fn prune(&mut self, before: DateTime<Utc>) -> u64 {
        let n = self.alerts.len();
        self.alerts
            .retain(|_, (r, at)| !(r.status == "resolved" && *at < before));
        let alerts = &self.alerts;
        self.history
            .retain(|h| h.at >= before || alerts.contains_key(&h.alert_id));
        self.silences.retain(|_, s| s.ends_at >= before);
        self.commands
            .retain(|_, (_, done)| done.is_none_or(|d| d >= before));
        (n - self.alerts.len()) as u64
    }
}

impl LifecycleStore for MemoryStore {
    fn alert_record(&self, id: u64) -> Result<Option<AlertRecord>, StoreError> {
        Ok(self
            .lifecycle_tables()
            .alerts
            .values()
            .find(|(r, _)| r.id == id)
            .map(|(r, _)| r.clone()))
    }

    fn lifecycle(&self) -> Result<(Vec<AlertRecord>, Vec<GroupRecord>), StoreError> {
        let t = self.lifecycle_tables();
        Ok((
            t.alerts.values().map(|(r, _)| r.clone()).collect(),
            t.groups
                .iter()
                .map(|(key, record)| GroupRecord {
                    key: key.clone(),
                    record: record.clone(),
                })
                .collect(),
        ))
    }

    fn history(&self, alert_id: u64) -> Result<Vec<HistoryRow>, StoreError> {
        let mut rows: Vec<HistoryRow> = self
            .lifecycle_tables()
            .history
            .iter()
            .filter(|h| h.alert_id == alert_id)
            .cloned()
            .collect();
        rows.sort_by_key(|h| h.at);
        Ok(rows)
    }

    fn silences(&self, now: DateTime<Utc>) -> Result<Vec<SilenceRow>, StoreError> {
        Ok(self
            .lifecycle_tables()
            .silences
            .values()
            .filter(|s| s.ends_at > now)
            .cloned()
            .collect())
    }

    fn all_silences(&self) -> Result<Vec<SilenceRow>, StoreError> {
        Ok(self
            .lifecycle_tables()
            .silences
            .values()
            .rev()
            .cloned()
            .collect())
    }

    fn add_silence(&mut self, s: &SilenceRow) -> Result<u64, StoreError> {
        let t = self.lifecycle_tables_mut();
        let id = t.silences.keys().next_back().map_or(1, |id| id + 1);
        t.silences.insert(id, SilenceRow { id, ..s.clone() });
        Ok(id)
    }

    fn expire_silence(&mut self, id: u64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        match self.lifecycle_tables_mut().silences.get_mut(&id) {
            Some(s) if s.ends_at > now => {
                s.ends_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn queue_command(
        &mut self,
        kind: &str,
        target: &str,
        author: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let t = self.lifecycle_tables_mut();
        let id = t.commands.keys().next_back().map_or(1, |id| id + 1);
        let row = CommandRow {
            id,
            kind: kind.to_string(),
            target: target.to_string(),
            author: author.to_string(),
            created_at: at,
            result: None,
        };
        t.commands.insert(id, (row, None));
        Ok(id)
    }

    fn pending_commands(&self) -> Result<Vec<CommandRow>, StoreError> {
        Ok(self
            .lifecycle_tables()
            .commands
            .values()
            .filter(|(_, done)| done.is_none())
            .map(|(r, _)| r.clone())
            .collect())
    }

    fn command(&self, id: i64) -> Result<Option<CommandRow>, StoreError> {
        Ok(self
            .lifecycle_tables()
            .commands
            .get(&id)
            .map(|(r, _)| r.clone()))
    }
}
