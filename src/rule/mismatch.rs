//! `type: mismatch` (split-brain): two reporters of one fact disagree for the same key
//! within `window` — the app says `delivered`, the logistics feed says `in_transit`. Each
//! side is a source (default: the rule's), an optional query picking its events, and the
//! field holding its value. The newest value of each side is kept; an alert fires when both
//! are at most `window` apart and differ, once per disagreement (it re-arms when they agree).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{
    human, micros, set_text, span, time_of, BuildContext, Keyed, Match, Params, RuleError,
    RuleStats, RuleType, StateChange,
};
use crate::event::Event;
use crate::query::Query;
use crate::types::HumanDuration;

/// `type: mismatch` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MismatchParams {
    /// One reporter of the fact.
    pub left: MismatchSide,
    /// The other reporter of the fact.
    pub right: MismatchSide,
    /// How far apart two reports may be and still be compared.
    pub window: HumanDuration,
}

/// Where one side of a `mismatch` reads its value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MismatchSide {
    /// The source (default: the rule's).
    #[serde(default)]
    pub source: Option<String>,
    /// Which of the rule's events are this side's (default: all of its source).
    #[serde(default)]
    pub query: Option<String>,
    /// The field holding the value.
    pub field: String,
}

impl Params for MismatchParams {
    const STATE_VERSION: u32 = 1;

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        let window = cx.positive("window", self.window);
        let left = side(cx, "left", &self.left);
        let right = side(cx, "right", &self.right);
        Some(Box::new(MismatchRule::new(
            left?,
            right?,
            window,
            cx.max_keys,
        )))
    }
}

/// One side in runtime values: its source defaulted, its query compiled.
fn side(cx: &mut BuildContext<'_>, key: &str, s: &MismatchSide) -> Option<Side> {
    if let Some(source) = &s.source {
        cx.source(&format!("{key}.source"), source);
    }
    let query = match &s.query {
        Some(q) => Some(cx.query(&format!("{key}.query"), q)?),
        None => None,
    };
    Some(Side {
        source: s.source.clone().unwrap_or_else(|| cx.source.to_string()),
        query,
        field: s.field.clone(),
    })
}

/// Where one side reads its value.
pub struct Side {
    pub source: String,
    pub query: Option<Query>,
    pub field: String,
}

impl Side {
    fn reads(&self, event: &Event, now: DateTime<Utc>) -> bool {
        *event.origin.source == *self.source
            && self.query.as_ref().is_none_or(|q| q.matches(event, now))
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
                value: super::kept(value),
            })
        }
    }
}

impl RuleType for MismatchRule {
    fn other_sources(&self) -> Vec<String> {
        vec![self.left.source.clone(), self.right.source.clone()]
    }

    fn observe(&mut self, key: &str, event: &Event, now: DateTime<Utc>) -> Option<Match> {
        let left = self
            .left
            .reads(event, now)
            .then(|| event.text(&self.left.field))
            .flatten();
        let right = self
            .right
            .reads(event, now)
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
        let apart = l.time.saturating_sub(r.time).unsigned_abs();
        let differ = l.value != r.value && apart <= self.window.unsigned_abs();
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
            sample: super::kept(&event.raw),
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
            .see("o1", &from("app", 0, r#"{"state":"in_transit"}"#))
            .is_none());
        assert!(r
            .see("o1", &from("logistics", 5, r#"{"status":"in_transit"}"#))
            .is_none());
        let m = r
            .see("o1", &from("app", 60, r#"{"state":"delivered"}"#))
            .expect("app says delivered, logistics says in_transit");
        assert!(m
            .detail
            .unwrap()
            .starts_with("state=delivered (app) but status=in_transit (logistics)"));
        assert!(
            r.see("o1", &from("app", 61, r#"{"state":"delivered"}"#))
                .is_none(),
            "once"
        );
        // They agree again, then disagree again: a new alert.
        assert!(r
            .see("o1", &from("logistics", 70, r#"{"status":"delivered"}"#))
            .is_none());
        assert!(r
            .see("o1", &from("logistics", 80, r#"{"status":"lost"}"#))
            .is_some());
    }

    #[test]
    fn values_further_apart_than_the_window_are_not_compared() {
        let mut r = rule();
        r.see("o2", &from("logistics", 0, r#"{"status":"in_transit"}"#));
        // Exactly 10 minutes apart still compares; a second more does not.
        assert!(r
            .see("o2", &from("app", 601, r#"{"state":"delivered"}"#))
            .is_none());
        let mut r = rule();
        r.see("o3", &from("logistics", 0, r#"{"status":"in_transit"}"#));
        assert!(r
            .see("o3", &from("app", 600, r#"{"state":"delivered"}"#))
            .is_some());
        // An event of another source, or without the field, is not a report.
        assert!(r
            .see("o4", &from("billing", 0, r#"{"state":"x"}"#))
            .is_none());
        assert_eq!(r.stats().keys, 1);
    }
}
