//! The alert lifecycle, between the rules and the outbox (Alertmanager's dispatcher): each
//! alert (rule + key) is firing, acknowledged or resolved; routes send it to channels in
//! groups (`group_wait`, `group_interval`, `repeat_interval`); silences and inhibition mute
//! it; escalation policies tell more people while nobody acknowledges; acknowledging and
//! resolving send a short notice to whoever was told.
//!
//! The [`Dispatcher`] is a state machine with no I/O and no clock of its own: the pipeline
//! feeds it raised alerts, cleared keys and commands (`klaxon ack`) with the time, asks it
//! to [`tick`](Dispatcher::tick), and commits what changed — messages for the outbox, alert
//! and group records, history — in the same transaction as the batch that caused it, so a
//! crash neither loses nor repeats a notification or an escalation.

pub mod config;
mod escalation;
mod group;
mod inhibit;
pub mod matcher;
mod route;
mod silence;
mod state;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};

pub use config::{
    GroupingConfig, InhibitConfig, LevelConfig, LifecycleConfig, PolicyConfig, RouteConfig,
};
pub use escalation::{Escalation, Policy};
pub use group::Group;
pub use matcher::{labels_of, Labels, Matcher, Matchers};
pub use route::{Destination, Grouping, Router};
pub use silence::{new_silence_row, Silence};
pub use state::AlertState;

use crate::alert::{Alert, EscalationNote, Status};
use crate::store::{
    AlertRecord, CommandRow, Commit, GroupRecord, HistoryRow, Notification, RaisedAlert,
};
use inhibit::InhibitRule;

/// Events older than this (per source, `max_alert_age`) still build rule state, but the
/// alerts they raise do not page: on a first start or after a downtime, history is not news.
pub const DEFAULT_MAX_ALERT_AGE: Duration = Duration::minutes(15);

/// Open (firing or acknowledged) alerts kept at most, unless configured: past it the
/// least recently raised is resolved (counted, logged), so a rule firing for ever-new keys
/// cannot grow memory without bound.
pub const DEFAULT_MAX_OPEN_ALERTS: usize = 50_000;

/// A resolved alert is forgotten in memory this long after it resolved (its record stays
/// in the store for `retention`); firing again later starts a new alert with a new id.
pub const RESOLVED_KEPT: Duration = Duration::hours(1);

/// What the dispatcher is built from (klaxon.yaml).
#[derive(Debug, Clone, Default)]
pub struct DispatchSetup {
    pub lifecycle: LifecycleConfig,
    /// Source → `max_alert_age`.
    pub max_alert_age: HashMap<String, Duration>,
    /// Channels that do not want resolved notices (`delivery: {send_resolved: false}`).
    pub quiet_resolved: BTreeSet<String>,
    /// Every channel klaxon.yaml defines.
    pub channels: BTreeSet<String>,
    /// `max_open_alerts` (0: the default).
    pub max_open_alerts: usize,
}

/// A command from outside (`klaxon ack`, `klaxon resolve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Acknowledge { target: Target, by: String },
    Resolve { target: Target, by: String },
}

/// Which alert a command is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Target {
    Id { id: u64 },
    Key { rule: String, key: String },
}

/// Counters worth reporting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchStats {
    /// Alerts about events older than `max_alert_age`, not paged.
    pub history_not_paged: u64,
    /// Alerts resolved because more than `max_open_alerts` were open.
    pub resolved_over_cap: u64,
}

pub struct Dispatcher {
    router: Router,
    policies: BTreeMap<String, Policy>,
    inhibit: Vec<InhibitRule>,
    max_alert_age: HashMap<String, Duration>,
    quiet_resolved: BTreeSet<String>,
    max_open: usize,
    alerts: BTreeMap<u64, AlertState>,
    by_identity: HashMap<(String, String), u64>,
    groups: BTreeMap<String, Group>,
    silences: Vec<Silence>,
    next_id: u64,
    // What changed since the last `take_changes`.
    changed_alerts: BTreeSet<u64>,
    changed_groups: BTreeSet<String>,
    history: Vec<HistoryRow>,
    notifications: Vec<Notification>,
    commands_done: Vec<(i64, String)>,
    stats: DispatchStats,
}

