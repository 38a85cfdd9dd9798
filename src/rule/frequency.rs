//! `type: frequency`: at least `threshold` matches within `window`, per key, on event time.
//!
//! The window ends at the newest event seen for the key and reaches back `window`
//! (inclusive), so an event exactly `window` older than the newest still counts. After
//! firing, the key's window starts empty again (as ElastAlert does), so a steady stream
//! fires once per `threshold` matches, and `realert` decides how many of those are sent.
//!
//! The alert's sample is the window's first line. Only that one line is kept per key, not
//! every line of the window: if it ages out of the window before the alert, the line of
//! the event that pushed it out becomes the sample.
//!
//! Hot path: a hit on a known key is one hash lookup and a sorted insert of the event time
//! into the key's (small, contiguous) window; a line is copied only when it becomes the
//! sample (into the key's buffer; a new one only after an alert took the last).

use std::collections::{BTreeSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{
    insert_sorted, micros, set_text, time_of, BuildContext, Keyed, Match, Params, RuleError,
    RuleStats, RuleType, StateChange,
};
use crate::event::Event;
use crate::types::HumanDuration;

/// `type: frequency` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyParams {
    /// Fire at this many matches within `window`.
    pub threshold: u64,
    pub window: HumanDuration,
}

impl Params for FrequencyParams {
    const STATE_VERSION: u32 = 1;

    fn counted_over(&self) -> Option<HumanDuration> {
        Some(self.window)
    }

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        let threshold = cx.at_least_one("threshold", self.threshold);
        let window = cx.positive("window", self.window);
        Some(Box::new(FrequencyRule::with_cap(
            threshold,
            window,
            cx.max_keys,
        )))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Window {
    /// Event times (µs), ascending; never more than `threshold`.
    times: VecDeque<i64>,
    /// Time (µs) and raw line of the sample; empty line when the window is empty.
    sample_at: i64,
    sample: String,
    /// When it last fired (µs), until a whole window passes without firing again: then
    /// the condition has cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fired_at: Option<i64>,
}

pub struct FrequencyRule {
    threshold: u64,
    window: i64,
    keys: Keyed<Window>,
    /// Keys that fired and have not cleared yet.
    firing: BTreeSet<String>,
}

impl FrequencyRule {
    pub fn new(threshold: u64, window: Duration) -> Self {
        Self::with_cap(threshold, window, super::DEFAULT_MAX_KEYS)
    }

    pub fn with_cap(threshold: u64, window: Duration, max_keys: usize) -> Self {
        FrequencyRule {
            threshold: threshold.max(1),
            window: window.num_microseconds().unwrap_or(i64::MAX),
            keys: Keyed::new(max_keys),
            firing: BTreeSet::new(),
        }
    }
}

impl RuleType for FrequencyRule {
    fn fields(&self) -> Option<Vec<String>> {
        Some(Vec::new())
    }

    fn observe(&mut self, key: &str, event: &Event, _now: DateTime<Utc>) -> Option<Match> {
        let t = micros(event.time);
        let w = self.keys.touch(key, Window::default);
        // Keep time order even when events arrive a little out of order.
        insert_sorted(&mut w.times, t);
        let newest = *w.times.back().expect("just inserted");
        let from = newest.saturating_sub(self.window);
        while w.times.front().is_some_and(|&x| x < from) {
            w.times.pop_front();
        }
        // The first line of the window: this one if it is the oldest now, or if the old
        // sample just aged out.
        if w.times.len() == 1 || t < w.sample_at || w.sample_at < from {
            set_text(&mut w.sample, &event.raw);
            w.sample_at = t;
        }
        if (w.times.len() as u64) < self.threshold {
            return None;
        }
        let count = w.times.len() as u64;
        let first_seen = time_of(*w.times.front().expect("threshold is at least 1"));
        w.times.clear();
        w.fired_at = Some(w.fired_at.map_or(newest, |f| f.max(newest)));
        self.firing.insert(key.to_string());
        let sample = std::mem::take(&mut w.sample);
        Some(Match {
            count,
            first_seen,
            last_seen: time_of(newest),
            sample,
            detail: None,
            identity: Vec::new(),
        })
    }

    /// Cleared: a whole window has passed since the key last fired, without firing again
    /// (fewer than `threshold` matches in it).
    fn settle(&mut self, watermark: DateTime<Utc>, cleared: &mut Vec<String>) {
        let wm = micros(watermark);
        let window = self.window;
        let keys = &mut self.keys;
        self.firing.retain(|key| {
            let Some(fired) = keys.get(key).and_then(|w| w.fired_at) else {
                return false; // evicted: nothing left to clear
            };
            if fired.saturating_add(window) > wm {
                return true;
            }
            keys.touch(key, Window::default).fired_at = None;
            cleared.push(key.clone());
            false
        });
    }

    fn take_changes(&mut self, out: &mut Vec<StateChange>) {
        self.keys.take_changes(out);
    }

    fn restore(&mut self, key: &str, state: &str) -> Result<(), RuleError> {
        self.keys.restore(key, state)?;
        if self.keys.get(key).is_some_and(|w| w.fired_at.is_some()) {
            self.firing.insert(key.to_string());
        }
        Ok(())
    }

