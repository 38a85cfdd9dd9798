//! What `klaxon replay` reports per rule: alerts raised, when (by hour, in event time), for
//! which keys, what realert held back, and the messages grouping would have sent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use crate::alert::{Alert, Status as AlertStatus};
use crate::pipeline::ReplayReport;
use crate::rule::Rule;
use crate::store::Notification;

/// Distinct keys counted per rule; beyond it, alerts of new keys count as "other keys", so
/// a week of per-order alerts cannot exhaust memory.
const MAX_KEYS_COUNTED: usize = 100_000;
/// Keys listed per rule.
const TOP_KEYS: usize = 5;
/// Widest histogram bar.
const BAR: u64 = 40;

#[derive(Default)]
struct RuleTally {
    name: String,
    source: String,
    alerts: u64,
    held_back: u64,
    /// Alerts per hour (the hour's start, epoch seconds).
    by_hour: BTreeMap<i64, u64>,
    keys: HashMap<String, u64>,
    other_keys: u64,
    /// Firing messages by (channel, batch): how many of this rule's alerts each held.
    messages: BTreeMap<(String, String), u64>,
    /// Alerts told in some firing message, by key and firing time (bounded like `keys`).
    told: HashSet<(String, i64)>,
    resolved_notices: u64,
    escalations: u64,
}

impl RuleTally {
    fn digests(&self) -> (u64, u64) {
        let big = self.messages.values().filter(|n| **n > 1);
        (big.clone().count() as u64, big.sum())
    }

    /// Alerts that reached no message (grouping, silences, repeats folded into one).
    fn not_told(&self) -> u64 {
        self.alerts.saturating_sub(self.told.len() as u64)
    }
}

/// Counts as the replay goes.
pub struct Tally {
    rules: Vec<RuleTally>,
    index: HashMap<String, usize>,
}

impl Tally {
    pub fn new(rules: &[Rule]) -> Tally {
        let rules: Vec<RuleTally> = rules
            .iter()
            .map(|r| RuleTally {
                name: r.name.clone(),
                source: r.source.clone(),
                ..Default::default()
            })
            .collect();
        let index = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        Tally { rules, index }
    }

    fn rule(&mut self, name: &str) -> Option<&mut RuleTally> {
        let i = *self.index.get(name)?;
        self.rules.get_mut(i)
    }

    pub fn alert(&mut self, alert: &Alert) {
        let Some(r) = self.rule(&alert.rule) else {
            return;
        };
        r.alerts += 1;
        r.held_back += alert.held_back;
        let hour = alert.fired_at.timestamp().div_euclid(3600) * 3600;
        *r.by_hour.entry(hour).or_default() += 1;
        let key = alert.key.to_string();
        let room = r.keys.len() < MAX_KEYS_COUNTED;
        match r.keys.get_mut(&key) {
            Some(n) => *n += 1,
            None if room => {
                r.keys.insert(key, 1);
            }
            None => r.other_keys += 1,
        }
    }

    pub fn message(&mut self, n: &Notification) {
        let Some(r) = self.rule(&n.alert.rule) else {
            return;
        };
        if n.alert.escalation.is_some() {
            r.escalations += 1;
            return;
        }
        match n.alert.status {
            AlertStatus::Resolved => r.resolved_notices += 1,
            AlertStatus::Acknowledged => {}
            AlertStatus::Firing => {
                // A message without a batch is one of its own.
                let batch = n
                    .batch
                    .clone()
                    .unwrap_or_else(|| format!("single-{}", r.messages.len()));
                *r.messages.entry((n.channel.clone(), batch)).or_default() += 1;
                if r.told.len() < MAX_KEYS_COUNTED * 10 {
                    r.told
                        .insert((n.alert.key.id(), n.alert.fired_at.timestamp_micros()));
                }
            }
        }
    }

    pub fn finish(
        mut self,
        report: &ReplayReport,
        bytes: u64,
        files: usize,
        took: Duration,
    ) -> Summary {
        for (rule, n) in &report.held_back_at_end {
            if let Some(r) = self.rule(rule) {
                r.held_back += n;
            }
        }
        Summary {
            tally: self,
            lines: report.lines,
            events: report.events,
            skipped: report.skipped,
            bytes,
            files,
            took,
            matched: report
                .rules
                .iter()
                .map(|r| (r.rule.clone(), (r.matched, r.late)))
                .collect(),
        }
    }
}

/// The finished report.
pub struct Summary {
    tally: Tally,
    lines: u64,
    events: u64,
    skipped: u64,
    bytes: u64,
    files: usize,
    took: Duration,
    matched: HashMap<String, (u64, u64)>,
}