impl Dispatcher {
    /// Checks and builds the lifecycle of klaxon.yaml (channels, policies, matchers).
    pub fn new(setup: &DispatchSetup) -> Result<Self, String> {
        let known = |c: &str| setup.channels.contains(c);
        for (i, r) in setup.lifecycle.routes.iter().enumerate() {
            if let Some(c) = r.notify.iter().find(|c| !known(c)) {
                return Err(format!("routes.{i}: unknown channel `{c}`"));
            }
            if let Some(p) = r
                .escalation
                .as_ref()
                .filter(|p| !setup.lifecycle.escalation_policies.contains_key(*p))
            {
                return Err(format!("routes.{i}: unknown escalation policy `{p}`"));
            }
        }
        let policies = Policy::build_all(&setup.lifecycle.escalation_policies, known)?;
        Ok(Dispatcher {
            router: Router::new(&setup.lifecycle.grouping, &setup.lifecycle.routes),
            policies,
            inhibit: setup
                .lifecycle
                .inhibit_rules
                .iter()
                .map(InhibitRule::new)
                .collect(),
            max_alert_age: setup.max_alert_age.clone(),
            quiet_resolved: setup.quiet_resolved.clone(),
            max_open: if setup.max_open_alerts == 0 {
                DEFAULT_MAX_OPEN_ALERTS
            } else {
                setup.max_open_alerts
            },
            alerts: BTreeMap::new(),
            by_identity: HashMap::new(),
            groups: BTreeMap::new(),
            silences: Vec::new(),
            next_id: 1,
            changed_alerts: BTreeSet::new(),
            changed_groups: BTreeSet::new(),
            history: Vec::new(),
            notifications: Vec::new(),
            commands_done: Vec::new(),
            stats: DispatchStats::default(),
        })
    }

    /// Alert ids from `floor` on: a cluster worker gives each partition an id range of
    /// its own, so alerts of two partitions never share an id.
    pub fn ids_from(&mut self, floor: u64) {
        self.next_id = self.next_id.max(floor);
    }

    /// Whether escalation policy `name` exists (rules are checked against it).
    pub fn has_policy(&self, name: &str) -> bool {
        self.policies.contains_key(name)
    }

    /// Puts back what was committed: alerts (unreadable records are skipped with a warning)
    /// and groups (those of routes that no longer exist are dropped; members are routed
    /// again by the next change).
    pub fn restore(&mut self, alerts: Vec<AlertRecord>, groups: Vec<GroupRecord>) {
        for record in alerts {
            match serde_json::from_str::<AlertState>(&record.record) {
                Ok(state) => {
                    self.next_id = self.next_id.max(state.id + 1);
                    self.by_identity
                        .insert(AlertState::identity(&state.alert), state.id);
                    self.alerts.insert(state.id, state);
                }
                Err(e) => tracing::warn!(id = record.id, "unreadable alert record skipped: {e}"),
            }
        }
        for record in groups {
            match serde_json::from_str::<Group>(&record.record) {
                Ok(group) if self.router.grouping(&group.route).is_some() => {
                    self.groups.insert(record.key, group);
                }
                Ok(_) => {
                    self.changed_groups.insert(record.key);
                }
                Err(e) => tracing::warn!(key = %record.key, "unreadable group record dropped: {e}"),
            }
        }
    }

    /// The silences in force (the pipeline reloads them from the store every tick).
    pub fn set_silences(&mut self, silences: Vec<Silence>) {
        self.silences = silences;
    }

    pub fn stats(&self) -> DispatchStats {
        self.stats
    }

    pub fn alert(&self, id: u64) -> Option<&AlertState> {
        self.alerts.get(&id)
    }

    pub fn alerts(&self) -> impl Iterator<Item = &AlertState> {
        self.alerts.values()
    }

