//! `type: absence`: an event matching `start` not followed, for the same key, by an event
//! matching `expect` within `within` — `order_created` without `order_picked` in 72h (a
//! zombie order), `payment_succeeded` without `inventory_deducted` in 5m (a ghost order).
//!
//! Fires on the clock once the watermark passes a start's deadline (`start + within`); an
//! `expect` exactly at the deadline still counts. An `expect` read before its `start`
//! (files read out of order) is remembered until the watermark passes it, so it still
//! clears the start. The rule's `query` selects the events it sees at all; it must match
//! both the start and the expect events.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{
    human, micros, span, time_of, BuildContext, Keyed, KeyedMatch, Match, Params, RuleError,
    RuleStats, RuleType, StateChange, Visit,
};
use crate::event::Event;
use crate::query::Query;
use crate::types::HumanDuration;

/// `type: absence` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AbsenceParams {
    /// The query of the event that must be followed.
    pub start: String,
    /// The query of the event that must follow.
    pub expect: String,
    /// How long after `start` the `expect` event may come.
    pub within: HumanDuration,
}

impl Params for AbsenceParams {
    const STATE_VERSION: u32 = 1;

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        let within = cx.positive("within", self.within);
        let start = cx.query("start", &self.start);
        let expect = cx.query("expect", &self.expect);
        Some(Box::new(AbsenceRule::new(
            start?,
            expect?,
            within,
            cx.max_keys,
        )))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Pending {
    /// Starts not yet followed: (time µs, raw line), ascending by time.
    starts: VecDeque<(i64, String)>,
    /// The newest `expect` seen (µs).
    last_expect: Option<i64>,
    /// It fired, and the awaited event has not come since.
    #[serde(default, skip_serializing_if = "is_false")]
    fired: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

pub struct AbsenceRule {
    start: Query,
    expect: Query,
    within: i64,
    keys: Keyed<Pending>,
    /// Keys whose awaited event came after they fired, since `settle` last ran.
    cleared: Vec<String>,
}

impl AbsenceRule {
    pub fn new(start: Query, expect: Query, within: Duration, max_keys: usize) -> Self {
        AbsenceRule {
            start,
            expect,
            within: span(within),
            keys: Keyed::new(max_keys),
            cleared: Vec::new(),
        }
    }
}

impl RuleType for AbsenceRule {
    fn fields(&self) -> Option<Vec<String>> {
        let mut fields = self.start.fields();
        fields.extend(self.expect.fields());
        Some(fields.into_iter().map(str::to_string).collect())
    }

    fn observe(&mut self, key: &str, event: &Event, now: DateTime<Utc>) -> Option<Match> {
        let is_expect = self.expect.matches(event, now);
        let is_start = self.start.matches(event, now);
        if !is_expect && !is_start {
            return None;
        }
        let t = micros(event.time);
        let p = self.keys.touch(key, Pending::default);
        // An event that is both clears earlier starts, then starts a new wait.
        if is_expect {
            p.last_expect = Some(p.last_expect.map_or(t, |e| e.max(t)));
            p.starts.retain(|(s, _)| *s > t);
            // The awaited event came, late: the alert it raised resolves.
            if std::mem::replace(&mut p.fired, false) {
                self.cleared.push(key.to_string());
            }
        }
        if is_start && p.last_expect.is_none_or(|e| e < t || is_expect) {
            let at = p.starts.partition_point(|(s, _)| *s <= t);
            p.starts.insert(at, (t, super::kept(&event.raw)));
        }
        None
    }

    fn advance(&mut self, watermark: DateTime<Utc>, out: &mut Vec<KeyedMatch>) {
        let wm = micros(watermark);
        let within = self.within;
        let mut fired = Vec::new();
        self.keys.visit(|key, p| {
            let overdue = p
                .starts
                .partition_point(|(s, _)| s.saturating_add(within) < wm);
            if overdue > 0 {
                let expired: Vec<(i64, String)> = p.starts.drain(..overdue).collect();
                let deadline = expired[0].0.saturating_add(within);
                fired.push((deadline, key.to_string(), expired));
                p.fired = true;
            }
            // An expect behind the watermark can clear no start still to come (those
            // would be late), so it need not be remembered. A key that fired is kept to
            // see its awaited event come (bounded like every key, by `max_keys`).
            let stale_expect = p.last_expect.is_some_and(|e| e < wm);
            if p.starts.is_empty() && !p.fired && (p.last_expect.is_none() || stale_expect) {
                Visit::Remove
            } else if overdue > 0 {
                Visit::Changed
            } else {
                Visit::Unchanged
            }
        });
        fired.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (deadline, key, expired) in fired {
            let first = expired[0].0;
            let last = expired[expired.len() - 1].0;
            let count = expired.len() as u64;
            let sample = expired
                .into_iter()
                .next()
                .map(|(_, l)| l)
                .unwrap_or_default();
            out.push(KeyedMatch {
                key,
                due: time_of(deadline),
                found: Match {
                    count,
                    first_seen: time_of(first),
                    last_seen: time_of(last),
                    sample,
                    detail: Some(format!("nothing followed within {}", human(within))),
                    identity: Vec::new(),
                },
            });
        }
    }

    fn settle(&mut self, _watermark: DateTime<Utc>, cleared: &mut Vec<String>) {
        cleared.append(&mut self.cleared);
    }

    fn fires_on_clock(&self) -> bool {
        true
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
    use crate::query::{parse, QueryOptions};
    use crate::rule::See;
    use crate::rule::{at, event_at};

    fn rule() -> AbsenceRule {
        let q = |s| parse(s, &QueryOptions::default()).unwrap();
        AbsenceRule::new(
            q("payment_succeeded"),
            q("inventory_deducted"),
            Duration::minutes(5),
            100,
        )
    }

    fn fired(r: &mut AbsenceRule, wm: i64) -> Vec<(String, u64, String)> {
        let mut out = Vec::new();
        r.advance(at(wm), &mut out);
        out.into_iter()
            .map(|m| (m.key, m.found.count, m.found.sample))
            .collect()
    }

    #[test]
    fn a_start_without_its_expect_fires_once_the_deadline_has_passed() {
        let mut r = rule();
        r.see("o1", &event_at(0, "payment_succeeded o1"));
        r.see("o2", &event_at(10, "payment_succeeded o2"));
        r.see("o2", &event_at(200, "inventory_deducted o2"));
        assert!(fired(&mut r, 299).is_empty());
        // The deadline itself (300) still allows the expect; only past it does it fire.
        assert!(fired(&mut r, 300).is_empty());
        assert_eq!(
            fired(&mut r, 301),
            vec![("o1".into(), 1, "payment_succeeded o1".into())]
        );
        assert!(
            fired(&mut r, 10_000).is_empty(),
            "o2 was followed; o1 fires once"
        );
        assert_eq!(r.stats().keys, 1, "o2 is forgotten; o1 waits for its event");
        // o1's event comes, late: its alert resolves, and the key is forgotten.
        let mut cleared = Vec::new();
        r.settle(at(10_000), &mut cleared);
        assert!(cleared.is_empty());
        r.see("o1", &event_at(10_500, "inventory_deducted o1"));
        r.settle(at(10_500), &mut cleared);
        assert_eq!(cleared, ["o1"]);
        assert!(fired(&mut r, 20_000).is_empty());
        assert_eq!(r.stats().keys, 0, "settled keys are forgotten");
    }

    #[test]
    fn an_expect_exactly_at_the_deadline_counts_and_one_read_first_still_clears() {
        let mut r = rule();
        r.see("a", &event_at(0, "payment_succeeded a"));
        r.see("a", &event_at(300, "inventory_deducted a"));
        // Out of order: b's expect is read before its start.
        r.see("b", &event_at(20, "inventory_deducted b"));
        r.see("b", &event_at(15, "payment_succeeded b"));
        assert!(fired(&mut r, 1000).is_empty());
    }

    #[test]
    fn every_unfollowed_start_of_a_key_is_counted_and_state_restores() {
        let mut r = rule();
        r.see("k", &event_at(0, "payment_succeeded 1"));
        r.see("k", &event_at(5, "payment_succeeded 2"));
        let mut changes = Vec::new();
        r.take_changes(&mut changes);
        let mut back = rule();
        for c in changes {
            back.restore(&c.key, &c.state.unwrap()).unwrap();
        }
        back.see("k", &event_at(100, "payment_succeeded 3"));
        assert_eq!(
            fired(&mut back, 320),
            vec![("k".into(), 2, "payment_succeeded 1".into())]
        );
        assert_eq!(
            fired(&mut back, 401),
            vec![("k".into(), 1, "payment_succeeded 3".into())]
        );
    }
}
