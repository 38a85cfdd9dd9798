//! Persistence: the one module that owns Klaxon's state.
//!
//! Everything a handled batch changes — file checkpoints, realert state, the rules' state
//! (windows, last values, seen terms, pending absences, sketches: one row per changed key),
//! the sources' clocks, the alerts it raised and their pending deliveries — is written by
//! [`StateStore::commit`] in one transaction, so a crash can neither skip a line, count one
//! twice, nor raise an alert twice.
//! [`MemoryStore`] implements the same trait for tests and offline runs.

mod lifecycle;
mod memory;
mod memory_lifecycle;
mod migrations;
mod sqlite;
mod sqlite_lifecycle;
mod sqlite_outbox;
mod state_dir;

use chrono::{DateTime, Utc};

use crate::alert::{Alert, RealertState};
use crate::source::{Checkpoint, SourceClockState};

pub use lifecycle::{
    AlertRecord, CommandRow, GroupRecord, HistoryRow, LifecycleStore, Notification, SilenceRow,
};
pub use memory::MemoryStore;
pub use sqlite::{SqliteStore, DB_FILE};
pub use state_dir::{StateLock, LOCK_FILE};

/// An alert raised by a batch, with its rule's channels (and escalation policy).
#[derive(Debug, Clone)]
pub struct RaisedAlert {
    pub alert: Alert,
    pub channels: Vec<String>,
    pub escalation: Option<String>,
}

/// A rule whose stored state starts over: every row of it is dropped, and its state
/// identity (see `rule::Rule::state_id`) recorded — or, with `None`, the rule is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleReset {
    pub rule: String,
    pub state_id: Option<String>,
}

/// One key of one rule's state changed; `state: None` deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStateChange {
    pub rule: String,
    pub key: String,
    pub state: Option<String>,
}

/// Everything one handled batch changes.
#[derive(Debug, Default)]
pub struct Commit {
    /// When, by the pipeline's clock (event time in a replay): the time rows record.
    pub at: DateTime<Utc>,
    pub checkpoints: Vec<Checkpoint>,
    pub realert: Vec<RealertState>,
    pub alerts: Vec<RaisedAlert>,
    /// Applied before `rule_state`.
    pub rule_resets: Vec<RuleReset>,
    pub rule_state: Vec<RuleStateChange>,
    pub clocks: Vec<SourceClockState>,
    /// Messages the dispatcher decided on (the raised `alerts` above go to their channels
    /// directly when no dispatcher runs, as in `klaxon test`).
    pub notifications: Vec<Notification>,
    /// Alert lifecycle records changed.
    pub lifecycle: Vec<AlertRecord>,
    /// Group records changed (`None`: the group is gone).
    pub groups: Vec<(String, Option<String>)>,
    pub history: Vec<HistoryRow>,
    /// Commands applied: id and what came of it.
    pub commands_done: Vec<(i64, String)>,
}

impl Commit {
    pub fn is_empty(&self) -> bool {
        self.checkpoints.is_empty()
            && self.realert.is_empty()
            && self.alerts.is_empty()
            && self.rule_resets.is_empty()
            && self.rule_state.is_empty()
            && self.clocks.is_empty()
            && self.notifications.is_empty()
            && self.lifecycle.is_empty()
            && self.groups.is_empty()
            && self.history.is_empty()
            && self.commands_done.is_empty()
    }
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub alerts: u64,
    pub holds: u64,
}

/// One delivery of one alert to one channel, waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    /// The alert's own id (one alert has a delivery per channel).
    pub alert_id: i64,
    pub channel: String,
    pub alert: Alert,
    pub attempts: u32,
    /// The dispatcher's batch (one group's flush): sent together.
    pub batch: Option<String>,
}

/// A delivery given up on, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub delivery: Delivery,
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("state store: cannot use {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "state store: {state_dir} is in use by {holder}; two Klaxons must not share a state_dir"
    )]
    InUse { state_dir: String, holder: String },
    #[error("state store: {path} was deleted or replaced while Klaxon ran; stopping rather than writing where no restart would read (restore it, or restart to start afresh)")]
    Replaced { path: String },
    #[error("state store: corrupt alert record {id}: {source}")]
    Corrupt { id: i64, source: serde_json::Error },
    #[error("state store: stored state of rule `{rule}` is unreadable: {message}")]
    CorruptRuleState { rule: String, message: String },
}

pub trait StateStore: Send {
    /// Checkpoints previously committed for a source.
    fn checkpoints(&self, source: &str) -> Result<Vec<Checkpoint>, StoreError>;
    /// All realert state, to restore on start.
    fn realert_states(&self) -> Result<Vec<RealertState>, StoreError>;
    /// Every rule with stored state, and the state identity it was built under.
    fn rule_state_ids(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// One rule's stored state: (key, state) pairs.
    fn rule_states(&self, rule: &str) -> Result<Vec<(String, String)>, StoreError>;
    fn source_clocks(&self) -> Result<Vec<SourceClockState>, StoreError>;
    /// Apply one batch's changes atomically.
    fn commit(&mut self, commit: &Commit) -> Result<(), StoreError>;
    /// Forgets what is over: deliveries sent or dead before `before`, alerts fired before
    /// it with no delivery left, realert holds that ended before it.
    fn prune(&mut self, before: DateTime<Utc>) -> Result<Pruned, StoreError>;
    /// Deliveries not yet done whose next attempt is due at `now`, oldest first.
    fn due_deliveries(&self, now: DateTime<Utc>, limit: usize)
        -> Result<Vec<Delivery>, StoreError>;
    /// The same, for one channel.
    fn due_for(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// How many deliveries to `channel` are due at `now` (how far behind it is).
    fn due_count(&self, channel: &str, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Dead letters, oldest first.
    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
    /// Puts dead letter `id` (every one with `None`) back in the outbox, due at `now`
    /// with its attempts reset; how many.
    fn retry_dead(&mut self, id: Option<i64>, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Forgets dead letter `id` (every one with `None`); how many.
    fn drop_dead(&mut self, id: Option<i64>) -> Result<u64, StoreError>;
    /// Queues alert `alert_id` for `channel` too, due at `now` (a fallback channel) —
    /// unless it already has a delivery to that channel.
    fn requeue(
        &mut self,
        alert_id: i64,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The delivery succeeded.
    fn delivered(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// The delivery failed; try again at `retry_at`, or never (`None`: dead letter).
    fn delivery_failed(
        &mut self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;
    /// Appends rows to alerts' histories outside a commit: what each delivery attempt
    /// came to (the delivery workers, which write nothing else of the lifecycle: history
    /// is only ever appended to and never read back into the dispatcher).
    fn add_history(&mut self, rows: &[HistoryRow]) -> Result<(), StoreError>;
}