    fn clear_state(&mut self) {
        self.keys.clear();
        self.firing.clear();
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
    use crate::rule::event_at;
    use crate::rule::See;

    fn feed(rule: &mut FrequencyRule, key: &str, times: &[i64]) -> Vec<Option<Match>> {
        times
            .iter()
            .map(|&s| rule.see(key, &event_at(s, &format!("line at {s}"))))
            .collect()
    }

    #[test]
    fn fires_at_exactly_the_threshold_and_not_below() {
        let mut rule = FrequencyRule::new(5, Duration::minutes(1));
        let out = feed(&mut rule, "k", &[0, 10, 20, 30]);
        assert!(out.iter().all(Option::is_none), "4 of 5 must not fire");
        let m = rule.see("k", &event_at(40, "fifth")).expect("5th fires");
        assert_eq!(m.count, 5);
        assert_eq!(m.sample, "line at 0");
        assert_eq!(m.first_seen, event_at(0, "").time);
        assert_eq!(m.last_seen, event_at(40, "").time);
        // The window restarts after firing.
        assert!(rule.see("k", &event_at(41, "again")).is_none());
    }

    #[test]
    fn events_older_than_the_window_do_not_count() {
        let mut rule = FrequencyRule::new(3, Duration::seconds(60));
        assert!(feed(&mut rule, "k", &[0, 30]).iter().all(Option::is_none));
        // At t=61 the event at 0 is out (61-60 = 1 > 0): only 30 and 61 remain.
        assert!(rule.see("k", &event_at(61, "x")).is_none());
        // An event exactly `window` older than the newest still counts: 30, 61, 90.
        assert_eq!(rule.see("k", &event_at(90, "y")).map(|m| m.count), Some(3));
    }

    #[test]
    fn keys_count_independently() {
        let mut rule = FrequencyRule::new(2, Duration::minutes(1));
        assert!(rule.see("a", &event_at(0, "a1")).is_none());
        assert!(rule.see("b", &event_at(1, "b1")).is_none());
        let m = rule.see("a", &event_at(2, "a2")).unwrap();
        assert_eq!((m.count, m.sample.as_str()), (2, "a1"));
    }

    #[test]
    fn out_of_order_events_are_placed_by_time() {
        let mut rule = FrequencyRule::new(3, Duration::seconds(10));
        assert!(rule.see("k", &event_at(100, "late-newest")).is_none());
        assert!(rule.see("k", &event_at(95, "earlier")).is_none());
        let m = rule.see("k", &event_at(92, "earliest")).unwrap();
        assert_eq!(m.sample, "earliest");
        assert_eq!(m.last_seen, event_at(100, "").time);
    }

    #[test]
    fn a_late_event_older_than_the_window_is_pruned_at_once() {
        let mut rule = FrequencyRule::new(2, Duration::seconds(10));
        assert!(rule.see("k", &event_at(100, "now")).is_none());
        // 80 is more than the window behind the newest: it never counts.
        assert!(rule.see("k", &event_at(80, "too old")).is_none());
        assert_eq!(rule.see("k", &event_at(101, "x")).map(|m| m.count), Some(2));
    }

    #[test]
    fn state_round_trips_mid_window_and_keys_are_capped() {
        let mut rule = FrequencyRule::with_cap(3, Duration::minutes(1), 2);
        feed(&mut rule, "a", &[0, 1]);
        let mut changes = Vec::new();
        rule.take_changes(&mut changes);
        let mut restored = FrequencyRule::with_cap(3, Duration::minutes(1), 2);
        for c in &changes {
            restored
                .restore(&c.key, c.state.as_deref().unwrap())
                .unwrap();
        }
        let m = restored
            .see("a", &event_at(2, "third"))
            .expect("2 restored + 1");
        assert_eq!((m.count, m.sample.as_str()), (3, "line at 0"));
        // Keys that never come back are evicted once the cap is passed.
        feed(&mut restored, "b", &[3]);
        feed(&mut restored, "c", &[4]);
        feed(&mut restored, "d", &[5]);
        restored.take_changes(&mut changes); // a commit boundary settles the cap
        assert_eq!(
            restored.stats(),
            RuleStats {
                keys: 2,
                evicted: 2
            }
        );
    }

    #[test]
    fn clears_a_whole_window_after_it_last_fired_and_survives_a_restart() {
        let mut rule = FrequencyRule::new(2, Duration::seconds(60));
        assert!(feed(&mut rule, "k", &[0, 10]).last().unwrap().is_some());
        let mut cleared = Vec::new();
        rule.settle(event_at(69, "").time, &mut cleared);
        assert!(cleared.is_empty(), "not a whole window yet");
        // Fires again at 70: the window starts over from there.
        assert!(feed(&mut rule, "k", &[60, 70]).last().unwrap().is_some());
        rule.settle(event_at(100, "").time, &mut cleared);
        assert!(cleared.is_empty());
        // Stored and restored: it still knows the key fired.
        let mut changes = Vec::new();
        rule.take_changes(&mut changes);
        let mut restored = FrequencyRule::new(2, Duration::seconds(60));
        for c in &changes {
            restored
                .restore(&c.key, c.state.as_deref().unwrap())
                .unwrap();
        }
        restored.settle(event_at(130, "").time, &mut cleared);
        assert_eq!(cleared, ["k"]);
        restored.settle(event_at(500, "").time, &mut cleared);
        assert_eq!(cleared, ["k"], "once");
    }
}