    /// A rule raised `raised.alert` at `now`, for its own channels `raised.channels`.
    pub fn raise(&mut self, raised: RaisedAlert, now: DateTime<Utc>) {
        let RaisedAlert {
            alert,
            channels,
            escalation,
        } = raised;
        let age = self
            .max_alert_age
            .get(&alert.source)
            .copied()
            .unwrap_or(DEFAULT_MAX_ALERT_AGE);
        if now
            .checked_sub_signed(age)
            .is_some_and(|oldest| alert.last_seen < oldest)
        {
            self.stats.history_not_paged += 1;
            return;
        }
        let identity = AlertState::identity(&alert);
        let labels = labels_of(&alert);
        let (destinations, route_policy) = self.router.route(&labels, &channels);
        let id = match self.by_identity.get(&identity).copied() {
            Some(id) if self.alerts[&id].status != Status::Resolved => {
                let state = self.alerts.get_mut(&id).expect("indexed");
                state.alert = alert;
                state.updated_at = now;
                state.occurrences = state.occurrences.saturating_add(1);
                id
            }
            existing => {
                let id = existing.unwrap_or_else(|| {
                    let id = self.next_id;
                    self.next_id += 1;
                    id
                });
                let policy = escalation
                    .or(route_policy)
                    .and_then(|p| self.policies.get(&p).cloned());
                let state = AlertState {
                    id,
                    status: Status::Firing,
                    alert,
                    started_at: now,
                    updated_at: now,
                    occurrences: 1,
                    acknowledged_by: None,
                    acknowledged_at: None,
                    resolved_at: None,
                    told: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    escalation: policy.map(|p| Escalation::start(p, now)),
                    silenced_by: None,
                    inhibited: false,
                };
                self.note(id, now, "fired", String::new());
                self.by_identity.insert(identity, id);
                self.alerts.insert(id, state);
                id
            }
        };
        for d in destinations {
            let key = d.grouping.key(&d.route, &labels);
            let group = self
                .groups
                .entry(key.clone())
                .or_insert_with(|| Group::new(&d.route, d.channels.clone()));
            group.members.insert(id);
            for c in d.channels {
                if !group.channels.contains(&c) {
                    group.channels.push(c);
                }
            }
            if self.alerts[&id].is_firing() {
                group.touch(now, &d.grouping);
            }
            self.alerts
                .get_mut(&id)
                .expect("just inserted")
                .groups
                .insert(key.clone());
            self.changed_groups.insert(key);
        }
        self.changed_alerts.insert(id);
    }

    /// A rule's condition for `key` cleared: its alert resolves.
    pub fn clear(&mut self, rule: &str, key: &str, now: DateTime<Utc>) {
        if let Some(id) = self
            .by_identity
            .get(&(rule.to_string(), key.to_string()))
            .copied()
        {
            // Fired (or fired again) and cleared before its group spoke of it — both in
            // one batch, or within `group_wait` / `group_interval`: what fired is still
            // news, so the groups that have not told it yet speak first.
            if let Some(a) = self
                .alerts
                .get(&id)
                .filter(|a| a.is_firing() && !a.is_muted())
            {
                let untold: Vec<String> = a
                    .groups
                    .iter()
                    .filter(|key| {
                        self.groups
                            .get(*key)
                            .is_some_and(|g| g.sent.get(&id) != Some(&a.occurrences))
                    })
                    .cloned()
                    .collect();
                if !untold.is_empty() {
                    for key in &untold {
                        if let Some(group) = self.groups.get_mut(key) {
                            group.next_flush = Some(now);
                        }
                    }
                    self.flush_groups(now);
                }
            }
            self.resolve(id, now, "cleared", "the rule's condition cleared");
        }
    }

    /// Applies a command queued by the CLI; the answer (also recorded with the command)
    /// says what happened.
    pub fn command(&mut self, row: &CommandRow, now: DateTime<Utc>) -> String {
        let answer = self.apply(row, now);
        self.commands_done.push((row.id, answer.clone()));
        answer
    }

