//! What the API answers with: alerts, history, silences and dead letters as JSON, read
//! from the store (the running Klaxon commits every change there), never from the
//! dispatcher's memory, so the server needs no lock on the pipeline.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::dispatch::AlertState;
use crate::store::{DeadLetter, HistoryRow, SilenceRow};

#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub id: u64,
    /// `firing`, `acknowledged` or `resolved`.
    pub state: &'static str,
    pub rule: String,
    pub severity: &'static str,
    pub source: String,
    /// `sku=A-1, shop=7` (empty without `group_by`).
    pub key: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub query: String,
    pub count: u64,
    pub occurrences: u64,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub sample: String,
    pub detail: Option<String>,
    pub kibana_url: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The silence muting it, or whether an inhibition rule does.
    pub silenced_by: Option<u64>,
    pub inhibited: bool,
    /// The escalation level reached (`1/3`), and when the next one is due.
    pub escalation: Option<String>,
    pub next_escalation_at: Option<DateTime<Utc>>,
    /// The channels told about it.
    pub told: Vec<String>,
}

impl AlertView {
    pub fn new(a: &AlertState) -> AlertView {
        AlertView {
            id: a.id,
            state: a.status.as_str(),
            rule: a.alert.rule.clone(),
            severity: a.alert.severity.as_str(),
            source: a.alert.source.clone(),
            key: a.alert.key_text(),
            labels: a.alert.labels.clone(),
            query: a.alert.query.clone(),
            count: a.alert.count,
            occurrences: a.occurrences,
            started_at: a.started_at,
            updated_at: a.updated_at,
            last_seen: a.alert.last_seen,
            sample: a.alert.sample.clone(),
            detail: a.alert.detail.clone(),
            kibana_url: a.alert.kibana_url.clone(),
            acknowledged_by: a.acknowledged_by.clone(),
            acknowledged_at: a.acknowledged_at,
            resolved_at: a.resolved_at,
            silenced_by: a.silenced_by,
            inhibited: a.inhibited,
            escalation: a
                .escalation
                .as_ref()
                .map(|e| format!("{}/{}", e.next, e.policy.levels.len())),
            next_escalation_at: a
                .escalation
                .as_ref()
                .filter(|_| a.is_firing())
                .and_then(|e| e.due_at()),
            told: a.told.iter().cloned().collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub detail: String,
}

impl From<HistoryRow> for HistoryView {
    fn from(h: HistoryRow) -> Self {
        HistoryView {
            at: h.at,
            kind: h.kind,
            detail: h.detail,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SilenceView {
    pub id: u64,
    pub matchers: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `active`, `pending` or `ended`.
    pub state: &'static str,
    pub author: String,
    pub comment: String,
}

impl SilenceView {
    pub fn new(s: SilenceRow, now: DateTime<Utc>) -> SilenceView {
        let state = s.state(now);
        SilenceView {
            id: s.id,
            matchers: serde_json::from_str(&s.matchers).unwrap_or_default(),
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            state,
            author: s.author,
            comment: s.comment,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterView {
    pub id: i64,
    pub alert_id: i64,
    pub channel: String,
    pub rule: String,
    pub key: String,
    pub attempts: u32,
    pub error: String,
    pub fired_at: DateTime<Utc>,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        DeadLetterView {
            id: d.delivery.id,
            alert_id: d.delivery.alert_id,
            channel: d.delivery.channel,
            rule: d.delivery.alert.rule.clone(),
            key: d.delivery.alert.key_text(),
            attempts: d.delivery.attempts,
            error: d.error,
            fired_at: d.delivery.alert.fired_at,
        }
    }
}
