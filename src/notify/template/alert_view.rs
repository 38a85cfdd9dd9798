//! What a template sees of one alert (`alert.*`): plain text, not yet escaped, with log
//! text made safe to show (control characters replaced, one line where a line is meant)
//! and numbers and times already written for people.

use serde::Serialize;

use super::times::Times;
use crate::alert::Alert;
use crate::notify::escape;
use crate::types::{flat, grouped};

/// Log samples longer than this are cut before any template sees them; channels cut further
/// to their own limits.
pub const MAX_SAMPLE_CHARS: usize = 8_000;

/// A Kibana link longer than this is left out of messages: no channel's size limit may be
/// spent on it (links built by Klaxon stay far below; see `query::kibana`).
pub const MAX_LINK_BYTES: usize = 8_000;

/// One `group_by` field and its value.
#[derive(Debug, Clone, Serialize)]
pub struct KeyField {
    pub field: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub rule: String,
    pub description: Option<String>,
    /// `critical`.
    pub severity: &'static str,
    pub source: String,
    /// The rule's query, as written.
    pub query: String,
    /// `sku=A-1, shop=7`, empty without `group_by`.
    pub key: String,
    pub key_fields: Vec<KeyField>,
    pub count: u64,
    /// What was counted: `matches`, `match`, `distinct values`.
    pub counted: &'static str,
    /// The window the count covers (`1m`), when it does.
    pub window: Option<String>,
    /// One line saying what was counted, in plain text: `5 matches of "ERROR" in 1m for
    /// sku=A-1` (templates with markup build it from the parts to put the query in code).
    pub summary: String,
    /// What the rule found, in words (`state: paid → created`).
    pub detail: Option<String>,
    /// Alerts for this key held back by `realert` since the last one sent.
    pub held_back: u64,
    /// `3 similar alerts held back since the last one`, when any were.
    pub held_back_text: Option<String>,
    /// In the display time zone, with UTC: `2026-06-08 11:00:00 CST (03:00:00 UTC)`.
    pub first_seen: String,
    pub last_seen: String,
    pub fired_at: String,
    /// RFC 3339 UTC: `2026-06-08T03:00:00Z`.
    pub first_seen_utc: String,
    pub last_seen_utc: String,
    pub fired_at_utc: String,
    /// The first matching raw line (control characters replaced), at most
    /// [`MAX_SAMPLE_CHARS`]; write it with `| code`.
    pub sample: String,
    /// Only an http(s) URL, and never past [`MAX_LINK_BYTES`].
    pub kibana_url: Option<String>,
    /// The acknowledge link (only while firing, and only an http(s) URL).
    pub ack_url: Option<String>,
    /// `[CRITICAL] order-errors (sku=A-1)`, one line.
    pub title: String,
    /// The alert's id in its lifecycle (`klaxon ack ID`), when it has one.
    pub id: Option<u64>,
    /// What this message says: `firing`, `acknowledged` or `resolved`.
    pub status: &'static str,
    /// `CRITICAL` while firing, else `RESOLVED` / `ACKNOWLEDGED`: the title's tag.
    pub label: String,
    pub acknowledged_by: Option<String>,
    /// The escalation level that sent this message (1 = the first past the normal one).
    pub escalation_level: Option<u32>,
    /// `rule`, `severity`, `source`, the rule's labels and the key fields.
    pub labels: std::collections::BTreeMap<String, String>,
}