impl Summary {
    fn lines_per_second(&self) -> f64 {
        self.lines as f64 / self.took.as_secs_f64().max(1e-9)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Replayed {} line(s), {} from {} file(s) in {:.1} s ({} lines/s): {} event(s) handled{}.",
            crate::types::grouped(self.lines),
            human_bytes(self.bytes),
            self.files,
            self.took.as_secs_f64(),
            crate::types::grouped(self.lines_per_second() as u64),
            crate::types::grouped(self.events),
            if self.skipped > 0 {
                format!(", {} outside --from/--to", crate::types::grouped(self.skipped))
            } else {
                String::new()
            }
        );
        for r in &self.tally.rules {
            let (matched, late) = self.matched.get(&r.name).copied().unwrap_or_default();
            out.push('\n');
            let _ = writeln!(
                out,
                "{} (source {}): {} alert(s) from {} matching event(s){}",
                safe(&r.name),
                safe(&r.source),
                r.alerts,
                crate::types::grouped(matched),
                if late > 0 {
                    format!(", {late} dropped as late")
                } else {
                    String::new()
                }
            );
            if r.alerts == 0 {
                continue;
            }
            let (digests, in_digests) = r.digests();
            let _ = writeln!(
                out,
                "  held back: {} by realert, {} told in no message (grouping, repeats of an open alert, silences)",
                r.held_back,
                r.not_told()
            );
            let _ = writeln!(
                out,
                "  messages: {}, of which {digests} digest(s) holding {in_digests} alert(s); {} resolved notice(s), {} escalation(s)",
                r.messages.len(),
                r.resolved_notices,
                r.escalations
            );
            let peak = r.by_hour.values().copied().max().unwrap_or(1).max(1);
            let _ = writeln!(out, "  by hour (UTC):");
            let mut previous: Option<i64> = None;
            for (&hour, &n) in &r.by_hour {
                if let Some(p) = previous {
                    let gap = (hour - p) / 3600 - 1;
                    if gap > 0 {
                        let _ = writeln!(out, "    … {gap} h without alerts");
                    }
                }
                previous = Some(hour);
                let width = (n * BAR).div_ceil(peak) as usize;
                let _ = writeln!(out, "    {}  {} {n}", hour_label(hour), "#".repeat(width));
            }
            let top = top_keys(r);
            if !(top.len() == 1 && top[0].0.is_empty()) {
                let listed: Vec<String> = top
                    .iter()
                    .map(|(k, n)| {
                        format!(
                            "{} ({n})",
                            if k.is_empty() {
                                "(no key)".into()
                            } else {
                                safe(k)
                            }
                        )
                    })
                    .collect();
                let other = if r.other_keys > 0 {
                    format!(
                        ", {} alert(s) of keys past the first {MAX_KEYS_COUNTED}",
                        r.other_keys
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(out, "  top keys: {}{other}", listed.join(", "));
            }
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        let rules: Vec<serde_json::Value> = self
            .tally
            .rules
            .iter()
            .map(|r| {
                let (matched, late) = self.matched.get(&r.name).copied().unwrap_or_default();
                let by_hour: serde_json::Map<String, serde_json::Value> = r
                    .by_hour
                    .iter()
                    .map(|(h, n)| (hour_rfc3339(*h), json!(n)))
                    .collect();
                json!({
                    "rule": r.name,
                    "source": r.source,
                    "matched": matched,
                    "late": late,
                    "alerts": r.alerts,
                    "held_back_by_realert": r.held_back,
                    "not_told": r.not_told(),
                    "messages": r.messages.len(),
                    "digests": r.digests().0,
                    "alerts_in_digests": r.digests().1,
                    "resolved_notices": r.resolved_notices,
                    "escalations": r.escalations,
                    "by_hour": by_hour,
                    "top_keys": top_keys(r).iter().map(|(k, n)| json!({"key": k, "alerts": n})).collect::<Vec<_>>(),
                    "other_keys_alerts": r.other_keys,
                })
            })
            .collect();
        json!({
            "lines": self.lines,
            "bytes": self.bytes,
            "files": self.files,
            "events": self.events,
            "skipped": self.skipped,
            "seconds": self.took.as_secs_f64(),
            "lines_per_second": self.lines_per_second(),
            "rules": rules,
        })
    }
}

fn top_keys(r: &RuleTally) -> Vec<(String, u64)> {
    let mut keys: Vec<(String, u64)> = r.keys.iter().map(|(k, n)| (k.clone(), *n)).collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    keys.truncate(TOP_KEYS);
    keys
}

fn hour_label(hour: i64) -> String {
    Utc.timestamp_opt(hour, 0)
        .single()
        .map(|t: DateTime<Utc>| t.format("%Y-%m-%d %H:00").to_string())
        .unwrap_or_default()
}

fn hour_rfc3339(hour: i64) -> String {
    Utc.timestamp_opt(hour, 0)
        .single()
        .map(|t: DateTime<Utc>| t.format("%Y-%m-%dT%H:00:00Z").to_string())
        .unwrap_or_default()
}

/// Key values come from logs: one terminal line, no escapes.
fn safe(text: &str) -> String {
    crate::notify::sanitize(&crate::types::flat(text))
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
