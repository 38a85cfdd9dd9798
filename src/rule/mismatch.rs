//! `type: mismatch` (split-brain): two reporters of one fact disagree for the same key
//! within `window` — the app says `delivered`, the logistics feed says `in_transit`. Each
//! side is a source (default: the rule's), an optional query picking its events, and the
//! field holding its value. The newest value of each side is kept; an alert fires when both
//! are at most `window` apart and differ, once per disagreement (it re-arms when they agree).

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::{
    human, micros, set_text, span, time_of, Keyed, Match, RuleError, RuleStats, RuleType,
    StateChange,
};
use crate::event::Event;
use crate::query::Query;

/// Where one side reads its value.
pub struct Side {
    pub source: String,
    pub query: Option<Query>,
    pub field: String,
}

impl Side {
    fn reads(&self, event: &Event) -> bool {
        *event.origin.source == *self.source && self.query.as_ref().is_none_or(|q| q.matches(event))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Fact {
    time: i64,
    value: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Facts {
    left: Option<Fact>,
    right: Option<Fact>,
    disagree: bool,
}

pub struct MismatchRule {
    left: Side,
    right: Side,
    window: i64,
    keys: Keyed<Facts>,
}

impl MismatchRule {
    pub fn new(left: Side, right: Side, window: Duration, max_keys: usize) -> Self {
        MismatchRule {
            left,
            right,
            window: span(window),
            keys: Keyed::new(max_keys),
        }
    }

    /// Sources this rule reads (the engine routes their events to it).
    pub fn sources(&self) -> [&str; 2] {
        [&self.left.source, &self.right.source]
    }
}

/// Records `value` at `t` unless the side already has a newer one.
fn record(fact: &mut Option<Fact>, t: i64, value: &str) {
    match fact {
        Some(f) if f.time > t => {}
        Some(f) => {
            f.time = t;
            set_text(&mut f.value, value);
        }
        None => {
            *fact = Some(Fact {
                time: t,
                value: value.to_string(),
            })
        }
    }
}

impl RuleType for MismatchRule {
    fn observe(&mut self, key: &str, event: &Event) -> Option<Match> {
        let left = self
            .left
            .reads(event)
            .then(|| event.text(&self.left.field))
            .flatten();
        let right = self
            .right
            .reads(event)
            .then(|| event.text(&self.right.field))
            .flatten();
        if left.is_none() && right.is_none() {
            return None;
        }
        let t = micros(event.time);
        let f = self.keys.touch(key, Facts::default);
        if let Some(v) = &left {
            record(&mut f.left, t, v);
        }
        if let Some(v) = &right {
            record(&mut f.right, t, v);
        }
        let (Some(l), Some(r)) = (&f.left, &f.right) else {
            return None;
        };
        let differ = l.value != r.value && (l.time - r.time).abs() <= self.window;
        if !differ {
            f.disagree = false;
            return None;
        }
        if std::mem::replace(&mut f.disagree, true) {
            return None;
        }
        Some(Match {
            count: 2,
            first_seen: time_of(l.time.min(r.time)),
            last_seen: time_of(l.time.max(r.time)),
            sample: event.raw.clone(),
            detail: Some(format!(
                "{}={} ({}) but {}={} ({}), {} apart at most",
                self.left.field,
                l.value,
                self.left.source,
                self.right.field,
                r.value,
                self.right.source,
                human(self.window)
            )),
        })
    }

    fn take_changes(&mut self, out: &mut Vec<StateChange>) {
        self.keys.take_changes(out);
    }

    fn restore(&mut self, key: &str, state: &str) -> Result<(), RuleError> {
        self.keys.restore(key, state)
    }

    fn stats(&self) -> RuleStats {
        self.keys.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::json_at;

    fn from(source: &str, t: i64, json: &str) -> Event {
        let mut e = json_at(t, json);
        e.origin.source = source.into();
        e
    }

    fn rule() -> MismatchRule {
        let side = |source: &str, field: &str| Side {
            source: source.into(),
            query: None,
            field: field.into(),
        };
        MismatchRule::new(
            side("app", "state"),
            side("logistics", "status"),
            Duration::minutes(10),
            10,
        )
    }

    #[test]
    fn fires_once_when_two_sources_disagree_within_the_window() {
        let mut r = rule();
        assert!(r
            .observe("o1", &from("app", 0, r#"{"state":"in_transit"}"#))
            .is_none());
        assert!(r
            .observe("o1", &from("logistics", 5, r#"{"status":"in_transit"}"#))
            .is_none());
        let m = r
            .observe("o1", &from("app", 60, r#"{"state":"delivered"}"#))
            .expect("app says delivered, logistics says in_transit");
        assert!(m
            .detail
            .unwrap()
            .starts_with("state=delivered (app) but status=in_transit (logistics)"));
        assert!(
            r.observe("o1", &from("app", 61, r#"{"state":"delivered"}"#))
                .is_none(),
            "once"
        );
        // They agree again, then disagree again: a new alert.
        assert!(r
            .observe("o1", &from("logistics", 70, r#"{"status":"delivered"}"#))
            .is_none());
        assert!(r
            .observe("o1", &from("logistics", 80, r#"{"status":"lost"}"#))
            .is_some());
    }

    #[test]
    fn values_further_apart_than_the_window_are_not_compared() {
        let mut r = rule();
        r.observe("o2", &from("logistics", 0, r#"{"status":"in_transit"}"#));
        // Exactly 10 minutes apart still compares; a second more does not.
        assert!(r
            .observe("o2", &from("app", 601, r#"{"state":"delivered"}"#))
            .is_none());
        let mut r = rule();
        r.observe("o3", &from("logistics", 0, r#"{"status":"in_transit"}"#));
        assert!(r
            .observe("o3", &from("app", 600, r#"{"state":"delivered"}"#))
            .is_some());
        // An event of another source, or without the field, is not a report.
        assert!(r
            .observe("o4", &from("billing", 0, r#"{"state":"x"}"#))
            .is_none());
        assert_eq!(r.stats().keys, 1);
    }
}
