//! One rendering of an alert (title + labelled lines) shared by every channel.
//!
//! The output is still *plain, unescaped* text: each channel applies its own escaping
//! (`escape.rs`) when it turns this into markdown, mrkdwn, HTML or a terminal block.

use chrono::{DateTime, SecondsFormat, Utc};

use super::escape;
use crate::alert::Alert;

/// Log samples longer than this are cut before any channel sees them; channels cut further
/// to their own limits.
pub const MAX_SAMPLE_CHARS: usize = 8_000;

/// A Kibana link longer than this is left out of messages: no channel's size limit may be
/// spent on it (links built by Klaxon stay far below; see `query::kibana`).
pub const MAX_LINK_BYTES: usize = 8_000;

/// A labelled value: `Count: 5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
}

/// An alert as text, before channel-specific escaping. Values may contain untrusted text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `[CRITICAL] order-errors (sku=A-1)`; contains `group_by` values (untrusted).
    pub title: String,
    /// Rule, severity, key, count, first/last seen, in that order.
    pub fields: Vec<Field>,
    /// "N similar alerts held back since the last one", when N > 0.
    pub held_back: Option<String>,
    pub description: Option<String>,
    /// The first matching raw line (untrusted), control characters replaced.
    pub sample: String,
    /// Only http(s) URLs survive, so no channel ever links `javascript:`.
    pub kibana_url: Option<String>,
}

impl Rendered {
    pub fn new(alert: &Alert) -> Self {
        let mut fields = vec![
            Field {
                label: "Rule",
                value: alert.rule.clone(),
            },
            Field {
                label: "Severity",
                value: alert.severity.as_str().to_string(),
            },
        ];
        if !alert.key.is_empty() {
            fields.push(Field {
                label: "Key",
                value: crate::types::flat(&alert.key_text()).into_owned(),
            });
        }
        fields.extend([
            Field {
                label: "Count",
                value: alert.count.to_string(),
            },
            Field {
                label: "First seen",
                value: rfc3339(alert.first_seen),
            },
            Field {
                label: "Last seen",
                value: rfc3339(alert.last_seen),
            },
        ]);
        if let Some(detail) = alert.detail.as_deref().filter(|d| !d.trim().is_empty()) {
            // Built from log values (e.g. "state: picked → paid"): untrusted like the key.
            fields.push(Field {
                label: "Detail",
                value: crate::types::flat(detail).into_owned(),
            });
        }
        let held_back = match alert.held_back {
            0 => None,
            1 => Some("1 similar alert held back since the last one".to_string()),
            n => Some(format!("{n} similar alerts held back since the last one")),
        };
        Rendered {
            // One line: a key value cannot start a line of its own ("… all clear").
            title: crate::types::flat(&alert.title()).into_owned(),
            fields,
            held_back,
            description: alert.description.clone().filter(|d| !d.trim().is_empty()),
            sample: escape::truncate(&escape::sanitize(&alert.sample), MAX_SAMPLE_CHARS),
            kibana_url: alert
                .kibana_url
                .clone()
                .filter(|u| escape::is_web_url(u) && u.len() <= MAX_LINK_BYTES),
        }
    }

    /// Readable plain text (console, email text part, Slack fallback), no escaping applied.
    pub fn plain_text(&self) -> String {
        let mut out = format!("{}\n", self.title);
        for f in &self.fields {
            out.push_str(&format!("{}: {}\n", f.label, f.value));
        }
        if let Some(h) = &self.held_back {
            out.push_str(&format!("{h}\n"));
        }
        if let Some(d) = &self.description {
            out.push_str(&format!("Description: {d}\n"));
        }
        out.push_str("Sample:\n");
        for line in self.sample.lines() {
            out.push_str(&format!("  {line}\n"));
        }
        if let Some(url) = &self.kibana_url {
            out.push_str(&format!("Kibana: {url}\n"));
        }
        out
    }
}

/// `2026-06-08T03:00:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::sample_alert;

    #[test]
    fn detail_is_a_sanitized_field_after_the_times() {
        let mut alert = sample_alert();
        alert.detail = Some("state: picked \u{1b}[2J→ paid".into());
        let r = Rendered::new(&alert);
        let labels: Vec<&str> = r.fields.iter().map(|f| f.label).collect();
        assert_eq!(labels.last(), Some(&"Detail"));
        assert_eq!(
            r.fields.last().unwrap().value,
            "state: picked \u{FFFD}[2J→ paid"
        );
        alert.detail = None;
        assert!(Rendered::new(&alert)
            .fields
            .iter()
            .all(|f| f.label != "Detail"));
    }

    #[test]
    fn renders_every_part_in_order() {
        let mut alert = sample_alert();
        alert.held_back = 3;
        alert.kibana_url = Some("http://kibana:5601/app/discover#/".into());
        let text = Rendered::new(&alert).plain_text();
        assert_eq!(
            text,
            "[CRITICAL] order-errors (sku=A-1)\n\
             Rule: order-errors\n\
             Severity: critical\n\
             Key: sku=A-1\n\
             Count: 5\n\
             First seen: 2026-06-08T03:00:00Z\n\
             Last seen: 2026-06-08T03:00:30Z\n\
             3 similar alerts held back since the last one\n\
             Description: Order errors\n\
             Sample:\n\
             \x20 2026-06-08 03:00:00 ERROR order_timeout order=O-1 sku=A-1\n\
             Kibana: http://kibana:5601/app/discover#/\n"
        );
    }

    #[test]
    fn omits_empty_parts_and_drops_non_web_links() {
        let mut alert = sample_alert();
        alert.key.clear();
        alert.description = None;
        alert.held_back = 1;
        alert.kibana_url = Some("javascript:alert(1)".into());
        let r = Rendered::new(&alert);
        assert!(r.fields.iter().all(|f| f.label != "Key"));
        assert_eq!(
            r.held_back.as_deref(),
            Some("1 similar alert held back since the last one")
        );
        assert_eq!(r.kibana_url, None);
        assert!(!r.plain_text().contains("Description"));
    }

    #[test]
    fn caps_huge_samples() {
        let mut alert = sample_alert();
        alert.sample = "x".repeat(MAX_SAMPLE_CHARS * 2);
        let r = Rendered::new(&alert);
        assert_eq!(r.sample.chars().count(), MAX_SAMPLE_CHARS);
        assert!(r.sample.ends_with(escape::ELLIPSIS));
    }
}
