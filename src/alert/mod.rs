//! Alerts: the deduplicated thing a human is told about.

mod ack_link;
mod key;
mod realert;

pub use ack_link::{AckLinks, AckToken, AckTokenError};
pub use key::{write_id, AlertKey};
pub use realert::{Admission, Realert, RealertState};

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert, ready to be rendered for any channel. Text fields that came from logs
/// (`sample`, `key` values) are untrusted: channels escape them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Rule name.
    pub rule: String,
    pub description: Option<String>,
    pub severity: Severity,
    /// The source the rule reads.
    pub source: String,
    /// The rule's query, as written.
    pub query: String,
    /// `group_by` field → value for this alert (empty without `group_by`), plus the fields
    /// that make a match an alert of its own (a `new_term` rule's term).
    pub key: AlertKey,
    /// Matches that made this alert (for `frequency`: the matches in the window; for
    /// `cardinality`: the distinct values, see `distinct`).
    pub count: u64,
    /// The window `count` was taken over, as configured (`1m`), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// `count` is of distinct values rather than of matching events.
    #[serde(default, skip_serializing_if = "is_false")]
    pub distinct: bool,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The first matching raw line.
    pub sample: String,
    /// What the rule found, in words (`state: paid → created`, `nothing followed within
    /// 5m`); rule types that say nothing more than the count leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Alerts for this key held back by `realert` since the previous one was sent.
    pub held_back: u64,
    /// When the alert was raised (wall clock).
    pub fired_at: DateTime<Utc>,
    /// Kibana Discover link to the evidence, when Kibana is configured.
    pub kibana_url: Option<String>,
    /// The acknowledge link (`server.public_url` + a signed token), put on a firing alert
    /// as it is sent; never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_url: Option<String>,
    /// The rule's `labels:` (team, service, …), for routing, silences and inhibition.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The alert's id in its lifecycle (`klaxon ack ID`), once it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// What this message says about the alert: it fires, was acknowledged, or resolved.
    #[serde(default, skip_serializing_if = "Status::is_firing")]
    pub status: Status,
    /// Who acknowledged it (with `status: acknowledged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    /// Set on a message sent by an escalation level: which, and whom it mentions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<EscalationNote>,
}

/// Where an alert stands, as a message tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Firing,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }

    fn is_firing(&self) -> bool {
        *self == Status::Firing
    }
}

/// An escalation level's message: its number (1 = the first level past the normal
/// notification) and the people it mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationNote {
    pub level: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_mobiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_user_ids: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Alert {
    /// `sku=A-1, shop=7`, or empty without `group_by`.
    pub fn key_text(&self) -> String {
        self.key.to_string()
    }

    /// The labels routes, silences and inhibition match on: the rule's `labels:`, its
    /// `group_by` fields, and `rule`, `severity`, `source` (these last win over a rule label
    /// of the same name).
    pub fn label_set(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        for (field, value) in self.key.iter() {
            labels.insert(field.to_string(), value.to_string());
        }
        labels.insert("rule".into(), self.rule.clone());
        labels.insert("severity".into(), self.severity.as_str().into());
        labels.insert("source".into(), self.source.clone());
        labels
    }

    /// A one-line title: `[CRITICAL] order-errors (sku=A-1)`; `[RESOLVED] …` and
    /// `[ACKNOWLEDGED] …` for those notices.
    pub fn title(&self) -> String {
        let sev = match self.status {
            Status::Firing => self.severity.as_str().to_uppercase(),
            other => other.as_str().to_uppercase(),
        };
        if self.key.is_empty() {
            format!("[{sev}] {}", self.rule)
        } else {
            format!("[{sev}] {} ({})", self.rule, self.key_text())
        }
    }
}

impl Alert {
    /// The alert used in docs and tests: the ops article's order-errors rule firing for
    /// one SKU at 2026-06-08T03:00:30Z.
    pub fn example() -> Alert {
        use chrono::TimeZone;
        let t = Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap();
        Alert {
            rule: "order-errors".into(),
            description: Some("Order errors".into()),
            severity: Severity::Critical,
            source: "order-logs".into(),
            query: r#""ERROR" AND (order_timeout OR inventory_rollback)"#.into(),
            key: AlertKey::new([("sku".to_string(), "A-1".to_string())]),
            count: 5,
            window: Some("1m".into()),
            distinct: false,
            first_seen: t,
            last_seen: t + chrono::Duration::seconds(30),
            sample: "2026-06-08 03:00:00 ERROR order_timeout order=O-1 sku=A-1".into(),
            detail: None,
            held_back: 0,
            fired_at: t + chrono::Duration::seconds(31),
            kibana_url: None,
            ack_url: None,
            labels: BTreeMap::new(),
            id: None,
            status: Status::Firing,
            acknowledged_by: None,
            escalation: None,
        }
    }
}

#[cfg(test)]
pub(crate) fn sample_alert() -> Alert {
    Alert::example()
}

#[cfg(test)]
pub(crate) fn sample_alert_with_count(count: u64) -> Alert {
    Alert {
        count,
        ..sample_alert()
    }
}
