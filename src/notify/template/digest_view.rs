//! What a template sees of a digest (`digest.*`): several alerts as one message, sent when
//! more alerts wait for a channel than its rate limit lets through — a table of rule, key,
//! count, first and last seen, worst first, "… N more" past what fits — rather than
//! dropping them, delaying them for hours or sending past the limit.

use serde::Serialize;

use super::times::Times;
use crate::alert::{Alert, Severity};
use crate::notify::escape;
use crate::types::{clip, flat, grouped};

/// Most alerts merged into one message; the rest wait for the next one.
pub const MAX_DIGEST_ALERTS: usize = 100;
/// Rows listed in a message; the others are counted ("… N more").
pub const SHOWN_ROWS: usize = 20;
/// Most bytes of a rule name or key in a row.
const MAX_CELL_BYTES: usize = 200;
/// Rule names listed in the title.
const TITLE_RULES: usize = 3;
/// Log lines shown below the table: the worst alerts' samples.
pub const SHOWN_SAMPLES: usize = 3;
/// Each cut to this many characters.
const SAMPLE_CHARS: usize = 500;

/// One of the worst alerts' log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestSample {
    pub rule: String,
    pub key: String,
    pub sample: String,
}

/// One alert as a row (cells are plain, one-line text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestRow {
    pub severity: &'static str,
    pub rule: String,
    pub key: String,
    pub count: u64,
    /// `12,345`.
    pub count_text: String,
    pub window: Option<String>,
    /// In the display zone (named by `digest.zone`): `2026-06-08 11:00:00`.
    pub first_seen: String,
    pub last_seen: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestView {
    /// `[CRITICAL] 37 alerts: order-errors, inventory-rollback …`.
    pub title: String,
    /// The worst severity among the alerts.
    pub severity: &'static str,
    /// Worst first, then oldest first; at most [`SHOWN_ROWS`].
    pub rows: Vec<DigestRow>,
    /// Alerts merged but not listed.
    pub more: usize,
    pub total: usize,
    /// The zone the row times are in: `UTC`, `Asia/Shanghai`.
    pub zone: String,
    /// The log lines of the worst alerts (at most [`SHOWN_SAMPLES`]); write each with `| code`.
    pub samples: Vec<DigestSample>,
}

impl DigestView {
    pub fn new(alerts: &[Alert], times: &Times) -> Self {
        let sorted = worst_first(alerts);
        let worst = sorted.first().map_or(Severity::Info, |a| a.severity);
        let mut rules: Vec<&str> = Vec::new();
        for a in &sorted {
            if !rules.contains(&a.rule.as_str()) {
                rules.push(&a.rule);
            }
        }
        let named: Vec<&str> = rules.iter().take(TITLE_RULES).copied().collect();
        let others = if rules.len() > TITLE_RULES {
            " …"
        } else {
            ""
        };
        let title = format!(
            "[{}] {} alerts: {}{others}",
            worst.as_str().to_uppercase(),
            grouped(alerts.len() as u64),
            named.join(", ")
        );
        let cell = |text: &str| clip(&flat(&escape::sanitize(text)), MAX_CELL_BYTES).into_owned();
        let rows: Vec<DigestRow> = sorted
            .iter()
            .take(SHOWN_ROWS)
            .map(|a| DigestRow {
                severity: a.severity.as_str(),
                rule: cell(&a.rule),
                key: cell(&a.key_text()),
                count: a.count,
                count_text: grouped(a.count),
                window: a.window.clone(),
                first_seen: times.cell(a.first_seen),
                last_seen: times.cell(a.last_seen),
            })
            .collect();
        let samples = sorted
            .iter()
            .take(SHOWN_SAMPLES)
            .map(|a| DigestSample {
                rule: cell(&a.rule),
                key: cell(&a.key_text()),
                sample: escape::truncate(&escape::sanitize(&a.sample), SAMPLE_CHARS),
            })
            .collect();
        DigestView {
            samples,
            title: clip(&flat(&escape::sanitize(&title)), 400).into_owned(),
            severity: worst.as_str(),
            more: alerts.len().saturating_sub(rows.len()),
            rows,
            total: alerts.len(),
            zone: times.zone_name(),
        }
    }
}

/// Worst first, then oldest first: the order rows are listed in.
pub fn worst_first(alerts: &[Alert]) -> Vec<&Alert> {
    let mut sorted: Vec<&Alert> = alerts.iter().collect();
    sorted.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.fired_at.cmp(&b.fired_at))
    });
    sorted
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
        let d = DigestView::new(&alerts, &Times::default());
        assert_eq!((d.total, d.rows.len(), d.more), (30, SHOWN_ROWS, 10));
        assert!(
            d.title.starts_with("[CRITICAL] 30 alerts: rule-2"),
            "{}",
            d.title
        );
        assert_eq!(d.rows[0].severity, "critical");
        assert!(d.rows.iter().all(|r| !r.key.contains('\n')));
        assert_eq!(d.rows[0].first_seen, "2026-06-08 03:00:00");
        assert_eq!(d.zone, "UTC");
    }
}
