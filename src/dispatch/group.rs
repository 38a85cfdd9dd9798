//! A group: the alerts one route gathers under the same values of its `group_by` labels,
//! and when it next speaks (Alertmanager's timers: `group_wait` before the first message,
//! `group_interval` between messages about changes, `repeat_interval` before alerts still
//! firing unchanged are sent again).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::route::Grouping;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// `rule` or `route.N`.
    pub route: String,
    pub channels: Vec<String>,
    /// Alert ids.
    pub members: BTreeSet<u64>,
    /// When it flushes next; `None`: nothing to say until something changes.
    pub next_flush: Option<DateTime<Utc>>,
    pub last_flush: Option<DateTime<Utc>>,
    /// When alerts were last sent (repeats count from it).
    pub last_sent: Option<DateTime<Utc>>,
    /// What was last sent: alert id → its occurrence count then.
    pub sent: BTreeMap<u64, u64>,
}

/// One alert as a flush sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// Still to be told: firing, neither acknowledged nor muted.
    pub active: bool,
    /// Resolved (or gone): leaves the group.
    pub gone: bool,
    pub occurrences: u64,
}

impl Group {
    pub fn new(route: &str, channels: Vec<String>) -> Self {
        Group {
            route: route.to_string(),
            channels,
            ..Group::default()
        }
    }

    /// A member joined or changed: the group speaks after `group_wait` if it never has,
    /// else once `group_interval` has passed since it last did.
    pub fn touch(&mut self, now: DateTime<Utc>, grouping: &Grouping) {
        let at = match self.last_flush {
            None => now.checked_add_signed(grouping.wait).unwrap_or(now),
            Some(last) => last
                .checked_add_signed(grouping.interval)
                .unwrap_or(now)
                .max(now),
        };
        self.next_flush = Some(self.next_flush.map_or(at, |n| n.min(at)));
    }

    pub fn due(&self, now: DateTime<Utc>) -> bool {
        self.next_flush.is_some_and(|t| t <= now)
    }

    /// The flush at `now`: the ids to send — the active members new or changed since the
    /// last message, or every active member once `repeat_interval` has passed (none
    /// otherwise). Gone members leave.
    pub fn flush(
        &mut self,
        now: DateTime<Utc>,
        grouping: &Grouping,
        members: &[Member],
    ) -> Vec<u64> {
        for m in members.iter().filter(|m| m.gone) {
            self.members.remove(&m.id);
            self.sent.remove(&m.id);
        }
        let active: Vec<&Member> = members.iter().filter(|m| m.active && !m.gone).collect();
        // Muted or acknowledged members are no longer "sent": when they come back, that
        // is news.
        // Sets, not scans: a group of thousands of alerts must not cost millions per flush.
        let active_ids: std::collections::HashSet<u64> = active.iter().map(|m| m.id).collect();
        self.sent.retain(|id, _| active_ids.contains(id));
        let changed: Vec<u64> = active
            .iter()
            .filter(|m| self.sent.get(&m.id) != Some(&m.occurrences))
            .map(|m| m.id)
            .collect();
        let repeat_due = self
            .last_sent
            .and_then(|t| t.checked_add_signed(grouping.repeat))
            .is_some_and(|t| t <= now);
        let send: Vec<u64> = if repeat_due && !active.is_empty() {
            active.iter().map(|m| m.id).collect()
        } else {
            changed
        };
        self.last_flush = Some(now);
        if !send.is_empty() {
            let sending: std::collections::HashSet<u64> = send.iter().copied().collect();
            for m in active.iter().filter(|m| sending.contains(&m.id)) {
                self.sent.insert(m.id, m.occurrences);
            }
            self.last_sent = Some(now);
        }
        // Next: the repeat of what is still active, if anything is.
        self.next_flush = if active.is_empty() {
            None
        } else {
            self.last_sent
                .and_then(|t| t.checked_add_signed(grouping.repeat))
                .map(|t| t.max(now))
        };
        send
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn grouping() -> Grouping {
        Grouping {
            group_by: vec![],
            wait: Duration::seconds(5),
            interval: Duration::seconds(60),
            repeat: Duration::seconds(3600),
        }
    }

    fn m(id: u64, occurrences: u64) -> Member {
        Member {
            id,
            active: true,
            gone: false,
            occurrences,
        }
    }

    #[test]
    fn wait_then_interval_then_repeat() {
        let g = grouping();
        let mut group = Group::new("rule", vec!["ops".into()]);
        group.touch(t(0), &g);
        group.touch(t(3), &g);
        assert_eq!(
            group.next_flush,
            Some(t(5)),
            "group_wait from the first alert"
        );
        assert!(!group.due(t(4)));
        assert_eq!(group.flush(t(5), &g, &[m(1, 1), m(2, 1)]), [1, 2]);
        // A new member: after group_interval since the last flush, not before.
        group.touch(t(10), &g);
        assert_eq!(group.next_flush, Some(t(65)));
        assert_eq!(
            group.flush(t(65), &g, &[m(1, 1), m(2, 1), m(3, 1)]),
            [3],
            "only what is new"
        );
        // Nothing changed: silent until the repeat.
        assert_eq!(group.next_flush, Some(t(65 + 3600)));
        assert!(group
            .flush(t(100), &g, &[m(1, 1), m(2, 1), m(3, 1)])
            .is_empty());
        assert_eq!(
            group.flush(t(3665), &g, &[m(1, 1), m(2, 1), m(3, 1)]),
            [1, 2, 3],
            "the repeat: everything still firing"
        );
        // A member resolved, the others acknowledged: nothing to send, nothing next.
        let quiet = [
            Member {
                gone: true,
                ..m(1, 1)
            },
            Member {
                active: false,
                ..m(2, 1)
            },
            Member {
                active: false,
                ..m(3, 1)
            },
        ];
        assert!(group.flush(t(3700), &g, &quiet).is_empty());
        assert_eq!(group.next_flush, None);
        assert!(!group.members.contains(&1));
    }
}