impl AlertView {
    pub fn new(alert: &Alert, times: &Times) -> Self {
        let counted = match (alert.distinct, alert.count == 1) {
            (false, false) => "matches",
            (false, true) => "match",
            (true, false) => "distinct values",
            (true, true) => "distinct value",
        };
        let key = flat(&escape::sanitize(&alert.key_text())).into_owned();
        let query = flat(&escape::sanitize(&alert.query)).into_owned();
        let mut summary = format!("{} {counted} of {query}", grouped(alert.count));
        if let Some(w) = &alert.window {
            summary.push_str(&format!(" in {w}"));
        }
        if !key.is_empty() {
            summary.push_str(&format!(" for {key}"));
        }
        let held_back_text = match alert.held_back {
            0 => None,
            1 => Some("1 similar alert held back since the last one".to_string()),
            n => Some(format!(
                "{} similar alerts held back since the last one",
                grouped(n)
            )),
        };
        let label = match alert.status {
            crate::alert::Status::Firing => alert.severity.as_str().to_uppercase(),
            other => other.as_str().to_uppercase(),
        };
        AlertView {
            id: alert.id,
            status: alert.status.as_str(),
            label,
            acknowledged_by: alert
                .acknowledged_by
                .as_deref()
                .map(|b| flat(&escape::sanitize(b)).into_owned()),
            escalation_level: alert.escalation.as_ref().map(|e| e.level),
            labels: alert
                .label_set()
                .into_iter()
                .map(|(k, v)| {
                    (
                        flat(&k).into_owned(),
                        flat(&escape::sanitize(&v)).into_owned(),
                    )
                })
                .collect(),
            rule: flat(&alert.rule).into_owned(),
            description: alert
                .description
                .as_deref()
                .filter(|d| !d.trim().is_empty())
                .map(escape::sanitize),
            severity: alert.severity.as_str(),
            source: alert.source.clone(),
            query,
            key_fields: alert
                .key
                .iter()
                .map(|(field, value)| KeyField {
                    field: flat(&escape::sanitize(field)).into_owned(),
                    value: flat(&escape::sanitize(value)).into_owned(),
                })
                .collect(),
            title: flat(&escape::sanitize(&alert.title())).into_owned(),
            key,
            count: alert.count,
            counted,
            window: alert.window.clone(),
            summary,
            // Built from log values (e.g. "state: picked → paid"): untrusted like the key.
            detail: alert
                .detail
                .as_deref()
                .filter(|d| !d.trim().is_empty())
                .map(|d| flat(&escape::sanitize(d)).into_owned()),
            held_back: alert.held_back,
            held_back_text,
            first_seen: times.show(alert.first_seen),
            last_seen: times.show(alert.last_seen),
            fired_at: times.show(alert.fired_at),
            first_seen_utc: super::times::rfc3339(alert.first_seen),
            last_seen_utc: super::times::rfc3339(alert.last_seen),
            fired_at_utc: super::times::rfc3339(alert.fired_at),
            sample: escape::truncate(&escape::sanitize(&alert.sample), MAX_SAMPLE_CHARS),
            kibana_url: alert
                .kibana_url
                .clone()
                .filter(|u| escape::is_web_url(u) && u.len() <= MAX_LINK_BYTES),
            ack_url: alert
                .ack_url
                .clone()
                .filter(|u| escape::is_web_url(u) && u.len() <= MAX_LINK_BYTES),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::sample_alert;
    use crate::types::TimeZone;

    #[test]
    fn says_what_was_counted_over_which_window() {
        let times = Times::new(TimeZone::Utc);
        let mut alert = sample_alert();
        alert.count = 12_345;
        let v = AlertView::new(&alert, &times);
        assert_eq!(
            v.summary,
            "12,345 matches of \"ERROR\" AND (order_timeout OR inventory_rollback) in 1m for sku=A-1"
        );
        alert.count = 1;
        alert.window = None;
        alert.key.clear();
        alert.distinct = true;
        let v = AlertView::new(&alert, &times);
        assert_eq!(
            v.summary,
            "1 distinct value of \"ERROR\" AND (order_timeout OR inventory_rollback)"
        );
    }

    #[test]
    fn log_text_is_one_line_without_control_characters_and_links_are_web_only() {
        let mut alert = sample_alert();
        alert.key.insert("user", "a\nb\u{1b}[2J");
        alert.detail = Some("state: picked \u{202E}→ paid".into());
        alert.kibana_url = Some("javascript:alert(1)".into());
        alert.held_back = 1;
        let v = AlertView::new(&alert, &Times::new(TimeZone::Utc));
        assert!(
            !v.key.contains('\n') && !v.key.contains('\u{1b}'),
            "{}",
            v.key
        );
        assert!(!v.title.contains('\n'));
        assert_eq!(v.detail.as_deref(), Some("state: picked \u{FFFD}→ paid"));
        assert_eq!(v.kibana_url, None);
        assert_eq!(
            v.held_back_text.as_deref(),
            Some("1 similar alert held back since the last one")
        );
    }

    #[test]
    fn caps_huge_samples() {
        let mut alert = sample_alert();
        alert.sample = "x".repeat(MAX_SAMPLE_CHARS * 2);
        let v = AlertView::new(&alert, &Times::new(TimeZone::Utc));
        assert_eq!(v.sample.chars().count(), MAX_SAMPLE_CHARS);
        assert!(v.sample.ends_with(escape::ELLIPSIS));
    }
}
