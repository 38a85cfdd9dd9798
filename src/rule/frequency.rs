//! `type: frequency`: at least `threshold` matches within `window`, per key, on event time.
//!
//! The window ends at the newest event seen for the key and reaches back `window`
//! (inclusive), so an event exactly `window` older than the newest still counts. After
//! firing, the key's window starts empty again (as ElastAlert does), so a steady stream
//! fires once per `threshold` matches, and `realert` decides how many of those are sent.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use super::{Match, RuleType};
use crate::event::Event;

#[derive(Debug)]
pub struct FrequencyRule {
    threshold: u64,
    window: Duration,
    /// Per key: (event time, raw line) in time order; never longer than `threshold`.
    windows: HashMap<String, VecDeque<(DateTime<Utc>, String)>>,
}

impl FrequencyRule {
    pub fn new(threshold: u64, window: Duration) -> Self {
        FrequencyRule {
            threshold,
            window,
            windows: HashMap::new(),
        }
    }
}

impl RuleType for FrequencyRule {
    fn observe(&mut self, key: &str, event: &Event) -> Option<Match> {
        let window = match self.windows.get_mut(key) {
            Some(w) => w,
            None => self.windows.entry(key.to_string()).or_default(),
        };
        // Keep time order even when events arrive a little out of order.
        let at = window.partition_point(|(t, _)| *t <= event.time);
        window.insert(at, (event.time, event.raw.clone()));
        let newest = window.back().map(|(t, _)| *t).unwrap_or(event.time);
        while window
            .front()
            .is_some_and(|(t, _)| *t < newest - self.window)
        {
            window.pop_front();
        }
        if (window.len() as u64) < self.threshold {
            return None;
        }
        let fired = std::mem::take(window);
        let (first_seen, sample) = fired.front().cloned().expect("threshold is at least 1");
        Some(Match {
            count: fired.len() as u64,
            first_seen,
            last_seen: newest,
            sample,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::event_at;

    fn feed(rule: &mut FrequencyRule, key: &str, times: &[i64]) -> Vec<Option<Match>> {
        times
            .iter()
            .map(|&s| rule.observe(key, &event_at(s, &format!("line at {s}"))))
            .collect()
    }

    #[test]
    fn fires_at_exactly_the_threshold_and_not_below() {
        let mut rule = FrequencyRule::new(5, Duration::minutes(1));
        let out = feed(&mut rule, "k", &[0, 10, 20, 30]);
        assert!(out.iter().all(Option::is_none), "4 of 5 must not fire");
        let m = rule
            .observe("k", &event_at(40, "fifth"))
            .expect("5th fires");
        assert_eq!(m.count, 5);
        assert_eq!(m.sample, "line at 0");
        assert_eq!(m.first_seen, event_at(0, "").time);
        assert_eq!(m.last_seen, event_at(40, "").time);
        // The window restarts after firing.
        assert!(rule.observe("k", &event_at(41, "again")).is_none());
    }

    #[test]
    fn events_older_than_the_window_do_not_count() {
        let mut rule = FrequencyRule::new(3, Duration::seconds(60));
        assert!(feed(&mut rule, "k", &[0, 30]).iter().all(Option::is_none));
        // At t=61 the event at 0 is out (61-60 = 1 > 0): only 30 and 61 remain.
        assert!(rule.observe("k", &event_at(61, "x")).is_none());
        // An event exactly `window` older than the newest still counts: 30, 61, 90.
        assert_eq!(
            rule.observe("k", &event_at(90, "y")).map(|m| m.count),
            Some(3)
        );
    }

    #[test]
    fn keys_count_independently() {
        let mut rule = FrequencyRule::new(2, Duration::minutes(1));
        assert!(rule.observe("a", &event_at(0, "a1")).is_none());
        assert!(rule.observe("b", &event_at(1, "b1")).is_none());
        let m = rule.observe("a", &event_at(2, "a2")).unwrap();
        assert_eq!((m.count, m.sample.as_str()), (2, "a1"));
    }

    #[test]
    fn out_of_order_events_are_placed_by_time() {
        let mut rule = FrequencyRule::new(3, Duration::seconds(10));
        assert!(rule.observe("k", &event_at(100, "late-newest")).is_none());
        assert!(rule.observe("k", &event_at(95, "earlier")).is_none());
        let m = rule.observe("k", &event_at(92, "earliest")).unwrap();
        assert_eq!(m.sample, "earliest");
        assert_eq!(m.last_seen, event_at(100, "").time);
    }
}
