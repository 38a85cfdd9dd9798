//! One alert's lifecycle: identity (rule + key), where it stands (firing, acknowledged,
//! resolved), what muted it, whom it told, and how far it escalated.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::escalation::Escalation;
use crate::alert::{Alert, Status};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub id: u64,
    pub status: Status,
    /// The latest occurrence (what messages about it show).
    pub alert: Alert,
    /// When this episode started (the first firing, or the first after it resolved).
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Occurrences this episode.
    pub occurrences: u64,
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Channels told about this episode (acknowledged and resolved notices go to them).
    #[serde(default)]
    pub told: BTreeSet<String>,
    /// The groups it is in.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    #[serde(default)]
    pub escalation: Option<Escalation>,
    /// The silence muting it, as last seen.
    #[serde(default)]
    pub silenced_by: Option<u64>,
    /// Muted by an inhibition rule, as last seen.
    #[serde(default)]
    pub inhibited: bool,
}

impl AlertState {
    /// `rule` + canonical key text: one alert per rule and key.
    pub fn identity(alert: &Alert) -> (String, String) {
        (alert.rule.clone(), alert.key.id())
    }

    /// Firing and nobody owns it yet: the state in which it is sent and escalated.
    pub fn is_firing(&self) -> bool {
        self.status == Status::Firing
    }

    pub fn is_muted(&self) -> bool {
        self.silenced_by.is_some() || self.inhibited
    }

    /// The alert as a message about it tells it.
    pub fn message(&self, status: Status) -> Alert {
        let mut alert = self.alert.clone();
        alert.id = Some(self.id);
        alert.status = status;
        alert.acknowledged_by = match status {
            Status::Acknowledged => self.acknowledged_by.clone(),
            _ => None,
        };
        alert
    }
}
