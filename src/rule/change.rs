//! `type: change`: a field's value for a key differs from its previous value — an order's
//! `state` flips, or, with `sequence: [created, paid, picked, shipped, delivered]`, goes
//! backwards. An event older than the key's last value is not a change (a late report of
//! the past); with `window`, a change counts only if the previous value is at most that old.
//! Events without the field are ignored.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{
    micros, set_text, BuildContext, Keyed, Match, Params, RuleError, RuleStats, RuleType,
    StateChange,
};
use crate::event::Event;
use crate::types::HumanDuration;

/// `type: change` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeParams {
    /// The field whose value is watched.
    pub field: String,
    /// The order values normally move in; only a move backwards fires.
    #[serde(default)]
    pub sequence: Vec<String>,
    /// A change counts only if the previous value is at most this old.
    #[serde(default)]
    pub window: Option<HumanDuration>,
}

impl Params for ChangeParams {
    const STATE_VERSION: u32 = 1;

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        let window = self.window.map(|w| cx.positive("window", w));
        Some(Box::new(ChangeRule::new(
            self.field.clone(),
            self.sequence.clone(),
            window,
            cx.max_keys,
        )))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Last {
    time: i64,
    value: String,
}

pub struct ChangeRule {
    field: String,
    sequence: Vec<String>,
    window: Option<i64>,
    keys: Keyed<Last>,
}

impl ChangeRule {
    pub fn new(
        field: String,
        sequence: Vec<String>,
        window: Option<Duration>,
        max_keys: usize,
    ) -> Self {
        ChangeRule {
            field,
            sequence,
            window: window.map(super::span),
            keys: Keyed::new(max_keys),
        }
    }
}

/// Whether moving `from` → `to` is worth an alert.
fn worth_alert(sequence: &[String], from: &str, to: &str) -> bool {
    if from == to {
        return false;
    }
    if sequence.is_empty() {
        return true;
    }
    let pos = |v: &str| sequence.iter().position(|s| s == v);
    matches!((pos(from), pos(to)), (Some(a), Some(b)) if b < a)
}

impl RuleType for ChangeRule {
    fn fields(&self) -> Option<Vec<String>> {
        Some(vec![self.field.clone()])
    }

    fn observe(&mut self, key: &str, event: &Event, _now: DateTime<Utc>) -> Option<Match> {
        let text = event.text(&self.field)?;
        // Compared as kept: a value longer than a rule keeps is compared by what is kept.
        let value = crate::types::clip(&text, super::MAX_KEPT_BYTES);
        let t = micros(event.time);
        let mut created = false;
        let last = self.keys.touch(key, || {
            created = true;
            Last {
                time: t,
                value: super::kept(&value),
            }
        });
        if created || t < last.time {
            return None;
        }
        let recent = self.window.is_none_or(|w| t.saturating_sub(last.time) <= w);
        let from_time = last.time;
        let previous = (recent && worth_alert(&self.sequence, &last.value, &value))
            .then(|| last.value.clone());
        last.time = t;
        set_text(&mut last.value, &value);
        previous.map(|from| Match {
            count: 1,
            first_seen: super::time_of(from_time),
            last_seen: event.time,
            sample: super::kept(&event.raw),
            detail: Some(format!("{}: {from} → {value}", self.field)),
            identity: Vec::new(),
        })
    }

    fn take_changes(&mut self, out: &mut Vec<StateChange>) {
        self.keys.take_changes(out);
    }

    fn restore(&mut self, key: &str, state: &str) -> Result<(), RuleError> {
        self.keys.restore(key, state)
    }

    fn clear_state(&mut self) {
        self.keys.clear();
    }

    fn set_max_keys(&mut self, cap: usize) {
        self.keys.set_cap(cap);
    }

    fn stats(&self) -> RuleStats {
        self.keys.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::json_at;
    use crate::rule::See;

    fn state(r: &mut ChangeRule, t: i64, s: &str) -> Option<String> {
        r.see("o1", &json_at(t, &format!(r#"{{"state":"{s}"}}"#)))
            .map(|m| m.detail.unwrap())
    }

    #[test]
    fn any_change_of_value_fires_and_repeats_do_not() {
        let mut r = ChangeRule::new("state".into(), vec![], None, 10);
        assert_eq!(state(&mut r, 0, "paid"), None, "first value is no change");
        assert_eq!(state(&mut r, 1, "paid"), None);
        assert_eq!(
            state(&mut r, 2, "picked").as_deref(),
            Some("state: paid → picked")
        );
        // A late event (older than the last value) is history, not a change.
        assert_eq!(state(&mut r, 1, "created"), None);
        assert!(
            r.see("o1", &json_at(3, r#"{"other":1}"#)).is_none(),
            "no field, ignored"
        );
    }

    #[test]
    fn with_a_sequence_only_moves_backwards_fire_and_window_limits_age() {
        let seq = ["created", "paid", "picked", "delivered"]
            .map(String::from)
            .to_vec();
        let mut r = ChangeRule::new("state".into(), seq, Some(Duration::seconds(60)), 10);
        assert_eq!(state(&mut r, 0, "paid"), None);
        assert_eq!(state(&mut r, 10, "picked"), None, "forwards is normal");
        assert_eq!(
            state(&mut r, 20, "paid").as_deref(),
            Some("state: picked → paid")
        );
        // Exactly `window` after the last value still counts; beyond it does not.
        assert_eq!(
            state(&mut r, 80, "created").as_deref(),
            Some("state: paid → created")
        );
        assert_eq!(state(&mut r, 90, "paid"), None);
        assert_eq!(
            state(&mut r, 90 + 61, "created"),
            None,
            "backwards, but 61s later"
        );
    }
}