    fn apply(&mut self, row: &CommandRow, now: DateTime<Utc>) -> String {
        let command = match parse_command(row) {
            Ok(c) => c,
            Err(e) => return e,
        };
        let (target, by) = match &command {
            Command::Acknowledge { target, by } | Command::Resolve { target, by } => (target, by),
        };
        let id = match target {
            Target::Id { id } => Some(*id).filter(|id| self.alerts.contains_key(id)),
            Target::Key { rule, key } => {
                self.by_identity.get(&(rule.clone(), key.clone())).copied()
            }
        };
        let Some(id) = id else {
            return "no such alert".into();
        };
        match command {
            Command::Acknowledge { by, .. } => self.acknowledge(id, &by, now),
            Command::Resolve { .. } => {
                if self.resolve(id, now, "resolved", &format!("by {by}")) {
                    format!("alert {id} resolved")
                } else {
                    format!("alert {id} was already resolved")
                }
            }
        }
    }

    fn acknowledge(&mut self, id: u64, by: &str, now: DateTime<Utc>) -> String {
        let state = self.alerts.get_mut(&id).expect("checked");
        if state.status != Status::Firing {
            return format!("alert {id} is {}, not firing", state.status.as_str());
        }
        state.status = Status::Acknowledged;
        state.acknowledged_by = Some(by.to_string());
        state.acknowledged_at = Some(now);
        let notice = state.message(Status::Acknowledged);
        let told: Vec<String> = state.told.iter().cloned().collect();
        for channel in told {
            self.send(notice.clone(), &channel, None);
        }
        self.changed_alerts.insert(id);
        self.note(id, now, "acknowledged", format!("by {by}"));
        format!("alert {id} acknowledged")
    }

    /// Resolves alert `id`; false when it already was.
    fn resolve(&mut self, id: u64, now: DateTime<Utc>, kind: &str, detail: &str) -> bool {
        let state = self.alerts.get_mut(&id).expect("indexed");
        if state.status == Status::Resolved {
            return false;
        }
        state.status = Status::Resolved;
        state.resolved_at = Some(now);
        let notice = state.message(Status::Resolved);
        let told: Vec<String> = state
            .told
            .iter()
            .filter(|c| !self.quiet_resolved.contains(*c))
            .cloned()
            .collect();
        let groups = std::mem::take(&mut state.groups);
        for channel in told {
            self.send(notice.clone(), &channel, None);
        }
        // It leaves its groups now: should it fire again, that is news to them.
        for key in groups {
            if let Some(group) = self.groups.get_mut(&key) {
                group.members.remove(&id);
                group.sent.remove(&id);
                if group.members.is_empty() {
                    self.groups.remove(&key);
                }
            }
            self.changed_groups.insert(key);
        }
        self.changed_alerts.insert(id);
        self.note(id, now, kind, detail.to_string());
        true
    }

