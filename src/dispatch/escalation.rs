//! Escalation: while an alert is neither acknowledged nor resolved, each level of its
//! policy tells more people, `after` the alert first fired. The policy is copied into the
//! alert when it starts firing, so editing klaxon.yaml never rewrites an alert in flight;
//! an alert that fires again after it resolved starts again at level 1.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::config::PolicyConfig;

/// A policy as an alert carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    pub levels: Vec<Level>,
    pub repeat: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Seconds after the cycle started.
    pub after_secs: i64,
    pub channels: Vec<String>,
    #[serde(default)]
    pub at_mobiles: Vec<String>,
    #[serde(default)]
    pub at_user_ids: Vec<String>,
}

impl Policy {
    /// Checks a policy from klaxon.yaml: levels in time order, and a cycle that takes time
    /// when it repeats. `known` says whether a channel exists.
    pub fn build(
        name: &str,
        config: &PolicyConfig,
        known: impl Fn(&str) -> bool,
    ) -> Result<Policy, String> {
        if config.levels.is_empty() {
            return Err(format!("escalation policy `{name}` has no levels"));
        }
        let mut levels = Vec::new();
        let mut last = -1i64;
        for (i, l) in config.levels.iter().enumerate() {
            let after = i64::try_from(l.after.0.as_secs()).unwrap_or(i64::MAX);
            if after < last {
                return Err(format!(
                    "escalation policy `{name}`: level {} comes before level {i} (`after` must not decrease)",
                    i + 1
                ));
            }
            last = after;
            if l.notify.is_empty() {
                return Err(format!(
                    "escalation policy `{name}`: level {} notifies nobody",
                    i + 1
                ));
            }
            if let Some(c) = l.notify.iter().find(|c| !known(c)) {
                return Err(format!("escalation policy `{name}`: unknown channel `{c}`"));
            }
            levels.push(Level {
                after_secs: after,
                channels: l.notify.clone(),
                at_mobiles: l.at_mobiles.clone(),
                at_user_ids: l.at_user_ids.clone(),
            });
        }
        if config.repeat > 0 && last == 0 {
            return Err(format!(
                "escalation policy `{name}` repeats, but its last level is at 0s: give it an `after`"
            ));
        }
        Ok(Policy {
            name: name.to_string(),
            levels,
            repeat: config.repeat,
        })
    }

    /// The policies of klaxon.yaml, by name.
    pub fn build_all(
        configs: &BTreeMap<String, PolicyConfig>,
        known: impl Fn(&str) -> bool + Copy,
    ) -> Result<BTreeMap<String, Policy>, String> {
        configs
            .iter()
            .map(|(name, c)| Policy::build(name, c, known).map(|p| (name.clone(), p)))
            .collect()
    }
}

/// Where one alert is in its policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub policy: Policy,
    /// When the current cycle started (the first firing, for the first cycle).
    pub cycle_start: DateTime<Utc>,
    pub cycle: u32,
    /// The next level to fire (0-based).
    pub next: usize,
    /// Every level of every cycle has fired.
    pub done: bool,
}

impl Escalation {
    pub fn start(policy: Policy, at: DateTime<Utc>) -> Self {
        Escalation {
            policy,
            cycle_start: at,
            cycle: 0,
            next: 0,
            done: false,
        }
    }

    /// When the next level is due.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        if self.done {
            return None;
        }
        let level = self.policy.levels.get(self.next)?;
        self.cycle_start
            .checked_add_signed(Duration::seconds(level.after_secs))
    }

    /// The level due at `now`, if one is, moving past it. Levels missed during a downtime
    /// fire one per call, each once.
    pub fn fire(&mut self, now: DateTime<Utc>) -> Option<(u32, Level)> {
        if self.due_at()? > now {
            return None;
        }
        let level = self.policy.levels[self.next].clone();
        let number = u32::try_from(self.next + 1).unwrap_or(u32::MAX);
        self.next += 1;
        if self.next == self.policy.levels.len() {
            if self.cycle < self.policy.repeat {
                self.cycle += 1;
                self.next = 0;
                self.cycle_start = self
                    .cycle_start
                    .checked_add_signed(Duration::seconds(level.after_secs))
                    .unwrap_or(self.cycle_start);
            } else {
                self.done = true;
            }
        }
        Some((number, level))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::config::LevelConfig;
    use crate::types::HumanDuration;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn level(secs: u64, channel: &str) -> LevelConfig {
        LevelConfig {
            after: HumanDuration(std::time::Duration::from_secs(secs)),
            notify: vec![channel.into()],
            at_mobiles: vec![],
            at_user_ids: vec![],
        }
    }

    #[test]
    fn levels_fire_in_time_once_each_and_repeat_from_the_last() {
        let config = PolicyConfig {
            levels: vec![level(600, "leads"), level(1800, "managers")],
            repeat: 1,
        };
        let policy = Policy::build("p", &config, |_| true).unwrap();
        let mut e = Escalation::start(policy, t(0));
        assert_eq!(e.fire(t(599)), None);
        assert_eq!(e.fire(t(600)).unwrap().0, 1);
        assert_eq!(e.fire(t(601)), None);
        // After a long downtime: the missed levels come one at a time, each once.
        assert_eq!(e.fire(t(5000)).unwrap().0, 2);
        assert_eq!(e.due_at(), Some(t(1800 + 600)), "the second cycle");
        assert_eq!(e.fire(t(5000)).unwrap().0, 1);
        assert_eq!(e.fire(t(5000)).unwrap().0, 2);
        assert_eq!(e.fire(t(99_999)), None);
        assert!(e.done);
    }

    #[test]
    fn bad_policies_are_refused() {
        let down = PolicyConfig {
            levels: vec![level(600, "a"), level(60, "b")],
            repeat: 0,
        };
        assert!(Policy::build("p", &down, |_| true)
            .unwrap_err()
            .contains("before"));
        let spin = PolicyConfig {
            levels: vec![level(0, "a")],
            repeat: 3,
        };
        assert!(Policy::build("p", &spin, |_| true)
            .unwrap_err()
            .contains("repeats"));
        let unknown = PolicyConfig {
            levels: vec![level(0, "nope")],
            repeat: 0,
        };
        assert!(Policy::build("p", &unknown, |c| c == "a")
            .unwrap_err()
            .contains("unknown channel `nope`"));
    }
}
