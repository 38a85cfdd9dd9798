//! Several alerts as one message: what a channel sends when more alerts wait for it than
//! its rate limit lets through — a table of rule, key, count, first and last seen, worst
//! first, "… N more" past what fits — rather than dropping them, delaying them for hours or
//! sending past the limit.

use crate::alert::{Alert, Severity};
use crate::types::{clip, flat};

/// Most alerts merged into one message; the rest wait for the next one.
pub const MAX_DIGEST_ALERTS: usize = 100;
/// Rows listed in a message; the others are counted ("… N more").
pub const SHOWN_ROWS: usize = 20;
/// Most bytes of a rule name or key in a row.
const MAX_CELL_BYTES: usize = 200;

/// One alert as a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestRow {
    pub severity: Severity,
    pub rule: String,
    pub key: String,
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
}

/// Alerts as one message, before channel-specific escaping. Cells hold untrusted text,
/// flattened to one line and cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedDigest {
    /// `[CRITICAL] 37 alerts: order-errors, inventory-rollback …`.
    pub title: String,
    /// Worst first, then oldest first.
    pub rows: Vec<DigestRow>,
    /// Alerts merged but not listed.
    pub more: usize,
    pub total: usize,
}

impl RenderedDigest {
    pub fn new(alerts: &[Alert]) -> Self {
        let mut sorted: Vec<&Alert> = alerts.iter().collect();
        sorted.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.fired_at.cmp(&b.fired_at))
        });
        let worst = sorted.first().map_or(Severity::Info, |a| a.severity);
        let mut rules: Vec<&str> = Vec::new();
        for a in &sorted {
            if !rules.contains(&a.rule.as_str()) {
                rules.push(&a.rule);
            }
        }
        let named: Vec<&str> = rules.iter().take(3).copied().collect();
        let others = if rules.len() > 3 { " …" } else { "" };
        let title = format!(
            "[{}] {} alerts: {}{others}",
            worst.as_str().to_uppercase(),
            alerts.len(),
            named.join(", ")
        );
        let cell = |text: &str| clip(&flat(text), MAX_CELL_BYTES).into_owned();
        let rows = sorted
            .iter()
            .take(SHOWN_ROWS)
            .map(|a| DigestRow {
                severity: a.severity,
                rule: cell(&a.rule),
                key: cell(&a.key_text()),
                count: a.count,
                first_seen: super::render::rfc3339(a.first_seen),
                last_seen: super::render::rfc3339(a.last_seen),
            })
            .collect::<Vec<_>>();
        RenderedDigest {
            title: clip(&flat(&title), 400).into_owned(),
            more: alerts.len().saturating_sub(rows.len()),
            rows,
            total: alerts.len(),
        }
    }

    /// `… and 17 more`, when some were not listed.
    pub fn more_line(&self) -> Option<String> {
        (self.more > 0).then(|| format!("… and {} more", self.more))
    }

    /// Readable plain text (console, email text part, Slack fallback).
    pub fn plain_text(&self) -> String {
        let mut out = format!("{}\n", self.title);
        out.push_str("severity | rule | key | count | first seen | last seen\n");
        for r in &self.rows {
            out.push_str(&format!(
                "{} | {} | {} | {} | {} | {}\n",
                r.severity, r.rule, r.key, r.count, r.first_seen, r.last_seen
            ));
        }
        if let Some(more) = self.more_line() {
            out.push_str(&format!("{more}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::sample_alert;

    #[test]
    fn worst_first_listed_up_to_the_cap_and_counted_past_it() {
        let mut alerts: Vec<Alert> = (0..30)
            .map(|i| {
                let mut a = sample_alert();
                a.severity = Severity::Warning;
                a.rule = format!("rule-{}", i % 5);
                a.key.insert("sku", format!("S-{i}\nforged line"));
                a
            })
            .collect();
        alerts[17].severity = Severity::Critical;
        let d = RenderedDigest::new(&alerts);
        assert_eq!((d.total, d.rows.len(), d.more), (30, SHOWN_ROWS, 10));
        assert!(
            d.title.starts_with("[CRITICAL] 30 alerts: rule-2"),
            "{}",
            d.title
        );
        assert_eq!(d.rows[0].severity, Severity::Critical);
        assert!(d.rows.iter().all(|r| !r.key.contains('\n')));
        assert!(d.plain_text().ends_with("… and 10 more\n"));
    }
}