    /// Everything due at `now`: mutes re-evaluated, groups flushed, escalations fired;
    /// then memory kept within bounds.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        self.evaluate_mutes(now);
        self.flush_groups(now);
        self.escalate(now);
        self.bound(now);
    }

    /// Forgets alerts resolved more than [`RESOLVED_KEPT`] ago, and resolves the least
    /// recently raised open alerts past `max_open_alerts`.
    fn bound(&mut self, now: DateTime<Utc>) {
        let forget_before = now.checked_sub_signed(RESOLVED_KEPT);
        let gone: Vec<u64> = self
            .alerts
            .values()
            .filter(|a| {
                a.status == Status::Resolved
                    && a.resolved_at
                        .zip(forget_before)
                        .is_some_and(|(at, before)| at < before)
            })
            .map(|a| a.id)
            .collect();
        for id in gone {
            if let Some(a) = self.alerts.remove(&id) {
                self.by_identity.remove(&AlertState::identity(&a.alert));
            }
        }
        let open = self
            .alerts
            .values()
            .filter(|a| a.status != Status::Resolved)
            .count();
        if open <= self.max_open {
            return;
        }
        let mut oldest: Vec<(DateTime<Utc>, u64)> = self
            .alerts
            .values()
            .filter(|a| a.status != Status::Resolved)
            .map(|a| (a.updated_at, a.id))
            .collect();
        oldest.sort_unstable();
        let excess = open - self.max_open;
        for (_, id) in oldest.into_iter().take(excess) {
            self.resolve(
                id,
                now,
                "resolved",
                &format!(
                    "more than {} alerts were open; the least recently raised resolve",
                    self.max_open
                ),
            );
        }
        self.stats.resolved_over_cap += excess as u64;
        tracing::warn!(
            resolved = excess,
            max_open_alerts = self.max_open,
            "too many open alerts: the least recently raised were resolved"
        );
    }

    /// Silences and inhibition, for every alert still firing; an alert a silence or an
    /// inhibition stopped muting is let through (its groups speak again).
    fn evaluate_mutes(&mut self, now: DateTime<Utc>) {
        let anything_muted = self.alerts.values().any(AlertState::is_muted);
        if self.silences.is_empty() && self.inhibit.is_empty() && !anything_muted {
            return;
        }
        let firing: Vec<(u64, Labels)> = self
            .alerts
            .values()
            .filter(|a| a.status != Status::Resolved)
            .map(|a| (a.id, labels_of(&a.alert)))
            .collect();
        let sources: Vec<inhibit::Sources> = self
            .inhibit
            .iter()
            .map(|rule| rule.sources(firing.iter().map(|(id, l)| (*id, l))))
            .collect();
        for (id, labels) in &firing {
            let silenced_by = self
                .silences
                .iter()
                .find(|s| s.mutes(labels, now))
                .map(|s| s.id);
            let inhibited = self
                .inhibit
                .iter()
                .zip(&sources)
                .any(|(rule, sources)| rule.mutes(sources, *id, labels));
            let state = self.alerts.get_mut(id).expect("listed");
            if state.silenced_by == silenced_by && state.inhibited == inhibited {
                continue;
            }
            let was_muted = state.is_muted();
            state.silenced_by = silenced_by;
            state.inhibited = inhibited;
            let muted = state.is_muted();
            let groups: Vec<String> = state.groups.iter().cloned().collect();
            self.changed_alerts.insert(*id);
            let detail = match (silenced_by, inhibited) {
                (Some(s), _) => format!("silenced by silence {s}"),
                (None, true) => "inhibited".to_string(),
                (None, false) => "no longer muted".to_string(),
            };
            self.note(*id, now, if muted { "muted" } else { "unmuted" }, detail);
            if was_muted && !muted {
                for key in groups {
                    if let Some(group) = self.groups.get_mut(&key) {
                        // Let through at once, whatever the group's timers say.
                        group.sent.remove(id);
                        group.next_flush = Some(group.next_flush.map_or(now, |t| t.min(now)));
                        self.changed_groups.insert(key);
                    }
                }
            }
        }
    }

    fn flush_groups(&mut self, now: DateTime<Utc>) {
        let due: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.due(now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let mut group = self.groups.remove(&key).expect("listed");
            let Some(grouping) = self.router.grouping(&group.route).cloned() else {
                self.changed_groups.insert(key);
                continue;
            };
            let members: Vec<group::Member> = group
                .members
                .iter()
                .map(|id| match self.alerts.get(id) {
                    Some(a) => group::Member {
                        id: *id,
                        active: a.is_firing() && !a.is_muted(),
                        gone: a.status == Status::Resolved,
                        occurrences: a.occurrences,
                    },
                    None => group::Member {
                        id: *id,
                        active: false,
                        gone: true,
                        occurrences: 0,
                    },
                })
                .collect();
            for gone in members.iter().filter(|m| m.gone) {
                if let Some(a) = self.alerts.get_mut(&gone.id) {
                    a.groups.remove(&key);
                    self.changed_alerts.insert(gone.id);
                }
            }
            let send = group.flush(now, &grouping, &members);
            if !send.is_empty() {
                let batch = format!("{key}@{}", now.timestamp_micros());
                let messages: Vec<Alert> = send
                    .iter()
                    .map(|id| self.alerts[id].message(Status::Firing))
                    .collect();
                for channel in group.channels.clone() {
                    for message in &messages {
                        self.send(message.clone(), &channel, Some(batch.clone()));
                    }
                    for id in &send {
                        let a = self.alerts.get_mut(id).expect("member");
                        a.told.insert(channel.clone());
                        self.changed_alerts.insert(*id);
                    }
                }
                let detail = format!(
                    "to {} ({} alert(s) in the message)",
                    group.channels.join(", "),
                    send.len()
                );
                for id in &send {
                    self.note(*id, now, "notified", detail.clone());
                }
            }
            self.changed_groups.insert(key.clone());
            if !group.members.is_empty() {
                self.groups.insert(key, group);
            }
        }
    }

    fn escalate(&mut self, now: DateTime<Utc>) {
        let ids: Vec<u64> = self
            .alerts
            .values()
            .filter(|a| a.is_firing() && !a.is_muted())
            .filter(|a| {
                a.escalation
                    .as_ref()
                    .and_then(Escalation::due_at)
                    .is_some_and(|t| t <= now)
            })
            .map(|a| a.id)
            .collect();
        for id in ids {
            // Levels missed during a downtime: each fires once, now.
            while let Some((number, level)) = self
                .alerts
                .get_mut(&id)
                .and_then(|a| a.escalation.as_mut())
                .and_then(|e| e.fire(now))
            {
                let state = self.alerts.get_mut(&id).expect("listed");
                let mut message = state.message(Status::Firing);
                message.escalation = Some(EscalationNote {
                    level: number,
                    at_mobiles: level.at_mobiles.clone(),
                    at_user_ids: level.at_user_ids.clone(),
                });
                for channel in &level.channels {
                    state.told.insert(channel.clone());
                }
                for channel in &level.channels {
                    self.send(message.clone(), channel, None);
                }
                self.changed_alerts.insert(id);
                self.note(id, now, "escalated", format!("level {number}"));
            }
        }
    }

    fn send(&mut self, alert: Alert, channel: &str, batch: Option<String>) {
        self.notifications.push(Notification {
            alert,
            channel: channel.to_string(),
            batch,
        });
    }

    fn note(&mut self, id: u64, at: DateTime<Utc>, kind: &str, detail: String) {
        self.history.push(HistoryRow {
            alert_id: id,
            at,
            kind: kind.to_string(),
            detail,
        });
    }

    /// Whether anything waits to be committed.
    pub fn has_changes(&self) -> bool {
        !(self.changed_alerts.is_empty()
            && self.changed_groups.is_empty()
            && self.history.is_empty()
            && self.notifications.is_empty()
            && self.commands_done.is_empty())
    }

    /// The messages decided since the last call, dropping the rest of what changed: a
    /// replay keeps no lifecycle records, and writing every changed alert's record out
    /// would cost more than the replay itself when a rule raises thousands.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        self.changed_alerts.clear();
        self.changed_groups.clear();
        self.history.clear();
        self.commands_done.clear();
        std::mem::take(&mut self.notifications)
    }

    /// Moves what changed since the last call into `commit`.
    pub fn take_changes(&mut self, commit: &mut Commit) {
        for id in std::mem::take(&mut self.changed_alerts) {
            if let Some(a) = self.alerts.get(&id) {
                commit.lifecycle.push(AlertRecord {
                    id,
                    rule: a.alert.rule.clone(),
                    key: a.alert.key.id(),
                    status: a.status.as_str().to_string(),
                    record: serde_json::to_string(a).expect("alert state serializes"),
                });
            }
        }
        for key in std::mem::take(&mut self.changed_groups) {
            let record = self
                .groups
                .get(&key)
                .map(|g| serde_json::to_string(g).expect("groups serialize"));
            commit.groups.push((key, record));
        }
        commit.history.append(&mut self.history);
        commit.notifications.append(&mut self.notifications);
        commit.commands_done.append(&mut self.commands_done);
    }
}

fn parse_command(row: &CommandRow) -> Result<Command, String> {
    let target: Target =
        serde_json::from_str(&row.target).map_err(|e| format!("unreadable command target: {e}"))?;
    let by = row.author.clone();
    match row.kind.as_str() {
        "ack" => Ok(Command::Acknowledge { target, by }),
        "resolve" => Ok(Command::Resolve { target, by }),
        other => Err(format!("unknown command `{other}`")),
    }
}
