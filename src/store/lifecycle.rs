//! What the store keeps of the alert lifecycle (`dispatch/`): one record per alert (rule +
//! key) and per group as the dispatcher serialized them, the history of each alert,
//! silences, and commands queued by the CLI (`klaxon ack`) for the running Klaxon.
//! Records are opaque JSON here: their shape belongs to the dispatcher.

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::alert::Alert;

/// A message for a channel, decided by the dispatcher. Messages of one batch (one group's
/// flush) go out together, as one digest when there are several.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub alert: Alert,
    pub channel: String,
    pub batch: Option<String>,
}

/// One alert's lifecycle record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlertRecord {
    pub id: u64,
    pub rule: String,
    pub key: String,
    /// `firing`, `acknowledged`, `resolved` (for listing without decoding `record`).
    pub status: String,
    pub record: String,
}

/// One group's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub key: String,
    pub record: String,
}

/// Something that happened to an alert: fired, muted, escalated, acknowledged, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub alert_id: u64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub detail: String,
}

/// A silence as stored; `matchers` is a JSON list of matcher strings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SilenceRow {
    pub id: u64,
    pub matchers: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub author: String,
    pub comment: String,
}

impl SilenceRow {
    /// `active`, `pending` (starts later) or `ended`, at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        if self.ends_at <= now {
            "ended"
        } else if self.starts_at > now {
            "pending"
        } else {
            "active"
        }
    }
}

/// A command queued by the CLI; `result` is set once the dispatcher applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRow {
    pub id: i64,
    /// `ack` or `resolve`.
    pub kind: String,
    /// JSON: `{"id": 7}` or `{"rule": "…", "key": "…"}`.
    pub target: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub result: Option<String>,
}

/// Reading the lifecycle back, and what the CLI does beside a running Klaxon. (Writing
/// the dispatcher's records is part of `StateStore::commit`.)
pub trait LifecycleStore {
    /// Every alert record and group record, to restore the dispatcher.
    fn lifecycle(&self) -> Result<(Vec<AlertRecord>, Vec<GroupRecord>), StoreError>;
    /// One alert's record.
    fn alert_record(&self, id: u64) -> Result<Option<AlertRecord>, StoreError>;
    /// One alert's history, oldest first.
    fn history(&self, alert_id: u64) -> Result<Vec<HistoryRow>, StoreError>;
    /// Silences not yet ended at `now`.
    fn silences(&self, now: DateTime<Utc>) -> Result<Vec<SilenceRow>, StoreError>;
    /// Every silence, newest first.
    fn all_silences(&self) -> Result<Vec<SilenceRow>, StoreError>;
    /// Stores a silence; its id.
    fn add_silence(&mut self, silence: &SilenceRow) -> Result<u64, StoreError>;
    /// Ends silence `id` at `now`; false when there is none, or it had ended.
    fn expire_silence(&mut self, id: u64, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Queues a command for the running Klaxon; its id.
    fn queue_command(
        &mut self,
        kind: &str,
        target: &str,
        author: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError>;
    /// Commands not yet applied, oldest first.
    fn pending_commands(&self) -> Result<Vec<CommandRow>, StoreError>;
    fn command(&self, id: i64) -> Result<Option<CommandRow>, StoreError>;
}
