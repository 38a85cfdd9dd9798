//! `realert`: after an alert for a key, hold further alerts for that key back for a
//! while, and say how many were held back when the next one goes out.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

/// Realert bookkeeping for one alert identity (rule + key).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RealertState {
    pub rule: String,
    /// Canonical text of the key (see `alert::key_id`).
    pub key: String,
    /// Alerts for this identity are held back until this (event) time.
    pub hold_until: DateTime<Utc>,
    /// How many were held back since the last alert was sent.
    pub held_back: u64,
}

/// `realert` after `at`, or the end of time.
fn hold_until(at: DateTime<Utc>, realert: Duration) -> DateTime<Utc> {
    at.checked_add_signed(realert)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// What to do with an alert that a rule raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it; `held_back` alerts for this key were held back since the last one sent.
    Send { held_back: u64 },
    /// Hold it back (counted).
    Hold,
}

/// Realert state for every (rule, key), with the entries changed since the last commit.
#[derive(Debug, Default)]
pub struct Realert {
    states: HashMap<(String, String), RealertState>,
    dirty: Vec<(String, String)>,
}

impl Realert {
    /// Per rule, alerts held back since the last one sent (none of them told yet).
    pub fn pending_by_rule(&self) -> HashMap<String, u64> {
        let mut out: HashMap<String, u64> = HashMap::new();
        for s in self.states.values().filter(|s| s.held_back > 0) {
            *out.entry(s.rule.clone()).or_default() += s.held_back;
        }
        out
    }

    pub fn restore(states: Vec<RealertState>) -> Self {
        Realert {
            states: states
                .into_iter()
                .map(|s| ((s.rule.clone(), s.key.clone()), s))
                .collect(),
            dirty: Vec::new(),
        }
    }

    /// Decide on an alert for `rule`/`key` raised at (event) time `at`. A hold that ends
    /// further than `realert` after `at` was set by an alert from the future (a forged or
    /// skewed timestamp, or a shorter `realert` since): it holds nothing back.
    pub fn admit(
        &mut self,
        rule: &str,
        key: &str,
        at: DateTime<Utc>,
        realert: Duration,
    ) -> Admission {
        let id = (rule.to_string(), key.to_string());
        let admission = match self.states.get_mut(&id) {
            Some(state) if at < state.hold_until && state.hold_until <= hold_until(at, realert) => {
                state.held_back += 1;
                Admission::Hold
            }
            Some(state) => {
                let held_back = state.held_back;
                state.held_back = 0;
                state.hold_until = hold_until(at, realert);
                Admission::Send { held_back }
            }
            None => {
                self.states.insert(
                    id.clone(),
                    RealertState {
                        rule: id.0.clone(),
                        key: id.1.clone(),
                        hold_until: hold_until(at, realert),
                        held_back: 0,
                    },
                );
                Admission::Send { held_back: 0 }
            }
        };
        self.dirty.push(id);
        admission
    }

    /// The states changed since the last call, to be committed with the batch.
    pub fn take_changes(&mut self) -> Vec<RealertState> {
        let mut ids = std::mem::take(&mut self.dirty);
        ids.sort();
        ids.dedup();
        ids.iter()
            .filter_map(|id| self.states.get(id).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + s, 0).unwrap()
    }

    #[test]
    fn holds_back_within_realert_and_counts() {
        let mut r = Realert::default();
        let ten = Duration::minutes(10);
        assert_eq!(
            r.admit("a", "k", t(0), ten),
            Admission::Send { held_back: 0 }
        );
        assert_eq!(r.admit("a", "k", t(60), ten), Admission::Hold);
        assert_eq!(r.admit("a", "k", t(599), ten), Admission::Hold);
        // Another key and another rule are independent.
        assert_eq!(
            r.admit("a", "k2", t(60), ten),
            Admission::Send { held_back: 0 }
        );
        assert_eq!(
            r.admit("b", "k", t(60), ten),
            Admission::Send { held_back: 0 }
        );
        // At exactly the end of the hold, the next alert goes out and reports the two held.
        assert_eq!(
            r.admit("a", "k", t(600), ten),
            Admission::Send { held_back: 2 }
        );
        assert_eq!(r.admit("a", "k", t(601), ten), Admission::Hold);
    }

    #[test]
    fn an_alert_from_the_future_cannot_hold_the_present_back() {
        let mut r = Realert::default();
        let ten = Duration::minutes(10);
        // A line dated a day ahead fires first and sets a hold ending tomorrow.
        assert_eq!(
            r.admit("a", "k", t(86_400), ten),
            Admission::Send { held_back: 0 }
        );
        // The genuine alerts of today still go out, once per realert.
        assert_eq!(
            r.admit("a", "k", t(0), ten),
            Admission::Send { held_back: 0 }
        );
        assert_eq!(r.admit("a", "k", t(60), ten), Admission::Hold);
        assert_eq!(
            r.admit("a", "k", t(600), ten),
            Admission::Send { held_back: 1 }
        );
    }

    #[test]
    fn holds_never_overflow_a_date() {
        let mut r = Realert::default();
        let max = DateTime::<Utc>::MAX_UTC - Duration::days(1);
        assert_eq!(
            r.admit("a", "k", max, Duration::days(3650)),
            Admission::Send { held_back: 0 }
        );
        assert_eq!(
            r.admit("a", "k", max, Duration::days(3650)),
            Admission::Hold
        );
    }

    #[test]
    fn zero_realert_never_holds() {
        let mut r = Realert::default();
        for _ in 0..3 {
            assert_eq!(
                r.admit("a", "k", t(0), Duration::zero()),
                Admission::Send { held_back: 0 }
            );
        }
    }

    #[test]
    fn changes_are_reported_once_and_restore_round_trips() {
        let mut r = Realert::default();
        r.admit("a", "k", t(0), Duration::minutes(1));
        r.admit("a", "k", t(1), Duration::minutes(1));
        let changes = r.take_changes();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].held_back, 1);
        assert!(r.take_changes().is_empty());
        let mut restored = Realert::restore(changes);
        assert_eq!(
            restored.admit("a", "k", t(30), Duration::minutes(1)),
            Admission::Hold
        );
        assert_eq!(
            restored.admit("a", "k", t(60), Duration::minutes(1)),
            Admission::Send { held_back: 2 }
        );
    }
}
